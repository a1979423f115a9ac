"""Every dashboard page under Streamlit's AppTest, against tiny real runs trained in a fixture (~4 s, once).

The runs are trained by ``core.training.train.train`` on a folder-per-genre set of generated tone and noise clips;
``$GENRE_LAB_RUNS`` points the dashboard at them and ``$GENRE_LAB_CACHE`` keeps the waveform cache out of the repo.
"""

from __future__ import annotations

import base64
import io
import json
import shutil
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import streamlit as st
import torch
from streamlit.testing.v1 import AppTest

from core.analysis.evaluate import segment_confusion
from core.analysis.predict import predict_song
from core.config import REPO_ROOT
from core.runs.folder import Run, load_model

HOME = str(REPO_ROOT / "dashboard" / "Home.py")
SR = 22050
GENRES3 = ("blues", "classical", "metal")


def tone_clip(genre: str, index: int, *, seconds: float = 6.0, seed: int = 0) -> np.ndarray:
    """A short clip whose sound depends on ``genre``: low tone, high tremolo tone, or noise (plus a little noise)."""
    rng = np.random.default_rng(seed * 100 + index)
    t = np.arange(int(seconds * SR)) / SR
    if genre == "blues":
        wave = 0.3 * np.sin(2 * np.pi * (220 + 20 * index) * t)
    elif genre == "classical":
        wave = 0.3 * np.sin(2 * np.pi * (880 + 40 * index) * t) * (0.5 + 0.5 * np.sin(np.pi * t))
    else:
        wave = 0.1 * rng.standard_normal(len(t))
    return (wave + 0.05 * rng.standard_normal(len(t))).astype(np.float32)


def build_tiny_runs(folder: Path) -> Path:
    """Train two CNN seeds (one run group) on 3 genres x 6 generated clips and build a song catalog of those clips
    with the first run (``folder/catalogs/tiny``); returns the runs folder."""
    from core.library.catalog import build_catalog
    from core.training.train import make_settings, train

    data, runs = folder / "data", folder / "runs"
    for genre in GENRES3:
        (data / genre).mkdir(parents=True)
        for i in range(6):
            sf.write(data / genre / f"{genre}{i}.wav", tone_clip(genre, i), SR)
    for seed in (0, 1):
        train(make_settings("cnn", data=str(data), epochs=1, seed=seed, run_id=f"tiny-cnn-s{seed}", valid=0.2,
                            test=0.3, workers=1, group="tiny-cnn"), root=runs, progress=False)
    build_catalog(data, name="tiny", model=str(runs / "tiny-cnn-s0"), workers=1, progress=False,
                  root=folder / "catalogs")
    return runs


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One torch thread: tiny networks gain nothing from two, and on a busy 2-core machine two threads spin
    against each other (several times slower)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("dash")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GENRE_LAB_CACHE", str(folder / "cache"))
        return build_tiny_runs(folder)


