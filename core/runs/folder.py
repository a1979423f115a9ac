"""Run folders: the contract between training, evaluation and the dashboard.

```
models/runs/<run_id>/
  run.json              model kind, hyperparameters, architecture, AudioConfig, classes, dataset, split, seed,
                        versions, durations
  history.csv           epoch, train_loss, train_acc, val_loss, val_acc, lr, seconds
  metrics.json          segment- and song-level accuracy, macro-F1, top-2, per-class precision/recall/F1/support
  confusion.csv         song-level confusion matrix (rows true, columns predicted)
  predictions.parquet   one row per evaluated segment: track_id, path, start, end, true, predicted, p_<class>...
  weights.safetensors | knn.npz | head.npz
```

A run is written into a hidden temporary folder beside its final place and renamed when complete, so a crash or
Ctrl-C never leaves a half run that the dashboard would show.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import pandas as pd

from core.config import from_repo
from core.models.base import RUNS_DIR

RUN_FILES = ("run.json", "history.csv", "metrics.json", "confusion.csv", "predictions.parquet")


@contextmanager
def staged_run(run_id: str, *, root: Path = RUNS_DIR) -> Iterator[Path]:
    """Yield a temporary folder to write a run into; on success it is renamed to ``root/run_id``.

    On any exception (KeyboardInterrupt included) the temporary folder is deleted and nothing appears.
    """
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", run_id):
        raise ValueError(f"Run id '{run_id}' must be letters, digits, '.', '_' or '-' (it names a folder).")
    root.mkdir(parents=True, exist_ok=True)
    final = root / run_id
    if final.exists():
        raise FileExistsError(f"A run named '{run_id}' already exists in {root}.")
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=root))
    try:
        yield tmp
        tmp.rename(final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


@dataclass
class Run:
    """A completed run folder, read lazily."""

    path: Path

    @property
    def run_id(self) -> str:
        return self.path.name

    @cached_property
    def info(self) -> dict:
        """Contents of ``run.json``."""
        return json.loads((self.path / "run.json").read_text())

    @cached_property
    def metrics(self) -> dict:
        """Contents of ``metrics.json``."""
        return json.loads((self.path / "metrics.json").read_text())

    @cached_property
    def history(self) -> pd.DataFrame:
        """Per-epoch training history (empty for KNN and other non-iterative runs)."""
        return pd.read_csv(self.path / "history.csv")

    @cached_property
    def confusion(self) -> pd.DataFrame:
        """Song-level confusion matrix, true genres as rows, predicted as columns."""
        return pd.read_csv(self.path / "confusion.csv", index_col=0)

    @cached_property
    def predictions(self) -> pd.DataFrame:
        """One row per evaluated segment."""
        return pd.read_parquet(self.path / "predictions.parquet")

    @property
    def classes(self) -> list[str]:
        return list(self.info["classes"])

    def audio_file(self, stored: str) -> Path:
        """Local path of a prediction's audio (``path`` column).

        A clip of the project's synthetic set that is not on this machine is rendered again on demand from the
        set's parameters recorded in ``run.json`` (same bytes as the original), so error analysis of the shipped
        runs has audio on a fresh checkout.
        """
        path = from_repo(stored)
        synth = self.info.get("dataset", {}).get("synth")
        if synth and not path.exists():
            from core.synth import restore_clip

            restore_clip(path, params=synth)
        return path

    def summary(self) -> dict[str, object]:
        """One flat row for run tables: identity, data, split, seed, key hyperparameters, headline metrics."""
        info, m = self.info, self.metrics
        hyper = info.get("hyperparameters", {})
        return {
            "run_id": self.run_id,
            "model": info["model"],
            "group": info.get("group", self.run_id),
            "dataset": info.get("dataset", {}).get("name", ""),
            "split": info.get("split", {}).get("kind", ""),
            "seed": info.get("seed"),
            "epochs": hyper.get("epochs"),
            "lr": hyper.get("lr"),
            "batch_size": hyper.get("batch_size"),
            "k": hyper.get("k"),
            "segment_accuracy": m.get("segment", {}).get("accuracy"),
            "song_accuracy": m.get("song", {}).get("accuracy"),
            "song_macro_f1": m.get("song", {}).get("macro_f1"),
            "song_top2": m.get("song", {}).get("top2_accuracy"),
            "train_seconds": info.get("durations", {}).get("train_seconds"),
            "created": info.get("created", ""),
        }


def list_runs(root: Path = RUNS_DIR) -> list[Run]:
    """Completed runs under ``root`` (temporary folders excluded), newest first."""
    if not root.is_dir():
        return []
    runs = [Run(p) for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")
            and all((p / f).is_file() for f in RUN_FILES)]
    return sorted(runs, key=lambda r: (r.info.get("created", ""), r.run_id), reverse=True)


def runs_table(runs: list[Run]) -> pd.DataFrame:
    """One row per run (see :meth:`Run.summary`)."""
    return pd.DataFrame([r.summary() for r in runs])


def seed_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Mean ± std of the headline metrics over runs sharing a ``group`` (one training over several seeds)."""
    metrics = ["segment_accuracy", "song_accuracy", "song_macro_f1"]
    grouped = table.groupby(["group", "model"])[metrics]
    out = grouped.mean().add_suffix("_mean").join(grouped.std(ddof=1).add_suffix("_std"))
    out["n_seeds"] = grouped.size()
    return out.reset_index()
