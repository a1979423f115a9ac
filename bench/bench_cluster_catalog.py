"""Catalog build on the local process pool (1 and 2 workers) against Ray Data (1 and 2 actors), real 30-s clips.

The clips are real GTZAN recordings from ``../shared/data/gtzan_ff`` (the ``--clips`` longest, 15-30 s each),
each looped to exactly 30 s and written as 22050 Hz FLAC to a temporary folder (nothing is copied into the repo),
so every clip costs what a 30-s FMA clip costs. Each build starts from an empty catalog in a fresh folder, with
the default model; a Ray build starts and stops its own local Ray, as ``catalog build --engine ray`` does.

    python -m bench.bench_cluster_catalog [--clips 96] [--repeats 3] [--model RUN]

Prints, per setting, the median wall time of a build, tracks/min over the whole build and at steady state
(after the first song, i.e. without start-up), the time to the first song, and ratios to the local 1-worker
build; then the overhead of starting and stopping a local Ray alone; and the load average around each build.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf

from core.audio.decode import load_audio
from core.cluster.session import ray_session
from core.config import REPO_ROOT
from core.library.catalog import build_catalog
from core.runs.folder import default_model

DATA = REPO_ROOT.parent / "shared" / "data" / "gtzan_ff"
SR = 22050
SECONDS = 30.0
SETTINGS = (("local", 1), ("local", 2), ("ray", 1), ("ray", 2))


def write_clips(folder: Path, *, count: int) -> list[Path]:
    """The ``count`` longest gtzan_ff tracks, each looped to 30 s: 22050 Hz mono FLAC files in ``folder``."""
    manifest = pd.read_csv(DATA / "manifest.csv").sort_values(["duration", "path"], ascending=[False, True])
    paths = []
    for i, rel in enumerate(manifest["path"].head(count)):
        samples = load_audio(DATA / rel, sample_rate=SR).samples
        clip = np.resize(samples, int(SECONDS * SR))  # repeats the recording until 30 s
        path = folder / f"{i:03d}_{Path(rel).stem}.flac"
        sf.write(path, clip, SR)
        paths.append(path)
    return paths


def one_build(clips: Path, out: Path, *, engine: str, workers: int, model: str) -> dict[str, float]:
    """Build a fresh catalog: wall seconds, seconds to the first song, steady tracks/min, load before/after."""
    marks: list[float] = []
    load_before = os.getloadavg()[0]
    start = time.perf_counter()
    report = build_catalog(clips, out=out, model=model, workers=workers, progress=False, engine=engine,
                           on_song=lambda done, total: marks.append(time.perf_counter()))
    wall = time.perf_counter() - start
    if report.failed or report.added != len(marks):
        raise SystemExit(f"{engine}/{workers}: {len(report.failed)} failed files: {report.failed[:2]}")
    steady = (len(marks) - 1) / (marks[-1] - marks[0]) * 60 if len(marks) > 1 else float("nan")
    return {"wall": wall, "first": marks[0] - start, "steady": steady, "load_before": load_before,
            "load_after": os.getloadavg()[0]}


def ray_start_stop() -> float:
    """Seconds to start a local Ray with this machine's cores and stop it again (no work)."""
    start = time.perf_counter()
    with ray_session(num_cpus=os.cpu_count()):
        pass
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=96, help="30-s clips per build (at most 143)")
    parser.add_argument("--repeats", type=int, default=3, help="builds per setting (median reported)")
    parser.add_argument("--model", default=None, help="default: the default model (transfer-gtzan)")
    args = parser.parse_args()
    if not DATA.is_dir():
        raise SystemExit(f"{DATA} is absent: this benchmark needs the real clips (see ../shared/data/README.md).")
    model = args.model or default_model()
    print(f"model {model}; {args.clips} clips of {SECONDS:g} s; {args.repeats} builds per setting; "
          f"{os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.2f} at start")
    with tempfile.TemporaryDirectory(prefix="bench-cluster-") as tmp:
        clips = Path(tmp) / "clips"
        clips.mkdir()
        write_clips(clips, count=args.clips)
        runs: dict[tuple[str, int], list[dict[str, float]]] = {s: [] for s in SETTINGS}
        for repeat in range(args.repeats):  # settings interleaved, so a busy spell hits them all alike
            for engine, workers in SETTINGS:
                out = Path(tmp) / f"catalog-{engine}{workers}-{repeat}"
                runs[(engine, workers)].append(one_build(clips, out, engine=engine, workers=workers, model=model))
        starts = [ray_start_stop() for _ in range(args.repeats)]

    base = statistics.median(r["wall"] for r in runs[("local", 1)])
    print(f"\n{'setting':<16}{'wall s':>8}{'tracks/min':>12}{'steady/min':>12}{'first song s':>14}"
          f"{'speed vs local-1':>18}{'load before→after':>20}")
    for (engine, workers), results in runs.items():
        wall = statistics.median(r["wall"] for r in results)
        steady = statistics.median(r["steady"] for r in results)
        first = statistics.median(r["first"] for r in results)
        load = f"{statistics.median(r['load_before'] for r in results):.2f}→" \
               f"{statistics.median(r['load_after'] for r in results):.2f}"
        label = f"{engine} {workers} {'worker' if engine == 'local' else 'actor'}{'s' if workers > 1 else ''}"
        print(f"{label:<16}{wall:>8.1f}{args.clips / wall * 60:>12.1f}{steady:>12.1f}{first:>14.1f}"
              f"{base / wall:>17.2f}x{load:>20}")
    ray1 = statistics.median(r["wall"] for r in runs[("ray", 1)])
    ray2 = statistics.median(r["wall"] for r in runs[("ray", 2)])
    local2 = statistics.median(r["wall"] for r in runs[("local", 2)])
    print(f"\nRay / local wall time: {ray1 / base:.2f} (1 worker), {ray2 / local2:.2f} (2 workers)")
    print(f"Starting and stopping a local Ray alone: median {statistics.median(starts):.1f} s "
          f"(runs: {', '.join(f'{s:.1f}' for s in starts)})")
    print(f"Load average at the end: {', '.join(f'{v:.2f}' for v in os.getloadavg())} (1, 5, 15 min)")


if __name__ == "__main__":
    main()
