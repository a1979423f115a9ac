"""Saliency maps: right shape, finite, not constant, and faithful (hiding the hot spot hurts more than a cold one).

A small CNN is trained for a few seconds to tell "a short tone burst somewhere in noise" from "noise only"; its
evidence is the burst, so a faithful map must put its most salient patch where hiding it costs probability.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.analysis.saliency import (
    class_probabilities,
    grad_cam,
    mel_spectrogram,
    network_spectrogram,
    occlude,
    occlusion,
    salient_regions,
)
from core.config import AudioConfig
from core.models.nets import build_net

CFG = AudioConfig(n_mels=64, segment_seconds=1.5)
PATCH = (12, 12)


def _clip(rng: np.random.Generator, *, burst: bool) -> np.ndarray:
    """1.5 s of quiet noise, with a 0.4 s tone burst (1-2 kHz, random place) when ``burst``."""
    n = CFG.segment_samples
    wave = 0.02 * rng.standard_normal(n)
    if burst:
        length = int(0.4 * CFG.sample_rate)
        start = int(rng.integers(0, n - length))
        t = np.arange(length) / CFG.sample_rate
        wave[start : start + length] += 0.5 * np.sin(2 * np.pi * rng.uniform(1000, 2000) * t) * np.hanning(length)
    return wave.astype(np.float32)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One torch thread: these small networks gain nothing from two, and on a busy 2-core machine two threads
    spin against each other (measured here: 27 s instead of 7 s for the fixture)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def burst_net() -> torch.nn.Module:
    """A CNN trained (~2 s on CPU) to tell burst (class 0) from noise (class 1); > 95 % on fresh clips."""
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    net = build_net("cnn", cfg=CFG, n_classes=2, channels=(8, 16, 16, 16), augment=False)
    opt = torch.optim.AdamW(net.parameters(), lr=3e-3)
    for _ in range(40):
        labels = rng.integers(0, 2, 16)
        waves = torch.from_numpy(np.stack([_clip(rng, burst=y == 0) for y in labels]))
        loss = torch.nn.functional.cross_entropy(net.train()(waves), torch.from_numpy(labels))
        opt.zero_grad()
        loss.backward()
        opt.step()
    net.eval()
    test_rng = np.random.default_rng(1)
    labels = np.arange(40) % 2
    with torch.no_grad():
        pred = net(torch.from_numpy(np.stack([_clip(test_rng, burst=y == 0) for y in labels]))).argmax(1).numpy()
    assert (pred == labels).mean() > 0.95, "the tiny CNN did not learn the burst; saliency tests would be moot"
    return net


def _drops(net: torch.nn.Module, segment: np.ndarray, heat: np.ndarray, target: int) -> tuple[float, float]:
    spec = network_spectrogram(net, segment)
    most, least = salient_regions(heat, patch=PATCH)
    base = class_probabilities(net, spec)[0, target]
    hidden = class_probabilities(net, occlude(spec, [most, least]))[:, target]
    return float(base - hidden[0]), float(base - hidden[1])


@pytest.mark.parametrize("method", ["grad-cam", "occlusion"])
def test_map_shape_range_and_faithfulness(burst_net: torch.nn.Module, method: str) -> None:
    rng = np.random.default_rng(7)
    faithful = 0
    for _ in range(8):
        segment = _clip(rng, burst=True)
        sal = grad_cam(burst_net, segment, target=0) if method == "grad-cam" else occlusion(
            burst_net, segment, target=0, patch=PATCH, stride=(6, 6))
        frames = 1 + CFG.segment_samples // CFG.hop_length
        assert sal.heat.shape == sal.spectrogram.shape == (CFG.n_mels, frames)
        assert np.isfinite(sal.heat).all() and sal.heat.min() >= 0 and sal.heat.max() == pytest.approx(1.0)
        assert sal.heat.std() > 0.05, "a constant map explains nothing"
        assert sal.target == 0 and 0 <= sal.probability <= 1 and sal.method == method
        most, least = _drops(burst_net, segment, sal.heat, target=0)
        faithful += most > least + 0.05
    # Grad-CAM maps are coarse (4 x 4 cells here), so allow it to miss the burst now and then.
    assert faithful >= 6, f"hiding the most salient patch hurt more in only {faithful}/8 clips"


def test_grad_cam_defaults_to_predicted_class_and_runs_on_crnn() -> None:
    torch.manual_seed(0)
    net = build_net("crnn", cfg=CFG, n_classes=3, channels=(8, 8, 8, 8), hidden=8, augment=False).eval()
    segment = _clip(np.random.default_rng(0), burst=True)
    sal = grad_cam(net, segment)
    probs = class_probabilities(net, network_spectrogram(net, segment))[0]
    assert sal.target == int(probs.argmax()) and sal.probability == pytest.approx(float(probs.max()), abs=1e-5)
    assert sal.heat.shape == (CFG.n_mels, 1 + CFG.segment_samples // CFG.hop_length)
    assert np.isfinite(sal.heat).all()


def test_mel_spectrogram_matches_the_network_front_end() -> None:
    segment = _clip(np.random.default_rng(3), burst=True)
    net = build_net("cnn", cfg=CFG, n_classes=2, augment=False)
    np.testing.assert_allclose(mel_spectrogram(segment, cfg=CFG), network_spectrogram(net, segment)[0].numpy(),
                               atol=1e-4)
