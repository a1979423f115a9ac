"""Render time of every dashboard page, first and warm (AppTest: the page script's run, server side).

Run: ``python bench/bench_dashboard.py [--model transfer-gtzan] [--seconds 180]``. Uploads a generated stereo WAV
of ``--seconds`` to Home, analyses it with ``--model`` (a run id under models/runs; default: the model Home opens
with), then opens Error analysis and Compare runs on that run. The target is under 2 s warm per page. What a person
waits for in a real browser (upload, rendering) is timed by ``bench/bench_browser.py``.
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from pathlib import Path

import numpy as np
import soundfile as sf
from streamlit.testing.v1 import AppTest

from core.models.registry import DEFAULT_RUN

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=DEFAULT_RUN)
    parser.add_argument("--seconds", type=float, default=180.0)
    args = parser.parse_args()
    run = str(ROOT / "models" / "runs" / args.model)
    at = AppTest.from_file(str(ROOT / "dashboard" / "Home.py"), default_timeout=300)
    at.run()
    at.selectbox(key="model").set_value(run)
    sr = 44100
    wave = (0.1 * np.random.default_rng(0).standard_normal((int(args.seconds * sr), 2))).astype(np.float32)
    buf = io.BytesIO()
    sf.write(buf, wave, sr, format="WAV", subtype="PCM_16")
    print(f"upload: {len(buf.getvalue()) / 1e6:.0f} MB WAV, {args.seconds:.0f} s stereo 44.1 kHz; model {args.model}")
    at.file_uploader(key="upload").upload("song.wav", buf.getvalue(), "audio/wav")

    def timed(label: str) -> None:
        start = time.perf_counter()
        at.run()
        first = time.perf_counter() - start
        start = time.perf_counter()
        at.run()
        warm = time.perf_counter() - start
        if at.exception:
            sys.exit(f"{label}: {at.exception}")
        print(f"  {label:30s} first {first:6.2f} s   warm {warm:5.2f} s")

    timed("Home (analysis)")
    at.switch_page("views/errors.py")
    at.run()
    at.selectbox(key="run").set_value(run)
    timed("Error analysis (song level)")
    at.switch_page("views/compare.py")
    timed("Compare runs")


if __name__ == "__main__":
    main()
