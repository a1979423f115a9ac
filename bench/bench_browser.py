"""Home in a real browser: the first page view of a fresh server, and a new 3-minute MP3 from upload to spectrum.

Run: ``python -m bench.bench_browser [--songs 5] [--fresh 3]``. Debian's chromium, driven by Playwright, against
``streamlit run dashboard/Home.py`` on the shipped runs (the default model, ``transfer-gtzan``), as a person uses it:

- **first page view**: a fresh server is started; once it answers its health check, the browser opens the URL and the
  clock runs until Home is usable (its last line, under the file uploader, is painted). Repeated ``--fresh`` times,
  each with a new server.
- **first song**: on a fresh server, a song chosen 5 s after the first page view (printed, not in the medians).
- **upload → spectrum** and **page drawn**: on one warm server (that first song analysed first), each
  of ``--songs`` new MP3s (never seen by the server) goes through the real file input; the clock stops when the genre
  spectrum is painted, then at the last frame that changed the page (every chart drawn, the script finished).

The songs are 3 minutes of real GTZAN recordings (consecutive tracks joined, different ones for every song) from
``../shared/data/gtzan_ff``, or generated tones where that is absent. Prints each time, the medians, the targets of
issue 12, the load average before and after, and where upload → spectrum goes: when Home's status says the analysis
starts ("Decoding…") and ends ("Drawing the results…"). Every time is the browser's own: the first frame painted with
the text in question (Playwright's waits poll at up to 1-s intervals, so they only synchronise). Skips with a reason
when chromium or Playwright is missing.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from core.audio.decode import load_audio
from core.config import REPO_ROOT
from dashboard.serve import CHROMIUM, CHROMIUM_FLAGS, served

SR = 44100
SONG_SECONDS = 180.0
TARGETS = {"first page view": 3.0, "upload → spectrum": 1.5, "page drawn": 2.5}
TIMEOUT_MS = 120_000
#: Seconds a person takes to choose the first file on a fresh server (Home warms the model up meanwhile).
FIRST_SONG_PAUSE = 5.0


def make_songs(folder: Path, count: int) -> tuple[list[Path], str]:
    """``count + 1`` distinct 3-minute stereo MP3s at 44.1 kHz (the first warms the server) and their source."""
    tracks = sorted((REPO_ROOT.parent / "shared" / "data" / "gtzan_ff" / "audio").glob("*/*.flac"))
    songs = []
    for i in range(count + 1):
        path = folder / f"song{i}.mp3"
        if tracks:
            parts, k = [], 0
            while sum(len(p) for p in parts) < SONG_SECONDS * SR:
                parts.append(load_audio(tracks[(i * 7 + k) % len(tracks)], sample_rate=SR).samples)
                k += 1
            mono = np.concatenate(parts)[: int(SONG_SECONDS * SR)]
        else:
            rng = np.random.default_rng(i)
            t = np.arange(int(SONG_SECONDS * SR)) / SR
            mono = (0.3 * np.sin(2 * np.pi * (110 + 20 * i) * t) + 0.05 * rng.standard_normal(t.size))
        stereo = np.stack([mono, np.roll(mono, 64)], axis=1).astype(np.float32)
        sf.write(path, stereo, SR, format="MP3")
        songs.append(path)
    return songs, ("real GTZAN tracks (gtzan_ff) joined" if tracks else "generated tones (no ../shared/data)")


def _finished(page) -> None:
    """Wait until Streamlit's script run has finished (its running indicator is gone)."""
    from playwright.sync_api import expect

    page.wait_for_timeout(50)
    expect(page.get_by_test_id("stStatusWidget")).to_be_hidden()


#: Texts whose first painted appearance the browser itself timestamps (see :data:`WATCH`): the empty Home's last line,
#: the status labels Home sets when the analysis starts and ends, and the spectrum's title.
READY, STARTS, DONE, SPECTRUM = "Upload a song or record one", "Decoding…", "Drawing the results…", "Genre spectrum"
#: Installed in every page before its own scripts. ``window.__seen[text]`` becomes the ``performance.now()`` (ms since
#: the navigation started) of the first animation frame, the one that paints it, after ``text`` entered the page;
#: ``window.__last`` that of the last frame after any change to the page. Browser-side times, because Playwright's
#: own waits poll at up to 1-s intervals and run late.
WATCH = """(() => {
  const marks = %s;
  window.__seen = {};
  window.__last = 0;
  let pending = false;
  new MutationObserver((mutations) => {
    const found = [];
    for (const change of mutations) {
      const texts = [change.type === "characterData" ? change.target.data || "" : ""];
      for (const node of change.addedNodes) texts.push(node.textContent || "");
      for (const m of marks) if (!(m in window.__seen) && !found.includes(m) && texts.some((t) => t.includes(m)))
        found.push(m);
    }
    for (const m of found) window.__seen[m] = null;
    if (found.length || !pending) {
      pending = true;
      requestAnimationFrame((now) => {
        const t = performance.now();
        for (const m of found) window.__seen[m] = t;
        window.__last = t;
        pending = false;
      });
    }
  }).observe(document, {subtree: true, childList: true, characterData: true});
})();""" % [READY, STARTS, DONE, SPECTRUM]


def _seen(page) -> dict[str, float]:
    """The browser's timestamps (ms) of the texts seen so far (see :data:`WATCH`)."""
    return {text: ms for text, ms in page.evaluate("window.__seen").items() if ms is not None}


