"""Audio in: decode any common format to mono float32 at one sample rate, validate it, cut it into segments.

Decoding uses soundfile (libsndfile 1.2 bundled in its wheel: WAV, FLAC, OGG/Vorbis, Opus, MP3, AIFF, AU) and,
where the optional ``av`` package (PyAV, which bundles FFmpeg in its wheel) is installed, M4A/AAC. Audio is
read in blocks, mixed down to mono block by block and resampled with a streaming soxr resampler (the same
high-quality resampler ``librosa.load`` uses), so memory stays bounded by the *output* length even for
multichannel 192 kHz input. Anything past ``max_seconds`` is skipped with a notice.

Every failure is an :class:`AudioError` whose message is a sentence a person understands.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np
import soundfile as sf
import soxr

from core.errors import GenreLabError

#: Formats soundfile decodes here, named for people.
SUPPORTED_FORMATS_TEXT = "WAV, FLAC, OGG/Vorbis, Opus, MP3, AIFF and AU"
#: Peak amplitude under which a recording counts as silent (-80 dBFS).
SILENCE_PEAK = 1e-4
_BLOCK_SECONDS = 2.0
_PYAV_EXTENSIONS = (".m4a", ".mp4", ".aac")


class AudioError(GenreLabError, ValueError):
    """Audio that cannot be analysed; ``str(error)`` is a sentence for the person who gave the file."""


@dataclass
class Decoded:
    """A decoded recording.

    Attributes:
        samples: Mono waveform, float32, shape ``(n,)``, nominally in [-1, 1].
        sample_rate: Rate of ``samples`` in Hz.
        source_sample_rate: Rate of the file in Hz.
        source_channels: Channel count of the file.
        source_seconds: Duration of the whole file in seconds, where the container states it (else decoded length).
        truncated: True when only the first ``max_seconds`` were decoded.
        is_silent: True when the peak is below :data:`SILENCE_PEAK`.
        notices: Human sentences about anything skipped or odd (never errors).
    """

    samples: np.ndarray
    sample_rate: int
    source_sample_rate: int
    source_channels: int
    source_seconds: float
    truncated: bool = False
    is_silent: bool = False
    notices: list[str] = field(default_factory=list)

    @property
    def duration(self) -> float:
        """Length of ``samples`` in seconds."""
        return len(self.samples) / self.sample_rate


def _describe(name: str | None) -> str:
    return f"'{name}'" if name else "The file"


def _open_source(source: str | Path | bytes | BinaryIO) -> tuple[BinaryIO | str, str | None, int | None]:
    """Return something soundfile can open, a display name and the byte size where known."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        return io.BytesIO(data), None, len(data)
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.exists():
            raise AudioError(f"'{path}' does not exist.")
        if path.is_dir():
            raise AudioError(f"'{path}' is a folder, not an audio file.")
        return str(path), path.name, path.stat().st_size
    name = getattr(source, "name", None)
    try:
        source.seek(0, io.SEEK_END)
        size = source.tell()
        source.seek(0)
    except (AttributeError, OSError):
        size = None
    return source, Path(name).name if isinstance(name, str) else None, size


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes}:{secs:02d}"


def load_audio(
    source: str | Path | bytes | BinaryIO,
    *,
    sample_rate: int,
    max_seconds: float | None = None,
) -> Decoded:
    """Decode ``source`` to mono float32 at ``sample_rate`` Hz.

    Args:
        source: A path, the file's bytes, or a binary file object.
        sample_rate: Output rate in Hz.
        max_seconds: Decode at most this many seconds from the start (``None``: everything).

    Returns:
        A :class:`Decoded` with ``samples`` of shape ``(n,)``.

    Raises:
        AudioError: empty, unreadable, truncated-to-nothing, unsupported or non-finite audio.
    """
    handle, name, size = _open_source(source)
    who = _describe(name)
    if size == 0:
        raise AudioError(f"{who} is empty (0 bytes).")
    suffix = Path(name).suffix.lower() if name else ""
    try:
        decoded = _decode_soundfile(handle, sample_rate=sample_rate, max_seconds=max_seconds, who=who)
    except sf.LibsndfileError as error:
        if suffix in _PYAV_EXTENSIONS:
            if hasattr(handle, "seek"):
                handle.seek(0)
            decoded = _decode_pyav(handle, sample_rate=sample_rate, max_seconds=max_seconds, who=who)
        else:
            raise AudioError(
                f"{who} is not audio that can be read ({_plain_reason(error)}). "
                f"Supported formats: {SUPPORTED_FORMATS_TEXT}" + (", M4A/AAC" if _pyav_available() else "") + "."
            ) from None
    return _finish(decoded, who=who)


