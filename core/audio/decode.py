"""Audio in: decode any common format to mono float32 at one sample rate, validate it, cut it into segments.

One path for every source. :func:`load_audio` takes a path, the file's bytes or a binary file object and treats
all three alike: the bytes are opened as a file object, the container is sniffed from its first bytes
(:mod:`core.audio.sniff`: RIFF/WAVE, RF64, AIFF, FLAC, Ogg, MP3 behind any ID3v2 tags, ADTS AAC, MP4/M4A, AU,
CAF, Wave64, WebM) — never from the file name — and decoded by soundfile (libsndfile 1.2 bundled in its wheel:
WAV, FLAC, OGG/Vorbis, Opus, MP3, AIFF, AU) or, for M4A/AAC/ALAC and WebM, PyAV (FFmpeg bundled in its wheel).

Guards, whatever the source (the policy, in one place):

- **Length cap.** At most ``max_seconds`` are decoded (default :data:`MAX_SECONDS`, the project's 15 minutes;
  ``None`` means the same cap). Audio is read in blocks of at most :data:`_BLOCK_SAMPLES` samples, mixed to mono
  block by block and resampled by a streaming soxr resampler (the high-quality one ``librosa.load`` uses); frame
  counts in headers are never trusted for allocation, so a lying header cannot make the decoder allocate more
  than the cap implies. The one exception is MP3, read in a single call of at most the cap's frames (libsndfile
  1.2 corrupts ~2,000 samples at every read boundary of an MP3): at most ``max_seconds x 48 kHz x 2 channels``
  float32 (346 MB for 15 minutes) on top of the output. Anything past the cap is skipped with a notice.
- **Sample rate** between :data:`MIN_RATE` and :data:`MAX_RATE` Hz and **channels** between 1 and
  :data:`MAX_CHANNELS`; anything else is refused with a sentence (such headers are damaged, not music).
- **Finite values.** A NaN or infinite sample refuses the file (:class:`AudioError`): a file holding them is
  corrupt, and zeroing them would hide that from the person who gave it.
- **Loudness.** Samples beyond :data:`CLIP_LEVEL` (+120 dBFS) are clipped there, and a recording whose peak
  exceeds :data:`LOUD_PEAK` (+6 dBFS; only float files can) is scaled down to a peak of 1.0, each with a notice,
  so downstream spectra and probabilities stay finite.
- **Errors.** Empty, truncated-to-nothing or non-audio input, and any exception the third-party decoders raise
  on bad input (libsndfile errors, FFmpeg errors, ``AttributeError``, ``struct.error``, ``MemoryError`` …),
  become an :class:`AudioError` whose message is a sentence a person understands. A file that breaks off after
  some audio decodes what is there, with a notice.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np
import soundfile as sf
import soxr

from core.audio.sniff import Sniffed, sniff
from core.errors import GenreLabError, InputError

#: Formats decoded here, named for people.
SUPPORTED_FORMATS_TEXT = "WAV, FLAC, OGG/Vorbis, Opus, MP3, AIFF, AU and M4A/AAC/ALAC"
#: Peak amplitude under which a recording counts as silent (-80 dBFS).
SILENCE_PEAK = 1e-4
#: The project's length cap in seconds (``AudioConfig.max_seconds``): what ``max_seconds=None`` means.
MAX_SECONDS = 900.0
#: Plausible sample rates of a file, in Hz (telephone-band speech to ultrasonic recorders).
MIN_RATE, MAX_RATE = 1_000, 1_000_000
#: Most channels a file may have.
MAX_CHANNELS = 64
#: A peak above this (+6 dBFS) is scaled down to 1.0 with a notice.
LOUD_PEAK = 2.0
#: Samples beyond this magnitude (+120 dBFS) are clipped to it before mixing (keeps float32 sums finite).
CLIP_LEVEL = 1e6
#: A non-seekable stream is read into memory up to this many bytes.
MAX_STREAM_BYTES = 512 * 1024 * 1024
_BLOCK_SECONDS = 2.0
_BLOCK_SAMPLES = 1 << 20  # samples (all channels together) per block: 4 MiB of float32


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
        source_seconds: Duration of the whole file in seconds, where the container states it and it is not
            shorter than what was decoded (else the decoded length).
        truncated: True when only the first ``max_seconds`` were decoded.
        is_silent: True when the peak is below :data:`SILENCE_PEAK`.
        notices: Human sentences about anything skipped or odd (never errors).
        container: The container sniffed from the content (``"wav"``, ``"mp3"``, ``"mp4"`` …, see
            :class:`core.audio.sniff.Sniffed`).
    """

    samples: np.ndarray
    sample_rate: int
    source_sample_rate: int
    source_channels: int
    source_seconds: float
    truncated: bool = False
    is_silent: bool = False
    notices: list[str] = field(default_factory=list)
    container: str = ""

    @property
    def duration(self) -> float:
        """Length of ``samples`` in seconds."""
        return len(self.samples) / self.sample_rate


