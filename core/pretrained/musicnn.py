"""musicnn (Pons & Serra, 2019) in PyTorch: front-end, network, tagging and a genre model built on it.

The original runs librosa + TensorFlow 1; this port reproduces it from converted weights
(``models/pretrained/musicnn_{mtt,msd}.safetensors``, see :mod:`core.pretrained.convert`). Details that matter:

- Front-end: 16 kHz mono, ``|STFT|²`` (n_fft 512, hop 256, periodic Hann, centred frames with *reflect* padding,
  librosa 0.7's default in 2019), 96 Slaney mel bands, cast to **float16**, then ``log10(10000·x + 1)`` computed in
  float32 (numpy 1 promoted the float16 array with the Python int; numpy 2 keeps float16 and overflows to inf).
- Patches of 187 frames (3 s), cut from the whole song's spectrogram without overlap; a remainder shorter than a
  patch is dropped; audio shorter than 3 s is zero-padded to 3 s (the original fails on it).
- Network: TF layouts are NHWC with height = time, width = mel band; batch norm epsilon 1e-3; the temporal
  convolutions use TF 'same' padding (the extra row goes at the end); the back-end flattens ``concat([max, mean],
  axis=2)``, so max- and mean-pooled features interleave channel by channel.

Two implementations with the same outputs (within 1e-5 here; tests demand 1e-4): :class:`Musicnn`, a layer-by-layer
port (the reference), and :class:`FastMusicnn`, built from it for inference: the front-end pools over frequency
*before* the bias, ReLU and batch norm (they commute with the max per channel), skips the filters that training left
dead (kernels of ~1e-27, whose output is provably constant to 1e-7 for any input), folding their constants into the
mid-end and back-end, and takes a few patches at a time so the full-resolution maps stay in cache. On this project's
2-core machines its model stage is 4-7x faster than the reference (``bench/bench_musicnn.py``).

The genre model runs both taggers' front-ends as one set of convolutions (:class:`JointFrontend`: the input batch
norms are folded into the kernels and a per-frame edge term), then each tagger's mid- and back-end
(:class:`JointTaggers`, the whole graph). On the CPU that graph runs on ONNX Runtime (:mod:`core.pretrained.runtime`).
What remains is arithmetic: the live front-end filters of both taggers take about 1.8 GFLOP of float32 convolution
per 3-s patch, 106 GFLOP per 3-minute song. ONNX Runtime runs each of the five convolutions at 100-112 GFLOP/s on one
thread (its per-node profile), the float32 peak of one of these Zen 4 cores, and 60 patches take ~0.67 s on 2 cores
(torch's oneDNN path ~1 s). Measured and rejected: FFT convolution along frequency (exact to 2e-5) was 1.5-2.5x
*slower* (small batched FFTs and a K=14 GEMM run far below the convolution's rate); treating more near-dead filters
as constants keeps a provable error bound for only ~5% fewer FLOPs; bfloat16 timbral convolutions (oneDNN, each
frame's mean over the bands taken out first and added back exactly, so the rounding of the weights does not scale
with the level) stayed within 0.008 of float32 per segment and 0.0034 per song, but ONNX Runtime has no bfloat16
CPU convolution and the graph on torch was slower than float32 on ONNX Runtime.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from torch import nn

from core.audio.decode import load_audio
from core.audio.frontend import mel_filterbank
from core.config import GENRES, AudioConfig
from core.pretrained import PRETRAINED_DIR, TAGGERS
from core.pretrained.genre_map import genre_spectrum

SAMPLE_RATE = 16000
N_FFT = 512
HOP_LENGTH = 256
N_MELS = 96
#: Frames of one 3-second patch: ``librosa.time_to_frames(3, sr=16000, n_fft=512, hop_length=256) + 1``.
PATCH_FRAMES = 187
PATCH_SAMPLES = 3 * SAMPLE_RATE
BN_EPS = 1e-3
#: Largest value the front-end can produce: ``log10(10000 · 65504 + 1)``, 65504 being float16's largest finite value.
MAX_LOG_MEL = float(np.log10(10000 * 65504.0 + 1))
#: Front-end channels whose output cannot move by more than this for any input are computed as constants (see
#: :class:`_PooledConv`): training left 45-190 of each 204-filter timbral layer with kernels of ~1e-27.
DEAD_TOLERANCE = 1e-7
#: Output channels of each joint front-end convolution are padded with zero filters to a multiple of this. ONNX
#: Runtime's CPU kernels (MLAS) compute convolutions in a blocked layout of 16 channels (AVX-512; 8 on AVX2) and keep
#: it through the max-pooling over frequency only when the channel count is a multiple of the block; otherwise every
#: full-resolution map was reordered to NCHW before the max, 18 % of the graph's time.
CHANNEL_BLOCK = 16


# --- front-end ---------------------------------------------------------------------------------------------------

class MusicnnFrontend(nn.Module):
    """Waveforms ``(batch, samples)`` at 16 kHz → musicnn log-mel spectrograms ``(batch, frames, 96)``.

    ``frames = 1 + samples // 256``. Values are ``log10(10000·float16(mel power) + 1)``.
    """

    def __init__(self) -> None:
        super().__init__()
        basis = mel_filterbank(sample_rate=SAMPLE_RATE, n_fft=N_FFT, n_mels=N_MELS)
        self.register_buffer("mel_basis", torch.from_numpy(basis), persistent=False)
        self.register_buffer("window", torch.hann_window(N_FFT, periodic=True), persistent=False)

    def forward(self, waves: torch.Tensor) -> torch.Tensor:
        """Log-compressed mel spectrogram, ``(batch, frames, 96)`` float32."""
        spec = torch.stft(waves, n_fft=N_FFT, hop_length=HOP_LENGTH, window=self.window, center=True,
                          pad_mode="reflect", return_complex=True)
        power = spec.real.square() + spec.imag.square()
        mel = torch.matmul(self.mel_basis, power).transpose(1, 2)
        return torch.log10(mel.half().float() * 10000.0 + 1.0)


# --- the reference port ------------------------------------------------------------------------------------------

class FrontBlock(nn.Module):
    """Conv2d (1 → ``filters``, kernel ``(time, freq)``) → ReLU → batch norm → max over frequency.

    Input ``(batch, 1, frames + pad, 96)``; output ``(batch, filters, frames)``.
    """

    def __init__(self, *, filters: int, kernel: tuple[int, int], time_pad: tuple[int, int]) -> None:
        super().__init__()
        self.time_pad = time_pad
        self.conv = nn.Conv2d(1, filters, kernel)
        self.bn = nn.BatchNorm2d(filters, eps=BN_EPS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(batch, 1, frames, bands)`` → ``(batch, filters, frames)``."""
        y = self.bn(F.relu(self.conv(F.pad(x, (0, 0) + self.time_pad))))
        return y.amax(dim=3)


