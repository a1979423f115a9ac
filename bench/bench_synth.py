"""Speed of the synthetic genre set: clips per second and seconds of audio per CPU second, 1 and 2 workers.

    python bench/bench_synth.py [--per-genre 2] [--seconds 30]

Writes into a temporary folder (deleted afterwards). CPU time of worker processes is read with
``resource.getrusage(RUSAGE_CHILDREN)`` once the pool has exited. Also prints the render time of one clip
per genre (in this process).
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.config import GENRES  # noqa: E402
from core.synth import generate_dataset, render_clip  # noqa: E402


def _cpu_seconds() -> float:
    """CPU seconds (user + system) of this process plus its finished children."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-genre", type=int, default=2, help="clips per genre per run (default 2)")
    parser.add_argument("--seconds", type=float, default=30.0, help="clip length in s (default 30)")
    args = parser.parse_args()

    print(f"one clip of {args.seconds:g} s per genre, in-process:")
    for genre in GENRES:
        start = time.process_time()
        render_clip(genre=genre, seed=0, seconds=args.seconds)
        print(f"  {genre:10s} {time.process_time() - start:6.3f} CPU s")

    n_clips = args.per_genre * len(GENRES)
    audio_seconds = n_clips * args.seconds
    print(f"\ngenerate_dataset: {n_clips} clips x {args.seconds:g} s (WAV writing included)")
    print(f"{'workers':>8s} {'wall s':>8s} {'CPU s':>8s} {'clips/s':>8s} {'audio s / CPU s':>16s}")
    for workers in (1, 2):
        with tempfile.TemporaryDirectory() as tmp:
            cpu, wall = _cpu_seconds(), time.perf_counter()
            generate_dataset(Path(tmp) / "synth", per_genre=args.per_genre, seconds=args.seconds, seed=0,
                             workers=workers, progress=False)
            wall, cpu = time.perf_counter() - wall, _cpu_seconds() - cpu
        print(f"{workers:8d} {wall:8.2f} {cpu:8.2f} {n_clips / wall:8.2f} {audio_seconds / cpu:16.1f}")


if __name__ == "__main__":
    main()
