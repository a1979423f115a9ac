"""Audio files on disk: which files count as audio, and the content hash that identifies a file's bytes.

One rule everywhere (datasets, catalogs, features, tagging): folders are scanned recursively for
:data:`core.config.AUDIO_EXTENSIONS` (any case), skipping hidden files and folders (names starting with ``.``,
which include the tag writer's temporary copies); files named directly are kept as given, so a missing or
unsupported file is reported by the caller rather than silently dropped.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

from core.config import AUDIO_EXTENSIONS
from core.errors import NotFoundError

_CHUNK = 1 << 20
#: MIME type of each audio extension (players and downloads).
MIME_TYPES = {".mp3": "audio/mpeg", ".wav": "audio/wav", ".flac": "audio/flac", ".ogg": "audio/ogg",
              ".oga": "audio/ogg", ".opus": "audio/ogg", ".m4a": "audio/mp4", ".mp4": "audio/mp4", ".aac": "audio/aac",
              ".au": "audio/basic", ".aiff": "audio/aiff", ".aif": "audio/aiff"}


def mime_type(name: str | Path, *, default: str = "application/octet-stream") -> str:
    """MIME type of an audio file name, by extension."""
    return MIME_TYPES.get(Path(name).suffix.lower(), default)


def is_audio_name(path: Path) -> bool:
    """True for a visible file name with an audio extension."""
    return not path.name.startswith(".") and path.suffix.lower() in AUDIO_EXTENSIONS


def audio_files(folder: str | Path) -> list[Path]:
    """Audio files under ``folder`` (any depth, hidden files and folders skipped), sorted."""
    root = Path(folder)
    return sorted(p for p in root.rglob("*") if is_audio_name(p) and p.is_file()
                  and not any(part.startswith(".") for part in p.relative_to(root).parts[:-1]))


def find_audio(inputs: Iterable[str | Path], *, must_exist: bool = True) -> list[Path]:
    """Files and folders expanded into audio files: folders by :func:`audio_files`, files as given; no repeats.

    Raises:
        NotFoundError: an input does not exist (when ``must_exist``; otherwise it is kept for the caller to
            report).
    """
    found: list[Path] = []
    for item in map(Path, inputs):
        if item.is_dir():
            found.extend(audio_files(item))
        elif item.is_file() or not must_exist:
            found.append(item)
        else:
            raise NotFoundError(f"'{item}' does not exist.")
    return list(dict.fromkeys(found))


def content_hash(path: str | Path) -> str:
    """blake2b (16-byte digest) of a file's bytes, read in 1 MiB chunks: 32 hex characters."""
    digest = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def bytes_hash(data: bytes) -> str:
    """:func:`content_hash` of bytes already in memory (an upload): equal to the hash of the same file."""
    return hashlib.blake2b(data, digest_size=16).hexdigest()