class MidBlock(nn.Module):
    """Conv1d over time (kernel 7, zero padding 3) → ReLU → batch norm. ``(batch, c_in, T)`` → ``(batch, c_out, T)``."""

    def __init__(self, *, channels_in: int, channels_out: int) -> None:
        super().__init__()
        self.conv = nn.Conv1d(channels_in, channels_out, 7, padding=3)
        self.bn = nn.BatchNorm1d(channels_out, eps=BN_EPS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(batch, c_in, T)`` → ``(batch, c_out, T)``."""
        return self.bn(F.relu(self.conv(x)))


class MidEnd(nn.Module):
    """Three :class:`MidBlock` layers, the last two residual; returns every level, concatenated.

    ``(batch, c_front, frames)`` → ``(batch, c_front + 3·filters, frames)``.
    """

    def __init__(self, *, channels_in: int, filters: int) -> None:
        super().__init__()
        self.blocks = nn.ModuleList([MidBlock(channels_in=channels_in, channels_out=filters)]
                                    + [MidBlock(channels_in=filters, channels_out=filters) for _ in range(2)])

    def forward(self, front: torch.Tensor) -> torch.Tensor:
        """Dense connection of the front-end map and the three mid-end outputs."""
        maps = [front]
        h = front
        for i, block in enumerate(self.blocks):
            h = block(h) if i == 0 else block(h) + h
            maps.append(h)
        return torch.cat(maps, dim=1)


class BackEnd(nn.Module):
    """Temporal max and mean pooling → batch norm → dense + ReLU → batch norm (penultimate) → dense → sigmoid."""

    def __init__(self, *, channels: int, units: int, n_tags: int) -> None:
        super().__init__()
        self.bn_pool = nn.BatchNorm1d(2 * channels, eps=BN_EPS)
        self.dense = nn.Linear(2 * channels, units)
        self.bn_dense = nn.BatchNorm1d(units, eps=BN_EPS)
        self.out = nn.Linear(units, n_tags)

    def forward(self, maps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(batch, channels, frames)`` → ``(probabilities (batch, n_tags), penultimate (batch, units))``.

        TF flattens ``concat([max, mean], axis=2)`` of shape ``(batch, channels, 2)``: max and mean interleave.
        """
        pooled = torch.stack([maps.amax(dim=2), maps.mean(dim=2)], dim=2).flatten(1)
        penultimate = self.bn_dense(F.relu(self.dense(self.bn_pool(pooled))))
        return torch.sigmoid(self.out(penultimate)), penultimate


def _same_pad(kernel: int) -> tuple[int, int]:
    """TensorFlow 'same' padding for stride 1: the odd extra row goes at the end."""
    return (kernel - 1) // 2, kernel // 2


class Musicnn(nn.Module):
    """The musicnn tagger (``build_musicnn`` with 1.6 front-end filters, 64 mid-end filters, 200 back-end units).

    Input: patches ``(batch, 187, 96)`` (time, mel band). Output: ``(tag probabilities (batch, n_tags),
    penultimate features (batch, 200))``. Weights are in PyTorch layouts (see :mod:`core.pretrained.convert`).
    """

    def __init__(self, *, n_tags: int = 50, n_mels: int = N_MELS, frontend_filters: float = 1.6,
                 midend_filters: int = 64, backend_units: int = 200) -> None:
        super().__init__()
        timbral, temporal = int(frontend_filters * 128), int(frontend_filters * 32)
        self.bn_input = nn.BatchNorm2d(1, eps=BN_EPS)
        self.frontend = nn.ModuleList(
            [FrontBlock(filters=timbral, kernel=(7, int(f * n_mels)), time_pad=(3, 3)) for f in (0.4, 0.7)]
            + [FrontBlock(filters=temporal, kernel=(k, 1), time_pad=_same_pad(k)) for k in (128, 64, 32)])
        front_channels = 2 * timbral + 3 * temporal
        self.midend = MidEnd(channels_in=front_channels, filters=midend_filters)
        self.backend = BackEnd(channels=front_channels + 3 * midend_filters, units=backend_units, n_tags=n_tags)

    def forward(self, patches: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(batch, 187, 96)`` → ``(probabilities (batch, n_tags), penultimate (batch, 200))``."""
        x = self.bn_input(patches[:, None])
        front = torch.cat([block(x) for block in self.frontend], dim=1)
        return self.backend(self.midend(front))


def load_into(net: Musicnn, state: dict[str, torch.Tensor]) -> Musicnn:
    """Load ``state`` strictly (only batch norm's unused ``num_batches_tracked`` counters may be absent)."""
    missing, unexpected = net.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise ValueError(f"musicnn weights do not fit the network: missing {missing}, unexpected {unexpected}.")
    return net


# --- the inference implementation --------------------------------------------------------------------------------

def _bn_affine(bn: nn.modules.batchnorm._BatchNorm) -> tuple[torch.Tensor, torch.Tensor]:
    """Evaluation-mode batch norm as ``x * scale + shift``."""
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    return scale.detach(), (bn.bias - bn.running_mean * scale).detach()


def _pooled_affine(block: FrontBlock) -> tuple[torch.Tensor, ...]:
    """Per-channel ``(sign, bias, scale, shift)`` for pooling a :class:`FrontBlock` before its bias, ReLU and BN.

    ``max_f(s·relu(c_f + b) + h) = s·relu(max_f c_f + b) + h`` when ``s ≥ 0``; for ``s < 0`` the maximum becomes a
    minimum, obtained as ``-max_f(-c_f)`` by negating that channel's kernel (``sign``). Shapes ``(1, filters, 1)``.
    """
    scale, shift = _bn_affine(block.bn)
    sign = torch.where(scale < 0, -1.0, 1.0)
    return tuple(v[None, :, None] for v in (sign, block.conv.bias.detach(), scale, shift))


class _PooledConv(nn.Module):
    """The live channels of a :class:`FrontBlock`, rearranged: conv without bias → max over frequency → + bias → ReLU
    → affine. The full-resolution map is only written once, by the convolution.

    A channel is dead when its output cannot move by more than :data:`DEAD_TOLERANCE` from the constant
    ``s·relu(b) + h`` for any input bounded by ``input_bound`` (``‖w‖₁ · input_bound · |s| ≤ tolerance``);
    ``live`` lists the others and ``constant`` holds every channel's constant. ``(batch, 1, frames, bands)`` →
    ``(batch, live channels, frames)``.
    """

    def __init__(self, block: FrontBlock, *, input_bound: float) -> None:
        super().__init__()
        sign, bias, scale, shift = _pooled_affine(block)
        self.time_pad = block.time_pad
        weight = block.conv.weight.detach()
        worst = weight.flatten(1).abs().sum(dim=1) * input_bound * scale.abs().view(-1)
        self.live = torch.nonzero(worst > DEAD_TOLERANCE).view(-1)
        self.constant = (torch.relu(bias) * scale + shift).view(-1)
        self.register_buffer("weight", (weight * sign.view(-1, 1, 1, 1))[self.live].contiguous())
        for name, value in (("sign", sign), ("bias", bias), ("scale", scale), ("shift", shift)):
            self.register_buffer(name, value[:, self.live])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(batch, 1, frames, bands)`` → ``(batch, live channels, frames)``."""
        conv = F.conv2d(F.pad(x, (0, 0) + self.time_pad), self.weight)
        return torch.relu(conv.amax(dim=3) * self.sign + self.bias) * self.scale + self.shift


class FastMusicnn(nn.Module):
    """Inference-only :class:`Musicnn` on 187-frame patches, with the same outputs; see the module docstring.

    Only live front-end channels (:class:`_PooledConv`) are computed. The dead ones are constants, so their share of
    the first mid-end convolution is a fixed ``(64, 187)`` map (zero padding makes the edges differ) and their max-
    and mean-pooled features are fixed too: both are folded in at construction, as is the back-end's first batch
    norm (into the dense layer). ``chunk`` patches go through the front-end at a time, which keeps the
    full-resolution maps small and memory bounded for long songs.
    """

    def __init__(self, net: Musicnn, *, chunk: int = 4, frames: int = PATCH_FRAMES) -> None:
        super().__init__()
        self.chunk, self.frames = chunk, frames
        in_scale, in_shift = _bn_affine(net.bn_input)
        self.register_buffer("in_scale", in_scale)
        self.register_buffer("in_shift", in_shift)
        bound = float(in_scale.abs().max() * MAX_LOG_MEL + in_shift.abs().max())  # zero padding lies inside it
        self.frontend = nn.ModuleList([_PooledConv(block, input_bound=bound) for block in net.frontend])
        offsets = np.cumsum([0] + [len(block.constant) for block in self.frontend])
        live = torch.cat([block.live + int(o) for block, o in zip(self.frontend, offsets)])
        constant = torch.cat([block.constant for block in self.frontend])
        dead = torch.ones(len(constant), dtype=torch.bool)
        dead[live] = False

        first = net.midend.blocks[0]
        weight = first.conv.weight.detach()
        self.register_buffer("mid_weight", weight[:, live].contiguous())
        dead_share = F.conv1d(constant[dead].view(1, -1, 1).expand(1, -1, frames), weight[:, dead], padding=3)[0]
        self.register_buffer("mid_bias", first.conv.bias.detach()[:, None] + dead_share)  # (64, frames)
        self.mid_bn = first.bn
        self.mid_residual = nn.ModuleList(net.midend.blocks[1:])

        # pooled features are interleaved (max, mean) per channel of [front (561), mid-end (3 × 64)]
        n_front, n_mid = len(constant), 3 * weight.shape[0]
        kept = torch.cat([live, torch.arange(n_front, n_front + n_mid)])
        kept_cols = torch.stack([2 * kept, 2 * kept + 1], dim=1).flatten()
        dead_cols = torch.stack([2 * torch.nonzero(dead).view(-1), 2 * torch.nonzero(dead).view(-1) + 1], 1).flatten()
        pool_scale, pool_shift = _bn_affine(net.backend.bn_pool)
        dense_w, dense_b = net.backend.dense.weight.detach(), net.backend.dense.bias.detach()
        dead_pooled = constant[dead].repeat_interleave(2) * pool_scale[dead_cols] + pool_shift[dead_cols]
        self.register_buffer("dense_weight", (dense_w[:, kept_cols] * pool_scale[kept_cols]).contiguous())
        self.register_buffer("dense_bias", dense_b + dense_w[:, kept_cols] @ pool_shift[kept_cols]
                             + dense_w[:, dead_cols] @ dead_pooled)
        self.bn_dense = net.backend.bn_dense
        self.out = net.backend.out

    def forward(self, patches: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(batch, 187, 96)`` → ``(probabilities (batch, n_tags), penultimate (batch, 200))``."""
        if patches.shape[1] != self.frames:
            raise ValueError(f"FastMusicnn takes patches of {self.frames} frames, got {patches.shape[1]}.")
        x = (patches * self.in_scale + self.in_shift)[:, None]
        front = torch.cat([torch.cat([block(part) for block in self.frontend], dim=1) for part in x.split(self.chunk)])
        return self.head(front)

    def head(self, front: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mid-end and back-end on the live front-end channels ``(batch, live, frames)``."""
        h = self.mid_bn(F.relu(F.conv1d(front, self.mid_weight, padding=3) + self.mid_bias))
        maps = [front, h]
        for block in self.mid_residual:
            h = block(h) + h
            maps.append(h)
        maps = torch.cat(maps, dim=1)
        pooled = torch.stack([maps.amax(dim=2), maps.mean(dim=2)], dim=2).flatten(1)
        penultimate = self.bn_dense(F.relu(F.linear(pooled, self.dense_weight, self.dense_bias)))
        return torch.sigmoid(self.out(penultimate)), penultimate


class JointFrontend(nn.Module):
    """The front-ends of several :class:`FastMusicnn` taggers as one set of convolutions on the raw patches.

    Every tagger sees the same patches ``p`` through its own input batch norm ``x = a·p + b`` (scalars) and zero time
    padding. Convolution is linear, so ``conv(pad₀(a·p + b), w) = conv(pad₀(p), a·w) + b·E_w[t]``, where
    ``E_w[t] = conv(pad₀(1), w)`` depends on the frame only (the padding is in time; along the mel axis the
    convolution is 'valid'), so it passes through the max over frequency and joins the bias as a ``(channels,
    frames)`` map. The taggers' live filters of each branch are then stacked into one convolution: one padded input,
    five convolutions instead of five per tagger, and the small tagger's few filters ride on the large one's. Each
    stack is padded with zero filters to a multiple of :data:`CHANNEL_BLOCK` and the max over frequency is a
    max-pooling over the whole band axis, so that ONNX Runtime pools in its blocked layout; the padding channels are
    dropped after the pooling (the outputs are the same to the bit). ``forward`` returns each tagger's ``(batch, live
    channels, frames)`` map, in that tagger's channel order.
    """

    def __init__(self, nets: list[FastMusicnn], *, chunk: int = 4) -> None:
        super().__init__()
        self.chunk, self.frames = chunk, nets[0].frames
        self.pad = max(max(block.time_pad[0] for block in net.frontend) for net in nets), \
            max(max(block.time_pad[1] for block in net.frontend) for net in nets)
        ones = torch.ones(1, 1, self.frames, N_MELS)
        self.windows: list[tuple[int, int]] = []
        self.sizes: list[list[int]] = []
        self.widths: list[int] = []
        for i, first in enumerate(nets[0].frontend):
            left, right = first.time_pad
            self.windows.append((self.pad[0] - left, self.pad[0] + self.frames + right))
            weights, maps = [], {"sign": [], "bias": [], "scale": [], "shift": []}
            sizes = []
            for net in nets:
                block = net.frontend[i]
                if block.time_pad != first.time_pad or block.weight.shape[1:] != first.weight.shape[1:]:
                    raise ValueError("JointFrontend needs taggers with the same front-end layout.")
                a, b = float(net.in_scale), float(net.in_shift)
                edge = F.conv2d(F.pad(ones, (0, 0) + block.time_pad), block.weight)[0, :, :, 0]  # (live, frames)
                weights.append(block.weight * a)
                maps["sign"].append(block.sign[0])
                maps["bias"].append(block.bias[0] + b * edge * block.sign[0])
                maps["scale"].append(block.scale[0])
                maps["shift"].append(block.shift[0])
                sizes.append(block.weight.shape[0])
            stacked = torch.cat(weights)
            padding = stacked.new_zeros((-len(stacked) % CHANNEL_BLOCK,) + stacked.shape[1:])
            self.register_buffer(f"weight{i}", torch.cat([stacked, padding]).contiguous())
            self.widths.append(N_MELS - first.weight.shape[3] + 1)  # positions along the mel axis ('valid')
            for name, parts in maps.items():
                self.register_buffer(f"{name}{i}", torch.cat(parts)[None])
            self.sizes.append(sizes)

    def forward(self, patches: torch.Tensor) -> list[torch.Tensor]:
        """``(batch, 187, 96)`` → per tagger ``(batch, live channels, 187)``, :attr:`chunk` patches at a time."""
        parts = [self.maps(part) for part in patches.split(self.chunk)]
        return [torch.cat(chunks) for chunks in zip(*parts)]

    def maps(self, patches: torch.Tensor) -> list[torch.Tensor]:
        """The same as :meth:`forward` on all ``patches`` at once (full-resolution maps of the whole batch)."""
        x = F.pad(patches[:, None], (0, 0) + self.pad)
        branches = []
        for i, (start, stop) in enumerate(self.windows):
            conv = F.conv2d(x[:, :, start:stop], getattr(self, f"weight{i}"))  # (batch, padded channels, frames, width)
            conv = F.max_pool2d(conv, (1, self.widths[i]))[:, :sum(self.sizes[i]), :, 0]  # (batch, channels, frames)
            sign, bias, scale, shift = (getattr(self, f"{n}{i}") for n in ("sign", "bias", "scale", "shift"))
            branches.append((torch.relu(conv * sign + bias) * scale + shift).split(self.sizes[i], dim=1))
        return [torch.cat([parts[k] for parts in branches], dim=1) for k in range(len(self.sizes[0]))]


class JointTaggers(nn.Module):
    """Both taggers on the same patches, sharing one :class:`JointFrontend`: the whole inference graph of the genre
    model (what :mod:`core.pretrained.runtime` exports to ONNX).

    ``(batch, 187, 96)`` → ``(MTT probabilities (batch, 50), MSD probabilities (batch, 50), embeddings (batch, 400))``,
    an embedding being the MTT tagger's 200 penultimate features then the MSD tagger's. The whole batch goes through
    at once: callers pass a few patches at a time (:attr:`chunk`).
    """

    def __init__(self, nets: list[FastMusicnn], *, chunk: int) -> None:
        super().__init__()
        self.chunk = chunk
        self.front = JointFrontend(nets, chunk=chunk)
        self.nets = nn.ModuleList(nets)

    def forward(self, patches: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(batch, 187, 96)`` → ``(mtt (batch, 50), msd (batch, 50), embeddings (batch, 400))``."""
        (mtt, mtt_features), (msd, msd_features) = (net.head(front) for net, front in
                                                     zip(self.nets, self.front.maps(patches)))
        return mtt, msd, torch.cat([mtt_features, msd_features], dim=1)


# --- loading and tagging -----------------------------------------------------------------------------------------

def _check_tagger(model: str) -> str:
    if model not in TAGGERS:
        raise ValueError(f"Unknown musicnn tagger '{model}': choose one of {', '.join(TAGGERS)}.")
    return model


@lru_cache(maxsize=1)
def _vocabularies() -> dict[str, tuple[str, ...]]:
    return {name: tuple(tags) for name, tags in json.loads((PRETRAINED_DIR / "musicnn_tags.json").read_text()).items()}


def tag_vocabulary(model: str = "mtt") -> tuple[str, ...]:
    """The tags of tagger ``model`` (``"mtt"`` or ``"msd"``), in output order."""
    return _vocabularies()[_check_tagger(model)]


def load_reference_net(model: str = "mtt") -> Musicnn:
    """The layer-by-layer :class:`Musicnn` with converted weights, in evaluation mode on the CPU."""
    path = PRETRAINED_DIR / f"musicnn_{_check_tagger(model)}.safetensors"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: run `python -m core convert-musicnn --wheel musicnn-0.1.0.whl`.")
    return load_into(Musicnn(n_tags=len(tag_vocabulary(model))), load_file(str(path))).eval()


@lru_cache(maxsize=8)
def load_tagger(model: str = "mtt", *, device: str | None = None) -> FastMusicnn:
    """The inference network of tagger ``model`` on ``device`` (default: CUDA when present), cached."""
    from core.models.base import default_device

    dev = torch.device(device) if device else default_device()
    return FastMusicnn(load_reference_net(model), chunk=4 if dev.type == "cpu" else 64).to(dev).eval()


@lru_cache(maxsize=8)
def joint_frontend(device: str) -> JointFrontend:
    """Both taggers' front-ends as one :class:`JointFrontend` on ``device``, cached (4 patches at a time on the CPU:
    on 2 cores that beat 1, 2 and 8 with 2 torch threads, and 1 patch was 5% faster with 1 thread; 64 on CUDA)."""
    return joint_taggers(device).front


@lru_cache(maxsize=8)
def joint_taggers(device: str) -> JointTaggers:
    """Both taggers as one :class:`JointTaggers` on ``device``, cached (chunks of 4 patches on the CPU, 64 on CUDA)."""
    dev = torch.device(device)
    nets = [load_tagger(name, device=device) for name in TAGGERS]
    return JointTaggers(nets, chunk=4 if dev.type == "cpu" else 64).to(dev).eval()


@lru_cache(maxsize=8)
def _frontend(device: str) -> MusicnnFrontend:
    return MusicnnFrontend().to(torch.device(device))


def song_patches(samples: np.ndarray, *, device: str | torch.device = "cpu") -> torch.Tensor:
    """musicnn's patches of a whole song: ``(n_patches, 187, 96)`` on ``device``.

    Args:
        samples: Mono waveform ``(n,)`` at 16 kHz; shorter than 3 s is zero-padded to 3 s.
    """
    waves = np.zeros(max(len(samples), PATCH_SAMPLES), dtype=np.float32)
    waves[: len(samples)] = samples
    with torch.inference_mode():
        spec = _frontend(str(device))(torch.from_numpy(waves).to(device)[None])[0]
    n = spec.shape[0] // PATCH_FRAMES
    return spec[: n * PATCH_FRAMES].reshape(n, PATCH_FRAMES, N_MELS)


def taggram(samples: np.ndarray, *, model: str = "mtt", device: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Tag probabilities and penultimate features of every 3-second patch of a song.

    Args:
        samples: Mono waveform ``(n,)`` at 16 kHz.
        model: ``"mtt"`` or ``"msd"``.
        device: Torch device; default CUDA when present.

    Returns:
        ``(taggram (n_patches, n_tags), features (n_patches, 200))``, float32.
    """
    net = load_tagger(model, device=device)
    patches = song_patches(samples, device=net.in_scale.device)
    with torch.inference_mode():
        probs, features = net(patches)
    return probs.cpu().numpy(), features.cpu().numpy()


def top_tags(path: str | Path, *, model: str = "mtt", top: int = 10) -> list[str]:
    """The ``top`` most likely tags of a recording: mean of the taggram over 3-second patches (musicnn's
    ``top_tags``), most likely first. ``path`` is any file :func:`core.audio.decode.load_audio` decodes."""
    samples = load_audio(path, sample_rate=SAMPLE_RATE).samples
    probs, _ = taggram(samples, model=model)
    order = np.argsort(-probs.mean(axis=0), kind="stable")[:top]
    tags = tag_vocabulary(model)
    return [tags[i] for i in order]


def tag_probabilities(embeddings: np.ndarray) -> dict[str, np.ndarray]:
    """Both taggers' tag probabilities from segment embeddings, through their last layer (no second forward pass).

    Args:
        embeddings: ``(n, 400)``: the MTT tagger's 200 penultimate features, then the MSD tagger's 200.

    Returns:
        ``{"mtt": (n, 50), "msd": (n, 50)}`` float32 sigmoid probabilities, in :func:`tag_vocabulary` order.
    """
    out = {}
    with torch.inference_mode():
        for i, name in enumerate(TAGGERS):
            layer = load_tagger(name, device="cpu").out
            part = torch.from_numpy(np.ascontiguousarray(embeddings[:, 200 * i: 200 * (i + 1)], dtype=np.float32))
            out[name] = torch.sigmoid(layer(part)).numpy()
    return out


def describe(embeddings: np.ndarray, *, top_tags: int = 10) -> dict[str, object]:
    """Styles, descriptors and top tags of a song from its segment embeddings ``(n, 400)``.

    Returns:
        ``{"styles": {style: p}, "descriptors": {group: {name: p}}, "tags": {"mtt": [[tag, p], …], "msd": …}}``:
        song-level (mean over segments) independent probabilities, see :mod:`core.pretrained.styles`.
    """
    from core.pretrained.styles import descriptor_probabilities, style_probabilities

    probs = tag_probabilities(embeddings)
    vocab = _vocabularies()
    tags = {}
    for name, p in probs.items():
        song = p.mean(axis=0)
        order = np.argsort(-song, kind="stable")[:top_tags]
        tags[name] = [[vocab[name][i], round(float(song[i]), 4)] for i in order]
    return {"styles": {k: round(v, 4) for k, v in style_probabilities(probs, vocab).as_dict().items()},
            "descriptors": {group: {k: round(v, 4) for k, v in res.as_dict().items()}
                            for group, res in descriptor_probabilities(probs, vocab).items()},
            "tags": tags}


# --- the genre model ---------------------------------------------------------------------------------------------

#: The taggers' input: 16 kHz, 3-s patches; their mel front-end (n_fft 512, hop 256, 96 bands, log10(10000x+1))
#: is fixed by the pretrained weights and described by these fields.
AUDIO_CONFIG = AudioConfig(sample_rate=SAMPLE_RATE, n_fft=N_FFT, hop_length=HOP_LENGTH, n_mels=N_MELS,
                           f_max=SAMPLE_RATE / 2, segment_seconds=3.0)


@dataclass
class MusicnnGenreModel:
    """Genre model on both pretrained taggers (see :mod:`core.pretrained.genre_map` for the tag → genre mapping).

    ``predict_segments`` takes ``(n, 48000)`` float32 waveforms at 16 kHz (3 s each) and returns
    ``(probabilities (n, 10) rows summing to 1, embeddings (n, 400) float32)``; an embedding is the MTT tagger's
    200 penultimate features followed by the MSD tagger's 200 (a song's embedding is the mean over segments).
    """

    device: torch.device
    kind: str = "musicnn"
    classes: tuple[str, ...] = GENRES
    cfg: AudioConfig = AUDIO_CONFIG
    batch_size: int = 64

    def predict_segments(self, segments: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(n, 48000)`` waveforms → ``(genre probabilities (n, 10), embeddings (n, 400))``, float32."""
        tag_probs, embeddings = self.tag_segments(segments)
        return genre_spectrum(tag_probs, _vocabularies()), embeddings

    def tag_segments(self, segments: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """``(n, 48000)`` waveforms → ``({"mtt": (n, 50), "msd": (n, 50)} tag probabilities, embeddings (n, 400))``.

        On the CPU the taggers run on ONNX Runtime (:mod:`core.pretrained.runtime`, the same graph, 1.5x faster
        than torch here); on CUDA on torch. Both match the reference port within 1e-4.
        """
        segments = np.require(segments, dtype=np.float32, requirements="W")  # torch wants writable arrays
        if segments.ndim != 2 or segments.shape[1] != PATCH_SAMPLES or not len(segments):
            raise ValueError(f"Expected segments of shape (n ≥ 1, {PATCH_SAMPLES}) at 16 kHz, got {segments.shape}.")
        frontend = _frontend(str(self.device))
        outputs: list[tuple[np.ndarray, ...]] = []
        with torch.inference_mode():
            for start in range(0, len(segments), self.batch_size):
                patches = frontend(torch.from_numpy(segments[start: start + self.batch_size]).to(self.device))
                patches = patches[:, :PATCH_FRAMES]
                if self.device.type == "cpu":
                    from core.pretrained.runtime import run_taggers

                    outputs.append(run_taggers(patches.numpy()))
                else:
                    net = joint_taggers(str(self.device))
                    outputs.append(tuple(np.concatenate([t.cpu().numpy() for t in parts]) for parts in
                                         zip(*(net(part) for part in patches.split(net.chunk)))))
        mtt, msd, embeddings = (np.concatenate(parts) for parts in zip(*outputs))
        return {"mtt": mtt, "msd": msd}, embeddings.astype(np.float32)

    def describe(self, embeddings: np.ndarray, *, level_dbfs: float) -> dict[str, object]:
        """Styles, descriptors and top tags (:func:`describe`); no music verdict (that needs a trained run)."""
        return {**describe(embeddings), "music": None}


def load_musicnn_genre_model(device: str | None = None) -> MusicnnGenreModel:
    """The pretrained genre model on ``device`` (default: CUDA when present); both taggers load once, cached."""
    from core.models.base import default_device

    dev = torch.device(device) if device else default_device()
    for name in TAGGERS:
        load_tagger(name, device=str(dev))
    return MusicnnGenreModel(device=dev)


def load(folder: Path | None, info: dict, *, device: torch.device) -> MusicnnGenreModel:
    """The model registry's loader: the pretrained model needs no run folder."""
    return load_musicnn_genre_model(device=str(device))