@pytest.fixture()
def app(runs_dir: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("GENRE_LAB_RUNS", str(runs_dir))
    monkeypatch.setenv("GENRE_LAB_CATALOGS", str(runs_dir.parent / "catalogs"))
    monkeypatch.setenv("GENRE_LAB_CACHE", str(runs_dir.parent / "cache"))
    st.cache_data.clear()
    return AppTest.from_file(HOME, default_timeout=60)


def wav_bytes(samples: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, samples, SR, format="WAV")
    return buffer.getvalue()


def figures(at: AppTest) -> list[tuple[str, dict]]:
    """Plotly figures on the page in order: ``(title or "", figure JSON)``."""
    specs = [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]
    return [(spec["layout"].get("title", {}).get("text", ""), spec) for spec in specs]


def charts(at: AppTest) -> dict[str, dict]:
    """Plotly figures on the page by title (the last of equal titles)."""
    return dict(figures(at))


def array(value: object) -> np.ndarray:
    """A plotly JSON array: a plain list, or plotly's typed-array form ``{dtype, bdata[, shape]}``."""
    if isinstance(value, dict):
        flat = np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"])
        shape = value.get("shape")
        return flat.reshape([int(n) for n in str(shape).split(",")]) if shape else flat
    return np.asarray(value)


def table_with(at: AppTest, column: str) -> pd.DataFrame:
    """The first dataframe on the page that has ``column`` (AppTest keeps no keys for read-only tables)."""
    return next(d.value for d in at.dataframe if column in d.value.columns)


def texts(elements) -> str:
    return " ".join(str(e.value) for e in elements)


# ------------------------------------------------------------------------------------------- Home

def test_home_lists_every_run_and_asks_for_audio(app: AppTest, runs_dir: Path) -> None:
    app.run()
    assert not app.exception
    options = app.selectbox(key="model").options
    assert all(any(r in o for o in options) for r in ("tiny-cnn-s0", "tiny-cnn-s1"))
    assert "Upload a song" in texts(app.info)
    assert "200 MB" in texts(app.caption), "the upload limit from .streamlit/config.toml is stated"


def test_home_loads_the_model_while_nobody_has_uploaded(app: AppTest, runs_dir: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Before any upload, Home loads the chosen model (and runs it once) in a background thread, once per server:
    the first song then does not wait for the load, and nothing is loaded twice."""
    from dashboard import loaders

    st.cache_resource.clear()
    loads = []
    monkeypatch.setattr(loaders, "load_model", lambda key, load=loaders.load_model: loads.append(key) or load(key))
    monkeypatch.setattr(loaders, "WARM_UP_DELAY_S", 0.0)
    app.run()
    warming = [t for t in threading.enumerate() if t.name == "genre-lab-warm-up"]
    assert len(warming) == 1
    warming[0].join(timeout=60)
    assert not warming[0].is_alive() and loads == [str(Path(app.selectbox(key="model").value).resolve())]
    app.run()
    assert not [t for t in threading.enumerate() if t.name == "genre-lab-warm-up"], "once per model per server"
    app.file_uploader(key="upload").upload("song.wav", wav_bytes(tone_clip("blues", 0)), "audio/wav")
    app.run()
    assert not app.exception and "Genre spectrum" in charts(app)
    assert loads.count(loads[0]) == 1, "the song used the model the warm-up loaded (the catalog loads its own)"


def test_home_without_runs_says_how_to_make_one(app: AppTest, tmp_path: Path, monkeypatch) -> None:
    from dashboard.loaders import MAKE_A_RUN

    monkeypatch.setenv("GENRE_LAB_RUNS", str(tmp_path / "none"))
    app.run()
    assert not app.exception
    shown = texts(app.info) + texts(app.warning) + " ".join(c.value for c in app.code)
    assert MAKE_A_RUN in shown


def test_uploaded_song_yields_the_models_spectrum(app: AppTest, runs_dir: Path) -> None:
    run = str(runs_dir / "tiny-cnn-s0")
    song = wav_bytes(np.concatenate([tone_clip("blues", 1, seconds=4.5), tone_clip("metal", 1, seconds=4.5)]))
    app.run()
    app.selectbox(key="model").set_value(run)
    app.file_uploader(key="upload").upload("song.wav", song, "audio/wav")
    app.run()
    assert not app.exception and not app.error
    expected = predict_song(song, model=load_model(run, device="cpu"))
    bars = charts(app)["Genre spectrum"]["data"][0]
    shown = dict(zip(bars["y"], array(bars["x"])))
    assert set(shown) == set(expected.classes)
    np.testing.assert_allclose([shown[c] for c in expected.classes], expected.spectrum, atol=1e-5)
    assert (np.diff(array(bars["x"])) >= 0).all(), "bars are sorted (most probable drawn on top)"
    assert app.metric[0].value == expected.genre
    assert "Timeline (click a column to see and hear it below)" in charts(app)
    assert app.status[0].label == "Analysed 9 s in 3 segments"


def test_real_stereo_mp3_is_analysed(app: AppTest, runs_dir: Path, shared_data: Path) -> None:
    run = str(runs_dir / "tiny-cnn-s0")
    song = (shared_data / "fma" / "audio" / "000002.mp3").read_bytes()  # 30 s, 44.1 kHz stereo
    app.run()
    app.selectbox(key="model").set_value(run)
    app.file_uploader(key="upload").upload("000002.mp3", song, "audio/mpeg")
    app.run()
    assert not app.exception and not app.error
    expected = predict_song(song, model=load_model(run, device="cpu"))
    assert app.status[0].label == f"Analysed {expected.duration:.1f}".removesuffix(".0") + f" s in {len(expected.bounds)} segments"
    bars = charts(app)["Genre spectrum"]["data"][0]
    shown = dict(zip(bars["y"], array(bars["x"])))
    np.testing.assert_allclose([shown[c] for c in expected.classes], expected.spectrum, atol=1e-5)


def test_recommendations_and_tagged_download(app: AppTest, runs_dir: Path, tmp_path: Path) -> None:
    from core.library.catalog import Catalog
    from core.library.recommend import recommend
    from core.library.tags import read_genres
    from dashboard.loaders import Upload, tagged_copy

    run = str(runs_dir / "tiny-cnn-s0")
    song = wav_bytes(tone_clip("classical", 9, seconds=6.5))
    app.run()
    app.selectbox(key="model").set_value(run)
    app.file_uploader(key="upload").upload("mine.wav", song, "audio/wav")
    app.run()
    assert not app.exception and not app.error
    expected = recommend(predict_song(song, model=load_model(run, device="cpu")),
                         catalog=Catalog.load(str(runs_dir.parent / "catalogs" / "tiny")), k=5)
    shown = [m.value for m in app.markdown if "similarity" in m.value]
    assert len(shown) == len(expected) == 5
    for text, row in zip(shown, expected.itertuples(index=False)):
        assert row.title in text and row.reason in text and f"{row.similarity:.2f}" in text
    assert len(app.get("audio")) >= 2 + 5, "song, segment and one preview per recommendation"
    button = app.get("download_button")[0]
    assert "tagged" in button.proto.label and "mine.wav" in button.proto.label
    genre = app.metric[0].value
    copy = tmp_path / "copy.wav"
    copy.write_bytes(tagged_copy(Upload.of(song, "mine.wav"), (genre,)))
    assert read_genres(copy) == [genre]
    assert sf.read(copy)[0].shape == sf.read(io.BytesIO(song))[0].shape, "the audio is untouched"
    assert "**mine.wav** has no genre tag now" in texts(app.markdown)
    app.file_uploader(key="upload").upload("copy.wav", copy.read_bytes(), "audio/wav")
    app.run()
    assert f"**copy.wav** has the genre tag **{genre}** now" in texts(app.markdown), "the tag is shown before a download"


def test_model_and_song_survive_a_visit_to_another_page(app: AppTest, runs_dir: Path) -> None:
    run = str(runs_dir / "tiny-cnn-s1")
    app.run()
    app.selectbox(key="model").set_value(run)
    app.file_uploader(key="upload").upload("kept.wav", wav_bytes(tone_clip("metal", 3, seconds=6.4)), "audio/wav")
    app.run()
    genre = app.metric[0].value
    app.switch_page("views/compare.py").run()
    app.switch_page("views/analyse.py").run()
    assert not app.exception and not app.warning
    assert app.selectbox(key="model").value == run
    assert "kept.wav" in texts(app.caption) and app.metric[0].value == genre
    app.file_uploader(key="upload").upload("new.wav", wav_bytes(tone_clip("blues", 3, seconds=3.5)), "audio/wav")
    app.run()
    app.file_uploader(key="upload").clear().run()
    assert "Upload a song" in texts(app.info), "a file the user removed does not come back"


def test_choosing_a_segment_shows_that_segment(app: AppTest, runs_dir: Path) -> None:
    app.run()
    app.selectbox(key="model").set_value(str(runs_dir / "tiny-cnn-s0"))
    app.file_uploader(key="upload").upload("song.wav", wav_bytes(tone_clip("classical", 2, seconds=9.2)), "audio/wav")
    app.run()
    assert "Segment 0–3 s" in charts(app)
    app.select_slider(key="segment").set_value(2).run()
    figures = charts(app)
    assert "Segment 6–9 s" in figures and "Mel spectrogram of 6–9 s" in figures
    mel = array(figures["Mel spectrogram of 6–9 s"]["data"][0]["z"]).astype(float)
    assert mel.shape == (128, 1 + int(3 * SR) // 512) and np.isfinite(mel).all()


def test_long_song_timeline_shows_two_minutes_at_a_time(app: AppTest, runs_dir: Path) -> None:
    """A 15-minute song (300 segments): the timeline draws 40 columns at a time, under a picture of the whole song
    that outlines them; choosing a later segment moves both and starts that segment's player."""
    app.run()
    app.selectbox(key="model").set_value(str(runs_dir / "tiny-cnn-s0"))
    song = np.tile(tone_clip("blues", 3, seconds=30.0), 30)
    app.file_uploader(key="upload").upload("long.wav", wav_bytes(song), "audio/wav")
    app.run()
    assert not app.exception and app.status[0].label == "Analysed 900 s in 300 segments"
    shown = charts(app)
    timeline = shown["Timeline 0–120 s (click a column to see and hear it below)"]
    assert timeline["layout"]["xaxis"]["range"] == [0, 120], "40 columns of 3 s"
    whole = shown["The whole song (click a part to hear it)"]
    assert whole["layout"]["xaxis"]["range"] == [0, 900]
    assert not app.get("audio")[1].proto.autoplay, "nothing plays before a segment is chosen"
    app.select_slider(key="segment").set_value(150).run()
    shown = charts(app)
    timeline = shown["Timeline 360–480 s (click a column to see and hear it below)"]
    assert timeline["layout"]["xaxis"]["range"] == [360, 480]
    outline = shown["The whole song (click a part to hear it)"]["layout"]["shapes"][0]
    assert (outline["x0"], outline["x1"]) == (360, 480), "the whole song outlines the part the timeline shows"
    assert "Mel spectrogram of 450–453 s" in shown
    player = app.get("audio")[1].proto
    assert player.autoplay and player.alt.startswith("Segment 450–453 s"), "the chosen segment plays"


@pytest.mark.parametrize("name, content, message", [
    ("broken.mp3", b"this is not audio at all" * 10, "not audio that can be read"),
    ("empty.wav", b"", "empty"),
], ids=["garbage", "empty"])
def test_bad_file_is_a_clear_error(app: AppTest, runs_dir: Path, name: str, content: bytes, message: str) -> None:
    app.run()
    app.selectbox(key="model").set_value(str(runs_dir / "tiny-cnn-s0"))
    app.file_uploader(key="upload").upload(name, content, "application/octet-stream")
    app.run()
    assert not app.exception
    assert message in texts(app.error)
    assert "Genre spectrum" not in charts(app)


def test_silence_is_a_warning_not_a_prediction(app: AppTest, runs_dir: Path) -> None:
    app.run()
    app.selectbox(key="model").set_value(str(runs_dir / "tiny-cnn-s0"))
    app.file_uploader(key="upload").upload("quiet.wav", wav_bytes(np.zeros(4 * SR, np.float32)), "audio/wav")
    app.run()
    assert not app.exception and not app.error
    assert "silent" in texts(app.warning)
    assert "Genre spectrum" not in charts(app)
    assert app.status[0].label == "4 s of silence: nothing to analyse", "no green tick beside the warning"


def test_microphone_recording_is_analysed(app: AppTest, runs_dir: Path) -> None:
    app.run()
    app.selectbox(key="model").set_value(str(runs_dir / "tiny-cnn-s0"))
    app.radio(key="source").set_value("Record with the microphone").run()
    assert not app.exception and "Upload a song" in texts(app.info)
    app.audio_input(key="audio_input").upload("take.wav", wav_bytes(tone_clip("blues", 4, seconds=6.2)))
    app.run()
    assert not app.exception and not app.error
    assert app.status[0].label == "Analysed 6.2 s in 2 segments" and "Genre spectrum" in charts(app)


def test_over_long_recording_is_cut_with_a_notice(app: AppTest, runs_dir: Path, tmp_path: Path,
                                                  monkeypatch) -> None:
    capped = tmp_path / "runs" / "capped"
    shutil.copytree(runs_dir / "tiny-cnn-s0", capped)
    info = json.loads((capped / "run.json").read_text())
    info["audio_config"]["max_seconds"] = 6.0
    (capped / "run.json").write_text(json.dumps(info))
    monkeypatch.setenv("GENRE_LAB_RUNS", str(tmp_path / "runs"))
    app.run()
    app.selectbox(key="model").set_value(str(capped))
    app.file_uploader(key="upload").upload("long.wav", wav_bytes(tone_clip("metal", 1, seconds=10.0)), "audio/wav")
    app.run()
    assert not app.exception and not app.error
    assert "Only the first 0:06 of this 0:10 recording was analysed" in texts(app.warning)
    assert app.status[0].label == "Analysed 6 s in 2 segments"


# ------------------------------------------------------------------------------------------- Error analysis

def _open_errors(app: AppTest, run: Path) -> AppTest:
    app.run()
    app.switch_page("views/errors.py").run()
    app.selectbox(key="run").set_value(str(run)).run()
    return app


def test_switching_runs_shows_each_runs_metrics(app: AppTest, runs_dir: Path) -> None:
    _open_errors(app, runs_dir / "tiny-cnn-s0")
    for run_id in ("tiny-cnn-s1", "tiny-cnn-s0"):
        app.selectbox(key="run").set_value(str(runs_dir / run_id)).run()
        assert not app.exception
        song = Run(runs_dir / run_id).metrics["song"]
        assert app.metric[0].value == f"{song['accuracy']:.1%}" and app.metric[2].value == f"{song['macro_f1']:.3f}"
    cell = (app.selectbox(key="cm_true").value, app.selectbox(key="cm_pred").value)
    app.toggle(key="normalise").set_value(False).run()
    app.switch_page("views/compare.py").run()
    app.switch_page("views/errors.py").run()
    assert not app.exception and not app.warning
    assert app.selectbox(key="run").value == str(runs_dir / "tiny-cnn-s0") and app.toggle(key="normalise").value is False
    assert (app.selectbox(key="cm_true").value, app.selectbox(key="cm_pred").value) == cell


def test_choosing_a_confusion_cell_lists_its_examples(app: AppTest, runs_dir: Path) -> None:
    run = Run(runs_dir / "tiny-cnn-s0")
    confusion = segment_confusion(run.predictions, run.classes)
    cells = [(t, p, int(confusion.loc[t, p])) for t in run.classes for p in run.classes
             if t != p and confusion.loc[t, p] > 0]
    assert cells, "a one-epoch model makes mistakes; the fixture must give this test some to list"
    true, predicted, count = cells[0]
    _open_errors(app, run.path)
    app.radio(key="level").set_value("Segments").run()
    app.selectbox(key="cm_true").set_value(true)
    app.selectbox(key="cm_pred").set_value(predicted)
    app.run()
    assert not app.exception
    listing = table_with(app, "track_id")
    assert len(listing) == count
    assert set(listing["true"]) == {true} and set(listing["predicted"]) == {predicted}
    assert list(listing["confidence"]) == sorted(listing["confidence"], reverse=True)
    shown = min(count, 3)
    titles = [title for title, _ in figures(app)]
    assert titles.count("Mel spectrogram") == shown and titles.count("Segment probabilities") == shown
    assert len(app.get("audio")) == shown
    saliency = [v for k, v in charts(app).items() if str(k).startswith("Grad-CAM for")]
    assert saliency, "the saliency view is drawn for CNN runs"
    heat = array(saliency[0]["data"][1]["z"]).astype(float)
    assert np.isfinite(heat).all() and heat.max() == pytest.approx(1.0) and heat.std() > 0
    app.radio(key="sal_method").set_value("occlusion").run()
    assert not app.exception and any(str(k).startswith("Occlusion for") for k in charts(app))


def test_song_level_cell_and_correct_cell(app: AppTest, runs_dir: Path) -> None:
    _open_errors(app, runs_dir / "tiny-cnn-s0")
    cls = Run(runs_dir / "tiny-cnn-s0").classes
    app.selectbox(key="cm_true").set_value(cls[0])
    app.selectbox(key="cm_pred").set_value(cls[0])
    app.run()
    assert not app.exception and "correct predictions" in texts(app.info)


def test_missing_audio_is_a_message_not_a_crash(app: AppTest, runs_dir: Path, tmp_path: Path, monkeypatch) -> None:
    moved = tmp_path / "runs" / "moved"
    shutil.copytree(runs_dir / "tiny-cnn-s0", moved)
    preds = pd.read_parquet(moved / "predictions.parquet")
    preds["path"] = [f"/nowhere/{Path(p).name}" for p in preds["path"]]
    preds.to_parquet(moved / "predictions.parquet", index=False)
    monkeypatch.setenv("GENRE_LAB_RUNS", str(tmp_path / "runs"))
    run = Run(moved)
    confusion = segment_confusion(run.predictions, run.classes)
    true, predicted = next((t, p) for t in run.classes for p in run.classes if t != p and confusion.loc[t, p])
    _open_errors(app, moved)
    app.radio(key="level").set_value("Segments").run()
    app.selectbox(key="cm_true").set_value(true)
    app.selectbox(key="cm_pred").set_value(predicted)
    app.run()
    assert not app.exception and not app.error
    assert "not on this machine" in texts(app.warning)


# ------------------------------------------------------------------------------------------- Compare runs

def test_compare_page_shows_runs_curves_and_seed_spread(app: AppTest, runs_dir: Path) -> None:
    app.run()
    app.switch_page("views/compare.py").run()
    assert not app.exception
    assert set(table_with(app, "run_id")["run_id"]) == {"tiny-cnn-s0", "tiny-cnn-s1"}
    figures = charts(app)
    assert any("minus" in str(k) for k in figures), "the confusion difference is drawn"
    seeds = table_with(app, "n_seeds")
    assert list(seeds["group"]) == ["tiny-cnn"] and int(seeds["n_seeds"].iloc[0]) == 2
    assert "±" in seeds["song_accuracy"].iloc[0]
    app.multiselect(key="compare_runs").set_value([str(runs_dir / "tiny-cnn-s1")]).run()
    assert not app.exception and "Choose at least two runs" in texts(app.caption)


# ------------------------------------------------------------------------------------------- Uploads of every kind

def _tagged_mp3_bytes(tmp_path: Path, version: int) -> bytes:
    """A 6.5 s MP3 of a blues clip with an ID3v2.``version`` tag and a 1 MB cover picture; v2.3 also with padding
    after the tag, which libsndfile recognises from a '.mp3' name but never from bytes."""
    from mutagen.id3 import APIC, ID3, TIT2

    path = tmp_path / "song.mp3"
    sf.write(path, tone_clip("blues", 5, seconds=6.5), SR, format="MP3", subtype="MPEG_LAYER_III")
    plain = path.read_bytes()
    tags = ID3()
    tags.add(TIT2(encoding=3, text="Uploaded song"))
    tags.add(APIC(encoding=3, mime="image/jpeg", type=3, desc="Cover",
                  data=b"\xff\xd8\xff\xe0" + bytes(np.random.default_rng(version).integers(0, 256, 1_000_000,
                                                                                             dtype=np.uint8))))
    tags.save(path, v2_version=version, padding=lambda info: 0)
    tagged = path.read_bytes()
    if version == 3:
        size = (tagged[6] << 21) | (tagged[7] << 14) | (tagged[8] << 7) | tagged[9]
        tagged = tagged[: 10 + size] + bytes(2048) + plain
    return tagged


def _m4a_bytes(codec: str) -> bytes:
    import av

    clip = tone_clip("metal", 4, seconds=6.5)
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="ipod") as container:
        stream = container.add_stream(codec, rate=SR, layout="mono")
        fmt = stream.codec_context.format.name
        data = clip if fmt.startswith("flt") else (clip * 32767).astype(np.int16 if fmt.startswith("s16") else np.int32)
        if fmt.startswith("s32"):
            data = (clip * 2147483647).astype(np.int32)
        step = stream.codec_context.frame_size or 4096
        for i in range(0, len(data), step):
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(data[None, i : i + step]), format=fmt,
                                               layout="mono")
            frame.sample_rate, frame.pts = SR, i
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return buffer.getvalue()


