"""Transfer learning: a logistic-regression head on the pretrained musicnn taggers' segment embeddings.

"Trained from scratch" (CNN/CRNN) against "pretrained + small head". The head is StandardScaler + multinomial
logistic regression (one scikit-learn pipeline, fitted on the training split only) on the 400-d embeddings of
both taggers (MTT then MSD penultimate layers). What measured best on the real GTZAN tracks (README, "Real
music"): training windows every ``hop_seconds`` (overlapping 3-s windows), each window weighted by
1 / (windows of its song) so long clips do not outweigh short excerpts, times the inverse frequency of its genre,
and strong regularisation (``C = 0.003``). Songs are predicted on non-overlapping segments, as every model is.

The run folder stores the head as plain arrays in ``head.npz`` and the reference of its training music in
``musicness.npz`` (:mod:`core.analysis.musicness`), so the model also says when a recording is not music; the
musicnn weights stay in ``models/pretrained``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from core.analysis.musicness import Reference, fit_reference, verdict
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
    reference: Reference | None = None

    def predict_embeddings(self, embeddings: np.ndarray) -> np.ndarray:
        """Class probabilities ``(n, C)`` for musicnn embeddings ``(n, d)``."""
        logits = ((embeddings - self.mean) / self.scale) @ self.coef.T + self.intercept
        logits -= logits.max(axis=1, keepdims=True)
        probs = np.exp(logits)
        return (probs / probs.sum(axis=1, keepdims=True)).astype(np.float32)

    def predict_segments(self, segments: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(n, 48000)`` waveforms at 16 kHz → ``(probabilities (n, C), embeddings (n, 400))``."""
        _, emb = self.backbone.predict_segments(segments)
        return self.predict_embeddings(emb), emb

    def describe(self, embeddings: np.ndarray, *, level_dbfs: float) -> dict[str, object]:
        """Styles, descriptors and top tags of the taggers, and the music verdict against the training music."""
        from core.pretrained.musicnn import describe

        music = verdict(self.reference, embeddings, level_dbfs=level_dbfs) if self.reference else None
        return {**describe(embeddings), "music": music}

    def save(self, folder: Path) -> None:
        """Write ``head.npz`` and ``musicness.npz`` (plain arrays, no pickle)."""
        np.savez(folder / "head.npz", mean=self.mean, scale=self.scale, coef=self.coef, intercept=self.intercept)
        if self.reference is not None:
            self.reference.save(folder / "musicness.npz")


def song_embeddings(backbone, paths: list[str], *, hop_seconds: float | None = None,
                    progress: bool = True) -> list[np.ndarray]:
    """Segment embeddings ``(n_segments, 400)`` of each song (from the waveform cache), windows every
    ``hop_seconds`` (default: consecutive segments)."""
    from core.data.cache import cached_waveform

    cfg = backbone.cfg
    out = []
    for path in tqdm(paths, desc="musicnn embeddings", unit="song", disable=not progress, leave=False):
        samples = cached_waveform(path, sample_rate=cfg.sample_rate, max_seconds=cfg.max_seconds)
        segments, _ = cut_segments(samples, sample_rate=cfg.sample_rate, segment_seconds=cfg.segment_seconds,
                                   hop_seconds=hop_seconds)
        out.append(backbone.predict_segments(segments)[1])
    return out


def audio_config(hyper: TransferSettings) -> AudioConfig:
    """The musicnn taggers' input (16 kHz, 3-s patches)."""
    from core.pretrained.musicnn import AUDIO_CONFIG

    return AUDIO_CONFIG


def train(settings: TrainSettings, manifest: pd.DataFrame, *, classes: tuple[str, ...],
          progress: bool = True) -> tuple[TransferGenreModel, pd.DataFrame]:
    """Fit the head on the training split's window embeddings (and the music reference unless
    ``music_verdict`` is off); no history."""
    from core.pretrained.musicnn import load_musicnn_genre_model

    hp: TransferSettings = settings.hyper
    backbone = load_musicnn_genre_model(device=settings.device)
    # no early stopping: the head fits on the train and valid parts together; ``test`` stays unseen
    train_rows = manifest[manifest["split"].isin(["train", "valid"])]
    per_song = song_embeddings(backbone, list(train_rows["path"]), hop_seconds=hp.hop_seconds, progress=progress)
    head = fit_head(per_song, class_index(train_rows["label"].to_numpy(dtype=object), classes),
                    n_classes=len(classes), hyper=hp, seed=settings.seed)
    reference = fit_reference(per_song, seed=settings.seed) if hp.music_verdict else None
    return TransferGenreModel(kind="transfer", classes=classes, cfg=backbone.cfg, backbone=backbone, **head,
                              reference=reference), pd.DataFrame()


def fit_head(per_song: list[np.ndarray], labels: np.ndarray, *, n_classes: int, hyper: TransferSettings,
             seed: int = 0) -> dict[str, np.ndarray]:
    """Fit StandardScaler + logistic regression on the windows of each song.

    Args:
        per_song: One ``(n_windows, d)`` embedding array per training song.
        labels: ``(n_songs,)`` class indices.

    Returns:
        ``mean (d,), scale (d,), coef (C, d), intercept (C,)`` (softmax logits; with two classes the first has a
        zero logit, which gives scikit-learn's sigmoid); a class with no training song gets an intercept of -1e9
        (never predicted).
    """
    from sklearn.linear_model import LogisticRegression  # training only: loading and predicting need numpy
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x = np.concatenate(per_song)
    y = np.repeat(labels, [len(e) for e in per_song])
    weights = None
    if hyper.balance:
        per_window = np.concatenate([np.full(len(e), 1.0 / len(e)) for e in per_song])
        songs = np.bincount(labels, minlength=n_classes).astype(np.float64)
        per_class = songs.sum() / (n_classes * np.maximum(songs, 1))
        weights = per_window * per_class[y]
        weights *= len(weights) / weights.sum()
    pipe = make_pipeline(StandardScaler(), LogisticRegression(C=hyper.c, max_iter=5000, random_state=seed))
    pipe.fit(x, y, logisticregression__sample_weight=weights)
    scaler, lr = pipe.named_steps["standardscaler"], pipe.named_steps["logisticregression"]
    coef = np.zeros((n_classes, x.shape[1]))
    intercept = np.full(n_classes, -1e9)
    if len(lr.classes_) == 2:  # scikit-learn keeps one row for two classes: the logit of the second against the first
        intercept[lr.classes_[0]] = 0.0
        coef[lr.classes_[1]], intercept[lr.classes_[1]] = lr.coef_[0], lr.intercept_[0]
    else:
        coef[lr.classes_], intercept[lr.classes_] = lr.coef_, lr.intercept_
    return {"mean": scaler.mean_, "scale": scaler.scale_, "coef": coef, "intercept": intercept}


def load(folder: Path, info: dict, *, device: torch.device) -> TransferGenreModel:
    """Load a transfer run: the musicnn backbone plus the head's arrays (no pickle)."""
    from core.pretrained.musicnn import load_musicnn_genre_model

    backbone = load_musicnn_genre_model(device=str(device))
    reference = Reference.load(folder / "musicness.npz") if (folder / "musicness.npz").is_file() else None
    with np.load(folder / "head.npz", allow_pickle=False) as z:
        return TransferGenreModel(kind="transfer", classes=tuple(info["classes"]), cfg=backbone.cfg,
                                  backbone=backbone, mean=z["mean"], scale=z["scale"], coef=z["coef"],
                                  intercept=z["intercept"], reference=reference)
