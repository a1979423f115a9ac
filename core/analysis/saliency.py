"""Where in a spectrogram a CNN/CRNN looks: Grad-CAM and occlusion, plus the spectrogram of a waveform.

Both methods work on the network's own dB mel spectrogram ``(n_mels, frames)`` of one segment (the front-end of
:mod:`core.audio.frontend`, so the picture is exactly what the network saw) and return a map of the same shape in
[0, 1], 1 = most important for the target class.

- :func:`grad_cam` (Selvaraju et al., 2017): the last convolutional maps (``net.body``) weighted by the spatially
  averaged gradient of the target logit, rectified, upsampled bilinearly. One forward and one backward pass.
- :func:`occlusion` (Zeiler & Fergus, 2014): the drop of the target probability when a patch of the spectrogram is
  replaced by the spectrogram's mean. One forward pass per patch position.

:func:`salient_regions` and :func:`occlude` let a caller check a map: hiding the most salient patch should
lower the target probability more than hiding the least salient one (tests/test_saliency.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from core.audio.frontend import MelFrontend
from core.config import AudioConfig
from core.models.nets import GenreNet

#: A rectangle of a spectrogram: ``(mel_slice, frame_slice)``.
Region = tuple[slice, slice]


@dataclass
class Saliency:
    """A saliency map over one segment's spectrogram.

    Attributes:
        spectrogram: ``(n_mels, frames)`` dB mel spectrogram the network saw.
        heat: ``(n_mels, frames)`` importance in [0, 1] (1 = most important).
        target: Index of the class explained.
        probability: The network's probability of ``target`` for the unaltered segment.
        method: ``"grad-cam"`` or ``"occlusion"``.
    """

    spectrogram: np.ndarray
    heat: np.ndarray
    target: int
    probability: float
    method: str


def mel_spectrogram(samples: np.ndarray, *, cfg: AudioConfig) -> np.ndarray:
    """dB mel spectrogram ``(n_mels, frames)`` of a mono waveform ``(n,)`` at ``cfg.sample_rate`` (for display)."""
    with torch.inference_mode():
        spec = MelFrontend(cfg)(torch.from_numpy(np.array(samples, dtype=np.float32))[None])
    return spec[0].numpy()


def _device(net: GenreNet) -> torch.device:
    return next(net.parameters()).device


def network_spectrogram(net: GenreNet, segment: np.ndarray) -> torch.Tensor:
    """The network's own dB mel spectrogram ``(1, n_mels, frames)`` of one segment ``(samples,)``, no augmentation."""
    wave = torch.from_numpy(np.array(segment, dtype=np.float32))[None].to(_device(net))
    with torch.no_grad():
        return net.frontend(wave)


def class_probabilities(net: GenreNet, spec: torch.Tensor) -> np.ndarray:
    """Softmax probabilities ``(batch, n_classes)`` of dB spectrograms ``(batch, n_mels, frames)`` (eval mode)."""
    net.eval()
    with torch.no_grad():
        return torch.softmax(net.head(net.features(spec)), dim=1).cpu().numpy()


def _normalise(heat: np.ndarray) -> np.ndarray:
    heat = np.maximum(heat, 0.0)
    peak = float(heat.max())
    return (heat / peak if peak > 0 else heat).astype(np.float32)


def grad_cam(net: GenreNet, segment: np.ndarray, *, target: int | None = None) -> Saliency:
    """Grad-CAM of one segment ``(samples,)`` for class ``target`` (default: the predicted class).

    Returns:
        A :class:`Saliency` whose ``heat`` is the rectified, gradient-weighted sum of the last convolutional
        maps ``(channels, n_mels/16, frames/16)``, upsampled to ``(n_mels, frames)`` and scaled to [0, 1].
    """
    net.eval()
    spec = network_spectrogram(net, segment)
    # No forward hook: the model may be shared by several sessions (Streamlit's cache_resource).
    # cuDNN's RNN backward refuses eval mode (CRNN on CUDA); the plain kernels do not.
    with torch.enable_grad(), torch.backends.cudnn.flags(enabled=False):
        maps = net.feature_maps(spec)
        logits = net.head(net.pool(maps))
        cls = int(logits.argmax(1)) if target is None else int(target)
        (grads,) = torch.autograd.grad(logits[0, cls], maps)
    weights = grads.mean(dim=(2, 3), keepdim=True)
    cam = torch.relu((weights * maps).sum(dim=1, keepdim=True)).detach()
    heat = F.interpolate(cam, size=spec.shape[-2:], mode="bilinear", align_corners=False)[0, 0].cpu().numpy()
    prob = float(torch.softmax(logits.detach(), dim=1)[0, cls])
    return Saliency(spectrogram=spec[0].cpu().numpy(), heat=_normalise(heat), target=cls, probability=prob,
                    method="grad-cam")


