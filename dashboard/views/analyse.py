"""Home: analyse a song. Upload or record, choose a model, see the genre spectrum, the timeline, any segment
(played and drawn as a mel spectrogram), similar songs from a catalog, and download a copy tagged with its genre."""

from __future__ import annotations

import streamlit as st

from core.analysis.predict import AMBIGUITY_MARGIN, SongPrediction
from core.audio.decode import segment_audio
from core.audio.files import mime_type
from core.config import AUDIO_EXTENSIONS
from core.errors import GenreLabError
from dashboard import charts, loaders
from dashboard.state import clicked_point, keep, remember

UPLOAD_TYPES = [ext.lstrip(".") for ext in AUDIO_EXTENSIONS]
SOURCES = ["Upload a file", "Record with the microphone"]
#: Timeline columns drawn at once: 40 segments (2 minutes). A 15-minute song has 300 segments, which drawn together
#: would be columns ~1 px wide; a longer song's timeline shows the 2 minutes around the chosen segment.
WINDOW = 40
#: Plotly's zoom and pan tools make no sense on a chart that is clicked to choose (and they cover its title).
NO_TOOLS = {"displayModeBar": False}


def _recording() -> bytes | None:
    """WAV bytes from the microphone (audio-recorder-streamlit, or Streamlit's own recorder as a fallback)."""
    try:
        from audio_recorder_streamlit import audio_recorder
    except ImportError:
        audio_recorder = None
    data = None
    if audio_recorder is not None:
        st.caption("Click the microphone to start, and again to stop.")
        data = audio_recorder(text="", pause_threshold=60.0, icon_size="2x", neutral_color="#f97316",
                              recording_color="#ef4444", key="recorder")  # visible on the dark theme
    with st.expander("Recorder not working? Use the built-in one", expanded=audio_recorder is None):
        clip = st.audio_input("Record a clip", key="audio_input")
    return clip.getvalue() if clip is not None else data


def _forget_song() -> None:
    """The user removed the uploaded file: do not bring it back."""
    if st.session_state.get("upload") is None:
        st.session_state.pop("last_song", None)


def _choose_audio() -> tuple[bytes | None, str]:
    """The bytes to analyse and a file name for them (the last upload is kept when the user visits other pages)."""
    source = st.radio("Audio", SOURCES, horizontal=True, key=remember("source", SOURCES),
                      label_visibility="collapsed")
    keep("source")
    if source == SOURCES[0]:
        limit = st.get_option("server.maxUploadSize")
        upload = st.file_uploader("Audio file", type=UPLOAD_TYPES, key="upload", on_change=_forget_song,
                                  help=f"Up to {limit} MB (server.maxUploadSize in .streamlit/config.toml).")
        st.caption(f"WAV, MP3, FLAC, OGG, Opus (also AIFF, AU, M4A) · up to **{limit} MB** per file · "
                   "long recordings: only the beginning is analysed, and a notice says how much.")
        if upload is not None:
            st.session_state["last_song"] = (upload.getvalue(), upload.name)
        elif "last_song" in st.session_state:
            st.caption(f"Showing **{st.session_state['last_song'][1]}**, uploaded before; upload another to "
                       "replace it.")
        return st.session_state.get("last_song", (None, ""))
    return _recording(), "recording.wav"


def _choose(segment: int, digest: str) -> None:
    """Choose ``segment`` of the song ``digest`` and ask its player to start: each choice gets a new play count,
    which makes a new player (Streamlit autoplays an autoplaying player once, when it first appears)."""
    st.session_state["segment"] = segment
    count = st.session_state["play"][2] + 1 if "play" in st.session_state else 1
    st.session_state["play"] = (digest, segment, count)


def _pick_segment(event_key: str, pred: SongPrediction, digest: str) -> None:
    """Timeline click → choose that segment and play it (runs before the rerun, so everything below shows it).

    Clicking the outlined column again clears plotly's selection: that plays the chosen segment again."""
    click = clicked_point(event_key)
    if not click:
        _choose(st.session_state.get("segment", 0), digest)
        return
    point, data = click
    segment = int(data[0] if isinstance(data, list) else data) if data is not None else None
    if segment is None:
        x = float(point["x"])
        segment = int(((pred.bounds[:, 0] <= x) & (x < pred.bounds[:, 1])).argmax())
    _choose(segment, digest)


def _seconds(x: float) -> str:
    """Seconds to a tenth, without a trailing '.0' (a 2.4-s clip is not called 2 or 3 s)."""
    return f"{x:.1f}".removesuffix(".0")


def _label(pred: SongPrediction, i: int) -> str:
    start, end = pred.bounds[i]
    return f"{_seconds(start)}–{_seconds(end)} s"


