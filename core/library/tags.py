"""Write predicted genres into an audio file's own metadata tag, never risking the audio.

Formats and the field that holds the genre (mutagen 1.48):

========================  ==========================================================
MP3                       ID3v2.4 ``TCON``; several genres as v2.4 multiple strings
WAV, AIFF                 ID3v2.4 ``TCON`` in the file's ``id3`` chunk
FLAC, OGG Vorbis, Opus    Vorbis comment ``GENRE``, one comment per genre
M4A / MP4                 ``©gen`` atom, a list (an old numeric ``gnre`` reads as ``©gen``)
========================  ==========================================================

Safety: a write copies the file to a hidden temporary file in the same folder (``.NAME.XXXXXXXX.tagging``,
hidden so that no scan of audio files ever takes it for music), tags the copy, re-reads it (the genres must
read back exactly and the stream's length, rate and channels must be unchanged), gives it the original's owner
and group (where permitted: root, or a group the user belongs to), extended attributes (where the file system
has them; POSIX ACLs are extended attributes and come along; attributes the user may not set, such as
``security.*`` ones, are skipped) and permission bits, flushes it to disk, and only then moves it over the
original with ``os.replace`` (atomic on one file system). The original is never opened for writing; the
temporary file is removed on any failure, interruption included. Nothing is written in a dry run or when the
genres would not change.

Leftovers: a write that is killed outright (``SIGKILL``, power loss) can leave its temporary copy behind. The
writer holds an ``flock`` on its copy while it works, so the next write in that folder (:func:`write_genres`,
or :func:`tag_files` with ``write=True``, which cleans each folder once) removes every copy that no running
writer holds (:func:`clean_leftovers`). Dry runs change nothing, leftovers included.

Refusals (each a :class:`TagError` sentence; ``force=True``, CLI ``--force``, writes anyway):

* **read-only files**: decided from the permission bits for the caller (owner, group or others; root counts as
  the owner, so root does not rewrite a file marked read-only) and from ``os.access`` (read-only mounts,
  ACLs). A forced write keeps the file read-only.
* **hard-linked files** (``st_nlink > 1``): the write replaces the file, which would detach this name from its
  other names (they would keep the old tags) and double the disk space used, so such a file is refused; a
  forced write does exactly that: this name gets the tagged copy, the other names keep the untagged data.

Symbolic links are followed: the file they point to is rewritten and the link kept.
"""

from __future__ import annotations

import csv
import errno
import os
import shutil
import stat
import struct
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

try:
    import fcntl
except ImportError:  # not POSIX: no locks, leftovers are still removed
    fcntl = None  # type: ignore[assignment]
from core.errors import GenreLabError, InputError
from core.library.durable import fsync_folder

TagMode = Literal["replace", "append", "keep"]
#: The accepted values of ``mode``.
MODES: tuple[str, ...] = get_args(TagMode)

#: Separator of several genres in printed lines and in the CSV report.
LIST_SEPARATOR = "; "

_MP4_GENRE = "\xa9gen"
_VORBIS_GENRE = "GENRE"
_TEMP_SUFFIX = ".tagging"


#: What mutagen raises on a malformed file: its own errors, and low-level ones when header sizes are inconsistent
#: (a WAV whose header claims 4 GB makes mutagen's chunk writer fail in ``struct.pack``).
_MALFORMED = (mutagen.MutagenError, OSError, struct.error, EOFError, IndexError, ValueError)



def _reason(error: BaseException) -> str:
    """A person's words for a mutagen failure (low-level errors name no internals)."""
    if isinstance(error, (mutagen.MutagenError, OSError)) and str(error):
        return str(error)
    return "its header sizes or structure do not match its contents"


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
    except _MALFORMED as exc:
        raise TagError(f"Cannot read the tags of {path}: it is damaged or not a supported audio file "
                       f"({_reason(exc)}).") from exc
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



def _lock(fd: int, *, wait: bool) -> bool:
    """``flock`` ``fd`` exclusively; False when another process holds it (only when not ``wait``)."""
    if fcntl is None:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
    except BlockingIOError:
        return False
    return True


def _is_leftover_name(name: str) -> bool:
    return name.startswith(".") and name.endswith(_TEMP_SUFFIX) and len(name) > len(_TEMP_SUFFIX) + 1


