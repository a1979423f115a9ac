"""Decoded waveforms cached on disk, keyed by the file's content and the decode parameters.

One cache entry is ``<cache_dir>/<hh>/<blake2b-128 of the file bytes>_sr<rate>_<full|m<max_seconds>>.npy``:
mono float32 ``(n,)`` written with ``allow_pickle=False`` through a temporary file and ``os.replace`` (a
crash never leaves a half entry). A decode that was not cut short (``Decoded.truncated`` false) is stored
as ``full`` and also answers requests with any ``max_seconds`` the recording does not exceed, so a cache
warmed without a limit serves training with ``AudioConfig.max_seconds``.

The cache folder is, in order: the ``cache_dir`` argument, the ``GENRE_LAB_CACHE`` environment variable,
``data/cache/`` under the repository root.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from tqdm import tqdm

from core.audio import decode as audio
from core.audio.files import content_hash
from core.config import REPO_ROOT
from core.errors import InputError

if TYPE_CHECKING:
    from core.config import AudioConfig

CACHE_ENV = "GENRE_LAB_CACHE"
#: Bumped when the decoder's output changes, so old entries are never read.
CACHE_VERSION = 1
_HASH_CHUNK = 1 << 20


def cache_root(cache_dir: str | Path | None = None) -> Path:
    """The cache folder: ``cache_dir``, else ``$GENRE_LAB_CACHE``, else ``<repo>/data/cache``."""
    if cache_dir is not None:
        return Path(cache_dir)
    env = os.environ.get(CACHE_ENV)
    return Path(env) if env else REPO_ROOT / "data" / "cache"


def _entry(root: Path, digest: str, *, sample_rate: int, max_seconds: float | None) -> Path:
    limit = "full" if max_seconds is None else f"m{max_seconds:g}"
    return root / digest[:2] / f"{digest}_v{CACHE_VERSION}_sr{sample_rate}_{limit}.npy"


def _usable(entry: Path, *, max_samples: int | None) -> bool:
    """True when ``entry`` is a readable array (of at most ``max_samples`` samples when given).

    Only the ``.npy`` header is read (memory map), so checking a cached file costs no decoding nor copying.
    """
    try:
        samples = np.load(entry, mmap_mode="r", allow_pickle=False)
    except (FileNotFoundError, ValueError, EOFError, OSError):
        return False
    return samples.ndim == 1 and (max_samples is None or len(samples) <= max_samples)


def _lookup(root: Path, digest: str, *, sample_rate: int, max_seconds: float | None) -> Path | None:
    """The entry answering this request: the exact one, else a ``full`` one no longer than ``max_seconds``."""
    exact = _entry(root, digest, sample_rate=sample_rate, max_seconds=max_seconds)
    if _usable(exact, max_samples=None):
        return exact
    if max_seconds is not None:
        full = _entry(root, digest, sample_rate=sample_rate, max_seconds=None)
        if _usable(full, max_samples=int(max_seconds * sample_rate)):
            return full
    return None


def _save(entry: Path, samples: np.ndarray) -> None:
    """Write ``samples`` to ``entry`` atomically (temporary file in the same folder, then ``os.replace``)."""
    entry.parent.mkdir(parents=True, exist_ok=True)
    handle = tempfile.NamedTemporaryFile(dir=entry.parent, prefix=".tmp-", suffix=".npy", delete=False)
    try:
        with handle:
            np.save(handle, np.ascontiguousarray(samples, dtype=np.float32), allow_pickle=False)
        os.replace(handle.name, entry)
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise


def _ensure(path: str | Path, *, sample_rate: int, max_seconds: float | None,
            root: Path) -> tuple[Path, np.ndarray | None]:
    """``(entry, samples)``: an existing entry and None, or a fresh decode (:func:`core.audio.decode.load_audio`)
    just stored at ``entry`` and its samples."""
    digest = content_hash(path)
    found = _lookup(root, digest, sample_rate=sample_rate, max_seconds=max_seconds)
    if found is not None:
        return found, None
    decoded = audio.load_audio(path, sample_rate=sample_rate, max_seconds=max_seconds)
    # a cut-short decode is stored under the limit that cut it (``None`` means the decoder's own cap)
    stored_limit = (max_seconds or audio.MAX_SECONDS) if decoded.truncated else None
    entry = _entry(root, digest, sample_rate=sample_rate, max_seconds=stored_limit)
    _save(entry, decoded.samples)
    return entry, decoded.samples


def cached_waveform(path: str | Path, *, sample_rate: int, max_seconds: float | None = None,
                    cache_dir: str | Path | None = None) -> np.ndarray:
    """Mono float32 waveform ``(n,)`` of ``path`` at ``sample_rate`` Hz, decoded once and then read from disk.

    Args:
        path: Audio file.
        sample_rate: Output rate in Hz.
        max_seconds: Decode at most this many seconds (None: all).
        cache_dir: Cache folder (default: see :func:`cache_root`).

    Raises:
        core.audio.decode.AudioError: the file cannot be decoded (nothing is cached for it).
    """
    entry, samples = _ensure(path, sample_rate=sample_rate, max_seconds=max_seconds, root=cache_root(cache_dir))
    return samples if samples is not None else np.load(entry, allow_pickle=False)


def waveform_loader(cfg: "AudioConfig") -> Callable[[str], np.ndarray]:
    """``path -> samples (n,)`` at ``cfg.sample_rate`` (at most ``cfg.max_seconds``) from the on-disk cache."""
    return lambda path: cached_waveform(path, sample_rate=cfg.sample_rate, max_seconds=cfg.max_seconds)


def decodable_tracks(manifest: pd.DataFrame, cfg: "AudioConfig", *, workers: int | None = None,
                     progress: bool = True) -> tuple[pd.DataFrame, list[tuple[str, str]]]:
    """Decode every track of ``manifest`` into the cache (parallel, resumable) and drop those that fail.

    Returns:
        The rows that decoded, and ``(path, reason)`` for each file that could not be read (reported, not fatal).
    """
    report = warm_cache(list(manifest["path"]), sample_rate=cfg.sample_rate, max_seconds=cfg.max_seconds,
                        workers=workers, progress=progress)
    bad = {path for path, _ in report.failed}
    if not bad:
        return manifest, []
    keep = ~manifest["path"].astype(str).isin(bad)
    return manifest[keep], list(report.failed)


@dataclass
class CacheReport:
    """What :func:`warm_cache` did.

    Attributes:
        cache_dir: The cache folder used.
        decoded: Files decoded and written in this pass.
        cached: Files already in the cache (skipped without decoding).
        failed: ``(path, reason)`` for files that could not be read.
        seconds: Wall-clock time of the pass.
    """

    cache_dir: Path
    decoded: int = 0
    cached: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def total(self) -> int:
        """Files seen."""
        return self.decoded + self.cached + len(self.failed)


def warm_file(path: str, *, sample_rate: int, max_seconds: float | None, root: Path) -> tuple[str, str, str]:
    """Decode ``path`` into the cache at ``root`` unless it is there: ``(path, "decoded" | "cached" | "failed",
    reason)``; never raises for a bad file. Runs in the local workers and in Ray's tasks (:mod:`core.cluster.cache`)."""
    try:
        _, samples = _ensure(path, sample_rate=sample_rate, max_seconds=max_seconds, root=root)
    except audio.AudioError as error:
        return path, "failed", str(error)
    except Exception as error:  # noqa: BLE001 - one bad file must never abort a pass over thousands
        return path, "failed", f"{type(error).__name__}: {error}"
    return path, "cached" if samples is None else "decoded", ""


