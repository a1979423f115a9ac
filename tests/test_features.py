"""Handcrafted features: parity with the public GTZAN table, fast == plain recipe, segments, edge cases, CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from core.audio.features import (
    FEATURE_COLUMNS,
    MIN_SECONDS,
    FeatureError,
    clip_features,
    features_table,
    label_from_path,
    reference_clip_features,
    segment_features,
)
from core.cli.main import main

SR = 22050
PUBLIC_COLUMNS = ["filename", "length", *FEATURE_COLUMNS, "label"]
#: Near-zero waveform means (~1e-5) compared with an absolute tolerance in full-scale units (≈ -86 dBFS DC).
NEAR_ZERO = {"harmony_mean": 5e-5, "perceptr_mean": 5e-5}


def _music(*, seconds: float, bpm: float = 120.0, seed: int = 0) -> np.ndarray:
    """Two sustained tones, a little noise and a noise burst on every beat at ``bpm``: float32 ``(n,)``."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    y = 0.2 * np.sin(2 * np.pi * 220 * t) + 0.1 * np.sin(2 * np.pi * 330 * t) + 0.01 * rng.standard_normal(t.size)
    burst = 0.5 * np.exp(-np.arange(2000) / 200)
    for start in range(0, t.size - 2000, int(round(60 / bpm * SR))):
        y[start : start + 2000] += burst * rng.standard_normal(2000)
    return y.astype(np.float32)


# --- parity with the public table ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def public_table(shared_data: Path) -> pd.DataFrame:
    return pd.read_csv(shared_data / "gtzan" / "features_30_sec.csv")


@pytest.fixture(scope="module")
def real_clip_features(shared_data: Path) -> dict[str, np.ndarray]:
    """Fast features of each real clip, computed once for the module."""
    from core.audio.decode import load_audio

    clips = sorted((shared_data / "gtzan" / "audio").glob("*.wav"))
    assert clips, "no real GTZAN clips"
    return {p.name: clip_features(load_audio(p, sample_rate=SR).samples) for p in clips}


def test_columns_are_the_public_header(public_table: pd.DataFrame) -> None:
    assert list(public_table.columns) == PUBLIC_COLUMNS
    assert len(FEATURE_COLUMNS) == 57


def test_real_clips_match_public_rows(public_table: pd.DataFrame, real_clip_features: dict[str, np.ndarray]) -> None:
    rows = public_table.set_index("filename")
    rel_all = []
    for name, ours in real_clip_features.items():
        theirs = rows.loc[name, list(FEATURE_COLUMNS)].to_numpy(dtype=np.float64)
        rel = np.abs(ours - theirs) / np.abs(theirs)
        close = rel <= 0.01
        for column, tol in NEAR_ZERO.items():
            i = FEATURE_COLUMNS.index(column)
            close[i] = abs(ours[i] - theirs[i]) <= tol
        misses = [c for c, ok in zip(FEATURE_COLUMNS, close) if not ok]
        assert close.sum() >= 54, f"{name}: {close.sum()}/57 within tolerance; misses {misses}"
        assert ours[FEATURE_COLUMNS.index("tempo")] == pytest.approx(theirs[FEATURE_COLUMNS.index("tempo")], rel=1e-6)
        rel_all.append(rel)
    assert np.median(np.concatenate(rel_all)) < 2e-3


# --- fast recipe == plain recipe ---------------------------------------------------------------------------------
# Tolerance zero: clip_features repeats librosa's floating-point operations in librosa's order (one STFT, the
# same median values, the same float32 mask and overlap-add roundings, NumPy's pairwise sums), so every one of the
# 57 values must be bit-identical to the plain recipe's. Any difference means the two recipes have drifted apart.