def clean_leftovers(folder: Path) -> list[Path]:
    """Remove the temporary copies that interrupted writes left in ``folder`` (hidden ``*.tagging`` files that
    no running writer holds); return the removed paths. Never raises: a copy that cannot be removed stays."""
    removed: list[Path] = []
    try:
        entries = [e for e in os.scandir(folder) if _is_leftover_name(e.name) and e.is_file(follow_symlinks=False)]
    except OSError:
        return removed
    for entry in entries:
        try:
            fd = os.open(entry.path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except OSError:
            continue
        try:
            if _lock(fd, wait=False):  # no writer holds it: the write that made it is gone
                os.unlink(entry.path)
                removed.append(Path(entry.path))
        except OSError:
            pass
        finally:
            os.close(fd)
    return removed


def _copy_ownership_xattrs_mode(st: os.stat_result, source: Path, temp: Path) -> None:
    """Give ``temp`` the owner and group (where permitted), extended attributes (where supported and permitted)
    and permission bits of ``source`` (whose stat is ``st``), in that order: ``chown`` clears set-id bits, and
    attributes cannot be set once a file is read-only."""
    try:
        os.chown(temp, st.st_uid, st.st_gid)
    except OSError:
        try:
            os.chown(temp, -1, st.st_gid)  # a group the user belongs to
        except OSError:
            pass
    if hasattr(os, "listxattr"):
        try:
            names = os.listxattr(source)
        except OSError:
            names = []
        for attr in names:
            try:
                os.setxattr(temp, attr, os.getxattr(source, attr))
            except OSError as exc:
                if exc.errno not in (errno.EPERM, errno.EACCES, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EINVAL,
                                     errno.ENODATA):
                    raise
    os.chmod(temp, stat.S_IMODE(st.st_mode))


def _read_only(target: Path, st: os.stat_result) -> bool:
    """True when the caller may not write ``target``, judged by the permission bits for the caller's class (root
    counts as the owner) and by ``os.access`` (read-only mounts, ACLs)."""
    if not os.access(target, os.W_OK):
        return True
    if not hasattr(os, "geteuid"):
        return False
    euid = os.geteuid()
    if euid == 0 or euid == st.st_uid:
        bit = stat.S_IWUSR
    elif st.st_gid == os.getegid() or st.st_gid in os.getgroups():
        bit = stat.S_IWGRP
    else:
        bit = stat.S_IWOTH
    return not st.st_mode & bit


def _write_copy_then_replace(target: Path, original: Any, fmt: _Format, genres: list[str]) -> None:
    """Tag a temporary copy of ``target`` in its folder, verify it, give it the original's owner, attributes and
    mode, then atomically move it over ``target``."""
    before = target.stat()
    try:
        fd, temp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=_TEMP_SUFFIX)
    except OSError as exc:
        raise TagError(f"Cannot write tags for {target}: no temporary file can be created in its folder "
                       f"({exc.strerror}).") from exc
    temp = Path(temp_name)
    try:
        _lock(fd, wait=True)  # held until the end: clean_leftovers never removes a copy in use
        with os.fdopen(os.dup(fd), "wb") as out, target.open("rb") as src:
            shutil.copyfileobj(src, out)
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
        os.fsync(fd)
        _copy_ownership_xattrs_mode(before, target, temp)
        now = target.stat()
        if (now.st_size, now.st_mtime_ns, now.st_ino) != (before.st_size, before.st_mtime_ns, before.st_ino):
            raise TagError(f"{target} changed on disk while it was being tagged; it was left as it is.")
        os.replace(temp, target)
    except _MALFORMED as exc:
        temp.unlink(missing_ok=True)
        raise TagError(f"Writing the {fmt.name} tag of {target} failed ({_reason(exc)}); the file was left "
                       f"unchanged.") from exc
    except BaseException:  # TagError from the checks, KeyboardInterrupt, ...: clean up, then re-raise
        temp.unlink(missing_ok=True)
        raise
    finally:
        os.close(fd)
    fsync_folder(target.parent)