def warm_cache(paths: list[str | Path], *, sample_rate: int, max_seconds: float | None = None,
               workers: int | None = None, progress: bool = True, cache_dir: str | Path | None = None,
               engine: str = "local", address: str | None = None) -> CacheReport:
    """Decode every file not yet cached, in parallel; already cached files are skipped without decoding.

    Args:
        paths: Audio files (duplicates are visited once).
        sample_rate: Output rate in Hz.
        max_seconds: Decode at most this many seconds per file (None: all).
        workers: Processes (default: all CPU cores); 1 runs in this process. With ``engine="ray"``, concurrent
            Ray tasks (default: every CPU of the Ray cluster).
        progress: Show a tqdm bar.
        cache_dir: Cache folder (default: see :func:`cache_root`).
        engine: ``"local"`` (processes here) or ``"ray"`` (Ray Data tasks, :mod:`core.cluster.cache`; the cache
            folder must then be one that every node writes).
        address: The Ray cluster to join (``engine="ray"`` only; default ``$RAY_ADDRESS``, else a local Ray).

    Returns:
        A :class:`CacheReport`; unreadable files are listed in ``failed``, never raised.

    Raises:
        InputError: an unknown engine.
        core.cluster.session.RayUnavailableError: ``engine="ray"`` and Ray cannot start or be reached.
        core.cluster.files.RayWorkError: ``engine="ray"`` and the work cannot run there.
    """
    if engine not in ("local", "ray"):
        raise InputError(f"Unknown engine '{engine}': use local or ray.")
    root = cache_root(cache_dir)
    report = CacheReport(cache_dir=root)
    unique = list(dict.fromkeys(str(p) for p in paths))
    start = time.perf_counter()
    bar = tqdm(total=len(unique), desc="cache", unit="file", disable=not progress)
    if engine == "ray":
        from core.cluster.cache import warm_on_ray

        _collect(warm_on_ray(unique, sample_rate=sample_rate, max_seconds=max_seconds, root=root, workers=workers,
                             address=address), report, bar)
    else:
        workers = max(1, min(workers or os.cpu_count() or 1, len(unique) or 1))
        one = partial(warm_file, sample_rate=sample_rate, max_seconds=max_seconds, root=root)
        if workers == 1:
            _collect(map(one, unique), report, bar)
        else:
            with ProcessPoolExecutor(max_workers=workers) as pool:
                _collect(pool.map(one, unique, chunksize=max(1, min(16, len(unique) // (workers * 4)))), report,
                         bar)
    bar.close()
    report.seconds = time.perf_counter() - start
    return report


def _collect(results, report: CacheReport, bar: tqdm) -> None:
    for path, status, reason in results:
        if status == "failed":
            report.failed.append((path, reason))
        elif status == "decoded":
            report.decoded += 1
        else:
            report.cached += 1
        bar.update(1)