def _segment_view(pred: SongPrediction, upload: loaders.Upload, ref: str) -> None:
    """The chosen segment: slider (also set by clicking the timeline), spectrogram, player and probabilities.

    The player starts by itself when the person has just chosen the segment (a timeline click or the slider), never
    when the page is merely drawn again."""
    n = len(pred.bounds)
    segment = st.select_slider("Segment", options=list(range(n)), key="segment",
                               format_func=lambda i: _label(pred, i), on_change=_slid, args=(upload.digest,),
                               help="Or click a column of the timeline above.") if n > 1 else 0
    keep("segment")
    cfg = loaders.model(ref).cfg
    start, end = (float(b) for b in pred.bounds[segment])
    samples = loaders.decoded(upload, cfg.sample_rate, cfg.max_seconds).samples
    piece = segment_audio(samples, start=start, end=end, sample_rate=cfg.sample_rate)
    digest, played, count = st.session_state.get("play", ("", 0, 0))
    chosen = (digest, played) == (upload.digest, segment)
    left, right = st.columns([3, 2])
    with left:
        st.plotly_chart(charts.mel_image(loaders.spectrogram(piece, cfg.to_json()),
                                         hop_seconds=cfg.hop_length / cfg.sample_rate,
                                         band_hz=loaders.band_hz(cfg.to_json()),
                                         title=f"Mel spectrogram of {_label(pred, segment)}"), key="segment_mel")
        st.audio(piece, sample_rate=cfg.sample_rate, autoplay=chosen,
                 alt=f"Segment {_label(pred, segment)}" + (f" (choice {count})" if chosen else ""))
    with right:
        st.plotly_chart(charts.spectrum_bars(pred.classes, pred.segment_probs[segment],
                                             title=f"Segment {_label(pred, segment)}", height=300),
                        key="segment_bars")


def _slid(digest: str) -> None:
    """The segment slider moved: play that segment, as a timeline click does."""
    _choose(st.session_state["segment"], digest)


def _timeline(pred: SongPrediction, digest: str) -> None:
    """The time × genre heatmap. A song longer than :data:`WINDOW` segments is shown a window at a time, so that
    every column stays wide enough to click, under a small picture of the whole song: a click there plays that
    part of the song and moves the window to it (as choosing a segment with the slider below does)."""
    n = len(pred.bounds)
    first, last = 0, n
    if n > WINDOW:
        window = min(st.session_state.get("segment", 0), n - 1) // WINDOW
        first, last = window * WINDOW, min(n, (window + 1) * WINDOW)
    span = (float(pred.bounds[first, 0]), float(pred.bounds[last - 1, 1]))
    if n > WINDOW:
        st.plotly_chart(charts.timeline_overview(pred.segment_probs, pred.bounds, window=span), key="overview",
                        on_select=lambda: _pick_segment("overview", pred, digest), selection_mode="points",
                        config=NO_TOOLS)
    part = f" {_seconds(span[0])}–{_seconds(span[1])} s" if n > WINDOW else ""
    how = "click a column to see and hear it below" if n > 1 else "click to hear it below"
    st.plotly_chart(charts.timeline(pred.classes, pred.segment_probs, pred.bounds,
                                    selected=st.session_state.get("segment", 0),
                                    title=f"Timeline{part} ({how})", span=span),
                    key="timeline", on_select=lambda: _pick_segment("timeline", pred, digest),
                    selection_mode="points", config=NO_TOOLS)


def _own_catalog() -> None:
    """Build a catalog from the person's own songs (uploads or a folder on the server), with progress."""
    with st.expander("Build a catalog from your own songs"):
        files = st.file_uploader("Songs", type=UPLOAD_TYPES, accept_multiple_files=True, key="catalog_files")
        folder = st.text_input("…or a folder of songs on the machine running this app", key="catalog_folder",
                               placeholder="/home/me/Music")
        name = st.text_input("Catalog name", value="mine", key="catalog_name")
        if not st.button("Build catalog", icon=":material/library_add:", key="catalog_build"):
            return
        bar = st.progress(0.0, text="Reading the songs…")

        def on_song(done: int, total: int) -> None:
            bar.progress(done / total, text=f"Analysed {done} of {total} songs")

        try:
            report = loaders.build_user_catalog(name, uploads=[(f.name, f.getvalue()) for f in files or []],
                                                folder=folder.strip() or None, on_song=on_song)
        except (GenreLabError, OSError) as error:
            bar.empty()
            st.error(str(error))
            return
        bar.progress(1.0, text="Done")
        st.success(f"Catalog '{name}': {report.added} added, {report.skipped} already there, "
                   f"{len(report.failed)} could not be analysed; {report.total} songs. Choose it above.")
        for path, reason in report.failed[:10]:
            st.caption(f"{path}: {reason}")


