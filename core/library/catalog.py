"""Song catalogs: a music folder analysed once, stored for recommendations.

``data/catalogs/<name>/`` (or any folder given explicitly, see :func:`catalog_dir`)::

    catalog.json      the commit marker: model, classes, embedding size, song count, checksums, complete, updated
    tracks.parquet    one row per song: path, content hash, title, artist, album, tag genre, predicted genre,
                      top genres, duration, p_<class> spectrum columns
    embeddings.npy    (n_tracks, d) float32 song embeddings, row-aligned with tracks.parquet
    index/            the similarity index (core.library.index), one row per song
    report.csv        files that could not be analysed, with the reason (the latest build's)
    .lock             held (``flock``) while a build runs: a second build of the same catalog is refused

**Commits.** A build commits its work in batches: after every ``batch_size`` (32) newly analysed songs, and at
the end, it rewrites ``tracks.parquet``, ``embeddings.npy``, the index and ``report.csv``, each into a hidden
temporary file beside its target (``.NAME.tmp``), flushed to disk and moved into place with ``os.replace``;
``catalog.json`` is written the same way **last**: it is the commit marker. It records the committed song
count and two checksums (blake2b of the content-hash column and of the embedding bytes of those rows). Rows are
only ever appended, so a kill between two replacements leaves files that hold the committed rows as a prefix
(plus rows of an uncommitted batch). Rewriting the whole catalog costs time proportional to its size, so on a
large catalog a commit is deferred until analysis since the last commit took at least four times as long as
that commit (commits stay under about a fifth of the build time); small catalogs commit every batch.

**Resuming.** A build skips every file whose content hash is committed: after a kill (even ``SIGKILL``), the
next build analyses only what was not committed. Temporary files left by the killed build are removed.

**Consistency on load** (:class:`Catalog`.load and every build): the row counts of the metadata, the embeddings
and the index must equal the marker's count and the checksums must match. Files holding more rows than the
marker (an interrupted commit) are cut back to the committed rows, and an index that is missing, unreadable or
of another size is rebuilt from the embeddings; each repair is described in ``notes`` (the next build writes
the repaired files). A catalog with fewer rows than its marker, or whose checksums differ, is refused with a
:class:`CatalogError` that says how to rebuild it: a mismatched catalog is never served.

**Workers.** Songs are analysed in worker processes (each loads the model once; at most ``2 x workers`` files
in flight). Every worker ignores Ctrl-C (the parent stops the build) and exits by itself within half a second
when its parent process dies (it watches ``os.getppid()``), so a killed build leaves no workers behind. When the
build stops for any reason the pool's queued work is cancelled and its workers are terminated.

**Engines.** ``engine="ray"`` analyses the songs on Ray Data instead (:mod:`core.cluster.catalog`: actors that
each load the model once, on this machine or a cluster); their results come back to this process in order and go
through the same writer, so commits, resuming and the files written are the same.

**Bad files** never abort a build: a file that cannot be read, decoded or analysed, for any reason (an
exception that is not one of the project's is reported as ``unexpected error while analysing: ...``), is listed
in ``report.csv`` and the build goes on. A file that kills its worker process (a native crash, the kernel's
out-of-memory killer) is found by analysing the files that were in flight one at a time in a fresh pool.

**Names.** A catalog name is one folder name inside ``data/catalogs`` (no path separator, no leading ``.``);
anything else is refused with a sentence. A catalog elsewhere is built by giving its folder explicitly
(``out=`` / ``--out PATH``) and loaded by its path.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from core.analysis.evaluate import prob_columns
from core.audio.files import audio_files, content_hash
from core.config import AUDIO_EXTENSIONS, REPO_ROOT, repo_relative
from core.errors import GenreLabError, InputError, NotFoundError
from core.library.durable import fsync_folder

#: What analysing one file gives: ``(path, row, embedding, error)``; ``row``/``embedding`` are None on failure.
Analysed = tuple[str, dict[str, object] | None, np.ndarray | None, str]
#: Where a build analyses its songs: worker processes here (default), or Ray Data (:mod:`core.cluster.catalog`).
ENGINES = ("local", "ray")
#: A style is stored with a song (``styles`` column, searchable) when its probability reaches this.
STYLE_FLOOR = 0.2
CATALOGS_DIR: Path = REPO_ROOT / "data" / "catalogs"

#: Newly analysed songs per commit (see the module docstring).
BATCH_SIZE = 32
#: Version of the catalog layout written here (catalogs without it, written before commits, still load).
FORMAT_VERSION = 2

_MARKER = "catalog.json"
_TRACKS = "tracks.parquet"
_EMBEDDINGS = "embeddings.npy"
_INDEX = "index"
_REPORT = "report.csv"
_LOCK = ".lock"
_TMP_SUFFIX = ".tmp"
_COMMIT_SHARE = 4.0  # analysis time between commits >= this many times the last commit's duration
_PARENT_POLL_S = 0.5
_MAX_WORKER_DEATHS = 3  # consecutive files that each killed a fresh worker: stop the build


class CatalogError(GenreLabError, ValueError):
    """A catalog that cannot be used or built as asked; the message says why and what to do."""


# --- names and folders -------------------------------------------------------------------------------------------

def check_name(name: str) -> str:
    """``name`` if it is a valid catalog name: one folder name (no ``/`` or ``\\``, not ``.`` or ``..``, no
    leading ``.``, no control characters, at most 100 characters).

    Raises:
        CatalogError: anything else, with the rule and the way to give an explicit folder.
    """
    bad = (not name or len(name) > 100 or name.startswith(".") or any(sep in name for sep in ("/", "\\", os.sep))
           or any(ord(ch) < 32 for ch in name))
    if bad:
        raise CatalogError(f"'{name}' is not a catalog name: a name is one folder name inside data/catalogs "
                           f"(no '/' or '\\', not starting with '.', at most 100 characters); to keep a catalog "
                           f"in another folder, give that folder with --out PATH.")
    return name


def catalog_dir(name: str | None = None, *, out: str | Path | None = None, root: Path = CATALOGS_DIR) -> Path:
    """The folder of a catalog: ``root/name`` for a (checked) name, or ``out`` as given explicitly."""
    if out is not None:
        return Path(out)
    if name is None:
        raise CatalogError("Give a catalog name (--name NAME) or an explicit folder (--out PATH).")
    return root / check_name(name)


# --- metadata ----------------------------------------------------------------------------------------------------

def read_metadata(path: Path) -> dict[str, str]:
    """Title, artist, album and genre from the file's tags (mutagen), with the file name as the title fallback.
    Never raises for a damaged file: unreadable tags are not fatal (the audio may still decode)."""
    import mutagen

    meta = {"title": "", "artist": "", "album": "", "tag_genre": ""}
    try:
        tags = mutagen.File(path, easy=True)
        if tags is not None and tags.tags is not None and hasattr(tags.tags, "get"):
            for key, column in (("title", "title"), ("artist", "artist"), ("album", "album"),
                                ("genre", "tag_genre")):
                values = tags.tags.get(key)
                if values:
                    meta[column] = "; ".join(str(v) for v in values)
    except Exception:  # noqa: BLE001 - any damage in the tags: keep the fallbacks
        pass
    meta["title"] = meta["title"] or path.stem.replace("_", " ")
    return meta


# --- workers -----------------------------------------------------------------------------------------------------

_WORKER_MODEL = None


def _watch_parent(parent: int) -> None:
    """Worker thread: end this process as soon as the parent that started it is gone."""
    while True:
        time.sleep(_PARENT_POLL_S)
        if os.getppid() != parent:
            os._exit(1)


def _init_worker(model_ref: str) -> None:
    global _WORKER_MODEL
    from core.runs.folder import load_model

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the parent stops the build
    threading.Thread(target=_watch_parent, args=(os.getppid(),), daemon=True, name="parent-watch").start()
    torch.set_num_threads(1)
    _WORKER_MODEL = load_model(model_ref, device="cpu")


def analyse_file(path: str, *, model: object) -> Analysed:
    """``(path, row, embedding (d,) float32, error)`` for one file with a loaded ``model``; every exception
    becomes ``error`` (row and embedding are then ``None``). Runs in the local workers and in Ray's actors
    (:mod:`core.cluster.catalog`)."""
    try:
        from core.analysis.predict import predict_song

        pred = predict_song(path, model=model)
        if pred.is_silent:
            return path, None, None, "silent recording"
        embedding = np.asarray(pred.embedding, dtype=np.float32)
        spectrum = np.asarray(pred.spectrum, dtype=np.float64)
        if not (np.isfinite(embedding).all() and np.isfinite(spectrum).all()) or not np.linalg.norm(embedding):
            return path, None, None, "the model gave no usable result for this recording (non-finite or empty)"
        strong = sorted(((p, s) for s, p in pred.styles.items() if p >= STYLE_FLOOR), reverse=True)[:3]
        row: dict[str, object] = {"duration": float(pred.duration), "genre": pred.genre,
                                  "top_genres": ", ".join(g for g, _ in pred.top(2)),
                                  "styles": ", ".join(s for _, s in strong),
                                  "verdict": pred.music["verdict"] if pred.music else "",
                                  **dict(zip(prob_columns(pred.classes), map(float, spectrum)))}
        return path, row, embedding, ""
    except GenreLabError as error:
        return path, None, None, str(error) or type(error).__name__
    except Exception as error:  # noqa: BLE001 - one file must never abort a batch; named as unexpected
        return path, None, None, f"unexpected error while analysing: {type(error).__name__}: {error}"


def _analyse(path: str) -> Analysed:
    """Local worker: :func:`analyse_file` with this process's model."""
    return analyse_file(path, model=_WORKER_MODEL)


