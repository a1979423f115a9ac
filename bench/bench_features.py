"""Handcrafted-feature speed: the plain librosa recipe vs ``core.audio.features.clip_features`` (one STFT), per clip.

Run: ``python bench/bench_features.py [--repeats 3] [--data ../shared/data]``. Uses the real GTZAN clips in
``<data>/gtzan/audio`` when present, otherwise generated 30-second clips. For each clip it prints the best-of
``repeats`` time of each recipe, their ratio and the largest relative difference between their 57 values
(near-zero values, under 1e-9, are compared absolutely), then the totals.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from core.audio.decode import load_audio  # noqa: E402
from core.audio.features import (  # noqa: E402
    FEATURE_SAMPLE_RATE,
    clip_features,
    reference_clip_features,
)
from core.config import REPO_ROOT  # noqa: E402

SR = FEATURE_SAMPLE_RATE


def generated_clips(count: int = 4, seconds: float = 30.0) -> dict[str, np.ndarray]:
    """Tones plus noise bursts on a beat (tempo varies by clip): ``{name: float32 (n,)}``."""
    clips = {}
    for i in range(count):
        rng = np.random.default_rng(i)
        t = np.arange(int(seconds * SR)) / SR
        f0 = 110.0 * 2 ** (i / 3)
        y = 0.2 * np.sin(2 * np.pi * f0 * t) + 0.1 * np.sin(2 * np.pi * 1.5 * f0 * t)
        y += 0.02 * rng.standard_normal(t.size)
        for start in range(0, t.size - 2000, int(SR * 60 / (90 + 15 * i))):
            y[start : start + 2000] += 0.4 * np.exp(-np.arange(2000) / 200) * rng.standard_normal(2000)
        clips[f"generated-{i} ({90 + 15 * i} bpm)"] = y.astype(np.float32)
    return clips


def best_of(fn: Callable[[], np.ndarray], repeats: int) -> tuple[float, np.ndarray]:
    """Fastest wall time in seconds over ``repeats`` calls, and the last result."""
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def max_relative_difference(a: np.ndarray, b: np.ndarray) -> float:
    """max |a - b| / |b| over the values, with |b| floored at 1e-9."""
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-9)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--data", type=Path, default=REPO_ROOT.parent / "shared" / "data")
    args = parser.parse_args()
    files = sorted((args.data / "gtzan" / "audio").glob("*.wav"))
    if files:
        clips = {p.name: load_audio(p, sample_rate=SR).samples for p in files}
        source = f"{len(files)} real GTZAN clips from {args.data / 'gtzan' / 'audio'}"
    else:
        clips = generated_clips()
        source = "generated clips (real data folder absent)"
    first = next(iter(clips.values()))
    clip_features(first), reference_clip_features(first)  # warm-up: librosa's lazy imports and numba compiles
    print(f"{source}; best of {args.repeats}")
    print(f"  {'clip':<30} {'seconds':>8} {'plain s':>8} {'fast s':>8} {'ratio':>6} {'max rel diff':>13}")
    totals = np.zeros(2)
    worst = 0.0
    for name, y in clips.items():
        plain_s, plain = best_of(lambda: reference_clip_features(y), args.repeats)
        fast_s, fast = best_of(lambda: clip_features(y), args.repeats)
        diff = max_relative_difference(fast, plain)
        totals += (plain_s, fast_s)
        worst = max(worst, diff)
        print(f"  {name:<30} {len(y) / SR:8.1f} {plain_s:8.3f} {fast_s:8.3f} {plain_s / fast_s:5.1f}x {diff:13.2e}")
    n = len(clips)
    print(f"  per clip (mean): plain {totals[0] / n:.3f} s, fast {totals[1] / n:.3f} s, "
          f"speed-up {totals[0] / totals[1]:.1f}x; max relative difference {worst:.2e}")


if __name__ == "__main__":
    main()
