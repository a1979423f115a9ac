"""Every genre model behind one interface, and loading them from run folders without pickle.

A :class:`GenreModel` has ``kind``, ``classes``, ``cfg`` (the :class:`AudioConfig` its audio must follow: sample
rate and segment length) and ``predict_segments(segments) -> (probabilities, embeddings)``. Kinds:

- ``cnn``, ``crnn``: networks from :mod:`core.models.nets`, weights in ``weights.safetensors``;
- ``knn``: StandardScaler + k-nearest neighbours on the 57 handcrafted features, arrays in ``knn.npz``;
- ``musicnn``: the pretrained tagger (:mod:`core.pretrained`), its tags mapped to genres;
- ``transfer``: a logistic-regression head on musicnn embeddings, arrays in ``head.npz``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from safetensors.torch import load_file

from core.config import REPO_ROOT, AudioConfig
from core.models.nets import GenreNet, build_net

RUNS_DIR: Path = REPO_ROOT / "models" / "runs"
#: Name that selects the pretrained tagger wherever a run is expected.
PRETRAINED_NAME = "musicnn"


class GenreModel(Protocol):
    """What the analysis path needs from any model."""

    kind: str
    classes: tuple[str, ...]
    cfg: AudioConfig

    def predict_segments(self, segments: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``segments (n, cfg.segment_samples)`` float32 → ``(probabilities (n, n_classes), embeddings (n, d))``."""
        ...


def default_device() -> torch.device:
    """CUDA when present, else CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@dataclass
class TorchGenreModel:
    """A trained CNN/CRNN in evaluation mode."""

    kind: str
    classes: tuple[str, ...]
    cfg: AudioConfig
    net: GenreNet
    device: torch.device
    batch_size: int = 64

    def predict_segments(self, segments: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Softmax probabilities ``(n, n_classes)`` and pooled embeddings ``(n, embedding_dim)``."""
        self.net.eval()
        probs, embs = [], []
        with torch.inference_mode():
            for start in range(0, len(segments), self.batch_size):
                batch = torch.from_numpy(np.ascontiguousarray(segments[start : start + self.batch_size]))
                logits, emb = self.net.embed(batch.to(self.device, dtype=torch.float32))
                probs.append(torch.softmax(logits, dim=1).cpu().numpy())
                embs.append(emb.cpu().numpy())
        return np.concatenate(probs).astype(np.float32), np.concatenate(embs).astype(np.float32)


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
        from sklearn.neighbors import KNeighborsClassifier

        self._knn = KNeighborsClassifier(n_neighbors=self.k, weights=self.weights)
        self._knn.fit((self.train_features - self.mean) / self.scale, self.train_labels)

    def predict_features(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Vote shares ``(n, n_classes)`` and scaled features ``(n, 57)`` for raw features ``(n, 57)``."""
        scaled = (features - self.mean) / self.scale
        probs = np.zeros((len(features), len(self.classes)), dtype=np.float32)
        probs[:, self._knn.classes_] = self._knn.predict_proba(scaled)
        return probs, scaled.astype(np.float32)

    def predict_segments(self, segments: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        from core.audio.features import clip_features

        feats = np.stack([clip_features(s, sample_rate=self.cfg.sample_rate) for s in segments])
        return self.predict_features(feats)

    def save(self, folder: Path) -> None:
        """Write ``knn.npz`` (plain arrays, no pickle)."""
        np.savez(folder / "knn.npz", mean=self.mean, scale=self.scale, train_features=self.train_features,
                 train_labels=self.train_labels, k=np.int64(self.k), weights=np.array(self.weights))


def resolve_run(ref: str | Path) -> Path:
    """A run folder from a path or a run id under ``models/runs`` (clear ``FileNotFoundError`` otherwise)."""
    path = Path(ref)
    for candidate in (path, RUNS_DIR / str(ref)):
        if (candidate / "run.json").is_file():
            return candidate
    raise FileNotFoundError(f"No run '{ref}': give a run folder or a run id from `python -m core runs`.")


def load_model(ref: str | Path, *, device: str | torch.device | None = None) -> GenreModel:
    """Load any model: a run folder, a run id, or ``"musicnn"`` for the pretrained tagger.

    Weights come from safetensors / npz with ``allow_pickle=False``; nothing is unpickled.
    """
    dev = torch.device(device) if device is not None else default_device()
    if str(ref) == PRETRAINED_NAME:
        from core.pretrained.musicnn import load_musicnn_genre_model

        return load_musicnn_genre_model(device=str(dev))
    folder = resolve_run(ref)
    info = json.loads((folder / "run.json").read_text())
    cfg = AudioConfig.from_dict(info["audio_config"])
    classes = tuple(info["classes"])
    kind = info["model"]
    if kind in ("cnn", "crnn"):
        net = build_net(kind, cfg=cfg, n_classes=len(classes), **info["architecture"])
        net.load_state_dict(load_file(folder / "weights.safetensors"))
        return TorchGenreModel(kind=kind, classes=classes, cfg=cfg, net=net.to(dev).eval(), device=dev)
    if kind == "knn":
        with np.load(folder / "knn.npz", allow_pickle=False) as z:
            return KNNGenreModel(kind=kind, classes=classes, cfg=cfg, mean=z["mean"], scale=z["scale"],
                                 train_features=z["train_features"], train_labels=z["train_labels"],
                                 k=int(z["k"]), weights=str(z["weights"]))
    if kind == "transfer":
        from core.models.transfer import load_transfer_model

        return load_transfer_model(folder, info, device=str(dev))
    raise ValueError(f"Run '{folder.name}' has an unknown model kind '{kind}'.")
