"""Starting or joining Ray: local by default (this machine's cores), a cluster by ``--address`` or ``$RAY_ADDRESS``."""

from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Iterator

from core.errors import GenreLabError


class RayUnavailableError(GenreLabError):
    """Ray is not installed, or could not start or reach the cluster."""


@contextmanager
def ray_session(*, address: str | None = None, num_cpus: int | None = None) -> Iterator[object]:
    """Run the enclosed work on Ray, then disconnect.

    Args:
        address: A cluster (``ray://host:10001`` or ``host:6379``); default ``$RAY_ADDRESS``, else a local Ray
            started on this machine with ``num_cpus`` CPUs (default: all of them).
        num_cpus: CPUs for a local Ray; ignored when joining a cluster.

    Yields:
        The ``ray`` module, initialised. A Ray this process had already started is reused and left running.
    """
    try:
        import ray
    except ImportError as exc:
        raise RayUnavailableError("Ray is not installed: run `pip install -r requirements-cluster.txt`.") from exc
    if ray.is_initialized():
        yield ray
        return
    address = address or os.environ.get("RAY_ADDRESS") or None
    try:
        ray.init(address=address, num_cpus=None if address else num_cpus, include_dashboard=False,
                 log_to_driver=False, configure_logging=False)
    except Exception as exc:  # Ray raises many types (ConnectionError, RuntimeError, ValueError...)
        where = f"the Ray cluster at {address}" if address else "a local Ray"
        raise RayUnavailableError(f"Could not start or reach {where}: {exc}") from exc
    try:
        yield ray
    finally:
        ray.shutdown()
