"""The one AudioConfig: explicit, frozen, JSON round trip, strict about unknown fields."""

from __future__ import annotations

import dataclasses

import pytest

from core.config import REPO_ROOT, AudioConfig, from_repo, repo_relative


def test_json_round_trip_and_derived_sizes() -> None:
    cfg = AudioConfig(sample_rate=16000, n_mels=96, segment_seconds=2.5)
    assert AudioConfig.from_json(cfg.to_json()) == cfg
    assert cfg.segment_samples == 40000 and cfg.segment_frames == 1 + 40000 // cfg.hop_length
    defaults = AudioConfig()
    assert (defaults.sample_rate, defaults.n_fft, defaults.hop_length, defaults.n_mels, defaults.segment_seconds) == (
        22050, 2048, 512, 128, 3.0)


def test_frozen_and_strict() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        AudioConfig().n_mels = 64  # type: ignore[misc]
    with pytest.raises(ValueError, match="Unknown AudioConfig fields"):
        AudioConfig.from_dict({**AudioConfig().to_dict(), "hop": 256})


def test_repo_relative_paths_round_trip(tmp_path) -> None:
    inside = REPO_ROOT / "data" / "x.wav"
    assert repo_relative(inside) == "data/x.wav" and from_repo("data/x.wav") == inside
    assert from_repo(repo_relative(tmp_path / "y.wav")) == (tmp_path / "y.wav").resolve()
