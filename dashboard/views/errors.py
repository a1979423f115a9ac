"""Error analysis: where a run goes wrong. The confusion matrix (click a cell, or pick it below) lists those
mistakes, most confident first, each with its spectrogram, its audio and its probabilities; a saliency map shows
what a CNN/CRNN looked at."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.analysis.evaluate import most_confused, prob_columns
from core.audio.decode import AudioError
from core.models.registry import model_kind
from dashboard import charts, loaders
from dashboard.state import clicked_point, keep, remember

LEVELS = {"Songs": "song", "Segments": "segment"}


def _pick_cell(event_key: str) -> None:
    """Confusion-matrix click → the (true, predicted) selectboxes."""
    click = clicked_point(event_key)
    if click:
        point, data = click
        true, predicted = (data[0], data[1]) if data else (point["y"], point["x"])
        st.session_state["cm_true"], st.session_state["cm_pred"] = str(true), str(predicted)


def _default_cell(data: loaders.RunData, matrix: pd.DataFrame) -> None:
    """On opening a run, start on its most confused cell; later, keep the user's choice (across levels and
    visits to other pages)."""
    remember("cm_true", data.classes)
    remember("cm_pred", data.classes)
    if st.session_state.get("cm_run") == data.path and {"cm_true", "cm_pred"} <= set(st.session_state.keys()):
        return
    st.session_state["cm_run"] = data.path
    classes = data.classes
    top = most_confused(matrix, top=1)
    cell = (top[0]["true"], top[0]["predicted"]) if top else (classes[0], classes[min(1, len(classes) - 1)])
    st.session_state["cm_true"], st.session_state["cm_pred"] = cell


def _headline(data: loaders.RunData) -> None:
    song, seg = data.metrics.get("song", {}), data.metrics.get("segment", {})
    cols = st.columns(5)
    cols[0].metric("Song accuracy", f"{song.get('accuracy', float('nan')):.1%}")
    balanced = song.get("balanced_accuracy")
    cols[1].metric("Balanced accuracy", f"{balanced:.1%}" if balanced is not None else "–",
                   help="Mean recall over the genres the test songs have (fair on unbalanced test sets).")
    cols[2].metric("Song macro-F1", f"{song.get('macro_f1', float('nan')):.3f}")
    cols[3].metric("Segment accuracy", f"{seg.get('accuracy', float('nan')):.1%}")
    cols[4].metric("Test songs", f"{song.get('n', len(data.songs))}")


def _tables(data: loaders.RunData, level: str, matrix: pd.DataFrame) -> None:
    per_class = pd.DataFrame(data.metrics.get(level, {}).get("per_class", {})).T
    st.markdown(f"**Per genre ({level} level)**")
    st.dataframe(per_class, column_config={
        "precision": st.column_config.NumberColumn("precision", format="%.2f"),
        "recall": st.column_config.NumberColumn("recall", format="%.2f"),
        "f1": st.column_config.ProgressColumn("F1", format="%.2f", min_value=0, max_value=1, width="small"),
        "support": st.column_config.NumberColumn("songs" if level == "song" else "segments", format="%d")},
        key="per_class")
    st.markdown("**Most confused pairs**")
    pairs = pd.DataFrame(most_confused(matrix, top=5), columns=["true", "predicted", "count"])
    if pairs.empty:
        st.caption("No mistakes at this level.")
    else:
        st.dataframe(pairs, hide_index=True, key="pairs")


def _example(data: loaders.RunData, row: pd.Series, *, song_predicted: str | None, audio_ok: bool,
             index: int) -> None:
    """One example; ``song_predicted``: the song's (wrong) genre when the example stands for a whole song."""
    cfg = data.cfg
    label = f"{row['track_id']} · {row['start']:.0f}–{row['end']:.0f} s"
    probs = row[prob_columns(data.classes)].to_numpy(dtype=float)
    with st.container(border=True):
        if song_predicted is None:
            st.markdown(f"**{index}. {label}** — true *{row['true']}*, predicted *{row['predicted']}* "
                        f"with {probs.max():.0%}")
        else:
            lean = probs[data.classes.index(song_predicted)]
            st.markdown(f"**{index}. {label}** — true *{row['true']}*, the song predicted *{song_predicted}*; this "
                        f"segment gives {song_predicted} {lean:.0%} (its own top: *{row['predicted']}* "
                        f"{probs.max():.0%})")
        left, right = st.columns([3, 2])
        with right:
            st.plotly_chart(charts.spectrum_bars(data.classes, probs, title="Segment probabilities", height=280),
                            key=f"example_bars_{index}")
        if not audio_ok:
            return
        with left:
            try:
                samples = loaders.file_segment(row["path"], float(row["start"]), float(row["end"]), cfg.sample_rate)
            except AudioError as error:
                st.warning(str(error))
                return
            st.plotly_chart(charts.mel_image(loaders.spectrogram(samples, cfg.to_json()),
                                             hop_seconds=cfg.hop_length / cfg.sample_rate,
                                             band_hz=loaders.band_hz(cfg.to_json()),
                                             title="Mel spectrogram",
                                             height=240), key=f"example_mel_{index}")
            st.audio(samples, sample_rate=cfg.sample_rate)