def _edge_cases() -> dict[str, np.ndarray]:
    """Short, odd-length, silent, clipped, impulsive and denormal-quiet float32 waveforms."""
    rng = np.random.default_rng(3)
    n = 3 * SR
    return {
        "music 6 s": _music(seconds=6.0),
        "noise 1 s": (0.1 * rng.standard_normal(SR)).astype(np.float32),
        "odd length": (0.3 * np.sin(np.arange(50_001) * 0.05) + 0.01 * rng.standard_normal(50_001)).astype(np.float32),
        "silence": np.zeros(n, dtype=np.float32),
        "half silent": np.concatenate([np.zeros(SR, np.float32), _music(seconds=2.0)]),
        "clipped": np.clip(3 * rng.standard_normal(n), -1, 1).astype(np.float32),
        "impulse": np.eye(1, n, 30_000, dtype=np.float32)[0],
        "1e-30 noise": (1e-30 * rng.standard_normal(n)).astype(np.float32),
    }


@pytest.mark.filterwarnings("ignore:Trying to estimate tuning from empty frequency set")  # the plain recipe's
@pytest.mark.parametrize("case", list(_edge_cases()))
def test_fast_equals_plain_recipe_bit_for_bit(case: str) -> None:
    y = _edge_cases()[case]
    fast, plain = clip_features(y), reference_clip_features(y)
    assert fast.shape == (57,) and fast.dtype == np.float64
    differ = [c for c, a, b in zip(FEATURE_COLUMNS, fast, plain, strict=True) if a != b]
    assert not differ, f"{case}: not bit-identical: {differ}"


def test_real_clips_equal_plain_recipe_bit_for_bit(shared_data: Path,
                                                   real_clip_features: dict[str, np.ndarray]) -> None:
    from core.audio.decode import load_audio

    for name, fast in real_clip_features.items():
        plain = reference_clip_features(load_audio(shared_data / "gtzan" / "audio" / name, sample_rate=SR).samples)
        differ = [c for c, a, b in zip(FEATURE_COLUMNS, fast, plain, strict=True) if a != b]
        assert not differ, f"{name}: not bit-identical: {differ}"


@pytest.mark.parametrize("shape", [(5, 3), (16, 5), (40, 300), (300, 40), (1025, 130)])
def test_running_median_equals_scipy_median_filter(shape: tuple[int, int]) -> None:
    """The HPSS median kernel: many ties, fewer rows than the window, a partial last block of columns, and the
    column-major layout (each column contiguous) it gets for the percussive filter."""
    from scipy.ndimage import median_filter

    from core.audio.features import _running_median

    x = np.round(np.random.default_rng(shape[0]).random(shape) * 6).astype(np.float32) / 4  # values repeat
    expected = median_filter(x, size=(31, 1), mode="reflect")
    out = np.empty_like(x)
    _running_median(x, out)
    np.testing.assert_array_equal(out, expected)
    out_by_columns = np.empty_like(x, order="F")
    _running_median(np.asfortranarray(x), out_by_columns)
    np.testing.assert_array_equal(out_by_columns, expected)


def test_tempo_follows_the_beat() -> None:
    tempo = clip_features(_music(seconds=6.0, bpm=120.0))[FEATURE_COLUMNS.index("tempo")]
    assert tempo == pytest.approx(120.0, rel=0.03)


# --- segments and edge cases -------------------------------------------------------------------------------------

def test_segments_of_ten_seconds() -> None:
    y = _music(seconds=10.0)
    feats, bounds = segment_features(y, sample_rate=SR, segment_seconds=3.0)
    assert feats.shape == (3, 57)
    np.testing.assert_allclose(bounds, [[0.0, 3.0], [3.0, 6.0], [6.0, 9.0]])
    np.testing.assert_array_equal(feats[1], clip_features(y[3 * SR : 6 * SR]))


def test_silence_gives_finite_values() -> None:
    feats = clip_features(np.zeros(3 * SR, dtype=np.float32))
    assert np.isfinite(feats).all()
    assert feats[FEATURE_COLUMNS.index("tempo")] == 0.0
    assert feats[FEATURE_COLUMNS.index("rms_mean")] == 0.0


