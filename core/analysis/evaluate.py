"""Evaluation: segment- and song-level metrics, the confusion matrix, and the misclassified examples.

Segments are evenly spaced and predicted with :func:`core.analysis.predict.predict_waveform` (the same path as the app);
a song's probabilities are the mean of its segments'. Metrics use scikit-learn.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
)
from tqdm import tqdm

from core.analysis.predict import predict_waveform
from core.config import repo_relative
from core.models.base import GenreModel


def prob_columns(classes: Sequence[str]) -> list[str]:
    """Column names of class probabilities in prediction tables: ``p_<class>``."""
    return [f"p_{c}" for c in classes]


def segment_rows(*, track_id: str, path: str, true: str, bounds: np.ndarray, probs: np.ndarray,
                 classes: Sequence[str]) -> pd.DataFrame:
    """Prediction table rows for one track's segments (``bounds (n, 2)`` s, ``probs (n, C)``)."""
    frame = pd.DataFrame(probs, columns=prob_columns(classes))
    best = probs.argmax(axis=1)
    frame.insert(0, "confidence", probs[np.arange(len(probs)), best])
    frame.insert(0, "predicted", np.asarray(classes, dtype=object)[best])
    frame.insert(0, "true", true)
    frame.insert(0, "end", bounds[:, 1])
    frame.insert(0, "start", bounds[:, 0])
    frame.insert(0, "segment", np.arange(len(probs)))
    frame.insert(0, "path", path)
    frame.insert(0, "track_id", track_id)
    return frame


def predict_tracks(model: GenreModel, tracks: pd.DataFrame, *, waveform: Callable[[str], np.ndarray],
                   progress: bool = True) -> pd.DataFrame:
    """Predict every segment of every track (rows with ``track_id, path, label``).

    Args:
        model: Any :class:`GenreModel`.
        tracks: Manifest rows.
        waveform: ``path -> samples (n,)`` at ``model.cfg.sample_rate`` (usually the on-disk cache).

    Returns:
        One row per segment (see :func:`segment_rows`); ``path`` is repository-relative when inside the repo
        (:func:`core.config.from_repo` turns it back into a path).
    """
    parts = []
    for row in tqdm(tracks.itertuples(index=False), total=len(tracks), desc="evaluate", unit="song",
                    disable=not progress, leave=False):
        pred = predict_waveform(waveform(row.path), model=model)
        parts.append(segment_rows(track_id=row.track_id, path=repo_relative(row.path), true=row.label,
                                  bounds=pred.bounds,
                                  probs=pred.segment_probs, classes=model.classes))
    return pd.concat(parts, ignore_index=True)


def song_table(predictions: pd.DataFrame, classes: Sequence[str]) -> pd.DataFrame:
    """One row per song: mean segment probabilities, predicted genre, confidence, margin, segment count."""
    cols = prob_columns(classes)
    songs = predictions.groupby("track_id", sort=False).agg(
        path=("path", "first"), true=("true", "first"), segments=("segment", "size"),
        **{c: (c, "mean") for c in cols})
    probs = songs[cols].to_numpy()
    ordered = np.sort(probs, axis=1)
    songs["predicted"] = np.asarray(classes, dtype=object)[probs.argmax(axis=1)]
    songs["confidence"] = ordered[:, -1]
    songs["margin"] = ordered[:, -1] - ordered[:, -2]
    return songs.reset_index()


def _balanced_accuracy(true: np.ndarray, pred: np.ndarray) -> float:
    with warnings.catch_warnings():  # predictions of genres absent from the test set are simply wrong
        warnings.simplefilter("ignore", UserWarning)
        return float(balanced_accuracy_score(true, pred))


def _level_metrics(true: np.ndarray, probs: np.ndarray, classes: Sequence[str]) -> dict[str, object]:
    labels = np.asarray(classes, dtype=object)
    pred = labels[probs.argmax(axis=1)]
    top2 = labels[np.argsort(-probs, axis=1)[:, :2]]
    precision, recall, f1, support = precision_recall_fscore_support(true, pred, labels=labels, zero_division=0)
    return {
        "n": int(len(true)),
        "accuracy": float(accuracy_score(true, pred)),
        # mean recall over the genres present in ``true`` (unbalanced test sets, such as GTZAN's valid part)
        "balanced_accuracy": _balanced_accuracy(true, pred),
        # over the genres the test songs have (a genre absent from an unbalanced test set has no F1)
        "macro_f1": float(f1_score(true, pred, labels=[c for c in labels if c in set(true)], average="macro",
                                   zero_division=0)),
        "top2_accuracy": float(np.mean([t in row for t, row in zip(true, top2)])),
        "per_class": {c: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
                      for c, p, r, f, s in zip(classes, precision, recall, f1, support)},
    }


