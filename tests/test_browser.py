"""The dashboard in a real browser: Debian's chromium driven by Playwright against ``streamlit run``.

Uploads generated songs through the real file input (a one-segment clip, then a three-segment MP3), checks what a
person sees: the one-segment timeline cell ends where the audio ends and the labels give the real duration, a click
on a timeline column plays that segment (the player's clock moves), confusion-matrix cells list their examples;
opens every page, checks that no page shows a traceback and that no table shows "None"/"nan" (or a missing value,
which Streamlit's grid draws as a faded "None"), and saves screenshots under ``screenshots/``. Skipped when
/usr/bin/chromium or Playwright is absent (``apt-get install -y chromium``; never ``playwright install``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from core.analysis.evaluate import segment_confusion
from core.config import REPO_ROOT
from core.runs.folder import Run, list_runs
from dashboard.serve import CHROMIUM, CHROMIUM_FLAGS, served

pytestmark = pytest.mark.browser

SHOTS = REPO_ROOT / "screenshots"
TIMEOUT_MS = 90_000




@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """``(url, runs folder)`` of a dashboard served by ``streamlit run`` over two tiny trained runs."""
    if not CHROMIUM.is_file():
        pytest.skip(f"{CHROMIUM} is absent (apt-get install -y chromium)")
    pytest.importorskip("playwright.sync_api", reason="Playwright for Python is not installed")
    from test_dashboard import build_tiny_runs

    folder = tmp_path_factory.mktemp("browser")
    # One torch thread in the server too: tiny networks on a busy 2-core machine run faster that way.
    env = {**os.environ, "GENRE_LAB_CACHE": str(folder / "cache"), "OMP_NUM_THREADS": "1"}
    threads = torch.get_num_threads()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GENRE_LAB_CACHE", env["GENRE_LAB_CACHE"])
        torch.set_num_threads(1)
        try:
            runs = build_tiny_runs(folder)
        finally:
            torch.set_num_threads(threads)
    env["GENRE_LAB_RUNS"] = str(runs)
    env["GENRE_LAB_CATALOGS"] = str(folder / "catalogs")
    with served(env, folder / "streamlit.log") as url:
        yield url, runs


def _click_cell(page, chart_index: int, *, row: int, col: int, n_rows: int, n_cols: int) -> None:
    """Click the centre of cell (row from the top, col from the left) of a plotly heatmap's plot area."""
    _settle(page)
    area = page.locator("[data-testid='stPlotlyChart']").nth(chart_index).locator(".nsewdrag").first
    area.wait_for(state="visible")
    box = area.bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + (col + 0.5) * box["width"] / n_cols, box["y"] + (row + 0.5) * box["height"] / n_rows)


def _settle(page) -> None:
    """Wait until the app has finished its current script run (Streamlit's running indicator is gone)."""
    from playwright.sync_api import expect

    page.wait_for_timeout(300)
    expect(page.get_by_test_id("stStatusWidget")).to_be_hidden()


def _no_exception(page) -> None:
    assert page.locator("[data-testid='stException']").count() == 0, "a page shows an exception"
    assert "Traceback" not in page.locator("body").inner_text(), "a page shows a traceback"


#: What a table cell must never say. Streamlit's grid draws a missing value as a faded "None" on its canvas and
#: leaves that cell empty in the accessible table the test reads, so an empty cell counts as "None" too.
NOT_A_VALUE = {"", "None", "none", "nan", "NaN", "<NA>", "NaT", "null"}


def _check_tables(page) -> int:
    """Every table on the page (the rows its grid has drawn) holds values, never "None"/"nan"; returns the count."""
    frames = page.get_by_test_id("stDataFrame")
    for i in range(frames.count()):
        frame = frames.nth(i)
        frame.scroll_into_view_if_needed()
        frame.locator("table td").first.wait_for(state="attached")
        heads = [h.strip() for h in frame.locator("table th").all_text_contents()]
        rows = frame.locator("table tbody tr")
        for r in range(rows.count()):
            cells = [c.strip() for c in rows.nth(r).locator("td").all_text_contents()]
            bad = [(heads[k] if k < len(heads) else k, c) for k, c in enumerate(cells) if c in NOT_A_VALUE]
            assert not bad, f"table {i} row {r} shows a missing value in {bad}: {cells}"
    return frames.count()


def _segment_plays(page, label: str) -> None:
    """The segment player labelled ``label`` starts by itself: it is playing, or its clock has moved."""
    page.wait_for_function(
        """label => [...document.querySelectorAll('audio')].some(a =>
               (a.getAttribute('aria-label') || '').startsWith(label) && (!a.paused || a.currentTime > 0))""",
        arg=label)


def _one_segment_timeline(page, seconds: float) -> None:
    """A song shorter than one segment: one timeline cell from 0 to the end of the audio, labelled so."""
    text = f"{seconds:g}"
    expect = _expect()
    expect(page.get_by_text(f"Analysed {text} s in 1 segment", exact=True)).to_be_visible()
    expect(page.get_by_text(f"Mel spectrogram of 0–{text} s", exact=True)).to_be_visible()
    expect(page.get_by_text(f"Segment 0–{text} s", exact=True)).to_be_visible()
    assert page.get_by_text("Segment", exact=True).count() == 0, "no segment slider for a single segment"
    _settle(page)
    timeline = page.locator("[data-testid='stPlotlyChart']").filter(has_text="Timeline")
    area = timeline.locator(".nsewdrag").first.bounding_box()
    cell = timeline.locator(".heatmaplayer image").first.bounding_box()
    assert area is not None and cell is not None
    assert abs(cell["x"] - area["x"]) <= 1 and abs(cell["x"] + cell["width"] - area["x"] - area["width"]) <= 1, \
        "the cell fills the time axis"
    start, end = timeline.locator(".js-plotly-plot").evaluate("plot => plot._fullLayout.xaxis.range")
    page.wait_for_function("() => document.querySelector('audio').duration > 0")
    duration = page.locator("audio").first.evaluate("audio => audio.duration")
    assert start == 0 and end == pytest.approx(seconds, abs=0.01), "the time axis is the clip, not 0-3 s"
    assert duration == pytest.approx(seconds, abs=0.05), "the song's player and the timeline agree"


