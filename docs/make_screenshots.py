"""Regenerate the README's screenshots from the shipped runs: ``python docs/make_screenshots.py``.

Serves the dashboard (``dashboard.serve``), drives Debian's chromium with Playwright, and writes
``docs/dashboard-home.png`` (a real CC-licensed FMA hip-hop clip from ``../shared/data`` analysed with the default
model, or a synthetic jazz clip where that folder is absent), ``docs/dashboard-errors.png`` (the default run's
error analysis) and ``docs/dashboard-compare.png`` (the default comparison: one run of each kind on the real
tracks). Needs ``apt-get install -y chromium`` and Playwright for Python (``requirements-dev.txt``).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import soundfile as sf

from core.config import REPO_ROOT
from dashboard.serve import CHROMIUM, CHROMIUM_FLAGS, served

DOCS = REPO_ROOT / "docs"
REAL_SONG = REPO_ROOT.parent / "shared" / "data" / "fma" / "audio" / "000002.mp3"
TIMEOUT_MS = 120_000


def song(folder: Path) -> Path:
    """The clip to analyse: the real FMA clip when present, else a rendered synthetic one."""
    if REAL_SONG.is_file():
        return REAL_SONG
    from core.synth import render_clip

    path = folder / "synthetic-jazz.wav"
    sf.write(path, render_clip(genre="jazz", seed=7, seconds=30.0, sample_rate=22050, artist=0), 22050)
    return path


def settle(page) -> None:
    """Wait until the app's script run has finished and the charts are drawn."""
    from playwright.sync_api import expect

    page.wait_for_timeout(500)
    expect(page.get_by_test_id("stStatusWidget")).to_be_hidden()
    page.wait_for_timeout(3000)


def main() -> None:
    from playwright.sync_api import expect, sync_playwright

    if not CHROMIUM.is_file():
        raise SystemExit(f"{CHROMIUM} is absent: apt-get install -y chromium")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        env = {**os.environ, "GENRE_LAB_CACHE": str(folder / "cache")}
        with served(env, folder / "streamlit.log") as url, sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1800})
            page.set_default_timeout(TIMEOUT_MS)
            expect.set_options(timeout=TIMEOUT_MS)
            page.goto(url)
            page.locator("input[type='file']").first.set_input_files(str(song(folder)))
            expect(page.get_by_text("Genre spectrum", exact=True)).to_be_visible()
            settle(page)
            page.screenshot(path=str(DOCS / "dashboard-home.png"))
            for link, name, text in (("Error analysis", "errors", "Misclassified examples"),
                                     ("Compare runs", "compare", "Runs to compare")):
                page.get_by_role("link", name=link).click()
                expect(page.get_by_text(text).first).to_be_visible()
                settle(page)
                page.screenshot(path=str(DOCS / f"dashboard-{name}.png"))
            browser.close()
    print("Wrote " + ", ".join(f"docs/dashboard-{n}.png" for n in ("home", "errors", "compare")))


if __name__ == "__main__":
    main()
