"""Decoding every common format, channel count and rate; clear errors for bad input; segments and crops."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from core.audio.decode import (
    AudioError,
    cut_segments,
    load_audio,
    random_crop,
    segment_bounds,
)

SR = 22050


def _tone(seconds: float, sr: int, channels: int = 1, freq: float = 440.0) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    mono = 0.4 * np.sin(2 * np.pi * freq * t)
    return np.stack([mono * (1 - 0.1 * c) for c in range(channels)], axis=1).astype(np.float32)


def _write(path: Path, data: np.ndarray, sr: int, **kw: str) -> Path:
    # Written in blocks: libsndfile's Vorbis encoder crashes on very large single writes.
    with sf.SoundFile(path, "w", sr, data.shape[1], **kw) as f:
        for i in range(0, len(data), 8192):
            f.write(data[i : i + 8192])
    return path


FORMATS = {
    "wav": {"format": "WAV", "subtype": "PCM_16"},
    "flac": {"format": "FLAC", "subtype": "PCM_16"},
    "ogg": {"format": "OGG", "subtype": "VORBIS"},
    "opus": {"format": "OGG", "subtype": "OPUS"},
    "mp3": {"format": "MP3", "subtype": "MPEG_LAYER_III"},
}


@pytest.mark.parametrize("ext", sorted(FORMATS))
def test_decodes_each_format_to_mono_float32(tmp_path: Path, ext: str) -> None:
    sr = 48000 if ext == "opus" else 44100
    path = _write(tmp_path / f"x.{ext}", _tone(4.0, sr, channels=2), sr, **FORMATS[ext])
    out = load_audio(path, sample_rate=SR)
    assert out.samples.dtype == np.float32 and out.samples.ndim == 1
    assert out.sample_rate == SR and out.source_sample_rate == sr and out.source_channels == 2
    # Lossy codecs add up to a few thousand samples of delay/padding: duration within 0.1 s.
    assert abs(out.duration - 4.0) < 0.1
    # The 440 Hz tone survives: its spectral peak is within 5 Hz.
    spec = np.abs(np.fft.rfft(out.samples[SR : 3 * SR]))
    assert abs(np.argmax(spec) * SR / (2 * SR) - 440.0) < 5.0
    assert not out.is_silent


@pytest.mark.parametrize("channels", [1, 2, 3, 6, 8])
def test_any_channel_count_mixes_to_mono(tmp_path: Path, channels: int) -> None:
    data = _tone(1.0, SR, channels=channels)
    out = load_audio(_write(tmp_path / "c.wav", data, SR, format="WAV", subtype="FLOAT"), sample_rate=SR)
    np.testing.assert_allclose(out.samples, data.mean(axis=1), atol=1e-6)


@pytest.mark.parametrize("sr", [8000, 11025, 16000, 44100, 48000, 96000, 192000])
def test_odd_sample_rates_resample_to_the_configured_rate(tmp_path: Path, sr: int) -> None:
    path = _write(tmp_path / "r.wav", _tone(2.0, sr, freq=1000.0), sr, format="WAV", subtype="FLOAT")
    out = load_audio(path, sample_rate=SR)
    assert len(out.samples) == pytest.approx(2.0 * SR, abs=2)
    spec = np.abs(np.fft.rfft(out.samples))
    assert abs(np.argmax(spec) / 2.0 - 1000.0) < 2.0


def test_bytes_and_file_objects_decode_like_paths(tmp_path: Path) -> None:
    path = _write(tmp_path / "b.flac", _tone(1.0, SR), SR, format="FLAC")
    by_path = load_audio(path, sample_rate=SR).samples
    np.testing.assert_array_equal(load_audio(path.read_bytes(), sample_rate=SR).samples, by_path)
    np.testing.assert_array_equal(load_audio(io.BytesIO(path.read_bytes()), sample_rate=SR).samples, by_path)


def test_mp3_decodes_without_block_artifacts(tmp_path: Path) -> None:
    """libsndfile zero-fills samples at MP3 read boundaries; a long MP3 must come out continuous."""
    path = _write(tmp_path / "long.mp3", _tone(30.0, 44100), 44100, **FORMATS["mp3"])
    whole, _ = sf.read(path, dtype="float32")
    out = load_audio(path, sample_rate=44100).samples
    np.testing.assert_array_equal(out, whole)


def test_long_input_is_capped_with_a_notice(tmp_path: Path) -> None:
    path = _write(tmp_path / "long.wav", _tone(12.0, SR), SR, format="WAV")
    out = load_audio(path, sample_rate=SR, max_seconds=5.0)
    assert out.truncated and out.duration == pytest.approx(5.0, abs=1e-3)
    assert any("first 0:05" in n for n in out.notices)
    assert not load_audio(path, sample_rate=SR, max_seconds=30.0).truncated


def test_silence_is_flagged_not_an_error(tmp_path: Path) -> None:
    path = _write(tmp_path / "s.wav", np.zeros((SR, 1), np.float32), SR, format="WAV")
    out = load_audio(path, sample_rate=SR)
    assert out.is_silent and any("silent" in n for n in out.notices)


@pytest.mark.parametrize(
    ("name", "payload", "phrase"),
    [
        ("empty.wav", b"", "empty"),
        ("noise.mp3", bytes(np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8)), "not audio"),
        ("text.flac", b"hello, this is not a song\n" * 40, "not audio"),
    ],
)
def test_bad_bytes_give_a_sentence(tmp_path: Path, name: str, payload: bytes, phrase: str) -> None:
    path = tmp_path / name
    path.write_bytes(payload)
    with pytest.raises(AudioError, match=phrase) as info:
        load_audio(path, sample_rate=SR)
    assert name in str(info.value) and str(info.value).endswith(".")


def test_header_only_file_has_nothing_left(tmp_path: Path) -> None:
    full = _write(tmp_path / "full.wav", _tone(1.0, SR), SR, format="WAV").read_bytes()
    cut = tmp_path / "cut.wav"
    cut.write_bytes(full[:44])
    with pytest.raises(AudioError, match="no audio|not audio"):
        load_audio(cut, sample_rate=SR)


@pytest.mark.parametrize("ext", ["wav", "flac", "mp3"])
def test_truncated_file_decodes_what_is_there(tmp_path: Path, ext: str) -> None:
    full = _write(tmp_path / f"full.{ext}", _tone(6.0, 44100), 44100, **FORMATS[ext]).read_bytes()
    cut = tmp_path / f"cut.{ext}"
    cut.write_bytes(full[: len(full) // 2])
    out = load_audio(cut, sample_rate=SR)
    assert 1.0 < out.duration < 4.5 and np.isfinite(out.samples).all()


def test_nan_samples_are_rejected(tmp_path: Path) -> None:
    data = _tone(1.0, SR)
    data[100] = np.nan
    path = _write(tmp_path / "nan.wav", data, SR, format="WAV", subtype="FLOAT")
    with pytest.raises(AudioError, match="NaN"):
        load_audio(path, sample_rate=SR)


def test_missing_path_and_folder(tmp_path: Path) -> None:
    with pytest.raises(AudioError, match="does not exist"):
        load_audio(tmp_path / "nope.wav", sample_rate=SR)
    with pytest.raises(AudioError, match="folder"):
        load_audio(tmp_path, sample_rate=SR)


def test_segments_cover_the_song_without_overlap() -> None:
    samples = np.arange(10 * SR, dtype=np.float32)
    segs, bounds = cut_segments(samples, sample_rate=SR, segment_seconds=3.0)
    assert segs.shape == (3, 3 * SR)
    np.testing.assert_allclose(bounds, [[0, 3], [3, 6], [6, 9]])
    np.testing.assert_array_equal(segs[1], samples[3 * SR : 6 * SR])


def test_short_input_is_one_padded_segment() -> None:
    segs, bounds = cut_segments(np.ones(SR, np.float32), sample_rate=SR, segment_seconds=3.0)
    assert segs.shape == (1, 3 * SR) and segs[0, : SR].sum() == SR and segs[0, SR:].sum() == 0
    np.testing.assert_allclose(segment_bounds(SR, sample_rate=SR, segment_seconds=3.0), [[0.0, 1.0]])  # 1 s of audio


def test_random_crop_is_seeded_and_in_range() -> None:
    samples = np.arange(5 * SR, dtype=np.float32)
    a = random_crop(samples, length=SR, rng=np.random.default_rng(3))
    b = random_crop(samples, length=SR, rng=np.random.default_rng(3))
    np.testing.assert_array_equal(a, b)
    assert a.shape == (SR,) and np.all(np.diff(a) == 1)


def test_m4a_aac_decodes_through_pyav(tmp_path: Path) -> None:
    """M4A/AAC is not in libsndfile; PyAV (FFmpeg in its wheel, in requirements.txt) decodes it."""
    import av

    path = tmp_path / "song.m4a"
    tone = _tone(2.0, 44100, channels=2)
    with av.open(str(path), "w", format="ipod") as container:
        stream = container.add_stream("aac", rate=44100, layout="stereo")
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(tone.T), format="fltp", layout="stereo")
        frame.sample_rate = 44100
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            container.mux(packet)
    out = load_audio(path, sample_rate=SR)
    assert out.source_channels == 2 and abs(out.duration - 2.0) < 0.1
    spec = np.abs(np.fft.rfft(out.samples[: SR]))
    assert abs(np.argmax(spec) - 440.0) < 5.0


def test_unreadable_m4a_is_a_sentence(tmp_path: Path) -> None:
    path = tmp_path / "broken.m4a"
    path.write_bytes(b"\x00\x00\x00\x18ftypM4A " + bytes(200))
    with pytest.raises(AudioError, match="broken.m4a"):
        load_audio(path, sample_rate=SR)