def test_short_input_is_a_clear_error_and_short_segments_are_padded() -> None:
    half = _music(seconds=0.5)
    with pytest.raises(FeatureError, match=r"0\.50 s long.*at least 1 s"):
        clip_features(half)
    assert np.isfinite(clip_features(_music(seconds=MIN_SECONDS))).all()
    feats, bounds = segment_features(half, segment_seconds=3.0)
    assert feats.shape == (1, 57) and np.isfinite(feats).all()
    np.testing.assert_allclose(bounds, [[0.0, 0.5]])  # the one (padded) segment ends where the audio ends


def test_non_mono_and_non_finite_are_errors() -> None:
    with pytest.raises(FeatureError, match="mono"):
        clip_features(np.zeros((2, SR), dtype=np.float32))
    bad = _music(seconds=1.5)
    bad[100] = np.nan
    with pytest.raises(FeatureError, match="NaN"):
        clip_features(bad)


def test_label_from_path() -> None:
    assert label_from_path(Path("x/jazz.00042.wav")) == "jazz"
    assert label_from_path(Path("data/metal/song.mp3")) == "metal"
    assert label_from_path(Path("data/mine/song.mp3")) is None
    assert label_from_path(Path("data/mine/polka.00001.wav")) is None


# --- table and command -------------------------------------------------------------------------------------------

@pytest.fixture()
def audio_dir(tmp_path: Path) -> Path:
    """``jazz.00001.wav`` (7 s), ``rock/take.flac`` (2 s) and an unreadable ``blues.00003.wav``."""
    root = tmp_path / "in"
    (root / "rock").mkdir(parents=True)
    sf.write(root / "jazz.00001.wav", _music(seconds=7.0, seed=1), SR)
    sf.write(root / "rock" / "take.flac", _music(seconds=2.0, bpm=100, seed=2), SR)
    (root / "blues.00003.wav").write_bytes(b"not audio at all")
    return root


def test_command_writes_the_public_columns(audio_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "out" / "features.csv"
    code = main(["features", str(audio_dir), "--out", str(out), "--workers", "1"])
    assert code == 1  # one unreadable file: reported, skipped
    err = capsys.readouterr().err
    assert "blues.00003.wav" in err and "not audio" in err
    table = pd.read_csv(out)
    assert list(table.columns) == PUBLIC_COLUMNS
    assert list(table["filename"]) == ["jazz.00001.wav", "take.flac"]
    assert list(table["label"]) == ["jazz", "rock"]
    assert list(table["length"]) == [7 * SR, 2 * SR]
    assert np.isfinite(table[list(FEATURE_COLUMNS)].to_numpy(dtype=np.float64)).all()


def test_command_segments_and_missing_path(audio_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "seg.csv"
    assert main(["features", str(audio_dir / "jazz.00001.wav"), "--out", str(out), "--segments", "--workers", "1"]) == 0
    table = pd.read_csv(out)
    assert list(table.columns) == PUBLIC_COLUMNS
    assert list(table["filename"]) == ["jazz.00001.0.wav", "jazz.00001.1.wav"]
    assert list(table["length"]) == [3 * SR, 3 * SR]
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_:  # argparse refuses a missing path with one line
        main(["features", str(tmp_path / "nope"), "--out", str(out)])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nope" in err


def test_process_pool_matches_in_process(audio_dir: Path) -> None:
    paths = [audio_dir / "rock" / "take.flac", audio_dir / "blues.00003.wav", audio_dir / "jazz.00001.wav"]
    pooled = features_table(paths, labels=["rock", "blues", "jazz"], workers=2, progress=False)
    assert list(pooled["filename"]) == ["take.flac", "jazz.00001.wav"]  # input order, bad file left out
    assert list(pooled["label"]) == ["rock", "jazz"]
    assert len(pooled.attrs["errors"]) == 1 and "blues.00003.wav" in pooled.attrs["errors"][0]
    inline = features_table(paths[:1], workers=1, progress=False)
    # Workers run single-threaded BLAS, so matrix products may round differently in the last float32 bits.
    np.testing.assert_allclose(pooled.loc[0, list(FEATURE_COLUMNS)].to_numpy(dtype=np.float64),
                               inline.loc[0, list(FEATURE_COLUMNS)].to_numpy(dtype=np.float64), rtol=1e-6)
