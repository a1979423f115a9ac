"""Transfer learning: a small logistic-regression head on the pretrained musicnn segment embeddings.

"Trained from scratch" (CNN/CRNN) against "pretrained + small head": the head is StandardScaler + multinomial
logistic regression (one scikit-learn pipeline, fitted on the training split's segments only). Its run folder
stores the head as plain arrays in ``head.npz``; the musicnn weights stay in ``models/pretrained``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from tqdm import tqdm

from core.audio.decode import cut_segments
from core.config import AudioConfig, class_index
from core.training.settings import TrainSettings, TransferSettings


@dataclass
class TransferGenreModel:
    """musicnn embeddings → standardise → logistic regression. Probabilities ``(n, C)``, embeddings ``(n, d)``."""

    kind: str
    classes: tuple[str, ...]
    cfg: AudioConfig
    backbone: object
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: np.ndarray

    def predict_embeddings(self, embeddings: np.ndarray) -> np.ndarray:
        """Class probabilities ``(n, C)`` for musicnn embeddings ``(n, d)``."""
        logits = ((embeddings - self.mean) / self.scale) @ self.coef.T + self.intercept
        logits -= logits.max(axis=1, keepdims=True)
        probs = np.exp(logits)
        return (probs / probs.sum(axis=1, keepdims=True)).astype(np.float32)

    def predict_segments(self, segments: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        _, emb = self.backbone.predict_segments(segments)
        return self.predict_embeddings(emb), emb

    def save(self, folder: Path) -> None:
        """Write ``head.npz`` (plain arrays, no pickle)."""
        np.savez(folder / "head.npz", mean=self.mean, scale=self.scale, coef=self.coef, intercept=self.intercept)


def _segment_embeddings(backbone, paths: list[str], labels: list[str], progress: bool) -> tuple[np.ndarray, list[str]]:
    from core.data.cache import cached_waveform

    cfg = backbone.cfg
    feats, ys = [], []
    for path, label in tqdm(list(zip(paths, labels)), desc="musicnn embeddings", unit="song", disable=not progress):
        samples = cached_waveform(path, sample_rate=cfg.sample_rate, max_seconds=cfg.max_seconds)
        segments, _ = cut_segments(samples, sample_rate=cfg.sample_rate, segment_seconds=cfg.segment_seconds)
        _, emb = backbone.predict_segments(segments)
        feats.append(emb)
        ys += [label] * len(emb)
    return np.concatenate(feats), ys


def audio_config(hyper: TransferSettings) -> AudioConfig:
    """The musicnn taggers' input (16 kHz, 3-s patches)."""
    from core.pretrained.musicnn import AUDIO_CONFIG

    return AUDIO_CONFIG


def train(settings: TrainSettings, manifest: pd.DataFrame, *, classes: tuple[str, ...],
          progress: bool = True) -> tuple[TransferGenreModel, pd.DataFrame]:
    """Fit the head on the training split's segment embeddings; no history (not iterative)."""
    from core.pretrained.musicnn import load_musicnn_genre_model

    hp: TransferSettings = settings.hyper
    backbone = load_musicnn_genre_model(device=settings.device)
    train = manifest[manifest["split"] == "train"]
    x, y = _segment_embeddings(backbone, list(train["path"]), list(train["label"]), progress)
    pipe = make_pipeline(StandardScaler(), LogisticRegression(C=hp.c, max_iter=2000, random_state=settings.seed))
    pipe.fit(x, class_index(y, classes))
    scaler, lr = pipe.named_steps["standardscaler"], pipe.named_steps["logisticregression"]
    coef = np.zeros((len(classes), x.shape[1]))
    intercept = np.full(len(classes), -1e9)
    coef[lr.classes_], intercept[lr.classes_] = lr.coef_, lr.intercept_
    return TransferGenreModel(kind="transfer", classes=classes, cfg=backbone.cfg, backbone=backbone,
                              mean=scaler.mean_, scale=scaler.scale_, coef=coef, intercept=intercept), pd.DataFrame()


def load(folder: Path, info: dict, *, device: torch.device) -> TransferGenreModel:
    """Load a transfer run: the musicnn backbone plus the head's arrays (no pickle)."""
    from core.pretrained.musicnn import load_musicnn_genre_model

    backbone = load_musicnn_genre_model(device=str(device))
    with np.load(folder / "head.npz", allow_pickle=False) as z:
        return TransferGenreModel(kind="transfer", classes=tuple(info["classes"]), cfg=backbone.cfg,
                                  backbone=backbone, mean=z["mean"], scale=z["scale"], coef=z["coef"],
                                  intercept=z["intercept"])
