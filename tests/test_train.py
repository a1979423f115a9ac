"""Training runs: the run-folder contract, determinism, evaluation = predict_song, and the real-data KNN check."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from conftest import TONE_GENRES, noisy_tone

from core.analysis.evaluate import prob_columns
from core.analysis.predict import predict_song
from core.runs.folder import (
    RUN_FILES,
    Run,
    list_runs,
    load_model,
    runs_table,
    seed_summary,
)
from core.training.settings import TrainSettings
from core.training.train import make_settings, train, train_seeds

SR = 22050
CLASSES = TONE_GENRES


@pytest.fixture(scope="module")
def tone_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder-per-genre tree: 3 genres × 6 songs of 7 s, each a genre-specific tone plus noise."""
    root = tmp_path_factory.mktemp("tones")
    rng = np.random.default_rng(0)
    for genre, freq in CLASSES.items():
        (root / genre).mkdir()
        for i in range(6):
            wave = noisy_tone(freq * (1 + 0.03 * rng.standard_normal()), seconds=7, rng=rng)
            sf.write(root / genre / f"{genre}{i}.wav", wave, SR)
    return root


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


def _settings(data: Path, **kw: object) -> TrainSettings:
    model = str(kw.pop("model", "cnn"))
    base = {"epochs": 2, "batch_size": 8, "crops_per_track": 2, "patience": 5} if model in ("cnn", "crnn") else {}
    return make_settings(model, str(data), **{"valid": 0.2, "test": 0.34, "workers": 1, **base, **kw})


@pytest.fixture(scope="module")
def cnn_run(tone_set: Path, tmp_path_factory: pytest.TempPathFactory, cache_dir: Path) -> Path:
    mp = pytest.MonkeyPatch()
    mp.setenv("GENRE_LAB_CACHE", str(cache_dir))
    try:
        return train(_settings(tone_set, run_id="cnn-a"), root=tmp_path_factory.mktemp("runs"), progress=False)
    finally:
        mp.undo()


def test_run_folder_follows_the_contract(cnn_run: Path) -> None:
    for name in (*RUN_FILES, "weights.safetensors"):
        assert (cnn_run / name).is_file(), name
    info = json.loads((cnn_run / "run.json").read_text())
    assert info["model"] == "cnn" and info["classes"] == list(CLASSES)
    assert info["audio_config"]["sample_rate"] == SR and info["split"]["kind"] == "track-grouped"
    for key in ("hyperparameters", "dataset", "seed", "versions", "durations"):
        assert key in info
    history = pd.read_csv(cnn_run / "history.csv")
    assert list(history.columns[:7]) == ["epoch", "train_loss", "train_acc", "val_loss", "val_acc",
                                         "val_segment_acc", "lr"]
    preds = pd.read_parquet(cnn_run / "predictions.parquet")
    for col in ("track_id", "path", "start", "end", "true", "predicted", *prob_columns(list(CLASSES))):
        assert col in preds
    np.testing.assert_allclose(preds[prob_columns(list(CLASSES))].sum(1), 1.0, atol=1e-5)
    metrics = json.loads((cnn_run / "metrics.json").read_text())
    assert set(metrics["song"]["per_class"]) == set(CLASSES)
    assert 0.0 <= metrics["song"]["accuracy"] <= 1.0 and metrics["segment"]["n"] == len(preds)
    confusion = pd.read_csv(cnn_run / "confusion.csv", index_col=0)
    assert confusion.to_numpy().sum() == preds["track_id"].nunique()


def test_no_track_on_two_sides(cnn_run: Path, tone_set: Path) -> None:
    info = Run(cnn_run).info
    counts = info["split"]["counts"]
    assert sum(counts.values()) == 18 and min(counts.values()) >= 3


