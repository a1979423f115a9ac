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


def default_comparison(table: pd.DataFrame) -> list[str]:
    """A coherent default selection from a runs table (:func:`core.runs.folder.runs_table` plus ``path``): one run
    of each model kind on the same data, preferring real music over the synthetic set, the data most kinds share,
    and within a kind the best balanced (else plain) song accuracy; with a single kind, its best runs (up to 4).
    Returns run folder paths."""
    if table.empty:
        return []
    runs = table[table["seed"].notna() & ~table["run_id"].str.contains("-on-")].copy()
    runs["_score"] = runs["song_balanced_accuracy"].fillna(runs["song_accuracy"])
    kinds = runs.groupby(["synthetic", "dataset"])["model"].nunique().reset_index()
    kinds = kinds.sort_values(["synthetic", "model"], ascending=[True, False], kind="stable")
    best = kinds.iloc[0]
    same = runs[(runs["synthetic"] == best["synthetic"]) & (runs["dataset"] == best["dataset"])]
    ranked = same.sort_values("_score", ascending=False, kind="stable")
    picked = list(ranked.drop_duplicates("model")["path"])
    if len(picked) < 2:  # one kind only (e.g. a seed group): compare its best runs instead
        picked += [p for p in ranked["path"] if p not in picked][: 4 - len(picked)]
    return picked