def _recommendations(upload: loaders.Upload) -> None:
    st.subheader("Songs that sound alike")
    _own_catalog()
    names = loaders.catalogs()
    if not names:
        st.info("No song catalog yet. Build one from a music folder with "
                "`python -m core catalog build FOLDER --name demo`.")
        return
    left, right = st.columns([2, 1])
    name = left.selectbox("Catalog", names, key="catalog") if len(names) > 1 else names[0]
    same = right.toggle("Same genre only", key="same_genre")
    try:
        for note in loaders.load_catalog(name).notes:
            st.info(note, icon=":material/build:")
        table = loaders.recommendations(upload, name, 5, same)
    except (GenreLabError, OSError) as error:
        st.warning(f"Recommendations are unavailable: {error}")
        return
    if table.empty:
        st.info("No similar songs found" + (" of the same genre." if same else "."))
    for row in table.itertuples(index=False):
        text, player = st.columns([3, 2])
        tagged = f"tagged *{row.tag_genre}*, " if row.tag_genre else ""
        text.markdown(f"**{row.title}** — {row.artist or 'unknown artist'} · {tagged}predicted *{row.genre}* · "
                      f"**{row.match} match** (similarity {row.similarity:.2f})  \n{row.reason}")
        path = loaders.audio_path(row.path)
        if path.is_file():
            player.audio(str(path))
        else:
            player.caption(f"Preview unavailable: {row.path} is not on this machine.")


def _tag_download(pred: SongPrediction, upload: loaders.Upload) -> None:
    st.subheader("Tag the file")
    genres = tuple(g for g, _ in pred.top(2 if pred.ambiguous else 1))
    try:
        tagged = loaders.tagged_copy(upload, genres)
    except GenreLabError as error:  # core.library.tags.TagError, or audio the tag writer cannot read
        st.warning(f"This file cannot carry a genre tag: {error}")
        return
    current = loaders.current_genres(upload)
    st.markdown(f"**{upload.name}** has the genre tag **{'; '.join(current)}** now; the copy gets "
                f"**{'; '.join(genres)}** in its place." if current else
                f"**{upload.name}** has no genre tag now; the copy gets **{'; '.join(genres)}**.")
    st.download_button(f"Download {upload.name} tagged “{'; '.join(genres)}”", data=tagged, file_name=upload.name,
                       mime=mime_type(upload.name),
                       icon=":material/sell:",
                       key="download_tagged")
    st.caption("The genre is written into a copy of your file (ID3, Vorbis comment or MP4 atom); "
               "the audio is untouched.")


def _verdict(pred: SongPrediction) -> bool:
    """The "is this music?" verdict; returns False when the genre call should not be shown as one."""
    music = pred.music
    if music is None:
        return True
    if music["verdict"] == "silent":
        st.error(f"**This recording is nearly silent** (level {music['level_dbfs']:.0f} dBFS): a genre would be "
                 "meaningless.", icon=":material/volume_off:")
        return False
    if not music["is_music"]:
        st.error(f"**This does not sound like music** (speech, noise or tones rather than a song): its distance from "
                 f"the music the model knows is {music['score']:.2f}, above the not-music cutoff "
                 f"{music['cutoff']:.2f}. A genre would be meaningless.", icon=":material/music_off:")
        return False
    if music["unusual"]:
        st.warning(f"**Music unlike anything the model was trained on** (distance {music['score']:.2f}, above "
                   f"{music['ood_cutoff']:.2f}, the 97.5th percentile of its training songs): treat the genre "
                   "as uncertain.", icon=":material/help:")
    return True


def _styles(pred: SongPrediction) -> None:
    if not pred.styles:
        return
    left, right = st.columns([2, 3])
    with left:
        st.plotly_chart(charts.style_bars(pred.styles), key="styles")
    with right:
        st.markdown("**Sounds like** (the pretrained taggers' descriptors, each scored on its own)")
        for group, scores in pred.descriptors.items():
            best = sorted(scores.items(), key=lambda item: -item[1])[:3]
            st.markdown(f"*{group}*: " + " · ".join(f"{name} {p:.0%}" for name, p in best))


