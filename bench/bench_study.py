"""Study throughput: the same small grid study run in this process (the local loop) and on a local Ray with 1 and
2 workers; trials per hour, the time Ray takes to start, and the ratio to the local loop.

Run: ``python -m bench.bench_study [--model cnn] [--epochs 2] [--repeats 3] [--per-genre 6]``. The study trains
``--model`` on a synthetic genre set generated into a temporary folder (``--per-genre`` clips of 10 s per genre, 3
genres; CNN/CRNN for ``--epochs``), 2 sizes of songs per genre x 3 seeds = 6 trials; its waveform cache is warmed
first, so every engine
decodes nothing. Each engine writes into a fresh runs folder (nothing is skipped) and starts its own Ray, so the
start time is in its wall time. Prints medians over ``--repeats`` and the load average before and after.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
from pathlib import Path

from core.cluster.study import StudySpec, run_study
from core.synth import generate_dataset

GENRES3 = ("blues", "classical", "metal")
#: Small models, so a trial takes seconds: CNN/CRNN with 2 crops per song per epoch, KNN k=3.
FIXED = {"cnn": {"crops_per_track": 2, "batch_size": 16, "patience": 100},
         "crnn": {"crops_per_track": 2, "batch_size": 16, "patience": 100},
         "knn": {"k": 3}, "transfer": {"music_verdict": False}}
ENGINES = (("local loop", "local", None), ("Ray, 1 worker", "ray", 1), ("Ray, 2 workers", "ray", 2))


def load() -> str:
    return "load average " + ", ".join(f"{v:.2f}" for v in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="cnn", choices=sorted(FIXED))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--per-genre", type=int, default=6)
    parser.add_argument("--epochs", type=int, default=2, help="CNN/CRNN epochs per trial")
    args = parser.parse_args()
    epochs = {"epochs": args.epochs} if args.model in ("cnn", "crnn") else {}
    with tempfile.TemporaryDirectory(prefix="bench-study-") as tmp:
        work = Path(tmp)
        os.environ["GENRE_LAB_CACHE"] = str(work / "cache")  # before any Ray starts: its workers inherit it
        data = work / "synth"
        generate_dataset(data, per_genre=args.per_genre, seconds=10.0, seed=0, workers=1, progress=False)
        spec = StudySpec(name="bench", data=str(data), models=(args.model,), seeds=(0, 1, 2),
                         songs_per_genre=(2, None), genre_subsets=(GENRES3,),
                         fixed={"valid": 0.2, "test": 0.3, **FIXED[args.model], **epochs})
        run_study(spec, root=work / "warm", engine="local")  # fills the waveform cache
        what = f", {args.epochs} epochs" if epochs else ""
        print(f"{args.model}: 6 trials per study (3 genres x {args.per_genre} clips of 10 s{what}), "
              f"{os.cpu_count()} cores; {load()}")
        results: dict[str, list[tuple[float, float]]] = {label: [] for label, _, _ in ENGINES}
        for repeat in range(args.repeats):
            for label, engine, workers in ENGINES:
                report = run_study(spec, root=work / f"{engine}-{workers}-{repeat}", engine=engine, workers=workers)
                assert report.count("done") == 6, [e.message for e in report.events]
                results[label].append((report.seconds, report.start_seconds))
        base = statistics.median(s for s, _ in results["local loop"])
        print(f"{'engine':<16} {'wall s':>8} {'trials/hour':>12} {'Ray start s':>12} {'vs local':>9}")
        for label, runs in results.items():
            wall = statistics.median(s for s, _ in runs)
            start = statistics.median(s for _, s in runs)
            print(f"{label:<16} {wall:8.1f} {6 / wall * 3600:12.0f} {start:12.1f} {base / wall:8.2f}x")
        print(f"medians of {args.repeats}; {load()}")


if __name__ == "__main__":
    main()