def _plain_reason(error: Exception) -> str:
    text = str(error).lower()
    if "format not recognised" in text or "unknown format" in text:
        return "its contents are not a recognised audio format"
    if "unsupported" in text:
        return "its encoding is not supported"
    return "the file seems damaged or truncated"


def _decode_soundfile(handle: BinaryIO | str, *, sample_rate: int, max_seconds: float | None, who: str) -> Decoded:
    with sf.SoundFile(handle) as f:
        source_rate, channels = int(f.samplerate), int(f.channels)
        total_frames = int(f.frames) if f.frames and f.frames > 0 else None
        limit = None if max_seconds is None else int(max_seconds * source_rate)
        resampler = None if source_rate == sample_rate else soxr.ResampleStream(
            source_rate, sample_rate, 1, dtype="float32", quality="HQ")
        # libsndfile's MP3 reader zero-fills ~1,300 samples at every read boundary, so MP3 (at most
        # 2 channels at 48 kHz: bounded by max_seconds) is read in one call; other formats in blocks.
        block = (limit or -1) if f.format == "MP3" else max(1, int(_BLOCK_SECONDS * source_rate))
        parts: list[np.ndarray] = []
        read = 0
        damaged = False
        truncated = False
        while limit is None or read < limit:
            want = block if limit is None or block < 0 else min(block, limit - read)
            try:
                chunk = f.read(want, dtype="float32", always_2d=True)
            except sf.LibsndfileError:
                if read == 0:
                    raise
                damaged = True
                break
            if chunk.shape[0] == 0:
                break
            read += chunk.shape[0]
            mono = chunk.mean(axis=1, dtype=np.float32) if channels > 1 else chunk[:, 0]
            parts.append(resampler.resample_chunk(mono) if resampler else mono.copy())
        if limit is not None and read >= limit:
            truncated = total_frames > read if total_frames else f.read(1, always_2d=True).shape[0] > 0
        if resampler is not None:
            parts.append(resampler.resample_chunk(np.zeros(0, dtype=np.float32), last=True))
    samples = np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)
    notices: list[str] = []
    source_seconds = (total_frames or read) / source_rate
    if truncated:
        notices.append(f"Only the first {_clock(max_seconds or 0)} of this {_clock(source_seconds)} recording "
                       "was analysed; the rest was skipped.")
    if damaged or (total_frames is not None and limit is None and read < total_frames * 0.98):
        notices.append(f"{who} looks truncated or damaged: {_clock(read / source_rate)} could be decoded.")
    return Decoded(samples=samples.astype(np.float32, copy=False), sample_rate=sample_rate,
                   source_sample_rate=source_rate, source_channels=channels, source_seconds=source_seconds,
                   truncated=truncated, notices=notices)


def _pyav_available() -> bool:
    try:
        import av  # noqa: F401
    except ImportError:
        return False
    return True


def _decode_pyav(handle: BinaryIO | str, *, sample_rate: int, max_seconds: float | None, who: str) -> Decoded:
    """Decode M4A/AAC with PyAV (FFmpeg bundled in its wheel); mono float32 at ``sample_rate``."""
    try:
        import av
    except ImportError:
        raise AudioError(
            f"{who} is M4A/AAC, which needs the optional 'av' package (pip install av). "
            f"Without it, supported formats are {SUPPORTED_FORMATS_TEXT}.") from None
    try:
        with av.open(handle) as container:
            stream = container.streams.audio[0]
            source_rate = int(stream.rate or sample_rate)
            channels = int(stream.channels or 1)
            resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
            parts: list[np.ndarray] = []
            got = 0
            limit = None if max_seconds is None else int(max_seconds * sample_rate)
            truncated = False
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    parts.append(out.to_ndarray().reshape(-1))
                    got += parts[-1].shape[0]
                if limit is not None and got >= limit:
                    truncated = True
                    break
            for out in resampler.resample(None):
                parts.append(out.to_ndarray().reshape(-1))
    except (av.error.FFmpegError, IndexError) as error:
        raise AudioError(f"{who} is not audio that can be read ({error.__class__.__name__}).") from None
    samples = np.concatenate(parts).astype(np.float32) if parts else np.zeros(0, dtype=np.float32)
    if limit is not None:
        samples = samples[:limit]
    notices = [f"Only the first {_clock(max_seconds or 0)} was analysed; the rest was skipped."] if truncated else []
    return Decoded(samples=samples, sample_rate=sample_rate, source_sample_rate=source_rate,
                   source_channels=channels, source_seconds=len(samples) / sample_rate, truncated=truncated,
                   notices=notices)


