"""Genre networks trained from scratch: a CNN and a CRNN on the shared mel front-end.

Both take waveforms ``(batch, samples)`` at ``cfg.sample_rate`` and return logits ``(batch, n_classes)``;
``embed`` also returns the pooled features ``(batch, embedding_dim)`` that feed the linear head (used for
recommendations and saliency). ``NETS`` is the registry the trainer and the loader use.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from core.audio.frontend import MelFrontend, SpecAugment
from core.config import AudioConfig


def _conv_stack(channels: Sequence[int], dropout: float) -> nn.Sequential:
    """Conv3x3 → BatchNorm → ReLU → MaxPool2 → channel dropout blocks; input ``(batch, 1, n_mels, frames)``.

    Dropout2d drops whole feature maps: regularises convolutions as well as element dropout and costs a third
    less training time on CPU (its mask is one value per channel, not per pixel).
    """
    layers: list[nn.Module] = []
    previous = 1
    for width in channels:
        layers += [nn.Conv2d(previous, width, kernel_size=3, padding=1, bias=False), nn.BatchNorm2d(width),
                   nn.ReLU(inplace=True), nn.MaxPool2d(2), nn.Dropout2d(dropout)]
        previous = width
    return nn.Sequential(*layers)


class GenreNet(nn.Module):
    """Front-end + SpecAugment + a body that maps ``(batch, 1, n_mels, frames)`` dB spectrograms to embeddings.

    Subclasses set ``self.body`` (a convolution stack), ``self.embedding_dim`` and ``self.head``.
    """

    embedding_dim: int

    def __init__(self, *, cfg: AudioConfig, n_classes: int, head_dropout: float, augment: bool) -> None:
        super().__init__()
        self.frontend = MelFrontend(cfg)
        self.augment = SpecAugment() if augment else nn.Identity()
        # Spectrogram dB values are normalised by a learned per-input batch norm (no hand-set mean/std).
        self.input_norm = nn.BatchNorm2d(1)
        self.head_dropout = nn.Dropout(head_dropout)
        self.n_classes = n_classes

    def spectrogram(self, waves: torch.Tensor) -> torch.Tensor:
        """Log-mel ``(batch, n_mels, frames)`` in dB (augmented in training mode)."""
        return self.augment(self.frontend(waves))

    def feature_maps(self, spec: torch.Tensor) -> torch.Tensor:
        """Last convolutional maps ``(batch, channels, n_mels/16, frames/16)`` (Grad-CAM reads these)."""
        return self.body(self.input_norm(spec.unsqueeze(1)))

    def pool(self, maps: torch.Tensor) -> torch.Tensor:
        """Embeddings ``(batch, embedding_dim)`` from the last convolutional maps (:meth:`feature_maps`)."""
        raise NotImplementedError

    def features(self, spec: torch.Tensor) -> torch.Tensor:
        """Embeddings ``(batch, embedding_dim)`` from dB spectrograms ``(batch, n_mels, frames)``."""
        return self.pool(self.feature_maps(spec))

    def embed(self, waves: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(logits (batch, n_classes), embeddings (batch, embedding_dim))`` for waveforms ``(batch, samples)``."""
        emb = self.features(self.spectrogram(waves))
        return self.head(self.head_dropout(emb)), emb

    def forward(self, waves: torch.Tensor) -> torch.Tensor:
        """Logits ``(batch, n_classes)``."""
        return self.embed(waves)[0]


class CNN(GenreNet):
    """Convolution blocks, then global average and max pooling concatenated, then a linear head.

    The default widths 16-32-32-32 follow the four-layer CNN of the reports this project follows.
    """

    def __init__(self, *, cfg: AudioConfig, n_classes: int, channels: Sequence[int] = (16, 32, 32, 32),
                 dropout: float = 0.1, head_dropout: float = 0.3, augment: bool = True) -> None:
        super().__init__(cfg=cfg, n_classes=n_classes, head_dropout=head_dropout, augment=augment)
        self.body = _conv_stack(channels, dropout)
        self.embedding_dim = 2 * channels[-1]
        self.head = nn.Linear(self.embedding_dim, n_classes)

    def pool(self, maps: torch.Tensor) -> torch.Tensor:
        return torch.cat([maps.mean(dim=(2, 3)), maps.amax(dim=(2, 3))], dim=1)


class CRNN(GenreNet):
    """The CNN's convolution stack, frequency pooled, then a bidirectional GRU over time, mean-pooled, then a head."""

    def __init__(self, *, cfg: AudioConfig, n_classes: int, channels: Sequence[int] = (16, 32, 32, 32),
                 hidden: int = 64, dropout: float = 0.1, head_dropout: float = 0.3, augment: bool = True) -> None:
        super().__init__(cfg=cfg, n_classes=n_classes, head_dropout=head_dropout, augment=augment)
        self.body = _conv_stack(channels, dropout)
        self.gru = nn.GRU(channels[-1], hidden, batch_first=True, bidirectional=True)
        self.embedding_dim = 2 * hidden
        self.head = nn.Linear(self.embedding_dim, n_classes)

    def pool(self, maps: torch.Tensor) -> torch.Tensor:
        sequence = maps.mean(dim=2).transpose(1, 2)  # (batch, time, channels)
        out, _ = self.gru(sequence)
        return out.mean(dim=1)


def for_inference(net: GenreNet) -> GenreNet:
    """An evaluation-only copy of ``net`` with the same outputs (within 1e-5): every convolution's batch norm folded
    into it, dropout removed, the convolution stack's weights in channels-last layout (oneDNN's fast path: the body
    runs 2.4-2.9x faster on these 2-core machines, ``bench/bench_predict.py``). Cheap to make (four small layers); not
    for training or gradients (Grad-CAM uses ``net`` itself).
    """
    fast = copy.deepcopy(net).eval()
    layers: list[nn.Module] = []
    for module in fast.body:
        if isinstance(module, nn.BatchNorm2d) and layers and isinstance(layers[-1], nn.Conv2d):
            layers[-1] = fuse_conv_bn_eval(layers[-1], module)
        elif not isinstance(module, nn.Dropout2d):
            layers.append(module)
    fast.body = nn.Sequential(*layers).to(memory_format=torch.channels_last)
    return fast


#: Registry of trainable networks: kind → class. Every entry is built and run by tests/test_models.py.
NETS: dict[str, type[GenreNet]] = {"cnn": CNN, "crnn": CRNN}


def build_net(kind: str, *, cfg: AudioConfig, n_classes: int, **hyper: object) -> GenreNet:
    """Instantiate ``NETS[kind]`` with its hyperparameters (clear ``ValueError`` for an unknown kind)."""
    if kind not in NETS:
        raise ValueError(f"Unknown network '{kind}'. Choose one of: {', '.join(NETS)}.")
    return NETS[kind](cfg=cfg, n_classes=n_classes, **hyper)  # type: ignore[arg-type]
