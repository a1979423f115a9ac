"""Compare runs: the table of runs, training curves, per-genre F1, the difference of two confusion matrices,
mean ± std over seeds, and studies (learning curves by songs per genre or number of genres, search results)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.analysis.compare import (
    STUDY_METRICS,
    default_comparison,
    search_results,
    study_curve,
)
from core.analysis.evaluate import row_shares
from core.runs.folder import seed_summary
from dashboard import charts, loaders
from dashboard.state import keep, remember

TABLE_COLUMNS = {
    "run_id": st.column_config.TextColumn("run"),
    "model": st.column_config.TextColumn("model"),
    "dataset": st.column_config.TextColumn("dataset"),
    "split": st.column_config.TextColumn("split"),
    "seed": st.column_config.NumberColumn("seed", format="%d"),
    "song_balanced_accuracy": st.column_config.NumberColumn("song balanced acc.", format="%.3f"),
    "song_accuracy": st.column_config.NumberColumn("song acc.", format="%.3f"),
    "song_macro_f1": st.column_config.NumberColumn("song macro-F1", format="%.3f"),
    "song_top2": st.column_config.NumberColumn("song top-2", format="%.3f"),
    "segment_accuracy": st.column_config.NumberColumn("segment acc.", format="%.3f"),
    "train_seconds": st.column_config.NumberColumn("training (s)", format="%.0f"),
    "hyperparameters": st.column_config.TextColumn("hyperparameters (of its kind)"),
}


def _seeds(table: pd.DataFrame) -> None:
    st.subheader("Over seeds: mean ± std")
    summary = seed_summary(table)
    summary = summary[summary["n_seeds"] > 1]
    if summary.empty:
        st.caption("Every run has a single seed. Train one setting over several seeds with "
                   "`python -m core train ... --seeds 0,1,2` to see its spread here.")
        return
    shown = summary[["group", "model", "n_seeds"]].copy()
    for metric in ("segment_accuracy", "song_accuracy", "song_macro_f1"):
        shown[metric] = [f"{m:.3f} ± {s:.3f}" for m, s in zip(summary[f"{metric}_mean"], summary[f"{metric}_std"])]
    st.dataframe(shown, hide_index=True, key="seed_table", column_config={
        "group": "group", "model": "model", "n_seeds": st.column_config.NumberColumn("seeds", format="%d"),
        "segment_accuracy": "segment acc. (mean ± std)", "song_accuracy": "song acc. (mean ± std)",
        "song_macro_f1": "song macro-F1 (mean ± std)"})


def _difference(table: pd.DataFrame, chosen: list[str]) -> None:
    st.subheader("Difference of two confusion matrices")
    if len(chosen) < 2:
        st.caption("Choose at least two runs above.")
        return
    labels = dict(zip(table["path"], table["run_id"]))
    cols = st.columns(2)
    first = cols[0].selectbox("Run A", chosen, index=0, format_func=labels.get, key="diff_a")
    second = cols[1].selectbox("Run B", chosen, index=1, format_func=labels.get, key="diff_b")
    a, b = loaders.load_run(first), loaders.load_run(second)
    if a.classes != b.classes:
        st.warning(f"'{a.run_id}' and '{b.run_id}' predict different genres; their matrices cannot be compared.")
        return
    diff = row_shares(b.confusion) - row_shares(a.confusion)
    st.plotly_chart(charts.confusion_difference(diff, title=f"{b.run_id} minus {a.run_id} (row shares, song level)"),
                    key="difference")
    st.caption("Blue: B sends more of that true genre to that column than A; red: fewer. "
               "A better B is blue on the diagonal and red off it.")


def _studies() -> None:
    root = str(loaders.runs_root())
    studies = loaders.study_runs(root)
    if studies.empty:
        return
    st.subheader("Studies: learning curves and searches")
    name = st.selectbox("Study", sorted(studies["study"].unique()), key="study")
    runs = studies[studies["study"] == name]
    metric = st.selectbox("Metric", list(STUDY_METRICS), format_func=STUDY_METRICS.get, key="study_metric")
    seeds = runs["seed"].nunique()
    st.caption(f"{len(runs)} runs of {', '.join(sorted(runs['model'].unique()))}, {seeds} seed(s) per setting; "
               "every point is the mean over seeds, the bar ± one standard deviation. Rerun the study's command to "
               "add what is missing: finished trials are skipped.")
    if (runs["mode"] == "search").any():
        results = search_results(studies, loaders.search_trials(root, name), study=name)
        st.dataframe(results, hide_index=True, key="search_table", column_config={
            "val_acc": st.column_config.NumberColumn("validation song acc. (last epoch)", format="%.3f"),
            "song_accuracy": st.column_config.NumberColumn("test song acc.", format="%.3f"),
            "epochs": st.column_config.NumberColumn("epochs", format="%d")})
        st.caption("Ranked by validation songs (the test part never chose a setting); 'stopped' trials were ended "
                   "early by the ASHA scheduler and have no run folder.")
    axes = {"songs_per_genre": "training songs per genre (mean over genres)", "n_genres": "genres to tell apart"}
    varied = {"songs_per_genre": runs["songs_per_genre"].fillna(-1).nunique() > 1,
              "n_genres": runs["genres"].nunique() > 1}
    for x, title in axes.items():
        if not varied[x]:
            continue
        curve = study_curve(studies, study=name, x=x, metric=metric)
        what = "training songs per genre" if x == "songs_per_genre" else "number of genres"
        st.plotly_chart(charts.learning_curve(curve, x_title=title, y_title=STUDY_METRICS[metric],
                                              title=f"{name}: {STUDY_METRICS[metric]} by {what}"), key=f"curve_{x}")
        if x == "n_genres":
            st.caption("Subsets: " + "; ".join(dict.fromkeys(curve["x_label"])) + ".")


def main() -> None:
    st.title("Compare runs")
    table = loaders.current_runs()
    if table.empty:
        st.warning("No run yet. Make one with:")
        st.code(loaders.MAKE_A_RUN, language="bash")
        return
    trials = table["study"].fillna("").astype(str) != "" if "study" in table else pd.Series(False, index=table.index)
    listed = table
    if trials.any():  # a study's trials (other genre subsets, fewer songs) are not comparable with whole runs
        if not st.toggle(f"Also list the {int(trials.sum())} study trials (their curves are under Studies below)",
                         key="show_trials"):
            listed = table[~trials]
    shown = listed[[c for c in TABLE_COLUMNS if c in listed]].copy()
    st.dataframe(shown, hide_index=True, column_config=TABLE_COLUMNS, key="runs_table")
    labels = dict(zip(table["path"], table["run_id"]))
    chosen = st.multiselect("Runs to compare", list(labels), format_func=labels.get,
                            key=remember("compare_runs", list(labels), default=default_comparison(table)))
    keep("compare_runs")
    if not chosen:
        st.info("Choose runs to compare.")
        _studies()
        return
    tests = table[table["path"].isin(chosen)][["dataset", "split"]].drop_duplicates()
    if len(tests) > 1:
        st.warning("These runs were tested on different songs (" + "; ".join(
            f"{r.dataset}, {r.split} split" for r in tests.itertuples(index=False)) + "): their figures are not "
            "directly comparable.", icon=":material/warning:")
    st.subheader("Training curves")
    history = loaders.history_long(tuple(chosen))
    if history.empty:
        st.caption("None of these runs has epochs (KNN and transfer heads are fitted in one step).")
    else:
        st.plotly_chart(charts.training_curves(history), key="curves")
        flat = [labels[p] for p in chosen if labels[p] not in set(history["run"])]
        if flat:
            st.caption(f"No curves for {', '.join(flat)}: KNN, transfer heads and ensembles are fitted in one step, "
                       "without epochs.")
    st.subheader("F1 per genre (test songs)")
    st.plotly_chart(charts.f1_bars(loaders.per_genre(tuple(chosen))), key="f1")
    _difference(table, chosen)
    _seeds(table)
    _studies()


main()
