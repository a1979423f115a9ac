"""Cached access to ``core`` for the pages: models with ``st.cache_resource``, tables and arrays with ``st.cache_data``.

Everything here is a thin, cached call into ``core``; no analysis is written in the dashboard. Runs are read from
``$GENRE_LAB_RUNS`` when set (tests point it at a temporary folder), else ``models/runs`` under the repository;
song catalogs from ``$GENRE_LAB_CATALOGS``, else ``data/catalogs``.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import streamlit as st
from streamlit.runtime.scriptrunner import add_script_run_ctx

from core.audio.decode import Decoded, load_audio, segment_audio
from core.audio.files import bytes_hash
from core.config import AudioConfig, from_repo
from core.errors import GenreLabError, InputError, NotFoundError
from core.models.registry import DEFAULT_RUN, PRETRAINED_NAME, model_kind
from core.runs.folder import Run, list_runs, load_model, resolve_run, runs_root, runs_table

if TYPE_CHECKING:  # heavy (torch, scikit-learn): imported when a page first needs them
    from core.analysis.predict import SongPrediction
    from core.models.base import GenreModel

#: Environment variable naming another catalogs folder.
CATALOGS_ENV = "GENRE_LAB_CATALOGS"
#: The one command that rebuilds the shipped runs (synthetic set, CNN, CRNN, KNN, transfer, demo catalog).
MAKE_A_RUN = "python -m core demo"


@st.cache_data(ttl=60, show_spinner=False)
def pretrained_available() -> bool:
    """Whether the pretrained tagger can load: its converted weights are present (imports no torch)."""
    from core.pretrained import weights_present

    return weights_present()


@st.cache_data(ttl=30, show_spinner=False)
def run_catalogue(root: str) -> pd.DataFrame:
    """One row per completed run under ``root`` (:meth:`core.runs.folder.Run.summary`), newest first, plus ``path``."""
    runs = list_runs(Path(root))
    table = runs_table(runs)
    if runs:
        table["path"] = [str(r.path) for r in runs]
    return table


def current_runs() -> pd.DataFrame:
    """:func:`run_catalogue` of :func:`runs_root`."""
    return run_catalogue(str(runs_root()))


@dataclass
class RunData:
    """Everything a page shows about one run (read once, cached)."""

    run_id: str
    path: str
    info: dict
    metrics: dict
    history: pd.DataFrame
    confusion: pd.DataFrame
    predictions: pd.DataFrame
    songs: pd.DataFrame
    segment_confusion: pd.DataFrame

    @property
    def classes(self) -> list[str]:
        return list(self.info["classes"])

    @property
    def kind(self) -> str:
        return str(self.info["model"])

    @property
    def cfg(self) -> AudioConfig:
        return AudioConfig.from_dict(self.info["audio_config"])


@st.cache_data(max_entries=16, show_spinner=False)
def run_data(path: str, stamp: float) -> RunData:
    """All tables of the run folder ``path`` (``stamp``: its ``run.json`` mtime, so a replaced run is re-read)."""
    from core.analysis import evaluate

    run = Run(Path(path))
    classes = run.classes
    return RunData(run_id=run.run_id, path=path, info=run.info, metrics=run.metrics, history=run.history,
                   confusion=run.confusion, predictions=run.predictions,
                   songs=evaluate.song_table(run.predictions, classes),
                   segment_confusion=evaluate.segment_confusion(run.predictions, classes))


def load_run(path: str) -> RunData:
    """:func:`run_data` keyed by the folder's modification stamp."""
    return run_data(path, (Path(path) / "run.json").stat().st_mtime)


def model_key(ref: str) -> str:
    """One name per model: a run's resolved folder (whether ``ref`` is its id or a path), or
    :data:`PRETRAINED_NAME`. The catalog names its model by run id and Home by path; both must share one load and
    one analysis of a song."""
    return ref if ref == PRETRAINED_NAME else str(resolve_run(ref).resolve())


def model(ref: str) -> GenreModel:
    """A loaded model (run id, run folder or :data:`PRETRAINED_NAME`), loaded once per :func:`model_key` and kept
    for the server's life."""
    return _loaded_model(model_key(ref))


@st.cache_resource(max_entries=6, show_spinner=False)
def _loaded_model(key: str) -> GenreModel:
    return load_model(key)


#: Seconds :func:`warm_up` waits before it starts: the first page is drawn first (starting at once added 0.5 s to
#: a fresh server's first page view in chromium on 2 cores; people take longer than this to pick a file).
WARM_UP_DELAY_S = 1.5


@st.cache_resource(show_spinner=False)
def _warmed() -> tuple[set[str], threading.Lock]:
    """The models :func:`warm_up` has started, server-wide, and its lock."""
    return set(), threading.Lock()