@pytest.mark.parametrize("kind", ["mp3-id3v2.3", "mp3-id3v2.4", "m4a-aac", "m4a-alac"])
def test_tagged_mp3_and_m4a_uploads_are_analysed(app: AppTest, runs_dir: Path, tmp_path: Path, kind: str) -> None:
    if kind.startswith("mp3"):
        name, mime, song = "tagged.mp3", "audio/mpeg", _tagged_mp3_bytes(tmp_path, int(kind[-1]))
        assert song[:3] == b"ID3" and len(song) > 1_000_000
    else:
        name, mime, song = f"{kind}.m4a", "audio/mp4", _m4a_bytes(kind.split("-")[1])
        assert song[4:8] == b"ftyp"
    run = str(runs_dir / "tiny-cnn-s0")
    app.run()
    app.selectbox(key="model").set_value(run)
    app.file_uploader(key="upload").upload(name, song, mime)
    app.run()
    assert not app.exception and not app.error, texts(app.error)
    expected = predict_song(song, model=load_model(run, device="cpu"))
    assert abs(expected.duration - 6.5) < 0.2
    assert app.status[0].label == f"Analysed {expected.duration:.1f}".removesuffix(".0") + f" s in {len(expected.bounds)} segments"
    bars = charts(app)["Genre spectrum"]["data"][0]
    shown = dict(zip(bars["y"], array(bars["x"])))
    np.testing.assert_allclose([shown[c] for c in expected.classes], expected.spectrum, atol=1e-5)


