"""Tell an audio container from its first bytes, never from a file name.

:func:`sniff` reads a seekable binary file object and returns which container it holds and where its audio
stream begins: ID3v2 tags (any number, any size, with footers, followed by padding) are skipped, and after
them an MP3 is recognised by two consecutive valid MPEG frame headers, so a tagged MP3 given as bytes is
found as reliably as one given as a path. Nothing here decodes audio; :mod:`core.audio.decode` does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import BinaryIO

#: How far past the tags (bytes) to look for the first MPEG/ADTS frame when junk or padding precedes it.
SCAN_BYTES = 64 * 1024
#: At most this many ID3v2 tags in a row are skipped (a chain of more is not a music file).
_MAX_TAGS = 8

# MPEG audio bitrates in kbit/s: [version 1, version 2/2.5] x [layer I, II, III] x index 0..14.
_BITRATES = {
    (1, 1): (0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448),
    (1, 2): (0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384),
    (1, 3): (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    (2, 1): (0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256),
    (2, 2): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
    (2, 3): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
_MPEG_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}  # by version bits


@dataclass(frozen=True)
class Sniffed:
    """What the bytes hold.

    Attributes:
        container: ``"wav"``, ``"rf64"``, ``"aiff"``, ``"flac"``, ``"ogg"``, ``"au"``, ``"caf"``, ``"w64"``,
            ``"mp3"``, ``"aac"`` (ADTS/ADIF), ``"mp4"`` (M4A/MP4/ALAC), ``"matroska"`` (WebM/MKA) or
            ``"unknown"``.
        offset: Byte where the audio stream starts (after ID3v2 tags and padding); 0 for most containers.
        backend: ``"soundfile"`` (libsndfile) or ``"pyav"`` (FFmpeg) — the decoder that reads this container.
    """

    container: str
    offset: int = 0
    backend: str = "soundfile"

    @property
    def label(self) -> str:
        """The container named for people."""
        return _LABELS.get(self.container, "unrecognised")


_LABELS = {"wav": "WAV", "rf64": "RF64 WAV", "aiff": "AIFF", "flac": "FLAC", "ogg": "Ogg", "au": "AU",
           "caf": "CAF", "w64": "Wave64", "mp3": "MP3", "aac": "AAC", "mp4": "M4A/MP4",
           "matroska": "WebM/Matroska"}
_PYAV = {"aac", "mp4", "matroska"}
_W64_GUID = bytes.fromhex("2e91cf11a5d628db04c10000")  # bytes 4..16 of the Wave64 'riff' GUID


def _syncsafe(b: bytes) -> int:
    return (b[0] & 0x7F) << 21 | (b[1] & 0x7F) << 14 | (b[2] & 0x7F) << 7 | (b[3] & 0x7F)


def mpeg_frame_length(header: bytes) -> int | None:
    """Length in bytes of the MPEG audio frame whose 4-byte header is ``header``; None when it is not a valid
    (non-free-format) MPEG-1/2/2.5 layer I/II/III header."""
    if len(header) < 4 or header[0] != 0xFF or header[1] & 0xE0 != 0xE0:
        return None
    version, layer = (header[1] >> 3) & 3, (header[1] >> 1) & 3
    bitrate_index, rate_index, padding = header[2] >> 4, (header[2] >> 2) & 3, (header[2] >> 1) & 1
    if version == 1 or layer == 0 or bitrate_index in (0, 15) or rate_index == 3:
        return None
    layer_no = 4 - layer  # bits 11 = layer I, 10 = II, 01 = III
    bitrate = _BITRATES[(1 if version == 3 else 2, layer_no)][bitrate_index] * 1000
    rate = _MPEG_RATES[version][rate_index]
    if layer_no == 1:
        return (12 * bitrate // rate + padding) * 4
    if layer_no == 3 and version != 3:
        return 72 * bitrate // rate + padding
    return 144 * bitrate // rate + padding


def adts_frame_length(header: bytes) -> int | None:
    """Length in bytes of the ADTS (raw AAC) frame whose 7-byte header is ``header``; None when invalid."""
    if len(header) < 7 or header[0] != 0xFF or header[1] & 0xF6 != 0xF0:
        return None
    if (header[2] >> 2) & 0xF > 12:
        return None
    length = (header[3] & 3) << 11 | header[4] << 3 | header[5] >> 5
    return length if length >= 7 else None


def _frames_at(data: bytes, pos: int) -> str | None:
    """``"mp3"`` or ``"aac"`` when a valid frame starts at ``pos`` and (where the data reaches) another follows."""
    for kind, length_of in (("mp3", mpeg_frame_length), ("aac", adts_frame_length)):
        length = length_of(data[pos : pos + 7])
        if length is None:
            continue
        nxt = pos + length
        if nxt + 7 > len(data) or length_of(data[nxt : nxt + 7]) is not None:
            return kind
    return None


def _magic(head: bytes) -> str | None:
    if head[:4] in (b"RIFF", b"RIFX") and head[8:12] == b"WAVE":
        return "wav"
    if head[:4] in (b"RF64", b"BW64"):
        return "rf64"
    if head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        return "aiff"
    if head[:4] == b"fLaC":
        return "flac"
    if head[:4] == b"OggS":
        return "ogg"
    if head[:4] in (b".snd", b"dns."):
        return "au"
    if head[:4] == b"caff":
        return "caf"
    if head[:4] == b"riff" and head[4:16] == _W64_GUID:
        return "w64"
    if head[4:8] == b"ftyp":
        return "mp4"
    if head[:4] == b"\x1aE\xdf\xa3":
        return "matroska"
    if head[:4] == b"ADIF":
        return "aac"
    return None


def sniff(handle: BinaryIO) -> Sniffed:
    """The container in ``handle`` (a seekable binary file object; its position is left undefined).

    Returns:
        A :class:`Sniffed`; ``container == "unknown"`` when no known signature is found.
    """
    offset = 0
    tagged = False
    for _ in range(_MAX_TAGS):
        handle.seek(offset)
        header = handle.read(10)
        if len(header) < 10 or header[:3] != b"ID3" or header[3] == 0xFF or header[4] == 0xFF:
            break
        footer = 10 if header[3] >= 4 and header[5] & 0x10 else 0
        offset += 10 + _syncsafe(header[6:10]) + footer
        tagged = True
    handle.seek(offset)
    data = handle.read(SCAN_BYTES)
    container = _magic(data[:16])
    if container is not None:
        return Sniffed(container, offset, "pyav" if container in _PYAV else "soundfile")
    if (kind := _frames_at(data, 0)) is not None:
        return Sniffed(kind, offset, "pyav" if kind == "aac" else "soundfile")
    if tagged or (data[:1] in (b"\x00", b"\xff")):
        # Padding or junk after a tag (or before the first frame): find the first pair of valid frames.
        pos = data.find(b"\xff")
        while 0 <= pos < len(data) - 4:
            if (kind := _frames_at(data, pos)) is not None:
                return Sniffed(kind, offset + pos, "pyav" if kind == "aac" else "soundfile")
            pos = data.find(b"\xff", pos + 1)
        if tagged:  # an ID3 tag says MP3; let the MP3 decoder judge what follows
            return Sniffed("mp3", offset, "soundfile")
    return Sniffed("unknown", offset, "soundfile")