def warm_up(ref: str) -> None:
    """Load model ``ref`` and analyse one silent segment with it in a background thread, once per server, so that
    the first song a person uploads does not wait for the model, its libraries and its first run to start (a song
    uploaded 5 s after a fresh server's first page view: 7.7 s to its spectrum before, 4.6 s with this, on 2 cores).
    A song uploaded meanwhile waits for the same load (the model cache computes each model once); a model that
    cannot load is left to the page that uses it, which says so."""
    try:
        key = model_key(ref)
    except (GenreLabError, OSError):
        return
    started, lock = _warmed()
    with lock:
        if key in started:
            return
        started.add(key)

    def work() -> None:
        time.sleep(WARM_UP_DELAY_S)
        try:
            net = _loaded_model(key)
            net.predict_segments(np.zeros((1, net.cfg.segment_samples), dtype=np.float32))
        except Exception as error:  # noqa: BLE001 - the page's own call raises it again, with a sentence
            logging.getLogger(__name__).warning("warming up model %s failed: %s", key, error)

    thread = threading.Thread(target=work, name="genre-lab-warm-up")  # not a daemon: never killed inside torch
    add_script_run_ctx(thread)
    thread.start()


@dataclass(frozen=True)
class Upload:
    """An uploaded or recorded file. Caches key it by ``digest`` (hashed once), never by re-hashing its bytes."""

    data: bytes
    name: str
    digest: str

    @classmethod
    def of(cls, data: bytes, name: str) -> Upload:
        """Wrap bytes; the digest is the same as :func:`core.audio.files.content_hash` gives the file."""
        return cls(data=data, name=name, digest=bytes_hash(data))


_BY_DIGEST = {Upload: lambda upload: upload.digest}


#: Analyses kept for the server's life (the most recent first out when full).
ANALYSES_KEPT = 8


@st.cache_resource(show_spinner=False)
def _analyses() -> tuple[OrderedDict, threading.Lock]:
    """The server-wide store of analyses, ``(upload digest, model ref) → SongPrediction``, and its lock."""
    return OrderedDict(), threading.Lock()


def analyse(upload: Upload, ref: str, *, on_progress: Callable[[int, int], None] | None = None) -> SongPrediction:
    """:func:`core.analysis.predict.predict_song` of one upload with model ``ref``, on the same decoded samples the
    page plays and draws (:func:`decoded`: the upload is decoded once per sample rate). The last
    :data:`ANALYSES_KEPT` analyses are kept for every session (a hand-kept store, not ``st.cache_data``, so the
    analysis can report ``on_progress(done, total)`` segments to the page). Results are shared: never modify them.

    Raises:
        core.audio.decode.AudioError: the bytes are not audio that can be analysed.
    """
    from core.analysis.predict import predict_song

    store, lock = _analyses()
    key = (upload.digest, model_key(ref))
    with lock:
        if key in store:
            store.move_to_end(key)
            return store[key]
    net = model(ref)
    song = decoded(upload, net.cfg.sample_rate, net.cfg.max_seconds)
    prediction = predict_song(song, model=net, on_progress=on_progress)
    with lock:
        store[key] = prediction
        while len(store) > ANALYSES_KEPT:
            store.popitem(last=False)
    return prediction


@st.cache_resource(max_entries=4, show_spinner=False, hash_funcs=_BY_DIGEST)
def decoded(upload: Upload, sample_rate: int, max_seconds: float | None) -> Decoded:
    """An upload decoded to mono float32 at ``sample_rate`` (:func:`core.audio.decode.load_audio`): one read-only
    array shared by reruns and sessions (``cache_resource``: not copied on every rerun as ``cache_data`` would)."""
    song = load_audio(upload.data, sample_rate=sample_rate, max_seconds=max_seconds)
    song.samples.flags.writeable = False
    return song


def audio_path(path: str) -> Path:
    """A prediction's or catalog's audio path: absolute as stored, or relative to the repository."""
    return from_repo(path)


def fetch_run_audio(run_path: str, paths: list[str]) -> bool:
    """Make the audio of predictions available: True when every file is here or was re-rendered (synthetic
    clips, see :meth:`core.runs.folder.Run.restore_audio`); False when some file is not on this machine."""
    run = Run(Path(run_path))
    try:
        for stored in dict.fromkeys(paths):
            if stored:
                run.restore_audio(stored)
    except (FileNotFoundError, ValueError):  # not here, not synthetic, or made by another generator version
        return False
    return True


@st.cache_data(max_entries=32, show_spinner=False)
def file_segment(path: str, start: float, end: float, sample_rate: int) -> np.ndarray:
    """Samples ``(n,)`` between ``start`` and ``end`` seconds of the audio file ``path`` at ``sample_rate``.

    Raises:
        core.audio.decode.AudioError: the file is missing or cannot be decoded.
    """
    samples = load_audio(audio_path(path), sample_rate=sample_rate, max_seconds=end).samples
    return segment_audio(samples, start=start, end=end, sample_rate=sample_rate)