def _results(pred: SongPrediction, upload: loaders.Upload, ref: str) -> bool:
    """Draw the song's results; False when the verdict says no genre should be given (not music, nearly silent)."""
    if not _verdict(pred):
        with st.expander("Show the genre spectrum anyway"):
            st.plotly_chart(charts.spectrum_bars(pred.classes, pred.spectrum), key="spectrum_anyway")
        return False
    top = pred.top(3)
    cols = st.columns(3)
    cols[0].metric("Genre", pred.genre)
    cols[1].metric("Probability", f"{top[0][1]:.0%}")
    cols[2].metric("Runner-up", f"{top[1][0]} ({top[1][1]:.0%})" if len(top) > 1 else "—")
    if pred.ambiguous:
        st.info(f"**Between genres**: {top[0][0]} and {top[1][0]} are within {pred.margin:.0%} of each other "
                f"(the flag is raised under {AMBIGUITY_MARGIN:.0%}).", icon=":material/call_split:")
    else:
        st.caption(f"A clear call: {top[0][0]} leads by {pred.margin:.0%} (the between-genres flag is raised under "
                   f"{AMBIGUITY_MARGIN:.0%}).")
    if "timeline" not in st.session_state:  # the timeline was not on screen: nothing was just chosen to play
        st.session_state.pop("play", None)
    remember("segment", list(range(len(pred.bounds))))  # the chosen segment survives a visit to another page
    if st.session_state.get("segment_of") != upload.digest or st.session_state.get("segment", 0) >= len(pred.bounds):
        st.session_state["segment"] = 0  # a new song starts at its beginning
        st.session_state["segment_of"] = upload.digest
    left, right = st.columns([2, 3])
    with left:
        st.plotly_chart(charts.spectrum_bars(pred.classes, pred.spectrum), key="spectrum")
    with right:
        _timeline(pred, upload.digest)
    _styles(pred)
    _segment_view(pred, upload, ref)
    _recommendations(upload)
    _tag_download(pred, upload)
    return True


def main() -> None:
    st.title("Analyse a song")
    st.caption("Each 3-second segment gets a probability for every genre; the song's genre spectrum is their mean.")
    table = loaders.current_runs()
    choices = loaders.model_choices(table)
    if not choices:
        st.warning("No model yet. Make one with:")
        st.code(loaders.MAKE_A_RUN, language="bash")
        return
    if table.empty:
        st.info(f"No trained run yet, only the pretrained tagger. Train one with `{loaders.MAKE_A_RUN}`.")
    ref = st.selectbox("Model", list(choices), format_func=choices.get, key=remember("model", list(choices)))
    keep("model")
    if choices[ref].startswith("synthetic"):
        st.warning("This model was trained only on the project's synthetic genre set: on real songs its genres mean "
                   "little. Choose a model trained on real music for your songs.", icon=":material/science:")
    data, name = _choose_audio()
    if data is None:
        st.info("Upload a song or record one to see its genres.")
        loaders.warm_up(ref)  # while the person picks a file
        return
    upload = loaders.Upload.of(data, name)
    player = st.empty()  # the upload's own player, in its place at the top, but filled once the page is drawn
    _analyse_and_draw(upload, ref)
    # A browser starts reading a player's file as soon as the player appears. On 2 cores, a player shown before the
    # analysis made upload → spectrum 0.26 s slower (3.00 s against 2.74 s, medians of 8 in alternating servers).
    player.audio(data, format=mime_type(name, default="audio/wav"))


def _analyse_and_draw(upload: loaders.Upload, ref: str) -> None:
    """Analyse the upload with model ``ref`` under a status that names each stage, then draw the results."""
    failure = None
    # Not a `with` block: leaving one marks the status complete, and it stays running until the page is drawn.
    status = st.status("Loading the model…", expanded=False)
    try:
        loaders.model(ref)  # loaded once per server; a label while it loads the first time
    except (GenreLabError, OSError) as error:  # a run folder gone or unreadable: not the audio's fault
        status.update(label="The model could not be loaded", state="error")
        st.error(f"The model could not be loaded: {error}")
        return
    try:
        status.update(label="Decoding…")

        def on_progress(done: int, total: int) -> None:
            status.update(label=f"Analysing: {done} of {total} segments")

        pred = loaders.analyse(upload, ref, on_progress=on_progress)
        n = len(pred.bounds)
        seconds = f"{pred.duration:.1f}".removesuffix(".0")
        if pred.is_silent:
            status.update(label=f"{seconds} s of silence: nothing to analyse", state="error")
        else:
            status.update(label="Drawing the results…")
    except GenreLabError as error:
        status.update(label="This audio cannot be analysed", state="error")
        failure = str(error)
    if failure:
        st.error(failure)
        return
    for notice in pred.notices:
        st.warning(notice)
    if pred.is_silent:
        return
    if not _results(pred, upload, ref):
        status.update(label=f"Analysed {seconds} s: no genre to give", state="error")
        return
    status.update(label=f"Analysed {seconds} s in {n} segment{'s' if n != 1 else ''}", state="complete")


main()
