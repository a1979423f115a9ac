"""The KNN baseline: StandardScaler + k-nearest neighbours on the 57 handcrafted features of the GTZAN table.

Fitted on the ``train`` and ``valid`` songs together (KNN has no early stopping; ``test`` stays unseen), per 3-s
segment or per whole clip. Audio is decoded with the run's :class:`AudioConfig` (rate and length cap), the same
as at inference. Parameters are plain arrays in ``knn.npz``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from core.config import AudioConfig, class_index
from core.errors import InputError
from core.training.settings import KNNSettings, TrainSettings


@dataclass
class KNNGenreModel:
    """StandardScaler + k-nearest-neighbour vote on handcrafted features of each segment.

    Probabilities are the neighbours' vote shares (distance-weighted when ``weights == "distance"``); the
    embedding is the standardised feature vector (57 values).
    """

    kind: str
    classes: tuple[str, ...]
    cfg: AudioConfig
    mean: np.ndarray
    scale: np.ndarray
    train_features: np.ndarray
    train_labels: np.ndarray
    k: int
    weights: str = "uniform"

    def __post_init__(self) -> None:
        self._knn = KNeighborsClassifier(n_neighbors=self.k, weights=self.weights)
        self._knn.fit((self.train_features - self.mean) / self.scale, self.train_labels)

    def predict_features(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Vote shares ``(n, n_classes)`` and scaled features ``(n, 57)`` for raw features ``(n, 57)``."""
        scaled = (features - self.mean) / self.scale
        probs = np.zeros((len(features), len(self.classes)), dtype=np.float32)
        probs[:, self._knn.classes_] = self._knn.predict_proba(scaled)
        return probs, scaled.astype(np.float32)

    def predict_segments(self, segments: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Vote shares ``(n, C)`` and scaled features ``(n, 57)`` of segments ``(n, cfg.segment_samples)``."""
        from core.audio.features import clip_features

        feats = np.stack([clip_features(s, sample_rate=self.cfg.sample_rate) for s in segments])
        return self.predict_features(feats)

    def save(self, folder: Path) -> None:
        """Write ``knn.npz`` (plain arrays, no pickle)."""
        np.savez(folder / "knn.npz", mean=self.mean, scale=self.scale, train_features=self.train_features,
                 train_labels=self.train_labels, k=np.int64(self.k), weights=np.array(self.weights))


def load(folder: Path, info: dict, *, device: torch.device) -> KNNGenreModel:
    """A KNN run from ``knn.npz`` (``allow_pickle=False``)."""
    with np.load(folder / "knn.npz", allow_pickle=False) as z:
        return KNNGenreModel(kind="knn", classes=tuple(info["classes"]),
                             cfg=AudioConfig.from_dict(info["audio_config"]), mean=z["mean"], scale=z["scale"],
                             train_features=z["train_features"], train_labels=z["train_labels"], k=int(z["k"]),
                             weights=str(z["weights"]))


def fit_knn(features: np.ndarray, labels: pd.Series, *, k: int, cfg: AudioConfig,
            classes: tuple[str, ...]) -> KNNGenreModel:
    """Fit the scaler + KNN pipeline on features ``(n, 57)`` and their genre labels.

    Raises:
        core.errors.InputError: ``k`` is larger than the number of training rows (a vote needs k neighbours).
    """
    if not 1 <= k <= len(features):
        raise InputError(f"The KNN needs k between 1 and the number of training rows: k = {k}, but there are "
                         f"{len(features)} training rows. Choose a smaller k (--k) or train on more songs.")
    y = class_index(pd.Series(labels).to_numpy(dtype=object), classes)
    pipe = make_pipeline(StandardScaler(), KNeighborsClassifier(n_neighbors=k)).fit(features, y)
    scaler = pipe.named_steps["standardscaler"]
    return KNNGenreModel(kind="knn", classes=classes, cfg=cfg, mean=scaler.mean_, scale=scaler.scale_,
                         train_features=features, train_labels=y, k=k)


def audio_config(hyper: KNNSettings) -> AudioConfig:
    """The run's audio configuration: 3-s segments, or one 30-s unit per clip."""
    return AudioConfig(segment_seconds=30.0) if hyper.unit == "clip" else AudioConfig()


def train(settings: TrainSettings, manifest: pd.DataFrame, *, classes: tuple[str, ...],
          progress: bool = True) -> tuple[KNNGenreModel, pd.DataFrame]:
    """Fit on the handcrafted features of the train+valid songs; no history (not iterative)."""
    from core.audio.features import FEATURE_COLUMNS, features_table

    hp: KNNSettings = settings.hyper
    cfg = audio_config(hp)
    fit_on = manifest[manifest["split"].isin(["train", "valid"])]
    table = features_table([Path(p) for p in fit_on["path"]], labels=list(fit_on["label"]),
                           segment_seconds=cfg.segment_seconds if hp.unit == "segment" else None,
                           sample_rate=cfg.sample_rate, max_seconds=cfg.max_seconds, workers=settings.workers,
                           progress=progress)
    model = fit_knn(table[list(FEATURE_COLUMNS)].to_numpy(dtype=np.float64), table["label"], k=hp.k, cfg=cfg,
                    classes=classes)
    return model, pd.DataFrame()


def fit_on_table(settings: TrainSettings, features: np.ndarray, manifest: pd.DataFrame, *,
                 classes: tuple[str, ...]) -> tuple[KNNGenreModel, pd.DataFrame]:
    """KNN on a public GTZAN feature table (no audio): fit on the train+valid rows, predict the test rows.

    Args:
        features: ``(rows, 57)`` of the whole table; ``manifest`` rows carry ``row`` (their index in it).

    Returns:
        The model and the test rows' prediction table (one row per table row, grouped by track).
    """
    from core.analysis.evaluate import segment_rows

    hp: KNNSettings = settings.hyper
    cfg = AudioConfig(segment_seconds=3.0 if "segment" in manifest else 30.0)
    fit_on = manifest[manifest["split"].isin(["train", "valid"])]
    model = fit_knn(features[fit_on["row"].to_numpy()], fit_on["label"], k=hp.k, cfg=cfg, classes=classes)
    test = manifest[manifest["split"] == "test"]
    probs, _ = model.predict_features(features[test["row"].to_numpy()])
    parts = []
    for track_id, idx in test.groupby("track_id", sort=False).indices.items():
        n = len(idx)
        seg = cfg.segment_seconds
        bounds = np.stack([np.arange(n) * seg, (np.arange(n) + 1) * seg], axis=1)
        parts.append(segment_rows(track_id=str(track_id), path="", true=test["label"].iloc[idx[0]],
                                  bounds=bounds, probs=probs[idx], classes=classes))
    return model, pd.concat(parts, ignore_index=True)