def _saliency(data: loaders.RunData, examples: pd.DataFrame) -> None:
    if not model_kind(data.kind).saliency:
        st.info(f"Saliency maps need a network over the mel spectrogram (CNN or CRNN); '{data.run_id}' is a "
                f"{model_kind(data.kind).title} model.")
        return
    st.subheader("What did the network look at?")
    labels = [f"{r.track_id} · {r.start:.0f}–{r.end:.0f} s" for r in examples.itertuples(index=False)]
    cols = st.columns(3)
    choice = cols[0].selectbox("Segment", range(len(labels)), format_func=labels.__getitem__, key="sal_segment")
    method = cols[1].radio("Method", ["grad-cam", "occlusion"], horizontal=True, key="sal_method",
                           format_func={"grad-cam": "Grad-CAM", "occlusion": "Occlusion"}.get)
    row = examples.iloc[choice]
    which = cols[2].radio("Explain", [row["predicted"], row["true"]], horizontal=True, key="sal_target",
                          format_func=lambda g: f"{g} ({'predicted' if g == row['predicted'] else 'true'})")
    cfg = data.cfg
    try:
        samples = loaders.file_segment(row["path"], float(row["start"]), float(row["end"]), cfg.sample_rate)
    except AudioError as error:
        st.warning(str(error))
        return
    with st.spinner("Computing the saliency map…"):
        sal = loaders.saliency(data.path, samples, data.classes.index(which), method)
    st.plotly_chart(charts.mel_image(sal.spectrogram, hop_seconds=cfg.hop_length / cfg.sample_rate,
                                     band_hz=loaders.band_hz(cfg.to_json()), heat=sal.heat,
                                     title=f"{'Grad-CAM' if method == 'grad-cam' else 'Occlusion'} for '{which}' "
                                           f"(p = {sal.probability:.0%})", height=320), key="saliency")
    st.caption("Bright areas raised the probability of the explained genre the most. Grad-CAM weighs the last "
               "convolutional maps by their gradient (coarse, one pass); occlusion hides 16×16 patches and "
               "measures the drop (finer, ~100 passes).")


def _examples(data: loaders.RunData, level: str) -> None:
    st.subheader("Misclassified examples")
    cols = st.columns([1, 1, 1])
    true = cols[0].selectbox("True genre", data.classes, key="cm_true")
    predicted = cols[1].selectbox("Predicted genre", data.classes, key="cm_pred")
    shown = cols[2].number_input("Examples shown", min_value=1, max_value=20, key=remember("n_examples", default=3))
    for key in ("cm_true", "cm_pred", "n_examples"):
        keep(key)
    if true == predicted:
        st.info("That cell holds the correct predictions; choose an off-diagonal cell.")
        return
    examples = loaders.wrong_examples(data, level=level, true=true, predicted=predicted)
    if examples.empty:
        st.success(f"No {true} {level} was predicted as {predicted}.")
        return
    what = (f"songs (each shown by its segment that leans most towards {predicted})" if level == "song"
            else "segments")
    st.markdown(f"**{len(examples)} {what}**, most confident first:")
    listing = examples[["track_id", "start", "end", "confidence", "predicted", "true"]]
    st.dataframe(listing, hide_index=True, key="wrong_list", column_config={
        "confidence": st.column_config.NumberColumn("confidence", format="%.2f"),
        "start": st.column_config.NumberColumn("start (s)", format="%.1f"),
        "end": st.column_config.NumberColumn("end (s)", format="%.1f")})
    first = str(examples.iloc[0]["path"])
    with st.spinner("Fetching the audio of these examples…"):
        audio_ok = bool(first) and loaders.fetch_run_audio(data.path, [str(p) for p in
                                                                         examples.head(int(shown))["path"]])
    if not audio_ok:
        st.warning(f"The audio of this run's test songs is not on this machine (for example '{first or 'none'}'), "
                   "so spectrograms, players and saliency are hidden.")
    for i, (_, row) in enumerate(examples.head(int(shown)).iterrows(), start=1):
        _example(data, row, song_predicted=predicted if level == "song" else None, audio_ok=audio_ok, index=i)
    if audio_ok:
        _saliency(data, examples.head(int(shown)))


def main() -> None:
    st.title("Error analysis")
    table = loaders.current_runs()
    if table.empty:
        st.warning("No run yet. Make one with:")
        st.code(loaders.MAKE_A_RUN, language="bash")
        return
    labels = loaders.run_labels(table)
    path = st.selectbox("Run", list(labels), format_func=labels.get, key=remember("run", list(labels)))
    data = loaders.load_run(path)
    _headline(data)
    cols = st.columns(2)
    level = LEVELS[cols[0].radio("Level", list(LEVELS), horizontal=True, key=remember("level", list(LEVELS)))]
    normalise = cols[1].toggle("Row-normalised", key=remember("normalise", default=True))
    for key in ("run", "level", "normalise"):
        keep(key)
    matrix = data.confusion if level == "song" else data.segment_confusion
    _default_cell(data, matrix)
    left, right = st.columns([3, 2])
    with left:
        st.markdown(f"**Confusion matrix ({level} level)**: click a cell to list its examples")
        st.plotly_chart(charts.confusion_heatmap(matrix, normalise=normalise,
                                                 selected=(st.session_state["cm_true"], st.session_state["cm_pred"])),
                        key="confusion", on_select=lambda: _pick_cell("confusion"), selection_mode="points")
    with right:
        _tables(data, level, matrix)
    _examples(data, level)


main()
