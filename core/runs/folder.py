"""Run folders: the contract between training, evaluation and the dashboard, and its only reader and writer.

```
<runs root>/<run_id>/
  run.json              model kind, hyperparameters, architecture, AudioConfig, classes, dataset, split (with the
                        reloadable rule), seed, versions, durations
  history.csv           epoch, train_loss, train_acc, val_loss, val_acc, val_segment_acc, lr, seconds
  metrics.json          segment- and song-level accuracy, macro-F1, top-2, per-class precision/recall/F1/support
  confusion.csv         song-level confusion matrix (rows true, columns predicted)
  predictions.parquet   one row per evaluated segment: track_id, path, start, end, true, predicted, p_<class>...
  weights.safetensors | knn.npz | head.npz    (the kind's ``model_file``; never pickle)
```

The runs root is ``$GENRE_LAB_RUNS`` when set (CLI, dashboard and tests alike), else ``models/runs``. A run is
written into a hidden temporary folder beside its final place and renamed when complete, so a crash or Ctrl-C
never leaves a half run that the dashboard would show.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields
from datetime import datetime, timezone
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from core.config import REPO_ROOT, from_repo
from core.errors import InputError, NotFoundError
from core.models.registry import DEFAULT_RUN, KINDS, PRETRAINED_NAME, model_kind

if TYPE_CHECKING:
    import torch

    from core.models.base import GenreModel

#: Environment variable naming another runs folder.
RUNS_ENV = "GENRE_LAB_RUNS"
RUN_FILES = ("run.json", "history.csv", "metrics.json", "confusion.csv", "predictions.parquet")
HISTORY_COLUMNS = ["epoch", "train_loss", "train_acc", "val_loss", "val_acc", "val_segment_acc", "lr", "seconds"]


def runs_root() -> Path:
    """The runs folder: ``$GENRE_LAB_RUNS``, else ``models/runs`` under the repository."""
    env = os.environ.get(RUNS_ENV)
    return Path(env) if env else REPO_ROOT / "models" / "runs"


@contextmanager
def staged_run(run_id: str, *, root: Path | None = None) -> Iterator[Path]:
    """Yield a temporary folder to write a run into; on success it is renamed to ``root/run_id``.

    On any exception (KeyboardInterrupt included) the temporary folder is deleted and nothing appears.
    """
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", run_id):
        raise InputError(f"Run id '{run_id}' must be letters, digits, '.', '_' or '-' (it names a folder).")
    root = root or runs_root()
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


def fingerprint(manifest: pd.DataFrame) -> str:
    """A short hash of the dataset's tracks, labels and split (identifies the data a run saw)."""
    keys = manifest[["track_id", "label", "split"]].astype(str).agg("|".join, axis=1).sort_values()
    return hashlib.blake2b("\n".join(keys).encode(), digest_size=8).hexdigest()


def dataset_name(data: str) -> str:
    """A short name for a data source: its folder or file stem (a generic ``manifest.csv`` / ``metadata.csv`` is
    named after its folder)."""
    path = Path(data)
    if path.suffix and path.stem.lower() in ("manifest", "metadata", "tracks"):
        return path.resolve().parent.name
    return path.stem if path.suffix else path.name


def _versions() -> dict[str, str]:
    import librosa
    import numpy as np
    import sklearn
    import torch

    return {"python": platform.python_version(), "torch": torch.__version__, "librosa": librosa.__version__,
            "numpy": np.__version__, "scikit-learn": sklearn.__version__}


