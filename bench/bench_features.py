"""Handcrafted-feature speed: the plain librosa recipe vs ``core.audio.features.clip_features``, per clip.

Run: ``python bench/bench_features.py [--repeats 5] [--workers 2] [--rounds 3] [--data ../shared/data]``.
Uses the real GTZAN clips in ``<data>/gtzan/audio`` when present, otherwise generated 30-second clips.

1. **One thread** (the figure that counts): both recipes in this process with BLAS/OpenMP limited to one
   thread, alternating plain and fast ``repeats`` times per clip so both see the same machine load. For each clip
   the median time of each recipe, their ratio, how many of the 57 values are bit-identical and the largest
   relative difference; then the median per clip over the clips and its ratio.
2. **Throughput with ``--workers`` processes**: each recipe over the clips ``rounds`` times in a process pool
   (one BLAS thread per worker, workers started and warmed up before the clock starts): clips per second,
   seconds per clip, and the ratio.

The load average (1, 5, 15 min) is printed before and after: other work on the machine slows both recipes.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from core.audio.decode import load_audio
from core.audio.features import FEATURE_SAMPLE_RATE, clip_features, reference_clip_features
from core.config import REPO_ROOT

SR = FEATURE_SAMPLE_RATE
RECIPES: dict[str, Callable[[np.ndarray], np.ndarray]] = {"plain": reference_clip_features, "fast": clip_features}


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


def load_text() -> str:
    """The 1-, 5- and 15-minute load averages and the core count, as one phrase."""
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} / {five:.2f} / {fifteen:.2f} on {os.cpu_count()} cores"


def timed(fn: Callable[[np.ndarray], np.ndarray], y: np.ndarray) -> tuple[float, np.ndarray]:
    """Wall time of one call ``fn(y)`` in seconds, and its result."""
    start = time.perf_counter()
    result = fn(y)
    return time.perf_counter() - start, result


def max_relative_difference(a: np.ndarray, b: np.ndarray) -> float:
    """max |a - b| / |b| over the values, with |b| floored at 1e-300 (0 when the arrays are equal)."""
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-300)))


def one_thread(clips: dict[str, np.ndarray], *, repeats: int) -> None:
    """Per-clip medians of both recipes on one thread, their ratio and how identical their values are."""
    print(f"\n1. one thread (BLAS/OpenMP limited to 1), median of {repeats} alternating runs per clip")
    print(f"  {'clip':<28} {'seconds':>7} {'plain s':>8} {'fast s':>8} {'ratio':>6} {'identical':>9} "
          f"{'max rel diff':>12}")
    medians: dict[str, list[float]] = {"plain": [], "fast": []}
    with threadpool_limits(limits=1):
        first = next(iter(clips.values()))
        clip_features(first), reference_clip_features(first)  # warm-up: lazy imports, compiled kernels
        for name, y in clips.items():
            times: dict[str, list[float]] = {"plain": [], "fast": []}
            values: dict[str, np.ndarray] = {}
            for _ in range(repeats):
                for recipe, fn in RECIPES.items():
                    seconds, values[recipe] = timed(fn, y)
                    times[recipe].append(seconds)
            plain_s, fast_s = statistics.median(times["plain"]), statistics.median(times["fast"])
            medians["plain"].append(plain_s)
            medians["fast"].append(fast_s)
            same = int(np.sum(values["fast"] == values["plain"]))
            diff = max_relative_difference(values["fast"], values["plain"])
            print(f"  {name:<28} {len(y) / SR:7.1f} {plain_s:8.3f} {fast_s:8.3f} {plain_s / fast_s:5.1f}x "
                  f"{same:>6}/57 {diff:12.1e}")
    plain, fast = statistics.median(medians["plain"]), statistics.median(medians["fast"])
    print(f"  median per clip: plain {plain:.3f} s, fast {fast:.3f} s, ratio {plain / fast:.1f}x")


def _worker_start() -> None:
    """Pool initializer: one BLAS/OpenMP thread, and both recipes run once (imports, compiled kernels)."""
    from threadpoolctl import threadpool_limits as limit

    limit(limits=1)
    warm = np.random.default_rng(0).standard_normal(3 * SR).astype(np.float32) * 0.1
    clip_features(warm), reference_clip_features(warm)


def _worker_run(recipe: str, y: np.ndarray) -> np.ndarray:
    """One clip through one recipe (runs in a worker)."""
    return RECIPES[recipe](y)


def throughput(clips: dict[str, np.ndarray], *, workers: int, rounds: int) -> None:
    """Clips per second of each recipe through a pool of ``workers`` single-threaded processes."""
    jobs = [y for _ in range(rounds) for y in clips.values()]
    print(f"\n2. throughput: {len(jobs)} clips ({rounds} x {len(clips)}) through {workers} worker processes")
    rates: dict[str, float] = {}
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                             initializer=_worker_start) as pool:
        list(pool.map(_worker_run, ["fast"] * workers, jobs[:workers]))  # every worker started and warm
        for recipe in RECIPES:
            start = time.perf_counter()
            list(pool.map(_worker_run, [recipe] * len(jobs), jobs))
            seconds = time.perf_counter() - start
            rates[recipe] = len(jobs) / seconds
            print(f"  {recipe:<6} {seconds:7.2f} s: {rates[recipe]:6.2f} clips/s, {1 / rates[recipe]:.3f} s per clip")
    print(f"  ratio {rates['fast'] / rates['plain']:.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="alternating runs per clip on one thread")
    parser.add_argument("--workers", type=int, default=2, help="processes for the throughput run (0: skip it)")
    parser.add_argument("--rounds", type=int, default=3, help="passes over the clips in the throughput run")
    parser.add_argument("--data", type=Path, default=REPO_ROOT.parent / "shared" / "data")
    args = parser.parse_args()
    files = sorted((args.data / "gtzan" / "audio").glob("*.wav"))
    if files:
        clips = {p.name: load_audio(p, sample_rate=SR).samples for p in files}
        source = f"{len(files)} real GTZAN clips from {args.data / 'gtzan' / 'audio'}"
    else:
        clips = generated_clips()
        source = "generated clips (real data folder absent)"
    print(f"{source}; before: {load_text()}")
    one_thread(clips, repeats=args.repeats)
    if args.workers > 0:
        throughput(clips, workers=args.workers, rounds=args.rounds)
    print(f"\nafter: {load_text()}")


if __name__ == "__main__":
    main()