def write_genres(path: Path, genres: list[str], *, mode: str = "replace", dry_run: bool = True,
                 force: bool = False, clean: bool = True) -> TagChange:
    """Plan and (unless ``dry_run``) write the genre tag of one file.

    Symbolic links are followed: the file they point to is rewritten and the link kept. Nothing is written
    when the planned genres equal the stored ones. A write first removes leftover temporary copies of
    interrupted writes in the file's folder (unless ``clean`` is False; see :func:`clean_leftovers`).

    Args:
        path: An audio file of a supported format (see the module docstring).
        genres: Genre names to write (for example a prediction's top genres).
        mode: ``"replace"``, ``"append"`` or ``"keep"`` (see :func:`plan_genres`).
        dry_run: Only report what would change.
        force: Write read-only and hard-linked files too (see the module docstring).
        clean: Remove leftover temporary copies in the folder before writing.

    Returns:
        The change; ``written`` tells whether the file was rewritten.

    Raises:
        TagError: unreadable, unsupported, read-only or hard-linked file (unless ``force``), or a write that
            failed (the original is intact).
        InputError: unknown mode.
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
    st = target.stat()
    if not force and _read_only(target, st):
        raise TagError(f"{path} is read-only; its tags were not changed (use --force to write it anyway).")
    if not force and st.st_nlink > 1:
        raise TagError(f"{path} has {st.st_nlink} hard links (other names for the same data): tagging replaces "
                       f"the file, which would leave the other names untagged and use the space twice, so its "
                       f"tags were not changed (use --force to tag this name only).")
    if clean:
        clean_leftovers(target.parent)
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


def _tag_one(path: Path, predict: Callable[[Path], list[str]], *, write: bool, mode: str,
             force: bool) -> TagChange:
    """One file of :func:`tag_files`; every failure becomes a :class:`TagChange` with ``error`` set."""
    old: list[str] = []
    try:
        old = read_genres(path)  # fails fast on unsupported files, before the costly prediction
        return write_genres(path, predict(path), mode=mode, dry_run=not write, force=force, clean=False)
    except GenreLabError as exc:  # TagError, AudioError, ...: already a sentence for the user
        message = str(exc) or f"{type(exc).__name__} without a message"
    except Exception as exc:  # noqa: BLE001 - one bad file must not stop the batch; not ours: named as such
        message = f"unexpected error while tagging: {type(exc).__name__}: {exc}"
    return TagChange(path=path, old=old, new=[], changed=False, written=False, error=message)


def tag_files(paths: Sequence[Path], predict: Callable[[Path], list[str]], *, write: bool = False,
              mode: str = "replace", report_csv: Path | None = None,
              on_change: Callable[[TagChange], None] | None = None, force: bool = False,
              on_cleanup: Callable[[Path], None] | None = None) -> list[TagChange]:
    """Predict and tag many files; a bad file (any exception) is reported and never stops the batch.

    Folders in ``paths`` are expanded with :func:`core.audio.files.find_audio`; a progress bar shows on stderr.
    With ``write``, each folder holding a file is first cleaned of leftover temporary copies
    (:func:`clean_leftovers`), once.

    Args:
        paths: Audio files and/or folders.
        predict: Returns the genres for one file (for example the top genres of ``predict_song``).
        write: Rewrite the files; ``False`` (default) is a dry run that changes nothing.
        mode: ``"replace"``, ``"append"`` or ``"keep"`` (see :func:`plan_genres`).
        report_csv: Where to write a CSV with columns ``path, old, new, changed, written, error`` (several
            genres joined by ``"; "``), one row per file.
        on_change: Called with each file's :class:`TagChange` as soon as it is done (the CLI prints it).
        force: Write read-only and hard-linked files too (see the module docstring).
        on_cleanup: Called with each leftover temporary copy that was removed.

    Returns:
        One :class:`TagChange` per file (or unreadable input), in order; failures have ``error`` set.

    Raises:
        InputError: unknown mode (checked before any file is touched).
    """
    if mode not in MODES:
        raise InputError(f"Unknown tagging mode {mode!r}: choose one of {', '.join(MODES)}.")
    files: list[Path] = []
    changes: list[TagChange] = []
    for item in paths:
        try:
            files.extend(find_audio([item], must_exist=False))
        except Exception as exc:  # noqa: BLE001 - an unreadable folder is reported, the rest goes on
            change = TagChange(path=Path(item), old=[], new=[], changed=False, written=False,
                               error=f"cannot list the files of {item}: {getattr(exc, 'strerror', None) or exc}")
            changes.append(change)
            if on_change is not None:
                on_change(change)
    files = list(dict.fromkeys(files))
    if write:
        folders: dict[Path, None] = {}
        for path in files:
            try:
                folders.setdefault(path.resolve().parent, None)
            except (OSError, RuntimeError):  # reported by the file's own change below
                pass
        for folder in folders:
            for leftover in clean_leftovers(folder):
                if on_cleanup is not None:
                    on_cleanup(leftover)
    for path in tqdm(files, desc="tagging", unit="file", disable=None):
        change = _tag_one(path, predict, write=write, mode=mode, force=force)
        changes.append(change)
        if on_change is not None:
            on_change(change)
    if report_csv is not None:
        _write_report(changes, Path(report_csv))
    return changes