def _expect():
    from playwright.sync_api import expect

    return expect


def test_upload_analyse_and_every_page(server: tuple[str, Path], tmp_path: Path) -> None:  # noqa: PLR0915
    from playwright.sync_api import expect, sync_playwright
    from test_dashboard import SR, tone_clip

    url, runs = server
    expect.set_options(timeout=TIMEOUT_MS)
    clip = tmp_path / "clip.wav"
    sf.write(clip, tone_clip("classical", 1, seconds=2.4), SR)
    song = tmp_path / "song.mp3"
    sf.write(song, np.concatenate([tone_clip("blues", 2, seconds=4.6), tone_clip("metal", 2, seconds=4.6)]), SR,
             format="MP3")
    SHOTS.mkdir(exist_ok=True)
    newest = list_runs(runs)[0]
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 2400})
            page.set_default_timeout(TIMEOUT_MS)

            # Home: a real upload through the file input, then the spectrum and the timeline.
            page.goto(url)
            expect(page.get_by_role("heading", name="Analyse a song")).to_be_visible()
            expect(page.get_by_text("200 MB")).to_be_visible()
            page.get_by_test_id("stSelectbox").first.click()
            page.get_by_role("option", name=re.compile("tiny-cnn-s0")).click()
            upload = page.locator("input[type='file']").first
            # A clip shorter than one segment, then a click on its only cell plays it.
            upload.set_input_files(str(clip))
            _one_segment_timeline(page, 2.4)
            _click_cell(page, 1, row=0, col=0, n_rows=len(newest.classes), n_cols=1)
            _segment_plays(page, "Segment 0–2.4 s")
            _no_exception(page)
            page.screenshot(path=str(SHOTS / "home-one-segment.png"))

            upload.set_input_files(str(song))
            expect(page.get_by_text(re.compile(r"^Analysed 9(\.\d)? s in 3 segments$"))).to_be_visible()
            expect(page.get_by_text("Genre spectrum", exact=True)).to_be_visible()
            genre = page.locator("[data-testid='stMetricValue']").first.inner_text().strip()
            assert genre, "the predicted genre is shown"
            expect(page.get_by_text("Mel spectrogram of 0–3 s")).to_be_visible()
            # Clicking the third column of the timeline (plotly selection) plays and draws that segment.
            _click_cell(page, 1, row=0, col=2, n_rows=len(newest.classes), n_cols=3)
            expect(page.get_by_text("Mel spectrogram of 6–9 s")).to_be_visible()
            _segment_plays(page, "Segment 6–9 s")
            expect(page.get_by_text("similarity").first).to_be_visible()
            expect(page.get_by_role("button", name=re.compile("Download song.mp3 tagged"))).to_be_visible()
            _no_exception(page)
            _check_tables(page)
            page.wait_for_timeout(800)
            page.screenshot(path=str(SHOTS / "home.png"))

            # Error analysis: click a correct cell, then a wrong one; the wrong one lists its segments.
            page.get_by_role("link", name="Error analysis").click()
            expect(page.get_by_text("Misclassified examples")).to_be_visible()
            page.get_by_text("Segments", exact=True).click()
            expect(page.get_by_text("Confusion matrix (segment level)")).to_be_visible()
            run = Run(newest.path)
            confusion = segment_confusion(run.predictions, run.classes)
            n = len(run.classes)
            _click_cell(page, 0, row=0, col=0, n_rows=n, n_cols=n)
            expect(page.get_by_text("That cell holds the correct predictions")).to_be_visible()
            i, j = next((i, j) for i in range(n) for j in range(n) if i != j and confusion.iat[i, j] > 0)
            _click_cell(page, 0, row=i, col=j, n_rows=n, n_cols=n)
            expect(page.get_by_text(f"true {run.classes[i]}, predicted {run.classes[j]}").first).to_be_visible()
            saliency = page.locator("[data-testid='stPlotlyChart']").filter(has_text="Grad-CAM for")
            expect(saliency).to_be_visible()
            _no_exception(page)
            assert _check_tables(page) >= 2, "per-genre metrics and the examples of the chosen cell"
            page.wait_for_timeout(800)
            page.screenshot(path=str(SHOTS / "errors.png"))
            saliency.scroll_into_view_if_needed()
            saliency.screenshot(path=str(SHOTS / "saliency.png"))

            # Compare runs.
            page.get_by_role("link", name="Compare runs").click()
            expect(page.get_by_text("Training curves")).to_be_visible()
            expect(page.get_by_text("Over seeds: mean ± std")).to_be_visible()
            _no_exception(page)
            assert _check_tables(page) >= 2, "the runs table and the seed table"
            page.wait_for_timeout(800)
            page.screenshot(path=str(SHOTS / "compare.png"))
        finally:
            browser.close()
