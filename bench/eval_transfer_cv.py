"""The transfer head on real GTZAN tracks: the fault-filtered valid part and 5-fold grouped cross-validation.

    python -m bench.eval_transfer_cv [--folds 5] [--seed 0]

Embeds every track of ``../shared/data/gtzan_ff`` once (both musicnn taggers, 3-s windows every 1.5 s; the
consecutive segments used for prediction are every other window), then compares heads fitted with
:func:`core.models.transfer.fit_head` on (a) the fault-filtered split: train list → valid list (artist-disjoint),
and (b) StratifiedGroupKFold over train+valid, grouped by track (GTZAN has no artist column here, so folds are
not artist-disjoint and flatter the model). Song prediction = mean of its segments' probabilities. The
pretrained tag mapping (no training) is scored the same way. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
from scipy.optimize import minimize_scalar
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score
from sklearn.model_selection import StratifiedGroupKFold

from core.config import GENRES, REPO_ROOT, class_index
from core.data.cache import decodable_tracks
from core.data.sources import load_source
from core.models.transfer import (
    TransferGenreModel,
    audio_config,
    fit_head,
    song_embeddings,
)
from core.pretrained.genre_map import genre_spectrum
from core.pretrained.musicnn import (
    _vocabularies,
    load_musicnn_genre_model,
    tag_probabilities,
)
from core.training.settings import TransferSettings

MANIFEST = REPO_ROOT.parent / "shared" / "data" / "gtzan_ff" / "manifest.csv"
HEADS = {"trained head, shipped settings (C 0.003, overlap, balanced)": TransferSettings(),
         "trained head, plain (C 1, consecutive windows, unweighted)": TransferSettings(c=1.0, hop_seconds=3.0,
                                                                                       balance=False)}


def expected_calibration_error(probs: np.ndarray, true: np.ndarray, *, bins: int = 10) -> float:
    """Top-label ECE: ``probs (n, C)`` song probabilities, ``true (n,)`` class indices, equal-width bins."""
    confidence, correct = probs.max(1), probs.argmax(1) == true
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1]), 0, bins - 1)
    return float(sum(abs(correct[which == b].mean() - confidence[which == b].mean()) * (which == b).mean()
                     for b in range(bins) if (which == b).any()))


def _tempered(probs: np.ndarray, temperature: float) -> np.ndarray:
    logits = np.log(np.maximum(probs, 1e-12)) / temperature
    logits -= logits.max(1, keepdims=True)
    return np.exp(logits) / np.exp(logits).sum(1, keepdims=True)


def _scores(true: np.ndarray, pred: np.ndarray) -> tuple[float, float, float]:
    present = sorted(set(true))
    return (accuracy_score(true, pred), balanced_accuracy_score(true, pred),
            f1_score(true, pred, labels=present, average="macro", zero_division=0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    warnings.filterwarnings("ignore", message="y_pred contains classes not in y_true")
    if not MANIFEST.is_file():
        print(f"{MANIFEST} is absent: nothing to evaluate.")
        return
    started = time.perf_counter()
    tracks, _ = decodable_tracks(load_source(str(MANIFEST)), audio_config(TransferSettings()), progress=False)
    backbone = load_musicnn_genre_model(device="cpu")
    windows = song_embeddings(backbone, list(tracks["path"]), hop_seconds=1.5, progress=True)
    segments = [w[::2] for w in windows]  # starts 0, 3, 6 … s: exactly cut_segments' consecutive segments
    labels = class_index(tracks["label"].to_numpy(dtype=object), GENRES)
    groups = tracks["track_id"].to_numpy(dtype=object)
    in_valid = (tracks["ff_split"] == "valid").to_numpy()
    print(f"{len(tracks)} tracks embedded in {time.perf_counter() - started:.0f} s\n")

    def song_probs(head: dict, idx: np.ndarray) -> np.ndarray:
        model = TransferGenreModel(kind="transfer", classes=GENRES, cfg=backbone.cfg, backbone=None, **head)
        return np.stack([model.predict_embeddings(segments[i]).mean(0) for i in idx])

    def predict(head: dict, idx: np.ndarray) -> np.ndarray:
        return song_probs(head, idx).argmax(1)

    def mapping(idx: np.ndarray) -> np.ndarray:
        return np.array([genre_spectrum(tag_probabilities(segments[i]), _vocabularies()).mean(0).argmax()
                         for i in idx])

    print("| model | valid acc. | valid balanced acc. | valid macro-F1 | grouped CV balanced acc. (mean ± std) |")
    print("|---|---|---|---|---|")
    valid_idx, train_idx = np.flatnonzero(in_valid), np.flatnonzero(~in_valid)
    folds = list(StratifiedGroupKFold(n_splits=args.folds, shuffle=True, random_state=args.seed)
                 .split(np.zeros(len(labels)), labels, groups))
    for name, hyper in HEADS.items():
        pool = windows if hyper.hop_seconds < 3.0 else segments

        def fit(idx: np.ndarray) -> dict:
            return fit_head([pool[i] for i in idx], labels[idx], n_classes=len(GENRES), hyper=hyper, seed=args.seed)

        acc, bal, f1 = _scores(labels[valid_idx], predict(fit(train_idx), valid_idx))
        cv = [balanced_accuracy_score(labels[te], predict(fit(tr), te)) for tr, te in folds]
        print(f"| {name} | {acc:.3f} | {bal:.3f} | {f1:.3f} | {np.mean(cv):.3f} ± {np.std(cv):.3f} |")
    # calibration of the shipped head: a temperature fitted on out-of-fold train-list songs, judged on valid
    shipped = next(iter(HEADS.values()))

    def fit_shipped(idx: np.ndarray) -> dict:
        return fit_head([windows[i] for i in idx], labels[idx], n_classes=len(GENRES), hyper=shipped, seed=args.seed)

    oof = np.zeros((len(train_idx), len(GENRES)))
    inner = StratifiedGroupKFold(n_splits=args.folds, shuffle=True, random_state=args.seed)
    for tr, te in inner.split(np.zeros(len(train_idx)), labels[train_idx], groups[train_idx]):
        oof[te] = song_probs(fit_shipped(train_idx[tr]), train_idx[te])
    nll = lambda temp: -np.log(_tempered(oof, temp)[np.arange(len(oof)), labels[train_idx]] + 1e-12).mean()  # noqa: E731
    temperature = float(minimize_scalar(nll, bounds=(0.05, 20), method="bounded").x)
    valid_probs = song_probs(fit_shipped(train_idx), valid_idx)
    calibration = (f"Calibration of the shipped head on valid (expected calibration error, 10 bins): "
                   f"{expected_calibration_error(valid_probs, labels[valid_idx]):.3f} at T = 1; "
                   f"{expected_calibration_error(_tempered(valid_probs, temperature), labels[valid_idx]):.3f} at "
                   f"T = {temperature:.2f} fitted on out-of-fold songs of the train list.")
    acc, bal, f1 = _scores(labels[valid_idx], mapping(valid_idx))
    cv = [balanced_accuracy_score(labels[te], mapping(te)) for _, te in folds]
    print(f"| musicnn tags mapped to genres (no training) | {acc:.3f} | {bal:.3f} | {f1:.3f} | "
          f"{np.mean(cv):.3f} ± {np.std(cv):.3f} |")
    print(f"\n{args.folds}-fold StratifiedGroupKFold over train+valid ({len(tracks)} tracks) grouped by track, seed "
          f"{args.seed}; valid = the fault-filtered valid list ({len(valid_idx)} tracks, no hiphop or reggae). "
          f"{time.perf_counter() - started:.0f} s in all.")
    print(calibration)


if __name__ == "__main__":
    main()
