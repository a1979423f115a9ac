"""What every genre model offers the analysis path, and the device models run on.

A :class:`GenreModel` has ``kind``, ``classes``, ``cfg`` (the :class:`AudioConfig` its audio must follow: sample
rate and segment length) and ``predict_segments(segments) -> (probabilities, embeddings)``. The kinds, and where
each one's code lives, are listed in :mod:`core.models.registry`.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
import torch

from core.config import AudioConfig


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