def occlude(spec: torch.Tensor, regions: list[Region], *, fill: float | None = None) -> torch.Tensor:
    """A batch of copies of ``spec (1, n_mels, frames)``, copy ``i`` with ``regions[i]`` set to ``fill``.

    ``fill`` defaults to the spectrogram's mean (a neutral value in dB). Returns ``(len(regions), n_mels, frames)``.
    """
    value = float(spec.mean()) if fill is None else fill
    batch = spec.repeat(len(regions), 1, 1)
    for i, (mels, frames) in enumerate(regions):
        batch[i, mels, frames] = value
    return batch


def _grid(size: int, patch: int, stride: int) -> list[int]:
    starts = list(range(0, max(1, size - patch + 1), stride))
    if starts[-1] + patch < size:
        starts.append(size - patch)
    return starts


def occlusion(net: GenreNet, segment: np.ndarray, *, target: int | None = None, patch: tuple[int, int] = (16, 16),
              stride: tuple[int, int] = (8, 8), batch_size: int = 64) -> Saliency:
    """Occlusion sensitivity of one segment ``(samples,)`` for class ``target`` (default: the predicted class).

    Args:
        patch: ``(mel bands, frames)`` of the hidden rectangle.
        stride: Step between patch positions ``(mel bands, frames)``.

    Returns:
        A :class:`Saliency` whose ``heat`` is, per spectrogram cell, the mean probability drop of the patches
        covering it, clipped at 0 and scaled to [0, 1].
    """
    spec = network_spectrogram(net, segment)
    base = class_probabilities(net, spec)[0]
    cls = int(base.argmax()) if target is None else int(target)
    n_mels, frames = spec.shape[-2:]
    ph, pw = min(patch[0], n_mels), min(patch[1], frames)
    regions = [(slice(m, m + ph), slice(f, f + pw)) for m in _grid(n_mels, ph, stride[0])
               for f in _grid(frames, pw, stride[1])]
    drops = np.concatenate([base[cls] - class_probabilities(net, occlude(spec, regions[i : i + batch_size]))[:, cls]
                            for i in range(0, len(regions), batch_size)])
    total = np.zeros((n_mels, frames), dtype=np.float64)
    count = np.zeros((n_mels, frames), dtype=np.float64)
    for (mels, frs), drop in zip(regions, drops):
        total[mels, frs] += drop
        count[mels, frs] += 1
    return Saliency(spectrogram=spec[0].cpu().numpy(), heat=_normalise(total / np.maximum(count, 1)), target=cls,
                    probability=float(base[cls]), method="occlusion")


def salient_regions(heat: np.ndarray, *, patch: tuple[int, int] = (16, 16)) -> tuple[Region, Region]:
    """The ``patch``-sized rectangles of ``heat (n_mels, frames)`` with the highest and the lowest mean heat.

    Returns:
        ``(most, least)``, each ``(mel_slice, frame_slice)``.
    """
    t = torch.from_numpy(np.ascontiguousarray(heat, dtype=np.float32))[None, None]
    ph, pw = min(patch[0], heat.shape[0]), min(patch[1], heat.shape[1])
    means = F.avg_pool2d(t, kernel_size=(ph, pw), stride=1)[0, 0].numpy()
    top = np.unravel_index(int(means.argmax()), means.shape)
    low = np.unravel_index(int(means.argmin()), means.shape)
    return ((slice(int(top[0]), int(top[0]) + ph), slice(int(top[1]), int(top[1]) + pw)),
            (slice(int(low[0]), int(low[0]) + ph), slice(int(low[1]), int(low[1]) + pw)))
