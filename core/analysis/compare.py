"""Comparing runs: training curves and per-genre scores of several runs as long tables for charts."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

#: history.csv columns → (metric, split).
_CURVES = {"train_loss": ("loss", "train"), "val_loss": ("loss", "valid"),
           "train_acc": ("accuracy", "train"), "val_acc": ("accuracy", "valid")}


def history_long(histories: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Training histories ``{run_id: history.csv table}`` as one long table:
    ``epoch, value, metric ("loss"/"accuracy"), split ("train"/"valid"), run``. Runs without epochs are left out."""
    parts = []
    for run_id, hist in histories.items():
        if hist.empty:
            continue
        long = hist.melt(id_vars="epoch", value_vars=[c for c in _CURVES if c in hist], var_name="column")
        long["metric"] = long["column"].map(lambda c: _CURVES[c][0])
        long["split"] = long["column"].map(lambda c: _CURVES[c][1])
        long["run"] = run_id
        parts.append(long.drop(columns="column"))
    columns = ["epoch", "value", "metric", "split", "run"]
    return pd.concat(parts, ignore_index=True)[columns] if parts else pd.DataFrame(columns=columns)


def per_genre(metrics: Mapping[str, dict], *, level: str = "song") -> pd.DataFrame:
    """Per-genre precision, recall and F1 of runs ``{run_id: metrics.json}``, long:
    ``run, genre, precision, recall, f1, support``."""
    rows = [{"run": run_id, "genre": genre, **m}
            for run_id, run_metrics in metrics.items()
            for genre, m in run_metrics.get(level, {}).get("per_class", {}).items()]
    return pd.DataFrame(rows, columns=["run", "genre", "precision", "recall", "f1", "support"])
