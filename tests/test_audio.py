"""Decoding every common format, channel count and rate; clear errors for bad input; segments and crops."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import load_fuzz_harness

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


# ------------------------------------------------------------------ one decoder path (issue #10)

def _tagged_mp3(tmp_path: Path, version: int, *, picture_bytes: int = 1_500_000, name: str = "tagged.mp3") -> Path:
    """A 4 s stereo MP3 with an ID3v2.``version`` tag holding a title, a genre and a big cover picture."""
    from mutagen.id3 import APIC, ID3, TCON, TIT2

    path = _write(tmp_path / name, _tone(4.0, 44100, channels=2), 44100, **FORMATS["mp3"])
    tags = ID3()
    tags.add(TIT2(encoding=3, text="A song"))
    tags.add(TCON(encoding=3, text="Blues"))
    picture = b"\xff\xd8\xff\xe0" + np.random.default_rng(version).integers(0, 256, picture_bytes, np.uint8).tobytes()
    tags.add(APIC(encoding=3, mime="image/jpeg", type=3, desc="Cover", data=picture))
    tags.save(path, v2_version=version)
    return path


def _m4a(path: Path, codec: str, *, seconds: float = 2.0) -> Path:
    """A stereo 44.1 kHz M4A (``codec`` "aac" or "alac") encoded with PyAV."""
    path.write_bytes(load_fuzz_harness().pyav_bytes(_tone(seconds, 44100, channels=2), 44100, fmt="ipod",
                                                    codec=codec))
    return path


def _same_three_ways(path: Path) -> np.ndarray:
    """Samples decoded from the path, its bytes and a file object: identical, returned once."""
    by_path = load_audio(path, sample_rate=SR)
    by_bytes = load_audio(path.read_bytes(), sample_rate=SR)
    with open(path, "rb") as handle:
        by_file = load_audio(handle, sample_rate=SR)
    np.testing.assert_array_equal(by_bytes.samples, by_path.samples)
    np.testing.assert_array_equal(by_file.samples, by_path.samples)
    assert by_path.container == by_bytes.container == by_file.container
    return by_path.samples


def _peak_hz(samples: np.ndarray) -> float:
    spec = np.abs(np.fft.rfft(samples[: SR]))
    return float(np.argmax(spec) * SR / SR)


@pytest.mark.parametrize("version", [3, 4])
def test_tagged_mp3_with_a_big_picture_decodes_alike_from_bytes_path_and_file(tmp_path: Path, version: int) -> None:
    path = _tagged_mp3(tmp_path, version)
    assert path.stat().st_size > 1_500_000 and path.read_bytes()[:4] == b"ID3" + bytes([version])
    samples = _same_three_ways(path)
    untagged = load_audio(_write(tmp_path / "plain.mp3", _tone(4.0, 44100, channels=2), 44100, **FORMATS["mp3"]),
                          sample_rate=SR).samples
    np.testing.assert_array_equal(samples, untagged)
    assert abs(_peak_hz(samples) - 440.0) < 5.0


def test_padding_after_an_id3_tag_is_found_from_bytes(tmp_path: Path) -> None:
    """libsndfile alone recognises this only by a '.mp3' name, never from bytes; the sniffer finds the frames."""
    plain = _write(tmp_path / "plain.mp3", _tone(2.0, 44100, channels=2), 44100, **FORMATS["mp3"]).read_bytes()
    tag = _tagged_mp3(tmp_path, 3, picture_bytes=1000).read_bytes()
    size = (tag[6] << 21) | (tag[7] << 14) | (tag[8] << 7) | tag[9]
    padded = tag[: 10 + size] + bytes(3000) + plain
    with pytest.raises(sf.LibsndfileError):
        sf.read(io.BytesIO(padded))
    np.testing.assert_array_equal(load_audio(padded, sample_rate=SR).samples, load_audio(plain, sample_rate=SR).samples)


@pytest.mark.parametrize("codec", ["aac", "alac"])
def test_m4a_decodes_alike_from_bytes_path_and_file(tmp_path: Path, codec: str) -> None:
    samples = _same_three_ways(_m4a(tmp_path / f"{codec}.m4a", codec))
    assert abs(len(samples) / SR - 2.0) < 0.1 and abs(_peak_hz(samples) - 440.0) < 5.0


def test_the_content_decides_not_the_name(tmp_path: Path) -> None:
    wav = _write(tmp_path / "a.wav", _tone(1.0, SR), SR, format="WAV")
    m4a = _m4a(tmp_path / "b.m4a", "aac")
    for real, fake in ((wav, "a.mp3"), (m4a, "b.wav"), (m4a, "b")):
        renamed = tmp_path / fake
        renamed.write_bytes(real.read_bytes())
        np.testing.assert_array_equal(load_audio(renamed, sample_rate=SR).samples,
                                      load_audio(real, sample_rate=SR).samples)


def test_a_stream_without_seek_decodes_like_its_bytes(tmp_path: Path) -> None:
    data = _write(tmp_path / "s.flac", _tone(1.0, SR), SR, format="FLAC").read_bytes()

    class Pipe(io.RawIOBase):
        def __init__(self) -> None:
            self._inner = io.BytesIO(data)

        def readable(self) -> bool:
            return True

        def readinto(self, buffer) -> int:
            chunk = self._inner.read(len(buffer))
            buffer[: len(chunk)] = chunk
            return len(chunk)

        def seek(self, *args: object) -> int:
            raise io.UnsupportedOperation("not seekable")

    np.testing.assert_array_equal(load_audio(Pipe(), sample_rate=SR).samples, load_audio(data, sample_rate=SR).samples)


def _wav_with(rate: int, channels: int, *, data_size: int | None = None, payload: bytes = bytes(8820)) -> bytes:
    import struct

    size = len(payload) if data_size is None else data_size
    block = channels * 2
    return (b"RIFF" + struct.pack("<I", (36 + size) & 0xFFFFFFFF) + b"WAVEfmt " + struct.pack("<I", 16)
            + struct.pack("<HHIIHH", 1, channels, rate, (rate * block) & 0xFFFFFFFF, block, 16)
            + b"data" + struct.pack("<I", size & 0xFFFFFFFF) + payload)


@pytest.mark.parametrize("rate, channels, phrase", [
    (1, 1, "sample rate of 1 Hz"), (500, 1, "sample rate of 500 Hz"), (2_000_000, 1, "sample rate of 2,000,000 Hz"),
    (22050, 65, "65 channels"), (22050, 1000, "1,000 channels"),
])
def test_implausible_headers_are_refused_with_a_sentence(rate: int, channels: int, phrase: str) -> None:
    with pytest.raises(AudioError, match=phrase) as info:
        load_audio(_wav_with(rate, channels), sample_rate=SR)
    assert str(info.value).endswith(".") and "Error" not in str(info.value)


def test_lying_sizes_allocate_nothing_like_what_they_claim() -> None:
    """A 108-byte WAV claiming 4 GB and a 9 KB WAV claiming an hour: decoded in well under 20 MB."""
    import tracemalloc

    tone = (_tone(0.2, SR)[:, 0] * 32767).astype("<i2").tobytes()
    tracemalloc.start()
    try:
        for data in (_wav_with(22050, 2, data_size=2**32 - 1, payload=tone[:64]),
                     _wav_with(44100, 2, data_size=3600 * 44100 * 4, payload=tone)):
            try:
                load_audio(data, sample_rate=SR)
            except AudioError:
                pass
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 20e6


def test_the_project_cap_applies_without_max_seconds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from core.audio import decode
    from core.config import AudioConfig

    assert decode.MAX_SECONDS == AudioConfig.max_seconds == 900.0
    monkeypatch.setattr(decode, "MAX_SECONDS", 2.0)
    out = load_audio(_write(tmp_path / "l.wav", _tone(5.0, SR), SR, format="WAV"), sample_rate=SR, max_seconds=None)
    assert out.truncated and out.duration == pytest.approx(2.0, abs=1e-3)


@pytest.mark.parametrize("peak", [20.0, 1e5, 1e30])
def test_float_audio_far_above_full_scale_is_scaled_with_a_notice(tmp_path: Path, peak: float) -> None:
    path = _write(tmp_path / "loud.wav", _tone(1.0, SR) / 0.4 * peak, SR, format="WAV", subtype="FLOAT")
    out = load_audio(path, sample_rate=SR)
    assert np.isfinite(out.samples).all() and np.abs(out.samples).max() == pytest.approx(1.0, abs=1e-6)
    assert any("louder than full scale" in n for n in out.notices)


def test_slight_overs_are_left_alone(tmp_path: Path) -> None:
    path = _write(tmp_path / "hot.wav", _tone(1.0, SR) / 0.4 * 1.2, SR, format="WAV", subtype="FLOAT")
    out = load_audio(path, sample_rate=SR)
    assert np.abs(out.samples).max() == pytest.approx(1.2, abs=1e-3) and not out.notices


def test_infinite_samples_are_refused(tmp_path: Path) -> None:
    data = _tone(1.0, SR)
    data[500] = np.inf
    with pytest.raises(AudioError, match="NaN or infinity"):
        load_audio(_write(tmp_path / "inf.wav", data, SR, format="WAV", subtype="FLOAT"), sample_rate=SR)


@pytest.mark.parametrize("error", [
    AttributeError("'NoneType' object has no attribute 'x'"),
    UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"),
    __import__("struct").error("'I' format requires 0 <= number <= 4294967295"),
    MemoryError(),
    RuntimeError("error: error"),
])
def test_any_decoder_exception_becomes_a_sentence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                  error: Exception) -> None:
    from core.audio import decode

    def broken(*args: object, **kwargs: object) -> None:
        raise error

    path = _write(tmp_path / "fine.wav", _tone(0.5, SR), SR, format="WAV")
    monkeypatch.setattr(decode.sf, "SoundFile", broken)
    with pytest.raises(AudioError) as info:
        load_audio(path, sample_rate=SR)
    message = str(info.value)
    assert message.startswith("'fine.wav' is not audio that can be read (") and message.endswith(".")
    assert type(error).__name__ not in message and "format requires" not in message and "error: error" not in message


def test_corrupt_m4a_is_a_sentence_from_bytes(tmp_path: Path) -> None:
    good = _m4a(tmp_path / "g.m4a", "aac").read_bytes()
    for bad in (good[:40], good[: len(good) // 3], good.replace(b"mp4a", b"xxxx"), good.replace(b"moov", b"moox")):
        try:
            out = load_audio(bad, sample_rate=SR)
        except AudioError as error:
            assert str(error).endswith(".") and "Error" not in str(error)
        else:
            assert np.isfinite(out.samples).all()


def test_real_mp3s_decode_from_bytes(shared_data: Path) -> None:
    paths = [shared_data / "fma" / "audio" / "000002.mp3",
             *sorted((shared_data / "musicnn_examples").glob("*.mp3"))]
    paths = [p for p in paths if p.exists()]
    if not paths:
        pytest.skip("no real MP3s in the shared data folder")
    for path in paths:
        assert path.read_bytes()[:3] == b"ID3"
        samples = _same_three_ways(path)
        assert len(samples) / SR > 25 and np.isfinite(samples).all() and np.abs(samples).max() > 0.01
    fma = load_audio(paths[0], sample_rate=SR)
    assert fma.source_channels == 2 and fma.source_sample_rate == 44100 and abs(fma.duration - 30.0) < 0.5