# ------------------------------------------------------------------------------------------- real-music default

@pytest.fixture()
def shipped_app(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> AppTest:
    """Home on the repository's own runs (the shipped real-music default model first)."""
    monkeypatch.delenv("GENRE_LAB_RUNS", raising=False)
    monkeypatch.setenv("GENRE_LAB_CACHE", str(tmp_path / "cache"))
    st.cache_data.clear()
    return AppTest.from_file(HOME, default_timeout=120)


def test_home_defaults_to_the_real_music_model_and_labels_synthetic_runs(shipped_app: AppTest) -> None:
    from core.models.registry import DEFAULT_RUN

    shipped_app.run()
    select = shipped_app.selectbox(key="model")
    labels = list(select.options)  # the shown labels
    assert DEFAULT_RUN in labels[0] and str(select.value).endswith(DEFAULT_RUN)
    synthetic = [i for i, label in enumerate(labels) if "synthetic" in label]
    real = [i for i, label in enumerate(labels) if "gtzan_ff" in label]
    assert synthetic and real and max(real) < min(synthetic)
    assert all("knows only the synthetic set" in labels[i] for i in synthetic)


def test_speech_like_noise_is_not_music_on_home(shipped_app: AppTest) -> None:
    noise = np.random.default_rng(0).standard_normal(SR * 8).astype(np.float32) * 0.1
    shipped_app.run()
    shipped_app.file_uploader(key="upload").upload("noise.wav", wav_bytes(noise), "audio/wav")
    shipped_app.run()
    assert not shipped_app.exception
    assert "does not sound like music" in texts(shipped_app.error)
    assert not shipped_app.metric, "no genre is presented as a call"
    assert shipped_app.status[0].label == "Analysed 8 s: no genre to give", "no green tick beside the verdict"


def test_real_song_shows_styles_on_home(shipped_app: AppTest, shared_data: Path) -> None:
    shipped_app.run()
    shipped_app.file_uploader(key="upload").upload(
        "000002.mp3", (shared_data / "fma" / "audio" / "000002.mp3").read_bytes(), "audio/mpeg")
    shipped_app.run()
    assert not shipped_app.exception and not shipped_app.error
    assert shipped_app.metric[0].value == "hiphop"
    styles = charts(shipped_app)["Styles (each scored on its own)"]["data"][0]
    assert list(styles["y"])[-1] == "hip-hop", "the strongest style is drawn on top"


def test_home_builds_a_catalog_from_a_folder_of_own_songs(app: AppTest, runs_dir: Path, tmp_path: Path) -> None:
    songs = tmp_path / "my music"
    songs.mkdir()
    for i, genre in enumerate(GENRES3):
        sf.write(songs / f"{genre}-{i}.wav", tone_clip(genre, i, seconds=4.0), SR)
    (songs / "notes.txt").write_text("not a song")
    app.run()
    app.file_uploader(key="upload").upload("q.wav", wav_bytes(tone_clip("blues", 9, seconds=4.0)), "audio/wav")
    app.run()
    app.text_input(key="catalog_folder").input(str(songs))
    app.text_input(key="catalog_name").input("mine")
    app.button(key="catalog_build").click().run()
    assert not app.exception and not app.error
    assert "Catalog 'mine': 3 added" in texts(app.success)
    assert (runs_dir.parent / "catalogs" / "mine" / "catalog.json").is_file()
    assert "mine" in app.selectbox(key="catalog").options


def test_error_analysis_of_a_real_music_run_uses_the_real_audio(shipped_app: AppTest, shared_data: Path) -> None:
    """cnn-gtzan's test songs are real GTZAN tracks in ../shared/data: spectrograms, players and Grad-CAM."""
    run = Run(Path(__file__).resolve().parents[1] / "models" / "runs" / "cnn-gtzan")
    shipped_app.run()
    shipped_app.switch_page("views/errors.py").run()
    shipped_app.selectbox(key="run").set_value(str(run.path)).run()
    assert not shipped_app.exception and not shipped_app.warning
    titles = [title for title, _ in figures(shipped_app)]
    assert "Mel spectrogram" in titles and any(str(t).startswith("Grad-CAM for") for t in titles)
    assert shipped_app.get("audio"), "the misclassified segments can be played"


def test_error_analysis_says_when_a_runs_audio_is_not_here(shipped_app: AppTest, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    source = Path(__file__).resolve().parents[1] / "models" / "runs" / "knn-gtzan"
    copy = tmp_path / "runs" / "knn-elsewhere"
    shutil.copytree(source, copy)
    preds = pd.read_parquet(copy / "predictions.parquet")
    preds["path"] = "/nowhere/" + preds["path"].str.replace("../", "", regex=False)
    preds.to_parquet(copy / "predictions.parquet", index=False)
    monkeypatch.setenv("GENRE_LAB_RUNS", str(tmp_path / "runs"))
    shipped_app.run()
    shipped_app.switch_page("views/errors.py").run()
    assert not shipped_app.exception
    assert "not on this machine" in texts(shipped_app.warning)


def test_near_silence_is_called_silent_on_home(shipped_app: AppTest) -> None:
    hiss = np.random.default_rng(1).standard_normal(SR * 6).astype(np.float32) * 10 ** (-70 / 20)  # -70 dBFS
    shipped_app.run()
    shipped_app.file_uploader(key="upload").upload("hiss.wav", wav_bytes(hiss), "audio/wav")
    shipped_app.run()
    assert not shipped_app.exception
    assert "nearly silent" in texts(shipped_app.error) and not shipped_app.metric
    assert shipped_app.status[0].label == "Analysed 6 s: no genre to give"


def test_compare_lists_whole_runs_first_and_study_trials_on_request(shipped_app: AppTest) -> None:
    shipped_app.run()
    shipped_app.switch_page("views/compare.py").run()
    assert not shipped_app.exception
    runs = list(shipped_app.dataframe[0].value["run_id"])  # the runs table comes first
    assert "transfer-gtzan" in runs and not any(r.startswith(("lc-gtzan-", "genres-gtzan-")) for r in runs)
    shipped_app.toggle(key="show_trials").set_value(True).run()
    runs = list(shipped_app.dataframe[0].value["run_id"])
    assert any(r.startswith("lc-gtzan-") for r in runs) and "transfer-gtzan" in runs


def test_a_model_that_cannot_load_is_named_as_such(runs_dir: Path, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A run whose weights file is gone: the status and the message blame the model, not the audio."""
    import shutil

    broken = tmp_path / "runs"
    shutil.copytree(runs_dir / "tiny-cnn-s0", broken / "tiny-cnn-s0")
    (broken / "tiny-cnn-s0" / "weights.safetensors").unlink()
    monkeypatch.setenv("GENRE_LAB_RUNS", str(broken))
    st.cache_data.clear()
    st.cache_resource.clear()
    app = AppTest.from_file(HOME, default_timeout=60)
    app.run()
    app.selectbox(key="model").set_value(str(broken / "tiny-cnn-s0"))
    app.file_uploader(key="upload").upload("song.wav", wav_bytes(tone_clip("blues", 0)), "audio/wav")
    app.run()
    assert not app.exception
    assert app.status[0].label == "The model could not be loaded"
    assert texts(app.error).startswith("The model could not be loaded:") and "weights.safetensors" in texts(app.error)