@st.cache_data(show_spinner=False)
def band_hz(cfg_json: str) -> np.ndarray:
    """Centre frequencies in Hz ``(n_mels,)`` of the mel bands of an :class:`AudioConfig` given as JSON."""
    from core.audio.frontend import mel_band_hz

    return mel_band_hz(AudioConfig.from_json(cfg_json))


@st.cache_data(max_entries=64, show_spinner=False)
def spectrogram(samples: np.ndarray, cfg_json: str) -> np.ndarray:
    """dB mel spectrogram ``(n_mels, frames)`` of ``samples`` with the :class:`AudioConfig` given as JSON."""
    from core.analysis.saliency import mel_spectrogram

    return mel_spectrogram(samples, cfg=AudioConfig.from_json(cfg_json))


@st.cache_data(max_entries=32, show_spinner=False)
def saliency(ref: str, samples: np.ndarray, target: int, method: str):
    """:func:`core.analysis.saliency.grad_cam` or :func:`core.analysis.saliency.occlusion` of one segment of a
    CNN/CRNN run."""
    from core.analysis.saliency import grad_cam, occlusion

    net = model(ref).net
    return grad_cam(net, samples, target=target) if method == "grad-cam" else occlusion(net, samples, target=target)


def catalogs_root() -> Path:
    """The folder the dashboard reads song catalogs from (``$GENRE_LAB_CATALOGS`` or ``data/catalogs``)."""
    from core.library.catalog import CATALOGS_DIR

    env = os.environ.get(CATALOGS_ENV)
    return Path(env) if env else CATALOGS_DIR


def catalogs() -> list[str]:
    """Names of the built catalogs."""
    from core.library.catalog import list_catalogs

    return list_catalogs(catalogs_root())


@st.cache_resource(max_entries=4, show_spinner=False)
def catalog(folder: str, stamp: float):
    """The :class:`core.library.catalog.Catalog` in ``folder`` (``stamp``: its ``catalog.json`` mtime, so a rebuild
    shows)."""
    from core.library.catalog import Catalog

    return Catalog.load(folder)


def load_catalog(name: str):
    """:func:`catalog` of catalog ``name`` under :func:`catalogs_root`."""
    folder = catalogs_root() / name
    return catalog(str(folder), (folder / "catalog.json").stat().st_mtime)


@st.cache_data(max_entries=16, show_spinner=False, hash_funcs=_BY_DIGEST)
def recommendations(upload: Upload, catalog_name: str, k: int, same_genre: bool) -> pd.DataFrame:
    """:func:`core.library.recommend.recommend` for an upload, analysed with the catalog's own model (the upload itself
    and its exact duplicates are excluded)."""
    from core.library.recommend import recommend

    cat = load_catalog(catalog_name)
    query = analyse(upload, str(cat.info["model"]))
    return recommend(query, catalog=cat, k=k, same_genre=same_genre, exclude_hash=upload.digest)


@st.cache_data(max_entries=8, show_spinner=False, hash_funcs=_BY_DIGEST)
def current_genres(upload: Upload) -> list[str] | None:
    """The genres the upload's tag holds now (:func:`core.library.tags.read_genres`; ``[]``: none), or None when
    its format carries no genre tag or its tags cannot be read."""
    from core.library.tags import TagError, read_genres

    with tempfile.TemporaryDirectory() as folder:
        copy = Path(folder) / Path(upload.name).name
        copy.write_bytes(upload.data)
        try:
            return read_genres(copy)
        except TagError:
            return None


@st.cache_data(max_entries=3, show_spinner=False, hash_funcs=_BY_DIGEST)
def tagged_copy(upload: Upload, genres: tuple[str, ...]) -> bytes:
    """The upload's bytes with ``genres`` written into its genre tag (:func:`core.library.tags.write_genres`).

    Raises:
        core.library.tags.TagError: the format cannot carry a genre tag.
    """
    from core.library.tags import write_genres

    with tempfile.TemporaryDirectory() as folder:
        copy = Path(folder) / Path(upload.name).name
        copy.write_bytes(upload.data)
        write_genres(copy, list(genres), mode="replace", dry_run=False)
        return copy.read_bytes()


