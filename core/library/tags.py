"""Write predicted genres into an audio file's own metadata tag, never risking the audio.

Formats and the field that holds the genre (mutagen 1.48):

========================  ==========================================================
MP3                       ID3v2.4 ``TCON``; several genres as v2.4 multiple strings
WAV, AIFF                 ID3v2.4 ``TCON`` in the file's ``id3`` chunk
FLAC, OGG Vorbis, Opus    Vorbis comment ``GENRE``, one comment per genre
M4A / MP4                 ``©gen`` atom, a list (an old numeric ``gnre`` reads as ``©gen``)
========================  ==========================================================

Safety: a write copies the file to a hidden temporary file in the same folder, tags the copy, re-reads it
(the genres must read back exactly and the stream's length, rate and channels must be unchanged), flushes
it to disk, and only then moves it over the original with ``os.replace`` (atomic on one file system),
keeping the original's permission bits. The original is never opened for writing; the temporary file is
removed on any failure, interruption included. Nothing is written in a dry run or when the genres would not
change.
"""

from __future__ import annotations

import csv
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

import mutagen
from mutagen.aiff import AIFF
from mutagen.flac import FLAC
from mutagen.id3 import TCON, Encoding
from mutagen.mp3 import MP3
from mutagen.mp4 import MP4
from mutagen.oggopus import OggOpus
from mutagen.oggvorbis import OggVorbis
from mutagen.wave import WAVE
from tqdm import tqdm

from core.audio.files import find_audio
from core.errors import GenreLabError, InputError

TagMode = Literal["replace", "append", "keep"]
#: The accepted values of ``mode``.
MODES: tuple[str, ...] = get_args(TagMode)

#: Separator of several genres in printed lines and in the CSV report.
LIST_SEPARATOR = "; "

_MP4_GENRE = "\xa9gen"
_VORBIS_GENRE = "GENRE"
_TEMP_SUFFIX = ".tagging"


class TagError(GenreLabError, ValueError):
    """A file whose tags cannot be read or written; the message is a sentence for the user."""


@dataclass
class TagChange:
    """What tagging did (or, in a dry run, would do) to one file.

    Attributes:
        path: The file as given.
        old: Genres found in the file before.
        new: Genres the file holds after the write (the planned genres in a dry run).
        changed: Whether ``new`` differs from ``old``.
        written: Whether the file was actually rewritten.
        error: A sentence when the file could not be handled (then ``old``/``new`` may be empty).
    """

    path: Path
    old: list[str]
    new: list[str]
    changed: bool
    written: bool
    error: str | None = None


@dataclass(frozen=True)
class _Format:
    """How one mutagen file type stores genres."""

    name: str
    get: Callable[[Any], list[str]]
    set: Callable[[Any, list[str]], None]


def _id3_get(tags: Any) -> list[str]:
    frame = tags.get("TCON")
    return list(frame.genres) if frame is not None else []


def _id3_set(tags: Any, genres: list[str]) -> None:
    tags.delall("TCON")
    if genres:
        tags.add(TCON(encoding=Encoding.UTF8, text=list(genres)))


def _vorbis_get(tags: Any) -> list[str]:
    return list(tags.get(_VORBIS_GENRE, []))  # Vorbis comment keys are case-insensitive


def _vorbis_set(tags: Any, genres: list[str]) -> None:
    if genres:
        tags[_VORBIS_GENRE] = list(genres)  # one GENRE comment per value
    elif _VORBIS_GENRE in tags:
        del tags[_VORBIS_GENRE]


def _mp4_get(tags: Any) -> list[str]:
    return list(tags.get(_MP4_GENRE, []))


def _mp4_set(tags: Any, genres: list[str]) -> None:
    if genres:
        tags[_MP4_GENRE] = list(genres)
    elif _MP4_GENRE in tags:
        del tags[_MP4_GENRE]


_ID3 = _Format("ID3 TCON", _id3_get, _id3_set)
_VORBIS = _Format("Vorbis comment GENRE", _vorbis_get, _vorbis_set)
_FORMATS: dict[type, _Format] = {
    MP3: _ID3, WAVE: _ID3, AIFF: _ID3,
    FLAC: _VORBIS, OggVorbis: _VORBIS, OggOpus: _VORBIS,
    MP4: _Format("MP4 \xa9gen", _mp4_get, _mp4_set),
}
_SUPPORTED = "MP3, WAV, AIFF, FLAC, OGG Vorbis, Opus and M4A/MP4"


