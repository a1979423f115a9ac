"""Fuzz the decoder: a bad-input corpus and a mutation fuzzer, each input decoded in a limited subprocess.

Every input goes through :func:`core.audio.decode.load_audio` in a worker subprocess that holds an address-space
limit (``resource.setrlimit(RLIMIT_AS)``, 2 GiB by default) and must answer within a time limit (10 s by
default). Outcomes:

- ``decoded``: samples came back (finite, mono float32, at most the cap);
- ``clean``: an :class:`~core.audio.decode.AudioError` with a sentence (no exception class names, not empty);
- ``other``: any other exception, or an AudioError whose message is not a sentence — a bug;
- ``crash``: the worker died (a signal, or an abort in a C library) — a bug;
- ``hang``: no answer within the time limit — a bug.

One worker decodes many inputs (starting a Python process per input would cost more than most decodes) and is
restarted after a crash or a hang.

The corpus (:func:`corpus`) is generated on the fly, never committed: truncations of every format, lying headers
(absurd rates, channel counts, data sizes and frame counts), NaN/Inf and over-loud float files, mislabelled
containers, empty and tiny files, and (with ``--long``) 1-hour WAV/FLAC files written to a temporary folder.
The mutation fuzzer (:func:`mutants`) flips, overwrites, inserts, deletes, duplicates and splices bytes of small
valid seeds of every format (:func:`seeds`, made with soundfile and PyAV when run).

    python -m bench.fuzz_decode --mutants 20000 --seed 1 [--long] [--timeout 10] [--memory-gib 2] [--save DIR]

prints inputs tried, clean errors, other exceptions, crashes, hangs and the workers' peak memory.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import select
import struct
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
#: Output rate of every decode (the project's).
SAMPLE_RATE = 22050
OUTCOMES = ("decoded", "clean", "other", "crash", "hang")
_CLASS_NAME = re.compile(r"\b[A-Z][A-Za-z]*(Error|Exception|Welcome)\b|\(\)|error: error|format requires")


# ------------------------------------------------------------------------------------------ inputs

def _tone(seconds: float, rate: int, channels: int = 2) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    mono = 0.4 * np.sin(2 * np.pi * 440.0 * t) + 0.05 * np.sin(2 * np.pi * 3000.0 * t)
    return np.stack([mono * (1 - 0.1 * c) for c in range(channels)], axis=1).astype(np.float32)


def _sf_bytes(data: np.ndarray, rate: int, **kw: object) -> bytes:
    import soundfile as sf

    buffer = io.BytesIO()
    with sf.SoundFile(buffer, "w", rate, data.shape[1], **kw) as f:
        for i in range(0, len(data), 8192):
            f.write(data[i : i + 8192])
    return buffer.getvalue()


def pyav_bytes(data: np.ndarray, rate: int, *, fmt: str, codec: str) -> bytes:
    """``data (n, channels)`` float in [-1, 1] encoded by PyAV (``fmt`` e.g. "ipod" for M4A, ``codec`` "aac" or
    "alac"), frame by frame at the codec's frame size. Also the tests' M4A encoder."""
    import av

    buffer = io.BytesIO()
    layout = "stereo" if data.shape[1] == 2 else "mono"
    with av.open(buffer, "w", format=fmt) as container:
        stream = container.add_stream(codec, rate=rate, layout=layout)
        sample_fmt = stream.codec_context.format.name
        planar = np.ascontiguousarray(data.T)
        if sample_fmt.startswith("s16"):
            planar = (planar * 32767).astype(np.int16)
        elif sample_fmt.startswith("s32"):
            planar = (planar * 2147483647).astype(np.int32)
        if not sample_fmt.endswith("p"):
            planar = planar.T.reshape(1, -1)
        step = stream.codec_context.frame_size or 4096
        for i in range(0, data.shape[0], step):
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(planar[..., i : i + step] if sample_fmt.endswith("p")
                                                                    else planar[:, i * data.shape[1] : (i + step) * data.shape[1]]),
                                               format=sample_fmt, layout=layout)
            frame.sample_rate = rate
            frame.pts = i
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return buffer.getvalue()


def id3v2(version: int, *, picture_bytes: int = 0, title: str = "Fuzz") -> bytes:
    """An ID3v2.``version`` tag (3 or 4) with a title and, when ``picture_bytes``, an APIC picture that big."""
    def size(n: int, syncsafe: bool) -> bytes:
        return bytes([(n >> 21) & 127, (n >> 14) & 127, (n >> 7) & 127, n & 127]) if syncsafe else struct.pack(">I", n)

    frames = b""
    text = b"\x03" + title.encode()
    frames += b"TIT2" + size(len(text), version == 4) + b"\x00\x00" + text
    if picture_bytes:
        rng = np.random.default_rng(picture_bytes)
        jpeg = b"\xff\xd8\xff\xe0" + rng.integers(0, 256, picture_bytes, dtype=np.uint8).tobytes() + b"\xff\xd9"
        body = b"\x00image/jpeg\x00\x03Cover\x00" + jpeg
        frames += b"APIC" + size(len(body), version == 4) + b"\x00\x00" + body
    frames += bytes(1024)  # padding
    return b"ID3" + bytes([version, 0, 0]) + size(len(frames), True) + frames


def seeds() -> dict[str, bytes]:
    """Small valid files of every format the decoder reads: ``{name: bytes}`` (about 0.5 s each)."""
    stereo, mono = _tone(0.5, 44100), _tone(0.5, 22050, channels=1)
    out = {
        "pcm16.wav": _sf_bytes(stereo, 44100, format="WAV", subtype="PCM_16"),
        "pcm24.wav": _sf_bytes(mono, 22050, format="WAV", subtype="PCM_24"),
        "float.wav": _sf_bytes(stereo, 44100, format="WAV", subtype="FLOAT"),
        "ulaw.wav": _sf_bytes(mono, 22050, format="WAV", subtype="ULAW"),
        "rf64.wav": _sf_bytes(mono, 22050, format="RF64", subtype="PCM_16"),
        "x.aiff": _sf_bytes(stereo, 44100, format="AIFF", subtype="PCM_16"),
        "x.au": _sf_bytes(mono, 22050, format="AU", subtype="PCM_16"),
        "x.caf": _sf_bytes(mono, 22050, format="CAF", subtype="PCM_16"),
        "x.w64": _sf_bytes(mono, 22050, format="W64", subtype="PCM_16"),
        "x.flac": _sf_bytes(stereo, 44100, format="FLAC", subtype="PCM_16"),
        "vorbis.ogg": _sf_bytes(stereo, 44100, format="OGG", subtype="VORBIS"),
        "x.opus": _sf_bytes(_tone(0.5, 48000), 48000, format="OGG", subtype="OPUS"),
        "x.mp3": _sf_bytes(stereo, 44100, format="MP3", subtype="MPEG_LAYER_III"),
    }
    out["id3v23.mp3"] = id3v2(3, picture_bytes=2000) + out["x.mp3"]
    out["id3v24.mp3"] = id3v2(4, picture_bytes=2000) + out["x.mp3"]
    for name, data, rate, fmt, codec in (("aac.m4a", stereo, 44100, "ipod", "aac"),
                                         ("alac.m4a", stereo, 44100, "ipod", "alac"),
                                         ("x.aac", stereo, 44100, "adts", "aac"),
                                         ("opus.webm", _tone(0.5, 48000), 48000, "webm", "libopus")):
        try:
            out[name] = pyav_bytes(data, rate, fmt=fmt, codec=codec)
        except ImportError:  # PyAV is optional for the project: no seeds it would make
            break
        except Exception as error:  # noqa: BLE001 - an FFmpeg build without this encoder: one seed fewer
            print(f"fuzz seeds: no {name} ({error})", file=sys.stderr)
    return out


def _wav_header(*, rate: int, channels: int, bits: int = 16, fmt: int = 1, data_size: int,
                riff_size: int | None = None) -> bytes:
    block = channels * bits // 8
    fmt_chunk = struct.pack("<HHIIHH", fmt, channels & 0xFFFF, rate & 0xFFFFFFFF,
                            (rate * block) & 0xFFFFFFFF, block & 0xFFFF, bits)
    riff = riff_size if riff_size is not None else 36 + data_size
    return (b"RIFF" + struct.pack("<I", riff & 0xFFFFFFFF) + b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt_chunk
            + b"data" + struct.pack("<I", data_size & 0xFFFFFFFF))


def _float_wav(data: np.ndarray, rate: int = 22050) -> bytes:
    payload = np.asarray(data, dtype="<f4").tobytes()
    return _wav_header(rate=rate, channels=1, bits=32, fmt=3, data_size=len(payload)) + payload


def corpus(*, long_folder: Path | None = None) -> Iterator[tuple[str, bytes | Path]]:
    """The bad-input corpus: ``(name, bytes)`` pairs, and ``(name, path)`` for 1-hour files written to
    ``long_folder`` (only when it is given)."""
    rng = np.random.default_rng(0)
    base = seeds()
    yield "empty.wav", b""
    yield "one-byte.mp3", b"\xff"
    yield "text.flac", b"hello, this is not a song\n" * 40
    yield "noise.mp3", rng.integers(0, 256, 4096, dtype=np.uint8).tobytes()
    yield "zeros.wav", bytes(4096)
    yield "html.m4a", b"<!doctype html><html><body>404</body></html>"
    for name, data in base.items():  # truncations of every format
        for cut in sorted({1, 3, 4, 8, 12, 16, 44, 100, 512, len(data) // 3, len(data) // 2, len(data) - 1}):
            if 0 < cut < len(data):
                yield f"cut{cut}-{name}", data[:cut]
        ext = name.rsplit(".", 1)[-1]
        wrong = {"mp3": "wav", "wav": "mp3", "m4a": "flac", "flac": "m4a"}.get(ext, "mp3")
        yield f"mislabelled-{name}.{wrong}", data  # the name lies; the content decides
    tone = (0.3 * np.sin(np.arange(22050) / 5.0)).astype(np.float32)
    pcm = (tone * 32767).astype("<i2").tobytes()
    # Lying headers.
    for rate in (0, 1, 7, 999, 1_000_001, 2**31 - 1, 2**32 - 1):
        yield f"rate{rate}.wav", _wav_header(rate=rate, channels=1, data_size=len(pcm)) + pcm
    for channels in (0, 3, 65, 255, 1024, 65535):
        yield f"channels{channels}.wav", _wav_header(rate=22050, channels=channels, data_size=len(pcm)) + pcm
    yield "claims-4GB.wav", _wav_header(rate=22050, channels=2, data_size=2**32 - 1)[:44] + pcm[:64]
    yield "claims-4GB-riff.wav", _wav_header(rate=22050, channels=1, data_size=len(pcm), riff_size=2**32 - 1) + pcm
    yield "claims-1h.wav", _wav_header(rate=44100, channels=2, data_size=3600 * 44100 * 4) + pcm
    yield "bits0.wav", _wav_header(rate=22050, channels=1, bits=0, data_size=len(pcm)) + pcm
    yield "bits255.wav", _wav_header(rate=22050, channels=1, bits=255, data_size=len(pcm)) + pcm
    yield "fmt-tag-ffff.wav", _wav_header(rate=22050, channels=1, fmt=0xFFFF, data_size=len(pcm)) + pcm
    yield "fmt-size-huge.wav", b"RIFF" + struct.pack("<I", 100) + b"WAVEfmt " + struct.pack("<I", 2**31) + pcm[:64]
    au = base["x.au"]
    yield "au-rate1.au", au[:16] + struct.pack(">I", 1) + au[20:]
    yield "au-channels-huge.au", au[:20] + struct.pack(">I", 100000) + au[24:]
    yield "au-size-huge.au", au[:8] + struct.pack(">I", 2**32 - 2) + au[12:]
    flac = base["x.flac"]
    # STREAMINFO: rate (20 bits), channels-1 (3), bits-1 (5), total samples (36) at bytes 18..25.
    yield "flac-rate1.flac", flac[:18] + bytes([0, 0, 0x10 | (flac[20] & 0x0F)]) + flac[21:]
    yield "flac-total-huge.flac", flac[:21] + bytes([flac[21] | 0x0F, 0xFF, 0xFF, 0xFF, 0xFF]) + flac[26:]
    mp3 = base["x.mp3"]
    yield "mp3-xing-frames-huge.mp3", mp3.replace(b"Xing", b"Xing\x00\x00\x00\x0f\xff\xff\xff\xff", 1)[: len(mp3)]
    yield "mp3-info-frames-huge.mp3", mp3.replace(b"Info", b"Info\x00\x00\x00\x0f\xff\xff\xff\xff", 1)[: len(mp3)]
    yield "mp3-broken-first-header.mp3", b"\xff\xfb\xff\xff" + mp3[4:]
    yield "id3-size-huge.mp3", b"ID3\x03\x00\x00\x7f\x7f\x7f\x7f" + mp3
    yield "id3-only.mp3", id3v2(3, picture_bytes=300_000)
    yield "id3-zero-padding.mp3", id3v2(3) + bytes(5000) + mp3
    yield "id3v24-footer.mp3", id3v2(4)[:5] + b"\x10" + id3v2(4)[6:] + b"3DI\x04\x00\x10" + id3v2(4)[6:10] + mp3
    yield "id3-then-flac.flac", id3v2(3) + flac
    if "aac.m4a" in base:
        m4a = base["aac.m4a"]
        yield "m4a-ftyp-only.m4a", m4a[:32]
        yield "m4a-zero-moov.m4a", m4a.replace(b"moov", b"moox", 1)
        yield "m4a-fake.m4a", b"\x00\x00\x00\x18ftypM4A " + bytes(200)
        yield "m4a-atom-huge.m4a", m4a[:24] + b"\xff\xff\xff\xffmoov" + m4a[32:]
        yield "m4a-in-wav-name.wav", m4a
    # Non-finite and over-loud float data.
    for label, value in (("nan", np.nan), ("inf", np.inf), ("-inf", -np.inf)):
        bad = tone.copy()
        bad[1000] = value
        yield f"{label}.wav", _float_wav(bad)
    yield "all-nan.wav", _float_wav(np.full(22050, np.nan, np.float32))
    for peak in (20.0, 1e6, 1e20, 3e38):
        yield f"peak{peak:g}.wav", _float_wav(tone / 0.3 * peak)
    yield "denormals.wav", _float_wav(np.full(22050, 1e-40, np.float32))
    yield "silence.wav", _float_wav(np.zeros(22050, np.float32))
    yield "one-sample.wav", _float_wav(np.array([0.5], np.float32))
    yield "rate-1MHz.wav", _wav_header(rate=1_000_000, channels=1, data_size=len(pcm)) + pcm
    yield "rate-1000.wav", _wav_header(rate=1000, channels=1, data_size=len(pcm)) + pcm
    yield "64-channels.wav", _wav_header(rate=8000, channels=64, data_size=len(pcm)) + pcm
    if long_folder is not None:
        yield from _long_files(long_folder)


def _long_files(folder: Path) -> Iterator[tuple[str, Path]]:
    """1-hour WAV (16-bit 44.1 kHz stereo, 635 MB) and FLAC files, written once into ``folder``."""
    import soundfile as sf

    for name, kw in (("1h.wav", {"format": "WAV", "subtype": "PCM_16"}),
                     ("1h.flac", {"format": "FLAC", "subtype": "PCM_16"})):
        path = folder / name
        if not path.exists():
            write_long(path, seconds=3600, **kw)
        yield name, path
    del sf


def write_long(path: Path, *, seconds: float, rate: int = 44100, **kw: object) -> Path:
    """A ``seconds``-long stereo file of noise and tones at ``rate``, written in blocks (bounded memory)."""
    import soundfile as sf

    rng = np.random.default_rng(0)
    block = rate * 10
    with sf.SoundFile(path, "w", rate, 2, **kw) as f:
        for start in range(0, int(seconds * rate), block):
            t = (start + np.arange(block)) / rate
            mono = 0.3 * np.sin(2 * np.pi * 220.0 * t) + 0.05 * rng.standard_normal(block)
            f.write(np.stack([mono, 0.8 * mono], axis=1).astype(np.float32))
    return path


_MAGIC_INTS = (0, 1, 2, 0x7F, 0x80, 0xFF, 0x7FFF, 0x8000, 0xFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF)


def mutate(data: bytes, rng: np.random.Generator, *, other: bytes | None = None) -> bytes:
    """One random mutation (or a few stacked) of ``data``; ``other`` is a second seed for splicing."""
    buf = bytearray(data)
    for _ in range(int(rng.integers(1, 7))):
        n = len(buf)
        if n == 0:
            break
        # Headers matter most: half the edits land in the first 128 bytes.
        pos = int(rng.integers(0, min(n, 128))) if rng.random() < 0.5 else int(rng.integers(0, n))
        op = int(rng.integers(0, 8))
        if op == 0:
            buf[pos] ^= 1 << int(rng.integers(0, 8))
        elif op == 1:
            k = int(rng.integers(1, 17))
            buf[pos : pos + k] = rng.integers(0, 256, min(k, n - pos), dtype=np.uint8).tobytes()
        elif op == 2:
            value = _MAGIC_INTS[int(rng.integers(0, len(_MAGIC_INTS)))]
            width, order = (2, 4)[int(rng.integers(0, 2))], "<>"[int(rng.integers(0, 2))]
            packed = struct.pack(order + ("H" if width == 2 else "I"), value & (0xFFFF if width == 2 else 0xFFFFFFFF))
            buf[pos : pos + width] = packed
        elif op == 3:
            buf[pos:pos] = rng.integers(0, 256, int(rng.integers(1, 64)), dtype=np.uint8).tobytes()
        elif op == 4:
            del buf[pos : pos + int(rng.integers(1, max(2, n // 4)))]
        elif op == 5:
            end = min(n, pos + int(rng.integers(1, 512)))
            buf[pos:pos] = buf[pos:end]
        elif op == 6:
            del buf[int(rng.integers(1, n + 1)) :]
        elif other:
            cut = int(rng.integers(0, len(other)))
            buf[pos:] = other[cut:]
    return bytes(buf)


def mutants(count: int, *, seed: int) -> Iterator[tuple[str, bytes]]:
    """``count`` mutated inputs from :func:`seeds`, reproducible from ``seed``: ``(name, bytes)``."""
    rng = np.random.default_rng(seed)
    pool = sorted(seeds().items())
    for i in range(count):
        name, data = pool[int(rng.integers(0, len(pool)))]
        other = pool[int(rng.integers(0, len(pool)))][1]
        yield f"m{i}-{name}", mutate(data, rng, other=other)


# ------------------------------------------------------------------------------------------ worker

def _send(stream, payload: bytes) -> None:  # stream: a binary pipe
    stream.write(struct.pack("<Q", len(payload)) + payload)
    stream.flush()


def _receive(stream) -> bytes | None:  # stream: a binary pipe
    head = stream.read(8)
    if len(head) < 8:
        return None
    (size,) = struct.unpack("<Q", head)
    return stream.read(size)


def is_sentence(message: str) -> bool:
    """A message for people: not empty, ends like a sentence, names no exception class, no doubled prefixes."""
    text = message.strip()
    return len(text) > 10 and text[-1] in ".!?" and not _CLASS_NAME.search(text)


def _selftest_load(source: object, *, sample_rate: int) -> object:
    """A deliberately broken decoder for testing the harness itself: bytes ``crash`` abort the process,
    ``hang`` sleep, ``bug`` raise a KeyError, ``memory`` allocate past the limit; anything else is decoded."""
    from core.audio.decode import load_audio

    data = source if isinstance(source, bytes) else b""
    if data == b"crash":
        os.abort()
    if data == b"hang":
        time.sleep(3600)
    if data == b"bug":
        raise KeyError("bug")
    if data == b"memory":
        return np.ones(2**31, dtype=np.float64)  # 16 GiB: refused by the address-space limit
    return load_audio(source, sample_rate=sample_rate)


def worker(memory_bytes: int, *, selftest: bool = False) -> None:
    """Decode requests from stdin until it closes: each request is JSON ``{name, mode}`` followed by the bytes
    (mode ``bytes``, ``file`` or ``path``; ``path`` writes them to a temporary file named ``name``, ``long``
    decodes the path given as ``name``); each answer is one JSON line."""
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    from core.audio.decode import AudioError, load_audio

    if selftest:
        load_audio = _selftest_load  # the harness's own test swaps the decoder

    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    scratch = Path(tempfile.mkdtemp(prefix="fuzz-worker-"))
    while (request := _receive(stdin)) is not None:
        spec = json.loads(request)
        data = _receive(stdin) or b""
        answer: dict[str, object] = {}
        try:
            if spec["mode"] == "bytes":
                source: object = data
            elif spec["mode"] == "file":
                source = io.BytesIO(data)
            elif spec["mode"] == "long":
                source = Path(spec["name"])
            else:
                source = scratch / Path(spec["name"]).name
                source.write_bytes(data)
            out = load_audio(source, sample_rate=SAMPLE_RATE)
            ok = (out.samples.dtype == np.float32 and out.samples.ndim == 1 and bool(np.isfinite(out.samples).all())
                  and len(out.samples) <= 900 * SAMPLE_RATE + SAMPLE_RATE and float(np.abs(out.samples).max()) <= 2.5)
            answer = {"outcome": "decoded" if ok else "other",
                      "detail": f"{out.duration:.2f} s; {' '.join(out.notices)}"[:300]}
        except AudioError as error:
            good = is_sentence(str(error))
            answer = {"outcome": "clean" if good else "other", "detail": str(error)[:300]}
        except Exception as error:  # noqa: BLE001 - exactly what the fuzzer looks for
            answer = {"outcome": "other", "detail": f"{type(error).__name__}: {error}"[:300]}
        answer["maxrss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        _send(stdout, json.dumps(answer).encode())
    for leftover in scratch.iterdir():
        leftover.unlink()
    scratch.rmdir()


# ------------------------------------------------------------------------------------------ runner

@dataclass
class Report:
    """Figures of one fuzz run."""

    counts: Counter = field(default_factory=Counter)
    bugs: list[tuple[str, str, str]] = field(default_factory=list)  # (name, outcome, detail)
    peak_mb: float = 0.0
    seconds: float = 0.0

    @property
    def tried(self) -> int:
        return sum(self.counts.values())

    def line(self, *, extra: float = 0.0) -> str:
        """The figures in one line (``extra``: seconds of a run in progress, added to the total)."""
        c = self.counts
        return (f"inputs tried {self.tried}: decoded {c['decoded']}, clean errors {c['clean']}, other exceptions "
                f"{c['other']}, crashes {c['crash']}, hangs {c['hang']}; worker peak memory {self.peak_mb:.0f} MB; "
                f"{self.seconds + extra:.1f} s")


class Fuzzer:
    """Sends inputs to one worker subprocess, restarting it after a crash or a hang."""

    def __init__(self, *, timeout: float = 10.0, memory_gib: float = 2.0, save: Path | None = None,
                 selftest: bool = False) -> None:
        self.timeout, self.memory = timeout, int(memory_gib * 2**30)
        self.save, self.selftest = save, selftest
        self.report = Report()
        self._proc: subprocess.Popen | None = None

    def _start(self) -> subprocess.Popen:
        env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=os.pathsep.join(
            [str(REPO_ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]))
        return subprocess.Popen([sys.executable, "-m", "bench.fuzz_decode", "--worker", str(self.memory),
                                 *(["--selftest"] if self.selftest else [])],
                                cwd=REPO_ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, env=env)

    def _stop(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait()
            self._proc = None

    def close(self) -> None:
        if self._proc is not None:
            self._proc.stdin.close()
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._stop()
            self._proc = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def run_one(self, name: str, data: bytes | Path, *, mode: str = "bytes") -> tuple[str, str]:
        """Decode one input in the worker: ``(outcome, detail)``."""
        if self._proc is None or self._proc.poll() is not None:
            self._proc = self._start()
        proc = self._proc
        if isinstance(data, Path):
            name, data, mode = str(data), b"", "long"
        try:
            _send(proc.stdin, json.dumps({"name": name, "mode": mode}).encode())
            _send(proc.stdin, data)
            ready, _, _ = select.select([proc.stdout], [], [], self.timeout)
            answer = _receive(proc.stdout) if ready else None
        except (BrokenPipeError, OSError):
            ready, answer = True, None
        if answer is None:
            if not ready:
                outcome, detail = "hang", f"no answer within {self.timeout:g} s"
            else:
                code = proc.wait(timeout=5)
                outcome, detail = "crash", f"worker exited with {code}" + (f" (signal {-code})" if code < 0 else "")
            self._stop()
        else:
            result = json.loads(answer)
            outcome, detail = result["outcome"], result["detail"]
            self.report.peak_mb = max(self.report.peak_mb, result["maxrss_mb"])
        self.report.counts[outcome] += 1
        if outcome in ("other", "crash", "hang"):
            self.report.bugs.append((name, outcome, detail))
            if self.save is not None and data:
                self.save.mkdir(parents=True, exist_ok=True)
                (self.save / f"{outcome}-{len(self.report.bugs)}-{Path(name).name}").write_bytes(data)
        return outcome, detail

    def run(self, inputs: Iterator[tuple[str, bytes | Path]], *, modes: tuple[str, ...] = ("bytes",),
            progress_every: int = 0) -> Report:
        start = time.perf_counter()
        for i, (name, data) in enumerate(inputs, 1):
            for mode in modes if isinstance(data, bytes) else ("long",):
                self.run_one(name, data, mode=mode)
            if progress_every and i % progress_every == 0:
                print(self.report.line(extra=time.perf_counter() - start), flush=True)
        self.report.seconds += time.perf_counter() - start
        return self.report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mutants", type=int, default=2000, help="mutated inputs to try (default 2000)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per input before it counts as a hang")
    parser.add_argument("--memory-gib", type=float, default=2.0, help="address-space limit of the worker")
    parser.add_argument("--long", action="store_true", help="add 1-hour WAV and FLAC files to the corpus")
    parser.add_argument("--no-corpus", action="store_true", help="mutants only")
    parser.add_argument("--save", type=Path, help="write every input that found a bug into this folder")
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--selftest", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker is not None:
        worker(args.worker, selftest=args.selftest)
        return 0
    with tempfile.TemporaryDirectory(prefix="fuzz-long-") as tmp, \
            Fuzzer(timeout=args.timeout, memory_gib=args.memory_gib, save=args.save) as fuzzer:
        if not args.no_corpus:
            fuzzer.run(corpus(long_folder=Path(tmp) if args.long else None), modes=("bytes", "path"))
            print("corpus:", fuzzer.report.line(), flush=True)
        fuzzer.run(mutants(args.mutants, seed=args.seed), progress_every=1000)
        print("total:", fuzzer.report.line())
        for name, outcome, detail in fuzzer.report.bugs[:50]:
            print(f"  {outcome}: {name}: {detail}")
    bad = fuzzer.report.counts["other"] + fuzzer.report.counts["crash"] + fuzzer.report.counts["hang"]
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