def _describe(name: str | None) -> str:
    return f"'{name}'" if name else "The file"


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes}:{secs:02d}"


def _span(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 60 else _clock(seconds)


class _Window(io.RawIOBase):
    """A read-only view of ``handle`` from byte ``offset`` on (the audio stream after ID3v2 tags)."""

    def __init__(self, handle: BinaryIO, offset: int) -> None:
        super().__init__()
        self._handle, self._offset = handle, offset
        self._handle.seek(offset)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # any writable buffer
        data = self._handle.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: self._offset, io.SEEK_CUR: self._handle.tell(),
                io.SEEK_END: self._handle.seek(0, io.SEEK_END)}[whence]
        if base + offset < self._offset:
            raise ValueError(f"negative seek position {base + offset - self._offset}")
        self._handle.seek(base + offset)
        return self.tell()

    def tell(self) -> int:
        return max(0, self._handle.tell() - self._offset)


@contextmanager
def _opened(source: str | Path | bytes | BinaryIO) -> Iterator[tuple[BinaryIO, str | None]]:
    """A seekable binary file object at position 0 for any source, and a display name where known."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        yield io.BytesIO(bytes(source)), None
        return
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.exists():
            raise AudioError(f"'{path}' does not exist.")
        if path.is_dir():
            raise AudioError(f"'{path}' is a folder, not an audio file.")
        try:
            handle = open(path, "rb")  # noqa: SIM115 - closed by the with below
        except OSError as error:
            reason = (error.strerror or "it cannot be opened").lower()
            raise AudioError(f"'{path.name}' cannot be opened: {reason}.") from None
        with handle:
            yield handle, path.name
        return
    name = getattr(source, "name", None)
    name = Path(name).name if isinstance(name, str) and name else None
    if not callable(getattr(source, "read", None)):
        raise InputError("load_audio takes a path, bytes or a binary file object.")
    try:
        source.seek(0)
        handle = source
    except (AttributeError, OSError, ValueError):  # a pipe or socket: read it (bounded) into memory
        data = source.read(MAX_STREAM_BYTES + 1)
        if len(data) > MAX_STREAM_BYTES:
            raise AudioError(f"{_describe(name)} is a stream longer than {MAX_STREAM_BYTES >> 20} MB, "
                             "too large to hold in memory; save it as a file first.") from None
        handle = io.BytesIO(data)
    if not isinstance(handle.read(0), bytes):
        raise InputError("load_audio needs a file object opened in binary mode ('rb').")
    yield handle, name


def load_audio(
    source: str | Path | bytes | BinaryIO,
    *,
    sample_rate: int,
    max_seconds: float | None = MAX_SECONDS,
) -> Decoded:
    """Decode ``source`` to mono float32 at ``sample_rate`` Hz (the same result for a path, its bytes or a file
    object; see the module docstring for the guards).

    Args:
        source: A path, the file's bytes, or a binary file object (read from its start; not closed).
        sample_rate: Output rate in Hz.
        max_seconds: Decode at most this many seconds from the start (``None``: the project cap
            :data:`MAX_SECONDS`).

    Returns:
        A :class:`Decoded` with ``samples`` of shape ``(n,)``.

    Raises:
        AudioError: empty, unreadable, truncated-to-nothing, unsupported, implausible or non-finite audio.
        InputError: ``sample_rate`` or ``max_seconds`` is not a positive number.
    """
    if not isinstance(sample_rate, (int, np.integer)) or sample_rate <= 0:
        raise InputError(f"The output sample rate must be a positive whole number of Hz, not {sample_rate!r}.")
    max_seconds = MAX_SECONDS if max_seconds is None else float(max_seconds)
    if not (max_seconds > 0 and math.isfinite(max_seconds)):
        raise InputError(f"max_seconds must be a positive number of seconds, not {max_seconds!r}.")
    with _opened(source) as (handle, name):
        who = _describe(name)
        handle.seek(0, io.SEEK_END)
        if handle.tell() == 0:
            raise AudioError(f"{who} is empty (0 bytes).")
        try:
            sniffed = sniff(handle)
        except (OSError, ValueError) as error:
            raise AudioError(f"{who} cannot be read ({_plain_reason(error, None)}).") from None
        stream: BinaryIO = _Window(handle, sniffed.offset) if sniffed.offset else handle
        stream.seek(0)
        blocks = (_pyav_blocks if sniffed.backend == "pyav" else _soundfile_blocks)(stream, sniffed, max_seconds)
        decoded = _consume(blocks, who=who, sniffed=sniffed, sample_rate=int(sample_rate), max_seconds=max_seconds)
    return _finish(decoded, who=who)


def _plain_reason(error: BaseException, sniffed: Sniffed | None) -> str:
    text = str(error).lower()
    if isinstance(error, MemoryError):
        return "decoding it would need far more memory than any song, so its header is probably damaged"
    if sniffed is None or sniffed.container == "unknown" or "format not recognised" in text \
            or "unknown format" in text:
        return "its contents are not a recognised audio format"
    if "unsupported" in text or "not supported" in text or "patch" in text or "not implemented" in text:
        return "its encoding is not supported"
    if "no audio" in text:
        return "it holds no audio track"
    return "the file seems damaged or truncated"


@dataclass
class _Header:
    rate: int
    channels: int
    frames: int | None  # what the container claims (never trusted for allocation)


def _limit(max_seconds: float, rate: int) -> int:
    return max(1, int(max_seconds * rate))


def _soundfile_blocks(stream: BinaryIO, sniffed: Sniffed, max_seconds: float) -> Iterator[_Header | np.ndarray]:
    """Yield a :class:`_Header`, then float32 blocks ``(frames, channels)`` up to one frame past the cap."""
    with sf.SoundFile(stream) as f:
        rate, channels = int(f.samplerate), int(f.channels)
        frames = int(f.frames) if 0 < f.frames < 1 << 62 else None
        yield _Header(rate, channels, frames)
        want = _limit(max_seconds, rate) + 1  # one frame more tells whether the recording goes on
        if f.format == "MP3":  # libsndfile 1.2 corrupts MP3 at read boundaries: one read, bounded by the cap
            yield f.read(want, dtype="float32", always_2d=True)
            return
        block = max(1, min(int(_BLOCK_SECONDS * rate), _BLOCK_SAMPLES // channels))
        while want > 0:
            chunk = f.read(min(block, want), dtype="float32", always_2d=True)
            if chunk.shape[0] == 0:
                return
            want -= chunk.shape[0]
            yield chunk


_PYAV_FORMATS = {"mp4": "mp4", "aac": "aac", "matroska": "matroska"}
_INT_SCALE = {np.dtype(np.int16): 32768.0, np.dtype(np.int32): 2147483648.0, np.dtype(np.int64): 2.0**63}


def _frame_array(frame, channels: int) -> np.ndarray:  # frame: av.AudioFrame
    """float32 ``(n, channels)`` of one decoded PyAV frame in any sample format."""
    data = frame.to_ndarray()
    data = data.T if frame.format.is_planar else data.reshape(-1, channels)
    if data.dtype == np.uint8:
        return ((data.astype(np.float32) - 128.0) / 128.0).reshape(-1, channels)
    if data.dtype in _INT_SCALE:
        return (data / _INT_SCALE[data.dtype]).astype(np.float32)
    return data.astype(np.float32, copy=False)


def _pyav_blocks(stream: BinaryIO, sniffed: Sniffed, max_seconds: float) -> Iterator[_Header | np.ndarray]:
    """Like :func:`_soundfile_blocks` for the containers FFmpeg reads (M4A/MP4 with AAC or ALAC, ADTS, WebM)."""
    try:
        import av
    except ImportError:
        raise AudioError(f"This {sniffed.label} file needs the optional 'av' package (pip install av); without it, "
                         "supported formats are WAV, FLAC, OGG/Vorbis, Opus, MP3, AIFF and AU.") from None
    with av.open(stream, mode="r", format=_PYAV_FORMATS.get(sniffed.container)) as container:
        if not container.streams.audio:
            raise ValueError("no audio track")
        audio = container.streams.audio[0]
        ctx = audio.codec_context
        rate, channels = int(ctx.sample_rate or 0), int(ctx.channels or 0)
        frames = None
        if audio.duration and audio.time_base:
            frames = int(audio.duration * audio.time_base * rate)
        elif container.duration:
            frames = int(container.duration / 1_000_000 * rate)
        yield _Header(rate, channels, frames)
        want = _limit(max_seconds, rate) + 1
        for packet in container.demux(audio):
            for frame in packet.decode():
                if frame.sample_rate != rate or len(frame.layout.channels) != channels:
                    raise ValueError("the stream changes its sample rate or channel count part-way")
                block = _frame_array(frame, channels)
                yield block[:want]
                want -= block.shape[0]
                if want <= 0:
                    return


class _Failed(Exception):
    """A third-party decoder raised on the input (wrapped so the consumer can tell it from its own errors)."""


def _pull(blocks: Iterator[_Header | np.ndarray]) -> _Header | np.ndarray | None:
    """The next item of a decoder generator, None at its end; any decoder exception becomes :class:`_Failed`."""
    try:
        return next(blocks)
    except StopIteration:
        return None
    except AudioError:
        raise
    except Exception as error:  # third-party decoders raise anything on bad input
        raise _Failed(error) from error


def _consume(blocks: Iterator[_Header | np.ndarray], *, who: str, sniffed: Sniffed, sample_rate: int,
             max_seconds: float) -> Decoded:
    """Run one decoder generator through the guards: mono, resampled, capped, finite."""
    try:
        try:
            header = _pull(blocks)
        except _Failed as failed:
            raise _unreadable(who, sniffed, failed.__cause__) from None
        if header is None:
            raise AudioError(f"{who} contains no audio: nothing was left after decoding.")
        assert isinstance(header, _Header)
        _check_header(header, who=who)
        rate, channels = header.rate, header.channels
        limit = _limit(max_seconds, rate)
        resampler = None if rate == sample_rate else soxr.ResampleStream(
            rate, sample_rate, 1, dtype="float32", quality="HQ")
        step = max(1, _BLOCK_SAMPLES // channels)
        parts: list[np.ndarray] = []
        read = 0
        damaged = truncated = clipped = False
        while not truncated:
            try:
                chunk = _pull(blocks)
            except _Failed as failed:
                if read == 0:
                    raise _unreadable(who, sniffed, failed.__cause__) from None
                damaged = True
                break
            if chunk is None:
                break
            assert isinstance(chunk, np.ndarray)
            if chunk.ndim != 2 or chunk.shape[1] != channels:
                damaged = True
                break
            for start in range(0, chunk.shape[0], step):
                end = min(start + step, chunk.shape[0])
                if end - start > limit - read:  # frames past the cap: the recording goes on
                    truncated, end = True, start + limit - read
                piece = chunk[start:end]
                peak = float(np.max(np.abs(piece))) if piece.size else 0.0
                if not math.isfinite(peak):
                    raise AudioError(f"{who} contains invalid samples (NaN or infinity) near "
                                     f"{_clock(read / rate)}; the file is corrupt.")
                if peak > CLIP_LEVEL:
                    piece = np.clip(piece, -CLIP_LEVEL, CLIP_LEVEL)
                    clipped = True
                mono = _mono(piece)
                parts.append(resampler.resample_chunk(mono) if resampler else mono.copy())
                read += piece.shape[0]
                if truncated:
                    break
            del chunk
    finally:
        blocks.close()
    if resampler is not None:
        parts.append(resampler.resample_chunk(np.zeros(0, dtype=np.float32), last=True))
    samples = np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)
    del parts
    claimed = header.frames if header.frames and header.frames >= read else None
    source_seconds = (claimed or read) / rate
    notices: list[str] = []
    if truncated:
        whole = f" of this {_clock(source_seconds)} recording" if claimed and claimed > read else " of this recording"
        notices.append(f"Only the first {_clock(max_seconds)}{whole} was analysed; the rest was skipped.")
    if damaged or (claimed is not None and not truncated and read < claimed * 0.98 and read > 0
                   and sniffed.backend == "soundfile"):
        notices.append(f"{who} looks truncated or damaged: only {_span(read / rate)} could be decoded.")
    if clipped:
        notices.append(f"{who} has samples more than 120 dB above full scale; they were clipped.")
    return Decoded(samples=samples.astype(np.float32, copy=False), sample_rate=sample_rate,
                   source_sample_rate=rate, source_channels=channels, source_seconds=source_seconds,
                   truncated=truncated, notices=notices, container=sniffed.container)


def _unreadable(who: str, sniffed: Sniffed, error: BaseException | None) -> AudioError:
    reason = _plain_reason(error or ValueError(), sniffed)
    if sniffed.container != "unknown" and reason != "its contents are not a recognised audio format":
        reason = f"it looks like {sniffed.label}, but {reason}"
    return AudioError(f"{who} is not audio that can be read ({reason}). Supported formats: {SUPPORTED_FORMATS_TEXT}.")


def _check_header(header: _Header, *, who: str) -> None:
    if not MIN_RATE <= header.rate <= MAX_RATE:
        raise AudioError(f"{who} claims a sample rate of {header.rate:,} Hz, which no audio recording uses "
                         f"(expected {MIN_RATE:,} to {MAX_RATE:,} Hz); its header is probably damaged.")
    if not 1 <= header.channels <= MAX_CHANNELS:
        raise AudioError(f"{who} claims {header.channels:,} channels; at most {MAX_CHANNELS} are accepted, "
                         "so its header is probably damaged.")


def _finish(decoded: Decoded, *, who: str) -> Decoded:
    samples = decoded.samples
    if samples.size == 0:
        raise AudioError(f"{who} contains no audio: nothing was left after decoding.")
    peak = float(np.max(np.abs(samples)))
    if not math.isfinite(peak):
        raise AudioError(f"{who} contains invalid samples (NaN or infinity); the file is corrupt.")
    if peak > LOUD_PEAK:
        samples /= np.float32(peak)
        decoded.notices.append(f"{who} is {20 * math.log10(peak):.0f} dB louder than full scale; it was scaled "
                               "down to full scale before analysis.")
        peak = 1.0
    decoded.is_silent = peak < SILENCE_PEAK
    if decoded.is_silent:
        decoded.notices.append(f"{who} is silent (peak below -80 dBFS): any genre prediction is meaningless.")
    return decoded


def _mono(frames: np.ndarray) -> np.ndarray:
    """Mean of the channels of ``(n, channels)`` float32 frames. Stereo as ``0.5 * (left + right)``: the same
    numbers as ``mean(axis=1)`` about 9x faster (numpy reduces along a short strided axis slowly)."""
    if frames.shape[1] == 1:
        return frames[:, 0]
    if frames.shape[1] == 2:
        return (frames[:, 0] + frames[:, 1]) * np.float32(0.5)
    return frames.mean(axis=1, dtype=np.float32)


def segment_bounds(n_samples: int, *, sample_rate: int, segment_seconds: float,
                   hop_seconds: float | None = None) -> np.ndarray:
    """Start and end times of the segments covering a recording: consecutive by default, overlapping with a hop.

    A recording shorter than one segment gets a single segment ending where the audio ends (it is zero-padded
    when cut); a remainder shorter than one segment at the end is dropped.

    Args:
        n_samples: Length of the recording in samples.
        sample_rate: In Hz.
        segment_seconds: Segment length in seconds.
        hop_seconds: Distance between segment starts (default ``segment_seconds``: no overlap).

    Returns:
        float64 array ``(n_segments, 2)`` of ``[start, end]`` in seconds.
    """
    seg = int(round(segment_seconds * sample_rate))
    hop = seg if hop_seconds is None else int(round(hop_seconds * sample_rate))
    if n_samples < seg:  # one segment: it ends where the audio ends (the model sees it zero-padded)
        return np.array([[0.0, n_samples / sample_rate]])
    count = 1 + (n_samples - seg) // hop
    starts = np.arange(count, dtype=np.float64) * hop / sample_rate
    return np.stack([starts, starts + seg / sample_rate], axis=1)


def cut_segments(samples: np.ndarray, *, sample_rate: int, segment_seconds: float,
                 hop_seconds: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Cut a waveform into the segments of :func:`segment_bounds`.

    Args:
        samples: Mono waveform ``(n,)``.
        sample_rate: In Hz.
        segment_seconds: Segment length in seconds.
        hop_seconds: Distance between segment starts (default: no overlap; training windows may overlap).

    Returns:
        ``(segments (n_segments, segment_samples) float32, bounds (n_segments, 2) seconds)``.
    """
    seg = int(round(segment_seconds * sample_rate))
    bounds = segment_bounds(len(samples), sample_rate=sample_rate, segment_seconds=segment_seconds,
                            hop_seconds=hop_seconds)
    if len(samples) < seg:
        padded = np.zeros(seg, dtype=np.float32)
        padded[: len(samples)] = samples
        return padded[None, :], bounds
    count = len(bounds)
    if hop_seconds is None:
        return np.ascontiguousarray(samples[: count * seg].reshape(count, seg), dtype=np.float32), bounds
    starts = np.round(bounds[:, 0] * sample_rate).astype(np.int64)
    return np.stack([samples[s: s + seg] for s in starts]).astype(np.float32, copy=False), bounds


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