def first_view(browser, env: dict[str, str], log: Path) -> tuple[float, float]:
    """``(seconds from process start to a healthy server, seconds from opening the URL to a usable Home)``, the
    latter in the browser's clock: until the empty page's last line is painted."""
    from playwright.sync_api import expect

    started = time.perf_counter()
    with served(env, log) as url:
        healthy = time.perf_counter() - started
        page = browser.new_page(viewport={"width": 1400, "height": 1600})
        page.set_default_timeout(TIMEOUT_MS)
        page.add_init_script(WATCH)
        page.goto(url)
        expect(page.get_by_role("heading", name="Analyse a song")).to_be_visible()
        expect(page.locator("input[type='file']")).to_be_attached()
        expect(page.get_by_text("200 MB")).to_be_visible()
        expect(page.get_by_text(READY)).to_be_visible()
        _finished(page)
        seconds = _seen(page)[READY] / 1000
        page.close()
    return healthy, seconds


def upload(page, url: str, song: Path, *, pause: float = 0.0) -> dict[str, float]:
    """One new song on a fresh page view, chosen ``pause`` seconds after the page is usable: seconds from choosing
    the file until each mark was painted, in the browser's clock: ``starts`` (the status says "Decoding…"),
    ``done`` (it says "Drawing the results…"), ``spectrum`` (the genre spectrum) and ``drawn`` (the last frame that
    changed anything, once the status says "Analysed …" and the script has finished: every chart is drawn)."""
    from playwright.sync_api import expect

    page.goto(url)
    expect(page.get_by_text("200 MB")).to_be_visible()
    _finished(page)
    page.wait_for_timeout(pause * 1000)
    origin = page.evaluate("() => { window.__seen = {}; return performance.now(); }")
    page.locator("input[type='file']").first.set_input_files(str(song))
    expect(page.get_by_text("Genre spectrum", exact=True)).to_be_visible()
    expect(page.get_by_text(re.compile(r"Analysed 1[78]\d(\.\d)? s in \d+ segments"))).to_be_visible()
    _finished(page)
    page.wait_for_timeout(500)  # a chart still drawing would change the page within this
    seen = _seen(page)
    last = page.evaluate("window.__last")
    names = {STARTS: "starts", DONE: "done", SPECTRUM: "spectrum"}
    return {**{name: (seen[text] - origin) / 1000 for text, name in names.items() if text in seen},
            "drawn": (last - origin) / 1000}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--songs", type=int, default=5, help="new songs uploaded to the warm server")
    parser.add_argument("--fresh", type=int, default=3, help="fresh servers started for the first page view")
    args = parser.parse_args()
    if not CHROMIUM.is_file():
        print(f"skipped: {CHROMIUM} is absent (apt-get install -y chromium)")
        return 0
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        print("skipped: Playwright for Python is not installed (pip install -r requirements-dev.txt)")
        return 0
    from playwright.sync_api import expect

    expect.set_options(timeout=TIMEOUT_MS)
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        songs, source = make_songs(folder, args.songs)
        env = {**os.environ, "GENRE_LAB_CACHE": str(folder / "cache")}
        results: dict[str, list[float]] = {name: [] for name in TARGETS}
        stages: list[dict[str, float]] = []
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
            try:
                for i in range(args.fresh):
                    healthy, seconds = first_view(browser, env, folder / f"fresh{i}.log")
                    results["first page view"].append(seconds)
                    print(f"fresh server {i + 1}: healthy after {healthy:.2f} s; first page view {seconds:.2f} s")
                with served(env, folder / "warm.log") as url:
                    page = browser.new_page(viewport={"width": 1400, "height": 1600})
                    page.set_default_timeout(TIMEOUT_MS)
                    page.add_init_script(WATCH)
                    first = upload(page, url, songs[0], pause=FIRST_SONG_PAUSE)
                    print(f"first song on this fresh server, chosen {FIRST_SONG_PAUSE:g} s after its first page view "
                          f"(Home loads the model meanwhile): spectrum {first['spectrum']:.2f} s, page drawn "
                          f"{first['drawn']:.2f} s")
                    for i, song in enumerate(songs[1:], start=1):
                        times = upload(page, url, song)
                        results["upload → spectrum"].append(times["spectrum"])
                        results["page drawn"].append(times["drawn"])
                        stages.append(times)
                        print(f"new song {i}: spectrum {times['spectrum']:.2f} s, page drawn {times['drawn']:.2f} s; "
                              f"the analysis from {times['starts']:.2f} s to {times['done']:.2f} s")
            finally:
                browser.close()
    print(f"\nHome, default model, 3-minute MP3s of {source}; {os.cpu_count()} CPUs; "
          f"load average {load_before:.2f} before, {os.getloadavg()[0]:.2f} after")
    print(f"  {'measure':<20} {'median':>8} {'min':>7} {'max':>7} {'target':>7}  ratio to target")
    for name, times in results.items():
        median = statistics.median(times)
        print(f"  {name:<20} {median:6.2f} s {min(times):5.2f} s {max(times):5.2f} s {TARGETS[name]:5.1f} s  "
              f"{median / TARGETS[name]:.2f}  ({len(times)} runs)")
    steps = [("upload → the analysis starts (upload, script run, player)", lambda t: t["starts"]),
             ("the analysis: decode, model, styles, verdict", lambda t: t["done"] - t["starts"]),
             ("analysis done → spectrum painted (page sent, browser draws)", lambda t: t["spectrum"] - t["done"])]
    print("\n  where upload → spectrum goes (medians; Home's status labels as the browser painted them):")
    for label, span in steps:
        print(f"  {label:<60} {statistics.median(span(t) for t in stages):5.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