def _finish(decoded: Decoded, *, who: str) -> Decoded:
    samples = decoded.samples
    if samples.size == 0:
        raise AudioError(f"{who} contains no audio: nothing was left after decoding.")
    if not np.isfinite(samples).all():
        raise AudioError(f"{who} contains invalid samples (NaN or infinity); the file is corrupt.")
    peak = float(np.max(np.abs(samples)))
    decoded.is_silent = peak < SILENCE_PEAK
    if decoded.is_silent:
        decoded.notices.append(f"{who} is silent (peak below -80 dBFS): any genre prediction is meaningless.")
    return decoded


def segment_bounds(n_samples: int, *, sample_rate: int, segment_seconds: float) -> np.ndarray:
    """Start and end times of consecutive, non-overlapping segments covering a recording.

    A recording shorter than one segment gets a single segment ending where the audio ends (it is zero-padded
    when cut); a remainder
    shorter than one segment at the end is dropped.

    Args:
        n_samples: Length of the recording in samples.
        sample_rate: In Hz.
        segment_seconds: Segment length in seconds.

    Returns:
        float64 array ``(n_segments, 2)`` of ``[start, end]`` in seconds.
    """
    seg = int(round(segment_seconds * sample_rate))
    if n_samples < seg:  # one segment: it ends where the audio ends (the model sees it zero-padded)
        return np.array([[0.0, n_samples / sample_rate]])
    count = n_samples // seg
    starts = np.arange(count, dtype=np.float64) * seg / sample_rate
    return np.stack([starts, starts + seg / sample_rate], axis=1)


def cut_segments(samples: np.ndarray, *, sample_rate: int, segment_seconds: float) -> tuple[np.ndarray, np.ndarray]:
    """Cut a waveform into the segments of :func:`segment_bounds`.

    Args:
        samples: Mono waveform ``(n,)``.
        sample_rate: In Hz.
        segment_seconds: Segment length in seconds.

    Returns:
        ``(segments (n_segments, segment_samples) float32, bounds (n_segments, 2) seconds)``.
    """
    seg = int(round(segment_seconds * sample_rate))
    bounds = segment_bounds(len(samples), sample_rate=sample_rate, segment_seconds=segment_seconds)
    if len(samples) < seg:
        padded = np.zeros(seg, dtype=np.float32)
        padded[: len(samples)] = samples
        return padded[None, :], bounds
    count = len(bounds)
    return np.ascontiguousarray(samples[: count * seg].reshape(count, seg), dtype=np.float32), bounds


def segment_audio(samples: np.ndarray, *, start: float, end: float, sample_rate: int) -> np.ndarray:
    """The samples ``(m,)`` between ``start`` and ``end`` seconds (bounds of :func:`segment_bounds`), rounded to
    the nearest sample as :func:`cut_segments` cuts them."""
    return samples[int(round(start * sample_rate)) : int(round(end * sample_rate))]


def random_crop(samples: np.ndarray, *, length: int, rng: np.random.Generator) -> np.ndarray:
    """A random window of ``length`` samples (zero-padded when the waveform is shorter). Shape ``(length,)``."""
    if len(samples) <= length:
        out = np.zeros(length, dtype=np.float32)
        out[: len(samples)] = samples
        return out
    start = int(rng.integers(0, len(samples) - length + 1))
    return np.asarray(samples[start : start + length], dtype=np.float32)
