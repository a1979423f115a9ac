"""The dataset cache pass (decode every file into the waveform cache) on Ray Data, as stateless tasks.

:func:`core.data.cache.warm_cache` calls :func:`warm_on_ray` when asked for ``engine="ray"``; each file goes
through :func:`core.data.cache.warm_file`, as on the local path. The cache folder must be one folder that every
node writes (a shared filesystem); entries are written atomically, so nodes never see half an entry.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from core.cluster.files import map_files
from core.data.cache import warm_file

#: The reason given for a file whose worker died on it (twice).
LOST = "the decoding process died on this file (a crash or out of memory)"


def decode_batch(batch: dict[str, np.ndarray], *, sample_rate: int, max_seconds: float | None,
                 root: str) -> dict[str, np.ndarray]:
    """Ray task: ``{"path": (n,)}`` → ``{"path", "status" ("decoded" | "cached" | "failed"), "reason"}``."""
    results = [warm_file(str(p), sample_rate=sample_rate, max_seconds=max_seconds, root=Path(root))
               for p in batch["path"]]
    return {"path": batch["path"], "status": np.array([r[1] for r in results], dtype=object),
            "reason": np.array([r[2] for r in results], dtype=object)}


def warm_on_ray(paths: list[str], *, sample_rate: int, max_seconds: float | None, root: Path,
                workers: int | None = None, address: str | None = None) -> Iterator[tuple[str, str, str]]:
    """``(path, "decoded" | "cached" | "failed", reason)`` for each of ``paths``, in order, decoded on Ray.

    Args:
        paths: Audio files (visible to every node at their absolute paths).
        sample_rate: Output rate in Hz.
        max_seconds: Decode at most this many seconds per file (None: all).
        root: The cache folder (every node's tasks write there).
        workers: Concurrent tasks, one CPU each (default: every CPU of the Ray cluster).
        address: The Ray cluster (default ``$RAY_ADDRESS``, else a local Ray started here).
    """
    kwargs = {"sample_rate": sample_rate, "max_seconds": max_seconds, "root": str(root.absolute())}
    for path, record in map_files(paths, udf=decode_batch, udf_kwargs=kwargs, actors=False, workers=workers,
                                  address=address):
        yield (path, "failed", LOST) if record is None else (path, str(record["status"]), str(record["reason"]))
