"""Comparing runs: training curves and per-genre scores of several runs, and a study's learning curves and search
results, as tidy tables for charts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from core.runs.folder import Run

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
    Trials of a study and ensembles (combinations of other runs) are picked only when there is nothing else.
    Returns run folder paths."""
    if table.empty:
        return []
    runs = table[table["seed"].notna() & ~table["run_id"].str.contains("-on-")].copy()
    alone = runs["study"].fillna("") == "" if "study" in runs else pd.Series(True, index=runs.index)
    alone &= runs["model"] != "ensemble"
    if alone.any():  # a study's trials are compared in its own curves, an ensemble beside its members when chosen
        runs = runs[alone]
    if runs.empty:
        return []
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


#: Metrics a study's curves can show (``study_table`` columns), with their axis titles.
STUDY_METRICS = {"song_accuracy": "song accuracy (test songs)",
                 "song_balanced_accuracy": "song balanced accuracy (test songs)",
                 "song_macro_f1": "song macro-F1 (test songs)", "segment_accuracy": "segment accuracy (test segments)"}
_ID_PARAMS = ("model", "seed", "songs_per_genre", "genres")


def study_table(runs: Sequence[Run]) -> pd.DataFrame:
    """One row per run that belongs to a study (``run.json["study"]``), others left out:
    ``study, mode, trial, setting, run_id, model, seed, songs_per_genre`` (nominal; NaN = all songs),
    ``learning_songs`` (mean learning songs per genre, as trained), ``genres`` (comma-separated, "" = all),
    ``n_genres``, ``params`` (the grid's or search's own hyperparameters, e.g. "lr 0.002"), the test metrics of
    :data:`STUDY_METRICS` and ``best_val_acc`` (best validation song accuracy of an epoch, NaN without epochs)."""
    rows = []
    for run in runs:
        record = run.info.get("study")
        if not record:
            continue
        params = record.get("params", {})
        learning = run.info.get("split", {}).get("learning_songs") or {}
        song, segment = run.metrics.get("song", {}), run.metrics.get("segment", {})
        history = run.history
        rows.append({
            "study": record["name"], "mode": record.get("mode", "grid"), "trial": record["trial"],
            "setting": record.get("setting", record["trial"]), "run_id": run.run_id, "model": run.info["model"],
            "seed": run.info.get("seed"), "songs_per_genre": params.get("songs_per_genre"),
            "learning_songs": sum(learning.values()) / len(learning) if learning else float("nan"),
            "genres": ", ".join(params.get("genres") or []), "n_genres": len(run.info["classes"]),
            "params": params_label(params),
            "song_accuracy": song.get("accuracy"), "song_balanced_accuracy": song.get("balanced_accuracy"),
            "song_macro_f1": song.get("macro_f1"), "segment_accuracy": segment.get("accuracy"),
            "best_val_acc": float(history["val_acc"].max()) if "val_acc" in history and len(history) else float("nan"),
        })
    columns = ["study", "mode", "trial", "setting", "run_id", "model", "seed", "songs_per_genre", "learning_songs",
               "genres", "n_genres", "params", *STUDY_METRICS, "best_val_acc"]
    return pd.DataFrame(rows, columns=columns)


def params_label(params: Mapping[str, object]) -> str:
    """A trial's own hyperparameters (not model, seed, songs per genre or genres) as text: ``"c 0.003, hop 1.5"``."""
    return ", ".join(f"{k} {v:g}" if isinstance(v, float) else f"{k} {v}"
                     for k, v in params.items() if k not in _ID_PARAMS)


def study_curve(table: pd.DataFrame, *, study: str, x: str = "songs_per_genre",
                metric: str = "song_accuracy") -> pd.DataFrame:
    """A learning curve of ``study`` from :func:`study_table`: mean ± std over seeds of ``metric`` per point.

    Args:
        x: ``songs_per_genre`` (x = mean learning songs per genre as trained, so "all" sits at its real size) or
            ``n_genres`` (x = genres in the subset).
        metric: A key of :data:`STUDY_METRICS`.

    Returns:
        Tidy rows ``line, x, x_label, mean, std, n_seeds, chance`` sorted by line and x: one line per model and
        other setting (the params that are not x), ``std`` the sample standard deviation over seeds (NaN with one
        seed), ``chance`` = 1 / genres (the accuracy of guessing).
    """
    if metric not in STUDY_METRICS or x not in ("songs_per_genre", "n_genres"):
        raise ValueError(f"Unknown metric '{metric}' or x '{x}'.")
    runs = table[table["study"] == study].copy()
    columns = ["line", "x", "x_label", "mean", "std", "n_seeds", "chance"]
    if runs.empty:
        return pd.DataFrame(columns=columns)
    other = "genres" if x == "songs_per_genre" else "songs_per_genre"
    runs["line"] = [", ".join(p for p in (r.model, r.params, _other_label(other, getattr(r, other))) if p)
                    for r in runs.itertuples(index=False)]
    if x == "songs_per_genre":
        runs["point"] = runs["songs_per_genre"].fillna(-1)
    else:
        runs["point"] = runs["genres"]
    grouped = runs.groupby(["line", "point"], sort=False)
    out = grouped.agg(mean=(metric, "mean"), std=(metric, "std"), n_seeds=("seed", "nunique"),
                      learning=("learning_songs", "mean"), n_genres=("n_genres", "first"),
                      genres=("genres", "first")).reset_index()
    if x == "songs_per_genre":
        out["x"] = out["learning"]
        out["x_label"] = [f"{int(p)}" if p >= 0 else f"all ({m:.1f})" for p, m in zip(out["point"], out["learning"])]
    else:
        out["x"] = out["n_genres"].astype(float)
        out["x_label"] = [f"{n}: {g}" if g else f"{n}: all" for n, g in zip(out["n_genres"], out["genres"])]
    out["chance"] = 1.0 / out["n_genres"]
    return out.sort_values(["line", "x"], kind="stable")[columns].reset_index(drop=True)


def _other_label(name: str, value: object) -> str:
    """The curve's other study dimension as part of a line label ("" when it is not set)."""
    if name == "genres":
        return f"genres {value}" if value else ""
    return f"{int(value)} songs per genre" if pd.notna(value) else ""


def search_results(table: pd.DataFrame, trials: pd.DataFrame | None, *, study: str) -> pd.DataFrame:
    """A search's trials, best validation first: ``trial, status, epochs, val_acc, song_accuracy, params``.

    Args:
        table: :func:`study_table` (the finished trials' run folders).
        trials: The search's trials file (``trial, status, epochs, val_acc, params``; see
            :func:`core.cluster.search.trials_file`), or None when absent: then only finished trials are listed.
    """
    done = table[table["study"] == study]
    if trials is None:
        trials = pd.DataFrame({"trial": done["trial"], "status": "done", "epochs": float("nan"),
                               "val_acc": done["best_val_acc"], "params": done["params"]})
    merged = trials.merge(done[["trial", "song_accuracy"]], on="trial", how="left")
    columns = ["trial", "status", "epochs", "val_acc", "song_accuracy", "params"]
    return merged.sort_values("val_acc", ascending=False, kind="stable")[columns].reset_index(drop=True)