def model_choices(table: pd.DataFrame) -> dict[str, str]:
    """Model selector options ``{ref: label}``: runs trained on real music first (the default model leads, then by
    balanced accuracy), then the pretrained tagger's genre mapping, then runs that know only the synthetic set,
    labelled as such; trials of a study are left out. ``ref`` is a run folder or :data:`PRETRAINED_NAME`."""
    choices: dict[str, str] = {}
    if not table.empty and "study" in table:  # a study's many trials are shown by the Compare page's curves
        table = table[table["study"].fillna("") == ""]
    real = table[~table["synthetic"].astype(bool)] if not table.empty else table
    synthetic = table[table["synthetic"].astype(bool)] if not table.empty else table

    def label(row) -> str:
        score = row.song_balanced_accuracy if pd.notna(row.song_balanced_accuracy) else row.song_accuracy
        what = "balanced accuracy" if pd.notna(row.song_balanced_accuracy) else "song accuracy"
        acc = f", {what} {score:.0%} on its test songs" if pd.notna(score) else ""
        return f"{row.run_id} ({model_kind(row.model).title} on {row.dataset or 'unknown data'}{acc})"

    if not real.empty:
        real = real.assign(_default=real["run_id"] == DEFAULT_RUN,
                           _score=real["song_balanced_accuracy"].fillna(real["song_accuracy"]))
        for row in real.sort_values(["_default", "_score"], ascending=False, kind="stable").itertuples(index=False):
            choices[str(row.path)] = label(row)
    if pretrained_available():
        choices[PRETRAINED_NAME] = "musicnn tags mapped to genres (pretrained, no training; cannot say reggae)"
    if not synthetic.empty:
        for row in synthetic.sort_values("song_accuracy", ascending=False, kind="stable").itertuples(index=False):
            choices[str(row.path)] = f"synthetic · {label(row)} — knows only the synthetic set"
    return choices


def run_labels(table: pd.DataFrame) -> dict[str, str]:
    """Run selector options ``{run folder: label}`` in :func:`model_choices` order (the default model first, real
    music before synthetic, best first)."""
    return {ref: label for ref, label in model_choices(table).items() if ref != PRETRAINED_NAME}


def wrong_examples(data: RunData, *, level: str, true: str, predicted: str) -> pd.DataFrame:
    """:func:`core.analysis.evaluate.wrong_examples` of a run."""
    from core.analysis import evaluate

    return evaluate.wrong_examples(data.predictions, data.classes, level=level, true=true, predicted=predicted)


def history_long(paths: tuple[str, ...]) -> pd.DataFrame:
    """:func:`core.analysis.compare.history_long` of runs (folder paths)."""
    from core.analysis import compare

    runs = [load_run(p) for p in paths]
    return compare.history_long({r.run_id: r.history for r in runs})


def per_genre(paths: tuple[str, ...], *, level: str = "song") -> pd.DataFrame:
    """:func:`core.analysis.compare.per_genre` of runs (folder paths)."""
    from core.analysis import compare

    runs = [load_run(p) for p in paths]
    return compare.per_genre({r.run_id: r.metrics for r in runs}, level=level)


def build_user_catalog(name: str, *, uploads: list[tuple[str, bytes]], folder: str | None,
                       on_song: Callable[[int, int], None]) -> object:
    """Build (or extend) catalog ``name`` under :func:`catalogs_root` from uploaded songs (stored in the catalog's
    ``audio/`` folder) or from a folder on the machine running the app, with the default model.

    Returns:
        The :class:`core.library.catalog.CatalogReport`.

    Raises:
        core.errors.GenreLabError: a bad name, no audio, or no song could be analysed (a sentence).
    """
    from core.library.catalog import build_catalog, catalog_dir, catalog_model
    from core.runs.folder import default_model

    target = catalog_dir(name, root=catalogs_root())
    if uploads:
        audio = target / "audio"
        audio.mkdir(parents=True, exist_ok=True)
        for file_name, data in uploads:
            (audio / Path(file_name).name.lstrip(".")).write_bytes(data)
        source = audio
    elif folder:
        source = Path(folder).expanduser()
        if not source.is_dir():
            raise NotFoundError(f"'{folder}' is not a folder on the machine running the app.")
    else:
        raise InputError("Upload some songs or give a folder first.")
    model = catalog_model(name, root=catalogs_root()) or default_model()
    report = build_catalog(source, name=name, root=catalogs_root(), model=model, workers=1, progress=False,
                           on_song=on_song)
    st.cache_resource.clear()  # the catalog list and any loaded catalog of that name are stale
    return report


@st.cache_data(ttl=30, show_spinner=False)
def study_runs(root: str) -> pd.DataFrame:
    """:func:`core.analysis.compare.study_table` of the runs under ``root`` (one row per run of a study)."""
    from core.analysis.compare import study_table

    return study_table(list_runs(Path(root)))


@st.cache_data(ttl=30, show_spinner=False)
def search_trials(root: str, study: str) -> pd.DataFrame | None:
    """The trials file of a search study (:func:`core.cluster.search.trials_file`), None when there is none."""
    from core.cluster.search import trials_file

    path = trials_file(Path(root), study)
    return pd.read_csv(path) if path.is_file() else None
