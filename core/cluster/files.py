"""One function over many files on Ray Data, with the results back in the files' order, as they are done.

The engine under the Ray catalog build (:mod:`core.cluster.catalog`) and the Ray cache pass
(:mod:`core.cluster.cache`). Each file is its own block and its own batch, so a file that kills its worker (a
native crash, the out-of-memory killer) loses only itself: Ray retries it once (a node may have gone away), then
the block is dropped (``max_errored_blocks``) and the file comes back as lost (``None``). Results stream to the
caller in the files' order (``preserve_order``) while the rest is still running, so the caller can write them in
batches. Ray is imported only inside these functions.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections import deque
from collections.abc import Callable, Iterator

from core.cluster.session import ray_session
from core.errors import GenreLabError

class RayWorkError(GenreLabError):
    """Work sent to Ray could not run (a worker that cannot start, or that dies on every file)."""


#: Files in a row that came back lost before the pass is stopped (the work cannot run there at all).
MAX_LOST_IN_A_ROW = 3


def map_files(paths: list[str], *, udf: Callable | type, udf_kwargs: dict[str, object], actors: bool,
              workers: int | None = None, address: str | None = None) -> Iterator[tuple[str, dict | None]]:
    """Run ``udf`` over ``paths`` on Ray Data and yield ``(path, record)`` for each path, in order.

    Args:
        paths: Files, as the caller names them (sent to Ray as absolute paths: a cluster's nodes must see them at
            those paths, e.g. on a shared filesystem).
        udf: A Ray Data batch function ``(batch, **udf_kwargs) -> batch``, or with ``actors`` a class built once per
            actor as ``udf(**udf_kwargs)`` and called per batch. A batch is ``{"path": (1,) object array}``; the
            output must hold a ``path`` column with that same (absolute) path.
        udf_kwargs: Keyword arguments of the function, or of the class's constructor.
        actors: An actor pool (state loaded once per actor, e.g. a model) instead of stateless tasks.
        workers: Actors or concurrent tasks, one CPU each (default: every CPU of the Ray cluster).
        address: The Ray cluster to join (default ``$RAY_ADDRESS``, else a local Ray on this machine).

    Yields:
        ``(path, record)``: the output row of ``path`` as a dict, or ``None`` when its worker died on it twice.

    Raises:
        core.cluster.session.RayUnavailableError: Ray is not installed or cannot start or be reached.
        RayWorkError: the work cannot run (e.g. the constructor fails), or :data:`MAX_LOST_IN_A_ROW` files in a
            row were lost.
    """
    if not paths:
        return
    with ray_session(address=address) as ray:
        import ray.data

        size = min(len(paths), workers or max(1, int(ray.cluster_resources().get("CPU", 1))))
        absolute = [os.path.abspath(p) for p in paths]
        ds = ray.data.from_items([{"path": p} for p in absolute], override_num_blocks=len(paths))
        with warnings.catch_warnings():  # Ray 2.60 names no parameter for retries yet; ray_remote_args still work
            warnings.filterwarnings("ignore", message=".*ray_remote_args.* is deprecated")
            if actors:  # one file in flight per actor: a crash takes no other file down with it
                ds = ds.map_batches(udf, fn_constructor_kwargs=udf_kwargs, batch_size=1, num_cpus=1,
                                    compute=ray.data.ActorPoolStrategy(size=size, max_tasks_in_flight_per_actor=1),
                                    max_task_retries=1)
            else:
                ds = ds.map_batches(udf, fn_kwargs=udf_kwargs, batch_size=1, num_cpus=1, concurrency=size,
                                    max_retries=1)
        ctx = ds.context
        ctx.execution_options.preserve_order = True
        ctx.max_errored_blocks = -1  # a lost file drops its own block only; found below by its missing row
        ctx.enable_progress_bars = False
        expected = deque(zip(absolute, paths))
        lost_in_a_row = 0

        def lost(path: str) -> tuple[str, None]:
            nonlocal lost_in_a_row
            lost_in_a_row += 1
            if lost_in_a_row >= MAX_LOST_IN_A_ROW:
                raise RayWorkError(
                    f"Ray's workers died on {lost_in_a_row} files in a row (the last was '{path}'): the work cannot "
                    f"run there (out of memory?). What was done so far is kept; run the command again to go on.")
            return path, None

        quiet = logging.getLogger("ray.data")
        level = quiet.level
        quiet.setLevel(logging.ERROR)  # no "Starting execution" lines from core (lost files are reported here)
        try:
            for record in ds.iter_rows():
                while expected and expected[0][0] != record["path"]:
                    yield lost(expected.popleft()[1])
                if not expected:
                    raise RayWorkError(f"Ray returned a result for a file it was not given: "
                                              f"{record['path']}.")
                lost_in_a_row = 0
                yield expected.popleft()[1], record
            while expected:
                yield lost(expected.popleft()[1])
        except ray.exceptions.RayError as exc:
            raise RayWorkError(f"The work on Ray stopped: {type(exc).__name__}: "
                                      f"{str(exc).splitlines()[0]}") from exc
        finally:
            quiet.setLevel(level)