def _open(path: Path) -> tuple[Any, _Format]:
    """Open ``path`` with mutagen, choosing the type from the file's content.

    Raises:
        TagError: missing, unreadable, damaged or unsupported file.
    """
    if not path.exists():
        raise TagError(f"{path} does not exist.")
    if not path.is_file():
        raise TagError(f"{path} is not a file.")
    try:
        audio = mutagen.File(path, options=list(_FORMATS))
    except (mutagen.MutagenError, OSError) as exc:
        raise TagError(f"Cannot read the tags of {path}: it is damaged or not a supported audio file "
                       f"({exc}).") from exc
    if audio is None:
        raise TagError(f"Cannot tag {path}: genre tags can be written only into {_SUPPORTED} files.")
    return audio, _FORMATS[type(audio)]


def _genres_of(audio: Any, fmt: _Format) -> list[str]:
    return fmt.get(audio.tags) if audio.tags is not None else []


def read_genres(path: Path) -> list[str]:
    """Genres stored in the file's tag, in stored order; ``[]`` when there are none.

    Raises:
        TagError: missing, unreadable, damaged or unsupported file.
    """
    audio, fmt = _open(Path(path))
    return _genres_of(audio, fmt)


def _clean(genres: Iterable[str]) -> list[str]:
    """Strip each name, drop empty ones and drop case-insensitive repeats (first spelling wins)."""
    seen: set[str] = set()
    out: list[str] = []
    for genre in genres:
        name = str(genre).strip()
        if name and name.casefold() not in seen:
            seen.add(name.casefold())
            out.append(name)
    return out


def plan_genres(old: list[str], new: list[str], *, mode: TagMode) -> list[str]:
    """Genres a file should hold after tagging.

    ``replace``: ``new``; ``append``: ``old`` then ``new``; ``keep``: ``old`` if it has any, else ``new``.
    Names are stripped, empty names dropped and repeats removed case-insensitively (first spelling wins).

    Raises:
        ValueError: unknown mode.
    """
    if mode == "replace":
        return _clean(new)
    if mode == "append":
        return _clean([*old, *new])
    if mode == "keep":
        return _clean(old) or _clean(new)
    raise InputError(f"Unknown tagging mode {mode!r}: choose one of {', '.join(MODES)}.")


def _stream_signature(audio: Any) -> tuple[float, Any, Any]:
    info = audio.info
    return round(float(info.length), 6), getattr(info, "sample_rate", None), getattr(info, "channels", None)


def _fsync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable (POSIX); a no-op where folders cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _write_copy_then_replace(target: Path, original: Any, fmt: _Format, genres: list[str]) -> None:
    """Tag a temporary copy of ``target`` in its folder, verify it, then atomically move it over ``target``."""
    before = target.stat()
    try:
        fd, temp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=_TEMP_SUFFIX)
    except OSError as exc:
        raise TagError(f"Cannot write tags for {target}: no temporary file can be created in its folder "
                       f"({exc.strerror}).") from exc
    temp = Path(temp_name)
    try:
        with os.fdopen(fd, "wb") as out, target.open("rb") as src:
            shutil.copyfileobj(src, out)
        shutil.copymode(target, temp)
        copy = type(original)(temp)
        if copy.tags is None:
            copy.add_tags()
        fmt.set(copy.tags, genres)
        copy.save()
        check = type(original)(temp)
        if _genres_of(check, fmt) != genres:
            raise TagError(f"The genres of {target} did not read back as written "
                           f"({_genres_of(check, fmt)} instead of {genres}); the file was left unchanged.")
        if _stream_signature(check) != _stream_signature(original):
            raise TagError(f"Tagging {target} would alter its audio stream description; the file was left "
                           f"unchanged.")
        with temp.open("rb+") as handle:
            os.fsync(handle.fileno())
        now = target.stat()
        if (now.st_size, now.st_mtime_ns) != (before.st_size, before.st_mtime_ns):
            raise TagError(f"{target} changed on disk while it was being tagged; it was left as it is.")
        os.replace(temp, target)
    except (mutagen.MutagenError, OSError) as exc:
        temp.unlink(missing_ok=True)
        raise TagError(f"Writing the {fmt.name} tag of {target} failed ({exc}); the file was left "
                       f"unchanged.") from exc
    except BaseException:  # TagError from the checks, KeyboardInterrupt, ...: clean up, then re-raise
        temp.unlink(missing_ok=True)
        raise
    _fsync_folder(target.parent)