def _stop_pool(pool: ProcessPoolExecutor, *, kill: bool) -> None:
    """Shut ``pool`` down; ``kill`` also cancels queued work and terminates the workers (the build stops)."""
    if not kill:
        pool.shutdown(wait=True)
        return
    pool.shutdown(wait=False, cancel_futures=True)
    for process in list((getattr(pool, "_processes", None) or {}).values()):  # no public API for this
        try:
            process.terminate()
        except (OSError, AttributeError):
            pass


def _analyse_all(todo: list[str], *, model: str, workers: int) -> Iterator[Analysed]:
    """Results of :func:`_analyse` for ``todo``, in order, at most ``2 * workers`` files in flight.

    When a worker dies (the pool breaks), the files that were in flight are analysed again one at a time in a
    fresh pool; a file that kills its worker alone is reported as failed. The pool is stopped (queued work
    cancelled, workers terminated) when this generator is closed early or raises.
    """
    pending = deque(todo)
    suspects: deque[str] = deque()
    deaths = 0
    while pending or suspects:
        pool = ProcessPoolExecutor(max_workers=workers, initializer=_init_worker, initargs=(model,))
        inflight: deque[tuple[str, Future, bool]] = deque()
        clean = False
        try:
            while True:
                if suspects:
                    if not inflight:
                        path = suspects.popleft()
                        inflight.append((path, pool.submit(_analyse, path), True))
                else:
                    while pending and len(inflight) < 2 * workers:
                        path = pending.popleft()
                        inflight.append((path, pool.submit(_analyse, path), False))
                if not inflight:
                    clean = True
                    break
                path, future, alone = inflight[0]
                try:
                    result = future.result()
                except BrokenProcessPool:
                    if not alone:
                        suspects.extend(p for p, _, _ in inflight)
                        break
                    deaths += 1
                    if deaths >= _MAX_WORKER_DEATHS:
                        raise CatalogError(
                            f"The analysing process died on {deaths} files in a row (the last was '{path}'): the "
                            f"model cannot run here (out of memory?). The songs analysed so far are kept; run "
                            f"the build again to go on.") from None
                    inflight.clear()
                    yield path, None, None, "the analysing process died on this file (a crash or out of memory)"
                    break
                inflight.popleft()
                deaths = 0
                yield result
        finally:
            _stop_pool(pool, kill=not clean)


