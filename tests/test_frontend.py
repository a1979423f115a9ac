"""The mel front-end matches librosa, batches, and its SpecAugment masks only in training."""

from __future__ import annotations

import librosa
import numpy as np
import pytest
import torch

from core.audio.frontend import MelFrontend, SpecAugment, mel_filterbank
from core.config import AudioConfig

CFG = AudioConfig()


def _signals() -> dict[str, np.ndarray]:
    sr = CFG.sample_rate
    t = np.arange(3 * sr) / sr
    rng = np.random.default_rng(0)
    return {
        "sine": 0.5 * np.sin(2 * np.pi * 440.0 * t),
        "chirp": 0.5 * np.sin(2 * np.pi * (100.0 * t + 1500.0 * t**2)),
        "noise": 0.1 * rng.standard_normal(t.size),
        "quiet": 1e-4 * np.sin(2 * np.pi * 50.0 * t),
    }


@pytest.mark.parametrize("name", ["sine", "chirp", "noise", "quiet"])
def test_matches_librosa_within_1e_3_db(name: str) -> None:
    wave = _signals()[name].astype(np.float32)
    ref = librosa.power_to_db(
        librosa.feature.melspectrogram(y=wave.astype(np.float64), sr=CFG.sample_rate, n_fft=CFG.n_fft,
                                       hop_length=CFG.hop_length, n_mels=CFG.n_mels, fmin=CFG.f_min,
                                       fmax=CFG.f_max, htk=False, norm="slaney", center=True, pad_mode="constant",
                                       power=2.0),
        ref=CFG.db_ref, amin=CFG.db_amin, top_db=None)
    ours = MelFrontend(CFG, dtype=torch.float64)(torch.from_numpy(wave.astype(np.float64))[None])[0].numpy()
    assert ours.shape == ref.shape == (CFG.n_mels, CFG.segment_frames)
    assert np.abs(ours - ref).max() < 1e-3


@pytest.mark.parametrize("name", ["sine", "chirp", "noise"])
def test_float32_close_to_float64(name: str) -> None:
    wave = torch.from_numpy(_signals()[name].astype(np.float32))[None]
    single = MelFrontend(CFG)(wave)[0].double()
    double = MelFrontend(CFG, dtype=torch.float64)(wave.double())[0]
    # float32 rounding only matters far below the music: within 60 dB of the clip's peak it is under 0.01 dB.
    loud = double > double.max() - 60.0
    assert (single - double).abs()[loud].max() < 0.01


@pytest.mark.parametrize("args", [
    {"sr": 16000, "n_fft": 512, "n_mels": 96},  # musicnn
    {"sr": 22050, "n_fft": 2048, "n_mels": 128, "fmin": 0.0, "fmax": 11025.0},  # the project's default
    {"sr": 44100, "n_fft": 1024, "n_mels": 64, "fmin": 30.0, "fmax": 16000.0, "htk": True},
    {"sr": 8000, "n_fft": 256, "n_mels": 40, "norm": None},
])
def test_mel_filterbank_is_librosas_to_the_bit(args: dict) -> None:
    """The filterbank avoids importing librosa.filters (and with it scipy.signal, 1.2-1.5 s) but not its numbers."""
    want = librosa.filters.mel(**args)
    got = mel_filterbank(sample_rate=args["sr"], n_fft=args["n_fft"], n_mels=args["n_mels"],
                         f_min=args.get("fmin", 0.0), f_max=args.get("fmax"), htk=args.get("htk", False),
                         norm=args.get("norm", "slaney"))
    assert got.dtype == want.dtype == np.float32 and got.shape == want.shape
    assert np.array_equal(got, want)


def test_predicting_imports_no_scipy_signal(tmp_path) -> None:
    """A fresh process analysing a song with the default model never imports scipy.signal (1.2-1.5 s here)."""
    import subprocess
    import sys

    import soundfile as sf

    song = tmp_path / "tone.wav"
    t = np.arange(4 * 16000) / 16000
    sf.write(song, (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), 16000)
    code = ("import sys; from core.analysis.predict import predict_song; from core.runs.folder import load_model; "
            f"predict_song({str(song)!r}, model=load_model('transfer-gtzan')); "
            "print('scipy.signal' in sys.modules, 'librosa.filters' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_batch_equals_single() -> None:
    sig = _signals()
    batch = torch.from_numpy(np.stack([sig["sine"], sig["noise"]]).astype(np.float32))
    fe = MelFrontend(CFG)
    together = fe(batch)
    alone = torch.cat([fe(batch[i : i + 1]) for i in range(2)])
    assert torch.allclose(together, alone, atol=1e-4)


def test_fixed_reference_puts_segment_and_song_on_one_scale() -> None:
    wave = torch.from_numpy(_signals()["chirp"].astype(np.float32))
    fe = MelFrontend(CFG)
    whole = fe(wave[None])[0]
    half = fe(wave[None, : wave.numel() // 2])[0]
    mid = half.shape[1] // 2
    # Away from the edges the frames are the same dB values (no per-clip max normalisation).
    assert torch.allclose(whole[:, mid - 10 : mid], half[:, mid - 10 : mid], atol=1e-3)


def test_specaugment_masks_in_training_only() -> None:
    torch.manual_seed(0)
    spec = torch.randn(4, CFG.n_mels, 130)
    aug = SpecAugment(max_time=20, n_time=2, max_freq=16, n_freq=2)
    aug.train()
    out = aug(spec)
    changed = (out != spec).float().mean().item()
    assert 0.0 < changed < 0.6
    assert out.shape == spec.shape
    aug.eval()
    assert aug(spec) is spec
