"""On-disk waveform cache: correctness, content keys, atomic writes, resumable parallel warming."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from core.audio import decode as audio
from core.cli.main import main
from core.data import cache
from core.data.cache import cache_root, cached_waveform, warm_cache

SR = 16000


def _tone(path: Path, *, seconds: float = 1.0, freq: float = 440.0, rate: int = 44100) -> Path:
    """Stereo tone at ``rate`` Hz (so decoding mixes down and resamples)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * rate)) / rate
    left = 0.3 * np.sin(2 * np.pi * freq * t)
    sf.write(path, np.stack([left, 0.5 * left], axis=1).astype(np.float32), rate)
    return path


def _forbid_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args, **_kwargs):
        raise AssertionError("load_audio was called although the file is cached")

    monkeypatch.setattr(audio, "load_audio", refuse)


def _entries(root: Path) -> list[Path]:
    return sorted(root.rglob("*.npy"))


def test_cached_waveform_matches_decoder_and_is_read_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clip = _tone(tmp_path / "a.wav")
    root = tmp_path / "cache"
    expected = audio.load_audio(clip, sample_rate=SR).samples
    first = cached_waveform(clip, sample_rate=SR, cache_dir=root)
    assert first.dtype == np.float32 and first.shape == expected.shape
    np.testing.assert_array_equal(first, expected)
    (entry,) = _entries(root)
    np.testing.assert_array_equal(np.load(entry, allow_pickle=False), expected)
    _forbid_decoding(monkeypatch)
    np.testing.assert_array_equal(cached_waveform(clip, sample_rate=SR, cache_dir=root), expected)
    # Keyed by content: a renamed copy is a hit, other parameters are misses.
    shutil.copy(clip, tmp_path / "copy.wav")
    np.testing.assert_array_equal(cached_waveform(tmp_path / "copy.wav", sample_rate=SR, cache_dir=root), expected)
    with pytest.raises(AssertionError, match="cached"):
        cached_waveform(clip, sample_rate=22050, cache_dir=root)


def test_changed_content_is_decoded_again(tmp_path: Path) -> None:
    clip = _tone(tmp_path / "a.wav", freq=440.0)
    root = tmp_path / "cache"
    before = cached_waveform(clip, sample_rate=SR, cache_dir=root)
    _tone(clip, freq=880.0)
    after = cached_waveform(clip, sample_rate=SR, cache_dir=root)
    assert len(_entries(root)) == 2
    assert not np.allclose(before, after, atol=1e-3)


def test_max_seconds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clip = _tone(tmp_path / "a.wav", seconds=2.0)
    root = tmp_path / "cache"
    full = cached_waveform(clip, sample_rate=SR, cache_dir=root)
    short = cached_waveform(clip, sample_rate=SR, max_seconds=0.5, cache_dir=root)
    assert len(short) == pytest.approx(0.5 * SR, abs=2)
    assert len(_entries(root)) == 2
    # A whole-file entry answers any limit the recording does not exceed, without decoding.
    _forbid_decoding(monkeypatch)
    np.testing.assert_array_equal(cached_waveform(clip, sample_rate=SR, max_seconds=900.0, cache_dir=root), full)


def test_cache_folder_from_env_and_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(cache.CACHE_ENV, str(tmp_path / "env-cache"))
    assert cache_root() == tmp_path / "env-cache"
    assert cache_root(tmp_path / "arg") == tmp_path / "arg"
    cached_waveform(_tone(tmp_path / "a.wav"), sample_rate=SR)
    assert len(_entries(tmp_path / "env-cache")) == 1
    monkeypatch.delenv(cache.CACHE_ENV)
    assert cache_root() == cache.REPO_ROOT / "data" / "cache"


def test_failed_write_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "cache"

    def broken_save(handle, array, **_kwargs):
        handle.write(b"\x93NUMPY partial")
        raise OSError("disk full")

    monkeypatch.setattr(cache.np, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        cached_waveform(_tone(tmp_path / "a.wav"), sample_rate=SR, cache_dir=root)
    assert [p for p in root.rglob("*") if p.is_file()] == []


@pytest.mark.parametrize("workers", [1, 2])
def test_warm_cache_is_resumable_and_lists_bad_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     workers: int) -> None:
    clips = [_tone(tmp_path / f"c{i}.wav", seconds=0.5, freq=200.0 + 50 * i) for i in range(6)]
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"this is not audio at all")
    root = tmp_path / "cache"
    first = warm_cache([*clips, bad, clips[0]], sample_rate=SR, workers=workers, progress=False, cache_dir=root)
    assert (first.decoded, first.cached, first.total) == (6, 0, 7)
    assert [p for p, _ in first.failed] == [str(bad)] and "not audio" in first.failed[0][1]
    entries = _entries(root)
    assert len(entries) == 6 and not list(root.rglob(".tmp-*"))
    stamps = [p.stat().st_mtime_ns for p in entries]
    # Second pass: nothing is decoded (the decoder would raise), nothing is rewritten.
    _forbid_decoding(monkeypatch)
    second = warm_cache(clips, sample_rate=SR, workers=1, progress=False, cache_dir=root)
    assert (second.decoded, second.cached, second.failed) == (0, 6, [])
    assert [p.stat().st_mtime_ns for p in _entries(root)] == stamps


def test_cache_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setenv(cache.CACHE_ENV, str(tmp_path / "cache"))
    _tone(tmp_path / "music" / "rock" / "a.wav", seconds=0.5)
    _tone(tmp_path / "music" / "jazz" / "b.flac", seconds=0.5)
    assert main(["cache", str(tmp_path / "music"), "--workers", "1"]) == 0
    assert "2 decoded" in capsys.readouterr().out
    assert main(["cache", str(tmp_path / "music"), "--workers", "1"]) == 0
    assert "2 already cached" in capsys.readouterr().out
    (tmp_path / "music" / "jazz" / "broken.ogg").write_bytes(b"")
    assert main(["cache", str(tmp_path / "music"), "--workers", "1"]) == 1
    assert "broken.ogg" in capsys.readouterr().out
    assert main(["cache", str(tmp_path / "absent"), "--workers", "1"]) == 2