def compute_metrics(predictions: pd.DataFrame, classes: Sequence[str]) -> tuple[dict[str, object], pd.DataFrame]:
    """Segment- and song-level metrics, and the song-level confusion matrix (rows true, columns predicted)."""
    cols = prob_columns(classes)
    songs = song_table(predictions, classes)
    labels = list(classes)
    matrix = confusion_matrix(songs["true"].to_numpy(dtype=object), songs["predicted"].to_numpy(dtype=object),
                              labels=labels)
    confusion = pd.DataFrame(matrix, index=pd.Index(labels, name="true"), columns=labels)
    metrics = {
        "segment": _level_metrics(predictions["true"].to_numpy(dtype=object), predictions[cols].to_numpy(), classes),
        "song": _level_metrics(songs["true"].to_numpy(dtype=object), songs[cols].to_numpy(), classes),
        "most_confused": most_confused(confusion, top=5),
    }
    return metrics, confusion


def segment_confusion(predictions: pd.DataFrame, classes: Sequence[str]) -> pd.DataFrame:
    """Segment-level confusion matrix (rows true, columns predicted)."""
    labels = list(classes)
    matrix = confusion_matrix(predictions["true"].to_numpy(dtype=object),
                              predictions["predicted"].to_numpy(dtype=object), labels=labels)
    return pd.DataFrame(matrix, index=pd.Index(labels, name="true"), columns=labels)


def most_confused(confusion: pd.DataFrame, *, top: int = 5) -> list[dict[str, object]]:
    """The off-diagonal cells with the most songs: ``[{"true", "predicted", "count"}]``, largest first."""
    cells = [(confusion.index[i], confusion.columns[j], int(confusion.iat[i, j]))
             for i in range(len(confusion)) for j in range(len(confusion.columns))
             if i != j and confusion.iat[i, j] > 0]
    cells.sort(key=lambda cell: (-cell[2], cell[0], cell[1]))
    return [{"true": t, "predicted": p, "count": n} for t, p, n in cells[:top]]


def misclassified(table: pd.DataFrame, *, true: str | None = None, predicted: str | None = None) -> pd.DataFrame:
    """Wrong rows of a song or segment table, optionally for one (true, predicted) cell, most confident first."""
    wrong = table[table["true"] != table["predicted"]]
    if true is not None:
        wrong = wrong[wrong["true"] == true]
    if predicted is not None:
        wrong = wrong[wrong["predicted"] == predicted]
    return wrong.sort_values("confidence", ascending=False, kind="stable")


def row_shares(matrix: pd.DataFrame) -> pd.DataFrame:
    """Each row of a confusion matrix divided by its total (rows with no songs stay 0)."""
    totals = matrix.sum(axis=1).replace(0, 1)
    return matrix.div(totals, axis=0)


def wrong_examples(predictions: pd.DataFrame, classes: Sequence[str], *, level: str, true: str,
                   predicted: str) -> pd.DataFrame:
    """Misclassified examples of one confusion cell, most confident first, one *segment* row each.

    At ``level == "segment"`` these are the wrong segments themselves, each song's most confident one first (then
    the second of each song, …), so the first examples come from different songs. At ``"song"`` each wrong song (its mean
    prediction is ``predicted``) is shown by its segment most confidently predicted as ``predicted``.

    Returns:
        Rows of ``predictions`` (one per example).
    """
    if level == "segment":  # each song's most confident wrong segment first, so the first examples differ
        wrong = misclassified(predictions, true=true, predicted=predicted)
        rank = wrong.groupby("track_id", sort=False).cumcount()
        return wrong.assign(_rank=rank.to_numpy()).sort_values("_rank", kind="stable").drop(columns="_rank")
    songs = misclassified(song_table(predictions, classes), true=true, predicted=predicted)
    col = prob_columns(classes)[list(classes).index(predicted)]
    segs = predictions[predictions["track_id"].isin(songs["track_id"])]
    best = segs.sort_values(col, ascending=False, kind="stable").drop_duplicates("track_id")
    return best.set_index("track_id").loc[songs["track_id"]].reset_index()
