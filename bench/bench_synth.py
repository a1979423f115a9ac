"""Speed of the synthetic genre set (clips per second, seconds of audio per CPU second, 1 and 2 workers) and,
with ``--separability``, how learnable it is at several difficulties.

    python bench/bench_synth.py [--per-genre 2] [--seconds 30]
    python bench/bench_synth.py --separability [--difficulties 0,0.5,1]

Speed: writes into a temporary folder (deleted afterwards); CPU time of worker processes is read with
``resource.getrusage(RUSAGE_CHILDREN)`` once the pool has exited; also prints the render time of one clip per
genre (in this process).

Separability: 16 clips x 10 s per genre (4 per artist), 20 MFCC means and standard deviations (librosa), then
logistic regression and 5-NN (standardised), scored by leave-one-artist-out (4 folds: every genre's artist k
held out together) and by a random stratified 4-fold split; prints accuracies and the artist-split confusion.
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import librosa
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import confusion_matrix
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from core.config import GENRES  # noqa: E402
from core.synth import ARTISTS_PER_GENRE, generate_dataset, render_clip  # noqa: E402

_PER_GENRE, _SECONDS = 16, 10.0


def _cpu_seconds() -> float:
    """CPU seconds (user + system) of this process plus its finished children."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _features(job: tuple[str, int, float]) -> np.ndarray:
    """MFCC means and standard deviations ``(40,)`` of one clip (genre, index, difficulty)."""
    genre, index, difficulty = job
    clip = render_clip(genre=genre, seed=1000 + index, seconds=_SECONDS, difficulty=difficulty,
                       artist=index % ARTISTS_PER_GENRE)
    mfcc = librosa.feature.mfcc(y=clip, sr=22050, n_mfcc=20)
    return np.concatenate([mfcc.mean(axis=1), mfcc.std(axis=1)])


def separability(difficulty: float) -> None:
    """Print artist-split and random-split accuracies of MFCC classifiers at one difficulty."""
    jobs = [(g, i, difficulty) for g in GENRES for i in range(_PER_GENRE)]
    with ProcessPoolExecutor(max_workers=2, mp_context=multiprocessing.get_context("spawn")) as pool:
        x = np.array(list(pool.map(_features, jobs)))
    y = np.array([g for g, _, _ in jobs])
    artist = np.array([i % ARTISTS_PER_GENRE for _, i, _ in jobs])
    models = {"logistic": lambda: make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, C=0.5)),
              "5-NN": lambda: make_pipeline(StandardScaler(), KNeighborsClassifier(5))}
    print(f"\ndifficulty {difficulty:g}: {len(jobs)} clips x {_SECONDS:g} s")
    predictions = {}
    for name, make in models.items():
        pred = np.empty_like(y)
        for held_out in range(ARTISTS_PER_GENRE):
            test = artist == held_out
            pred[test] = make().fit(x[~test], y[~test]).predict(x[test])
        by_artist = float(np.mean(pred == y))
        by_chance = cross_val_score(make(), x, y, cv=StratifiedKFold(4, shuffle=True, random_state=0)).mean()
        print(f"  {name:9s} unseen artists {by_artist:.3f}   random split {by_chance:.3f}")
        predictions[name] = pred
    matrix = confusion_matrix(y, predictions["logistic"], labels=list(GENRES))
    print("  logistic, unseen artists (rows true):\n" + " " * 12 + " ".join(f"{g[:5]:>5s}" for g in GENRES))
    for genre, row in zip(GENRES, matrix):
        print(f"  {genre:10s}" + " ".join(f"{v:5d}" for v in row))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-genre", type=int, default=2, help="clips per genre per run (default 2)")
    parser.add_argument("--seconds", type=float, default=30.0, help="clip length in s (default 30)")
    parser.add_argument("--separability", action="store_true", help="measure learnability instead of speed")
    parser.add_argument("--difficulties", default="0,0.5,1", help="for --separability (default 0,0.5,1)")
    args = parser.parse_args()
    if args.separability:
        for difficulty in args.difficulties.split(","):
            separability(float(difficulty))
        return

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
