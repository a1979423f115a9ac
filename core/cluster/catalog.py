"""Catalog analysis on Ray Data: actors that each load the model once, results back in order for the writer.

:func:`core.library.catalog.build_catalog` calls :func:`analyse_on_ray` when asked for ``engine="ray"``; the
catalog's writer (commits every 32 songs, ``catalog.json`` last, resuming) stays in that module and runs in this
process (the driver). Every file is analysed by :func:`core.library.catalog.analyse_file`, the local workers'
function, so both engines give the same rows and embeddings.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import numpy as np

from core.cluster.files import map_files
from core.library.catalog import Analysed, analyse_file

#: The reason given for a file whose worker died on it (twice).
LOST = "the analysing process died on this file (a crash or out of memory)"


class CatalogActor:
    """One Ray actor: loads the model once (one torch thread, as the local workers), analyses batches of files."""

    def __init__(self, *, model: str) -> None:
        import torch

        from core.runs.folder import load_model

        torch.set_num_threads(1)
        self._model = load_model(model, device="cpu")

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """``{"path": (n,)}`` → ``{"path", "row" (JSON text, "" on failure), "embedding" (float32 bytes),
        "error" ("" on success)}``, each ``(n,)``."""
        rows, embeddings, errors = [], [], []
        for path in batch["path"]:
            _, row, embedding, error = analyse_file(str(path), model=self._model)
            rows.append("" if row is None else json.dumps(row))
            embeddings.append(b"" if embedding is None else np.ascontiguousarray(embedding, np.float32).tobytes())
            errors.append(error)
        return {"path": batch["path"], "row": np.array(rows, dtype=object),
                "embedding": np.array(embeddings, dtype=object), "error": np.array(errors, dtype=object)}


def _model_ref(model: str) -> str:
    """``model`` as the actors must name it: ``musicnn``, or the run's folder as an absolute path (actors do not
    share this process's working folder or ``$GENRE_LAB_RUNS``)."""
    from core.models.registry import PRETRAINED_NAME
    from core.runs.folder import resolve_run

    return model if model == PRETRAINED_NAME else str(resolve_run(model).absolute())


def analyse_on_ray(todo: list[str], *, model: str, actors: int | None = None,
                   address: str | None = None) -> Iterator[Analysed]:
    """``(path, row, embedding (d,) float32, error)`` for each file of ``todo``, in order, analysed on Ray.

    Args:
        todo: Audio files (visible to every node at their absolute paths).
        model: Run id / folder or ``"musicnn"``.
        actors: Actors, one CPU each (default: every CPU of the Ray cluster).
        address: The Ray cluster (default ``$RAY_ADDRESS``, else a local Ray started here).

    Raises:
        core.cluster.session.RayUnavailableError: Ray cannot start or be reached.
        core.cluster.files.RayWorkError: the model cannot load on the actors, or they die on every file.
    """
    for path, record in map_files(todo, udf=CatalogActor, udf_kwargs={"model": _model_ref(model)}, actors=True,
                                  workers=actors, address=address):
        if record is None:
            yield path, None, None, LOST
        elif record["error"]:
            yield path, None, None, str(record["error"])
        else:
            yield path, json.loads(record["row"]), np.frombuffer(record["embedding"], dtype=np.float32).copy(), ""