def write_genres(path: Path, genres: list[str], *, mode: str = "replace", dry_run: bool = True) -> TagChange:
    """Plan and (unless ``dry_run``) write the genre tag of one file.

    Symbolic links are followed: the file they point to is rewritten and the link kept. Nothing is written
    when the planned genres equal the stored ones.

    Args:
        path: An audio file of a supported format (see the module docstring).
        genres: Genre names to write (for example a prediction's top genres).
        mode: ``"replace"``, ``"append"`` or ``"keep"`` (see :func:`plan_genres`).
        dry_run: Only report what would change.

    Returns:
        The change; ``written`` tells whether the file was rewritten.

    Raises:
        TagError: unreadable, unsupported or read-only file, or a write that failed (the original is intact).
        ValueError: unknown mode.
    """
    if mode not in MODES:
        raise InputError(f"Unknown tagging mode {mode!r}: choose one of {', '.join(MODES)}.")
    path = Path(path)
    target = path.resolve()
    audio, fmt = _open(target)
    old = _genres_of(audio, fmt)
    new = plan_genres(old, list(genres), mode=mode)  # type: ignore[arg-type]
    changed = new != old
    if dry_run or not changed:
        return TagChange(path=path, old=old, new=new, changed=changed, written=False)
    if not os.access(target, os.W_OK):
        raise TagError(f"{path} is read-only; its tags were not changed.")
    _write_copy_then_replace(target, audio, fmt, new)
    return TagChange(path=path, old=old, new=new, changed=True, written=True)


def _join(genres: list[str]) -> str:
    return LIST_SEPARATOR.join(genres)


def describe(change: TagChange) -> str:
    if change.error is not None:
        return f"{change.path}: error: {change.error}"
    status = "written" if change.written else ("unchanged" if not change.changed else "dry run")
    return f"{change.path}: {_join(change.old) or '(none)'} -> {_join(change.new) or '(none)'} ({status})"


def _write_report(changes: list[TagChange], report_csv: Path) -> None:
    report_csv.parent.mkdir(parents=True, exist_ok=True)
    with report_csv.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "old", "new", "changed", "written", "error"])
        for c in changes:
            writer.writerow([str(c.path), _join(c.old), _join(c.new), c.changed, c.written, c.error or ""])


def _tag_one(path: Path, predict: Callable[[Path], list[str]], *, write: bool, mode: str) -> TagChange:
    """One file of :func:`tag_files`; every failure becomes a :class:`TagChange` with ``error`` set."""
    old: list[str] = []
    try:
        old = read_genres(path)  # fails fast on unsupported files, before the costly prediction
        return write_genres(path, predict(path), mode=mode, dry_run=not write)
    except ValueError as exc:  # TagError, core.audio.decode.AudioError: already a sentence for the user
        message = str(exc)
    except Exception as exc:  # noqa: BLE001 - one bad file must not stop the batch
        message = f"{type(exc).__name__}: {exc}"
    return TagChange(path=path, old=old, new=[], changed=False, written=False, error=message)


def tag_files(paths: Sequence[Path], predict: Callable[[Path], list[str]], *, write: bool = False,
              mode: str = "replace", report_csv: Path | None = None,
              on_change: Callable[[TagChange], None] | None = None) -> list[TagChange]:
    """Predict and tag many files; a bad file is reported and never stops the batch.

    Folders in ``paths`` are expanded with :func:`core.audio.files.find_audio`; a progress bar shows on stderr.

    Args:
        paths: Audio files and/or folders.
        predict: Returns the genres for one file (for example the top genres of ``predict_song``).
        write: Rewrite the files; ``False`` (default) is a dry run that changes nothing.
        mode: ``"replace"``, ``"append"`` or ``"keep"`` (see :func:`plan_genres`).
        report_csv: Where to write a CSV with columns ``path, old, new, changed, written, error`` (several
            genres joined by ``"; "``), one row per file.
        on_change: Called with each file's :class:`TagChange` as soon as it is done (the CLI prints it).

    Returns:
        One :class:`TagChange` per file, in order; failures have ``error`` set.

    Raises:
        ValueError: unknown mode (checked before any file is touched).
    """
    if mode not in MODES:
        raise InputError(f"Unknown tagging mode {mode!r}: choose one of {', '.join(MODES)}.")
    files = find_audio(paths, must_exist=False)
    changes: list[TagChange] = []
    for path in tqdm(files, desc="tagging", unit="file", disable=None):
        change = _tag_one(path, predict, write=write, mode=mode)
        changes.append(change)
        if on_change is not None:
            on_change(change)
    if report_csv is not None:
        _write_report(changes, Path(report_csv))
    return changes