def _results(todo: list[str], *, model: str, workers: int | None, engine: str,
             address: str | None) -> Iterator[Analysed]:
    """:func:`analyse_file` results for ``todo``, in order, from the chosen engine (closing the generator stops
    its workers)."""
    if engine == "ray":
        from core.cluster.catalog import analyse_on_ray

        return analyse_on_ray(todo, model=model, actors=workers, address=address)
    return _analyse_all(todo, model=model, workers=max(1, workers or min(4, os.cpu_count() or 1)))


# --- reading and writing -----------------------------------------------------------------------------------------

def _digest(data: bytes | memoryview) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def _checksums(tracks: pd.DataFrame, embeddings: np.ndarray) -> dict[str, str]:
    hashes = "\n".join(map(str, tracks["hash"].to_numpy(dtype=object))) if len(tracks) else ""
    emb = np.ascontiguousarray(embeddings, dtype=np.float32)
    return {"hashes": _digest(hashes.encode()), "embeddings": _digest(emb.reshape(-1).view(np.uint8).data)}


def _rebuild_hint(folder: Path) -> str:
    return (f"delete the folder {folder} and build the catalog again (`python -m core catalog build DIR "
            f"--name NAME` or `--out {folder}`)")


def _read_committed(folder: Path) -> tuple[pd.DataFrame, np.ndarray, dict | None, list[str], bool]:
    """The committed ``(tracks, embeddings, info, notes, repaired)`` of ``folder``; empty with ``info=None`` when
    there is no commit marker. Rows past the marker's count are dropped (a note, ``repaired``).

    Raises:
        CatalogError: damaged or mismatched files that cannot be repaired.
    """
    marker = folder / _MARKER
    if not marker.is_file():
        return pd.DataFrame(), np.zeros((0, 0), np.float32), None, [], False
    try:
        info = json.loads(marker.read_text())
        count, dim = int(info["tracks"]), int(info["embedding_dim"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CatalogError(f"The catalog in {folder} is damaged: {marker.name} cannot be read ({exc}); "
                           f"{_rebuild_hint(folder)}.") from exc
    try:
        tracks = pd.read_parquet(folder / _TRACKS)
        embeddings = np.load(folder / _EMBEDDINGS, allow_pickle=False)
    except Exception as exc:  # noqa: BLE001 - any damage (missing, truncated, garbage) is refused the same way
        raise CatalogError(f"The catalog in {folder} is damaged: its songs or embeddings cannot be read "
                           f"({type(exc).__name__}: {exc}); {_rebuild_hint(folder)}.") from exc
    if embeddings.ndim != 2 or (len(embeddings) and embeddings.shape[1] != dim) or "hash" not in tracks:
        raise CatalogError(f"The catalog in {folder} is damaged: embeddings.npy has shape {embeddings.shape}, not "
                           f"(songs, {dim}), or tracks.parquet has no hash column; {_rebuild_hint(folder)}.")
    if len(tracks) < count or len(embeddings) < count:
        raise CatalogError(f"The catalog in {folder} is inconsistent: catalog.json records {count} songs but "
                           f"tracks.parquet holds {len(tracks)} and embeddings.npy {len(embeddings)}; it cannot be "
                           f"served; {_rebuild_hint(folder)}.")
    notes, repaired = [], False
    if len(tracks) > count or len(embeddings) > count:
        notes.append(f"Catalog {folder}: an interrupted commit left {len(tracks)} metadata rows and "
                     f"{len(embeddings)} embeddings for {count} committed songs; the extra rows were dropped "
                     f"(the next build analyses those songs again).")
        tracks, embeddings = tracks.iloc[:count].reset_index(drop=True), embeddings[:count]
        repaired = True
    expected = info.get("checksums")
    if expected is not None and _checksums(tracks, embeddings) != expected:
        raise CatalogError(f"The catalog in {folder} is inconsistent: its songs or embeddings do not match the "
                           f"checksums in catalog.json; it cannot be served; {_rebuild_hint(folder)}.")
    if not info.get("complete", True):
        notes.append(f"Catalog {folder}: its last build did not finish ({count} songs so far); run the build "
                     f"again to add the rest.")
    return tracks, embeddings.astype(np.float32, copy=False), info, notes, repaired


def _load_index(folder: Path, embeddings: np.ndarray, notes: list[str]):
    """The saved index if it matches ``embeddings`` (same rows and dimension), else one rebuilt (with a note)."""
    from core.library.index import EmbeddingIndex

    try:
        index = EmbeddingIndex.load(folder / _INDEX)
        if len(index) == len(embeddings) and index.dim == embeddings.shape[1]:
            return index, False
        why = f"it holds {len(index)} rows for {len(embeddings)} songs"
    except Exception as exc:  # noqa: BLE001 - missing, unreadable or mismatched: rebuilt from the embeddings
        why = f"it cannot be read ({exc})"
    notes.append(f"Catalog {folder}: the similarity index was rebuilt from the embeddings ({why}).")
    return EmbeddingIndex.build(embeddings), True



def _replace(target: Path, write) -> None:
    """Write ``target`` through ``write(handle)`` into a hidden temporary file beside it, flush, rename."""
    temp = target.with_name(f".{target.name}{_TMP_SUFFIX}")
    try:
        with open(temp, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def _commit(out: Path, *, tracks: pd.DataFrame, embeddings: np.ndarray, info: dict,
            failed: list[tuple[str, str]]) -> None:
    """Write one consistent state of the catalog, ``catalog.json`` (the marker) last."""
    from core.library.index import EmbeddingIndex

    _replace(out / _TRACKS, lambda h: tracks.to_parquet(h, index=False))
    _replace(out / _EMBEDDINGS, lambda h: np.save(h, embeddings, allow_pickle=False))
    EmbeddingIndex.build(embeddings).save(out / _INDEX)
    _replace(out / _REPORT, lambda h: h.write(pd.DataFrame(failed, columns=["path", "error"])
                                              .to_csv(index=False).encode()))
    marker = {**info, "format": FORMAT_VERSION, "tracks": len(tracks),
              "embedding_dim": int(embeddings.shape[1]), "checksums": _checksums(tracks, embeddings),
              "updated": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    _replace(out / _MARKER, lambda h: h.write(json.dumps(marker, indent=2).encode()))
    fsync_folder(out)


def _remove_stale_temps(out: Path) -> None:
    for folder in (out, out / _INDEX):
        if folder.is_dir():
            for temp in folder.glob(f".*{_TMP_SUFFIX}"):
                temp.unlink(missing_ok=True)


@contextmanager
def _build_lock(out: Path) -> Iterator[None]:
    """Hold ``out/.lock`` (``flock``) for the build; another build of the same catalog is refused."""
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock
        yield
        return
    handle = open(out / _LOCK, "a+")
    try:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise CatalogError(f"Catalog {out} is being built by another process right now; wait for it to "
                               f"finish.") from None
        yield
    finally:
        handle.close()


def catalog_model(name: str | None = None, *, out: str | Path | None = None,
                  root: Path = CATALOGS_DIR) -> str | None:
    """The model an existing catalog was built with (``None`` when there is no readable catalog there)."""
    try:
        return str(json.loads((catalog_dir(name, out=out, root=root) / _MARKER).read_text())["model"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


# --- building ----------------------------------------------------------------------------------------------------

@dataclass
class CatalogReport:
    """What a build did: songs ``added`` now, ``skipped`` (already committed, or duplicates), ``failed`` files
    with reasons, ``total`` songs in the catalog, ``notes`` about repairs."""

    folder: Path
    added: int
    skipped: int
    failed: list[tuple[str, str]]
    total: int
    notes: list[str] = field(default_factory=list)


def build_catalog(folder: Path, *, name: str | None = None, out: str | Path | None = None, model: str = "musicnn",
                  workers: int | None = None, progress: bool = True, root: Path = CATALOGS_DIR,
                  batch_size: int = BATCH_SIZE, on_song: Callable[[int, int], None] | None = None,
                  engine: str = "local", address: str | None = None) -> CatalogReport:
    """Analyse every audio file under ``folder`` into a catalog, committing every ``batch_size`` songs and
    resuming where a previous (even killed) build stopped. See the module docstring.

    Args:
        folder: Music folder, scanned recursively (hidden files and folders skipped).
        name: Catalog name: its folder is ``root/name`` (checked by :func:`check_name`).
        out: An explicit catalog folder instead of a name (its last part becomes the name).
        model: Run id / folder or ``"musicnn"``; an existing catalog keeps its model.
        workers: Processes (default: CPU count, at most 4); with ``engine="ray"``, actors (default: one per CPU
            of the Ray cluster).
        batch_size: Newly analysed songs per commit.
        on_song: Called with ``(songs done, songs to analyse)`` after each song (the dashboard's progress bar).
        engine: ``"local"`` (worker processes here) or ``"ray"`` (Ray Data actors, :mod:`core.cluster.catalog`);
            the writer, commits and resuming are the same for both.
        address: The Ray cluster to join (``engine="ray"`` only; default ``$RAY_ADDRESS``, else a local Ray).

    Raises:
        CatalogError: a bad name, a catalog built with another model or being built elsewhere, a damaged
            catalog that cannot be repaired.
        InputError: no audio files, none could be analysed, or an unknown engine.
        core.cluster.session.RayUnavailableError: ``engine="ray"`` and Ray cannot start or be reached.
        core.cluster.files.RayWorkError: ``engine="ray"`` and the work cannot run there (the songs analysed so
            far are committed).
    """
    from core.runs.folder import load_model

    out = catalog_dir(name, out=out, root=root)
    name = name if name is not None else out.resolve().name
    if batch_size < 1:
        raise InputError(f"batch_size must be at least 1; got {batch_size}.")
    if engine not in ENGINES:
        raise InputError(f"Unknown engine '{engine}': use one of {', '.join(ENGINES)}.")
    out.mkdir(parents=True, exist_ok=True)
    with _build_lock(out):
        _remove_stale_temps(out)
        tracks, embeddings, info, notes, repaired = _read_committed(out)
        was_complete = info is not None and bool(info.get("complete", True)) and "checksums" in info
        if info is not None:
            if info["model"] != model:
                raise CatalogError(f"Catalog '{name}' was built with model '{info['model']}', not '{model}'.")
            _, rebuilt = _load_index(out, embeddings, notes)
            repaired = repaired or rebuilt
        files = audio_files(folder)
        if not files:
            raise InputError(f"No audio files ({', '.join(AUDIO_EXTENSIONS)}) under '{folder}'.")
        known = set(tracks["hash"]) if len(tracks) else set()
        todo, hashes, failed, skipped = [], {}, [], 0
        seen: set[str] = set()
        for path in files:
            try:
                digest = content_hash(path)
            except OSError as exc:
                failed.append((repo_relative(path), f"the file cannot be read ({exc.strerror or exc})."))
                continue
            except Exception as exc:  # noqa: BLE001 - one file never aborts the build
                failed.append((repo_relative(path), f"unexpected error while reading: {type(exc).__name__}: {exc}"))
                continue
            if digest in known or digest in seen:
                skipped += 1
                continue
            seen.add(digest)
            hashes[str(path)] = digest
            todo.append(str(path))
        if info is None:
            info = {"name": name, "model": model, "classes": list(load_model(model, device="cpu").classes),
                    "source": repo_relative(Path(folder))}
        info = {**info, "complete": False}
        rows, embs, added = [], [], 0
        last_commit_s, since_commit = 0.0, time.perf_counter()

        def commit(*, complete: bool) -> None:
            nonlocal tracks, embeddings, rows, embs, last_commit_s, since_commit
            start = time.perf_counter()
            if rows:
                tracks = pd.concat([tracks, pd.DataFrame(rows)], ignore_index=True) if len(tracks) else \
                    pd.DataFrame(rows)
                new = np.stack(embs)
                embeddings = np.concatenate([embeddings, new]) if embeddings.size else new
                rows, embs = [], []
            if len(tracks):
                _commit(out, tracks=tracks, embeddings=embeddings, info={**info, "complete": complete},
                        failed=failed)
            last_commit_s, since_commit = time.perf_counter() - start, time.perf_counter()

        if todo:
            results = _results(todo, model=model, workers=workers, engine=engine, address=address)
            try:
                for done, (path, row, emb, error) in enumerate(
                        tqdm(results, total=len(todo), desc=f"catalog {name}", unit="song", disable=not progress), 1):
                    if on_song is not None:
                        on_song(done, len(todo))
                    if row is None:
                        failed.append((repo_relative(Path(path)), error))
                        continue
                    rows.append({"path": repo_relative(Path(path)), "hash": hashes[path],
                                 **read_metadata(Path(path)), **row})
                    embs.append(emb)
                    added += 1
                    if len(rows) >= batch_size and (time.perf_counter() - since_commit) >= _COMMIT_SHARE * \
                            last_commit_s:
                        commit(complete=False)
            except BaseException:
                results.close()  # stop the pool and its workers first
                if rows:  # keep what was analysed (Ctrl-C, a pool that keeps dying): the next build resumes
                    commit(complete=False)
                raise
            finally:
                results.close()  # stops the pool (and its workers) whatever happened
        if not len(tracks) and not rows:
            first = "; ".join(f"{p}: {e}" for p, e in failed[:3])
            raise InputError(f"None of the {len(files)} files under '{folder}' could be analysed ({first}).")
        if rows or added or repaired or not was_complete:
            commit(complete=True)
        else:  # nothing new: only the report of this build changes
            _replace(out / _REPORT, lambda h: h.write(pd.DataFrame(failed, columns=["path", "error"])
                                                      .to_csv(index=False).encode()))
    return CatalogReport(folder=out, added=added, skipped=skipped, failed=failed, total=len(tracks), notes=notes)


# --- loading -----------------------------------------------------------------------------------------------------

@dataclass
class Catalog:
    """A built catalog, loaded for queries; ``notes`` describe repairs made while loading (in memory)."""

    name: str
    info: dict
    tracks: pd.DataFrame
    embeddings: np.ndarray
    index: object
    notes: list[str] = field(default_factory=list)

    @classmethod
    def load(cls, name: str, *, root: Path = CATALOGS_DIR) -> "Catalog":
        """Load catalog ``name`` (under ``root``) or the catalog folder ``name``, checked for consistency.

        Raises:
            NotFoundError: no such catalog.
            CatalogError: an invalid name, or a damaged or inconsistent catalog that cannot be repaired.
        """
        text = str(name)
        explicit = Path(text)
        if any(sep in text for sep in ("/", "\\", os.sep)) or (explicit / _MARKER).is_file():
            folder = explicit
            if not (folder / _MARKER).is_file():
                raise NotFoundError(f"No catalog in '{name}'. Build one with `python -m core catalog build DIR "
                                    f"--out {name}`.")
        else:
            folder = root / check_name(text)
            if not (folder / _MARKER).is_file():
                raise NotFoundError(f"No catalog '{name}'. Build one with `python -m core catalog build DIR "
                                    f"--name {name}`.")
        tracks, emb, info, notes, _ = _read_committed(folder)
        assert info is not None
        index, _ = _load_index(folder, emb, notes)
        return cls(name=info.get("name", folder.name), info=info, tracks=tracks, embeddings=emb, index=index,
                   notes=notes)


def search(catalog: Catalog, *, style: str | None = None, genre: str | None = None,
           text: str | None = None) -> pd.DataFrame:
    """Catalog songs with a style among their strongest (``styles`` column), a predicted or tagged genre, and/or
    ``text`` in title, artist or album (all case-insensitive; conditions combine with "and").

    Returns:
        Rows of ``catalog.tracks`` (title, artist, album, genre, tag_genre, styles, path …) in catalog order.
    """
    tracks = catalog.tracks
    keep = pd.Series(True, index=tracks.index)
    if style:
        styles = tracks.get("styles", pd.Series("", index=tracks.index)).fillna("").str.lower()
        keep &= styles.map(lambda s: style.lower() in [x.strip() for x in s.split(",")])
    if genre:
        g = genre.lower()
        keep &= (tracks["genre"].str.lower() == g) | tracks["tag_genre"].fillna("").str.lower().str.contains(g)
    if text:
        fields = tracks[["title", "artist", "album"]].fillna("").agg(" ".join, axis=1).str.lower()
        keep &= fields.str.contains(text.lower(), regex=False)
    return tracks[keep]


def list_catalogs(root: Path = CATALOGS_DIR) -> list[str]:
    """Names of built catalogs (folders under ``root`` with a commit marker)."""
    return sorted(p.parent.name for p in root.glob(f"*/{_MARKER}")) if root.is_dir() else []