def test_same_seed_same_metrics(cnn_run: Path, tone_set: Path, tmp_path: Path, cache_dir: Path,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GENRE_LAB_CACHE", str(cache_dir))
    again = train(_settings(tone_set, run_id="cnn-b"), root=tmp_path, progress=False)
    a, b = Run(cnn_run), Run(again)
    assert a.metrics == b.metrics
    pd.testing.assert_frame_equal(a.history.drop(columns="seconds"), b.history.drop(columns="seconds"))


def test_evaluation_equals_predict_song(cnn_run: Path) -> None:
    run = Run(cnn_run)
    model = load_model(cnn_run, device="cpu")
    preds = run.predictions
    path = preds["path"].iloc[0]
    song = preds[preds["path"] == path][prob_columns(run.classes)].to_numpy().mean(0)
    np.testing.assert_allclose(predict_song(path, model=model).spectrum, song, atol=1e-5)


def test_knn_and_seeds_group(tone_set: Path, tmp_path: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GENRE_LAB_CACHE", str(cache_dir))
    paths = train_seeds(_settings(tone_set, model="knn", k=3, run_id="knn"), [0, 1], root=tmp_path, progress=False)
    assert [p.name for p in paths] == ["knn-s0", "knn-s1"]
    assert (paths[0] / "knn.npz").is_file()
    # Pure tones: the KNN separates them (song-level accuracy 1.0 on 2 test songs per genre).
    assert Run(paths[0]).metrics["song"]["accuracy"] == 1.0
    summary = seed_summary(runs_table(list_runs(tmp_path)))
    assert summary["n_seeds"].iloc[0] == 2
    np.load(paths[0] / "knn.npz", allow_pickle=False)  # plain arrays only


def test_gtzan_features_knn_random_vs_filtered_split(shared_data: Path, tmp_path: Path) -> None:
    """Real data: KNN (k=10) on the public 30-s feature table.

    Random stratified 85/15 splits over 10 seeds: mean accuracy 0.60-0.72 (a report measured 0.627 on one split).
    The artist-conscious fault-filtered split is much lower (measured 0.41), because the random split lets one
    artist sit on both sides.
    """
    csv = str(shared_data / "gtzan" / "features_30_sec.csv")
    paths = train_seeds(make_settings("knn", data=csv, valid=0.0, test=0.15, k=10, run_id="rnd"),
                        list(range(10)), root=tmp_path, progress=False)
    accs = [Run(p).metrics["song"]["accuracy"] for p in paths]
    assert 0.60 <= float(np.mean(accs)) <= 0.72
    filtered = train(make_settings("knn", data=csv, split=f"files:{shared_data / 'gtzan' / 'splits'}", k=10,
                                   run_id="filtered"), root=tmp_path, progress=False)
    metrics = Run(filtered).metrics["song"]
    assert metrics["n"] == 290
    assert metrics["accuracy"] < float(np.mean(accs)) - 0.1


def test_predict_cli_json_and_evaluate_cli(cnn_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture,
                                          tone_set: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from core.cli.main import main

    monkeypatch.setenv("GENRE_LAB_CACHE", str(cache_dir))
    song = tone_set / "metal" / "metal0.wav"
    assert main(["predict", str(song), "--model", str(cnn_run), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert abs(sum(out["spectrum"].values()) - 1) < 1e-4 and len(out["segments"]) == 2
    assert {"start", "end", "probabilities"} <= set(out["segments"][0]) and out["top"][0]["genre"] in CLASSES
    assert main(["evaluate", str(cnn_run), "--data", str(tone_set), "--split", "all",
                 "--out", str(tmp_path / "eval")]) == 0
    evaluation = Run(tmp_path / "eval")
    assert evaluation.info["evaluation_of"] == cnn_run.name and evaluation.metrics["song"]["n"] == 18
    assert (tmp_path / "eval" / "weights.safetensors").is_file()


def test_transfer_run_on_musicnn_embeddings(tone_set: Path, tmp_path: Path, cache_dir: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Pretrained musicnn + logistic-regression head: a run folder with head.npz that loads and predicts."""
    monkeypatch.setenv("GENRE_LAB_CACHE", str(cache_dir))
    path = train(_settings(tone_set, model="transfer", run_id="tr"), root=tmp_path, progress=False)
    run = Run(path)
    assert (path / "head.npz").is_file() and run.info["audio_config"]["sample_rate"] == 16000
    # Three pure tones are trivially separable in musicnn's embedding space.
    assert run.metrics["song"]["accuracy"] == 1.0
    model = load_model(path, device="cpu")
    song = run.predictions["path"].iloc[0]
    spectrum = run.predictions[run.predictions["path"] == song][prob_columns(run.classes)].to_numpy().mean(0)
    np.testing.assert_allclose(predict_song(song, model=model).spectrum, spectrum, atol=1e-5)