def write_run(info: dict, *, model: "GenreModel", history: pd.DataFrame, predictions: pd.DataFrame,
              root: Path | None = None) -> Path:
    """Write a complete run folder atomically; the one writer of the contract above.

    Args:
        info: ``run.json`` fields known to the caller (``run_id``, ``model``, ``hyperparameters``, ``dataset``,
            ``split``, ``seed``, ``durations`` …); classes, AudioConfig, architecture, device, versions and the
            creation time are added here.
        model: The trained model (its ``save(folder)`` writes the kind's model file).
        history: Per-epoch table (empty for non-iterative kinds).
        predictions: One row per evaluated segment (:func:`core.analysis.evaluate.predict_tracks`).

    Returns:
        The run folder.
    """
    from core.analysis.evaluate import compute_metrics

    metrics, confusion = compute_metrics(predictions, model.classes)
    full = {**info, "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "classes": list(model.classes), "audio_config": model.cfg.to_dict(),
            "architecture": dict(getattr(model, "arch", {}) or {}),
            "device": str(getattr(model, "device", "cpu")), "versions": _versions()}
    full.setdefault("group", full["run_id"])
    with staged_run(full["run_id"], root=root) as tmp:
        (tmp / "run.json").write_text(json.dumps(full, indent=2))
        (history if not history.empty else pd.DataFrame(columns=HISTORY_COLUMNS)).to_csv(tmp / "history.csv",
                                                                                        index=False)
        (tmp / "metrics.json").write_text(json.dumps(metrics, indent=2))
        confusion.to_csv(tmp / "confusion.csv")
        predictions.to_parquet(tmp / "predictions.parquet", index=False)
        model.save(tmp)
    return (root or runs_root()) / full["run_id"]


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
        """Contents of ``metrics.json``. A run evaluated before balanced accuracy was recorded gets it from its
        per-genre recalls: their mean over the genres that have test songs is the same number."""
        metrics = json.loads((self.path / "metrics.json").read_text())
        for level in metrics.values():
            if isinstance(level, dict) and level.get("balanced_accuracy") is None and level.get("per_class"):
                recalls = [c["recall"] for c in level["per_class"].values() if c.get("support", 0) > 0]
                if recalls:
                    level["balanced_accuracy"] = sum(recalls) / len(recalls)
        return metrics

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

    @property
    def synthetic(self) -> bool:
        """Trained on the project's synthetic set (knows only synthetic music)."""
        return bool(self.info.get("dataset", {}).get("synth"))

    def hyperparameters(self) -> dict[str, object]:
        """The stored hyperparameters that apply to this run's kind (fields of its settings family)."""
        family = KINDS[self.info["model"]].settings if self.info["model"] in KINDS else None
        if family is None:
            return {}
        # runs written before settings were typed per family stored every field, and KNN's unit as ``knn_unit``
        stored = {("unit" if k == "knn_unit" else k): v for k, v in self.info.get("hyperparameters", {}).items()}
        return {f.name: stored[f.name] for f in fields(family) if f.name in stored}

    def restore_audio(self, stored: str) -> Path:
        """Local path of a prediction's audio, re-rendering a missing clip of the project's synthetic set.

        The synthetic set's parameters recorded in ``run.json`` give the same bytes as the original, so error
        analysis of the shipped synthetic runs has audio on a fresh checkout.

        Raises:
            FileNotFoundError: the file is not here and is not a synthetic clip.
        """
        path = from_repo(stored)
        if path.is_file():
            return path
        synth = self.info.get("dataset", {}).get("synth")
        if not synth:
            raise NotFoundError(f"{stored} is not on this machine.")
        from core.synth import restore_clip

        restore_clip(path, params=synth)
        return path

    def summary(self) -> dict[str, object]:
        """One flat row for run tables: identity (``study``: the study the run is a trial of, else ""), data, split,
        seed, the kind's hyperparameters, headline metrics."""
        info, m = self.info, self.metrics
        hyper = self.hyperparameters()
        return {
            "run_id": self.run_id,
            "model": info["model"],
            "group": info.get("group", self.run_id),
            "study": info.get("study", {}).get("name", ""),
            "dataset": info.get("dataset", {}).get("name", ""),
            "synthetic": self.synthetic,
            "split": info.get("split", {}).get("kind", ""),
            "seed": info.get("seed"),
            "hyperparameters": ", ".join(f"{k} {_short(v)}" for k, v in hyper.items()) or "none recorded",
            "segment_accuracy": m.get("segment", {}).get("accuracy"),
            "song_accuracy": m.get("song", {}).get("accuracy"),
            "song_balanced_accuracy": m.get("song", {}).get("balanced_accuracy"),
            "song_macro_f1": m.get("song", {}).get("macro_f1"),
            "song_top2": m.get("song", {}).get("top2_accuracy"),
            "train_seconds": info.get("durations", {}).get("train_seconds"),
            "created": info.get("created", ""),
        }


def _short(value: object) -> str:
    if isinstance(value, list):
        return "-".join(map(str, value))
    return f"{value:g}" if isinstance(value, float) else str(value)


def resolve_run(ref: str | Path, *, root: Path | None = None) -> Path:
    """A run folder from a path or a run id under the runs root (clear ``FileNotFoundError`` otherwise)."""
    path = Path(ref)
    for candidate in (path, (root or runs_root()) / str(ref)):
        if (candidate / "run.json").is_file():
            return candidate
    raise NotFoundError(f"No run '{ref}': give a run folder or a run id from `python -m core runs`.")


def load_model(ref: str | Path, *, device: "str | torch.device | None" = None) -> "GenreModel":
    """Load any model: a run folder, a run id, or ``"musicnn"`` for the pretrained tagger.

    Weights come from safetensors / npz with ``allow_pickle=False``; nothing is unpickled.
    """
    import torch

    from core.models.base import default_device

    dev = torch.device(device) if device is not None else default_device()
    if str(ref) == PRETRAINED_NAME:
        return model_kind(PRETRAINED_NAME).code().load(None, {}, device=dev)
    folder = resolve_run(ref)
    info = json.loads((folder / "run.json").read_text())
    try:
        kind = model_kind(info["model"])
    except ValueError:
        raise InputError(f"Run '{folder.name}' has an unknown model kind '{info['model']}'.") from None
    return kind.code().load(folder, info, device=dev)


def default_model() -> str:
    """The model used when none is named: the shipped real-music run when present, else the pretrained tagger."""
    return DEFAULT_RUN if (runs_root() / DEFAULT_RUN / "run.json").is_file() else PRETRAINED_NAME


def list_runs(root: Path | None = None) -> list[Run]:
    """Completed runs under ``root`` (default :func:`runs_root`; temporary folders excluded), newest first."""
    root = root or runs_root()
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
