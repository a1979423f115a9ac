"""Catalog builds (metadata, incremental, bad files) and recommendations (self and duplicates excluded)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from conftest import TONE_GENRES, noisy_tone
from mutagen.flac import FLAC

from core.analysis.predict import predict_song
from core.audio.files import content_hash
from core.cli.main import main
from core.library.catalog import Catalog, build_catalog
from core.library.recommend import recommend
from core.runs.folder import load_model
from core.training.settings import make_settings
from core.training.train import train

SR = 22050
FREQS = TONE_GENRES


@pytest.fixture(scope="module")
def music(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small music folder: tagged FLAC and untagged WAV tones in nested folders, one bad file, one duplicate."""
    root = tmp_path_factory.mktemp("music")
    rng = np.random.default_rng(1)
    for genre, freq in FREQS.items():
        folder = root / genre / "album"
        folder.mkdir(parents=True)
        for i in range(4):
            wave = noisy_tone(freq * (1 + 0.02 * i), seconds=6, rng=rng, noise=0.03)
            if i % 2:
                sf.write(folder / f"{genre}_song_{i}.wav", wave, SR)
            else:
                path = folder / f"{genre}{i}.flac"
                sf.write(path, wave, SR)
                tags = FLAC(path)
                tags["title"], tags["artist"], tags["genre"] = f"{genre.title()} Tune {i}", "Test Artist", genre
                tags.save()
    (root / "broken.mp3").write_bytes(bytes(rng.integers(0, 256, 3000, dtype=np.uint8)))
    shutil.copy(root / "pop" / "album" / "pop0.flac", root / "pop" / "duplicate.flac")
    return root


@pytest.fixture(scope="module")
def run(music: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("train")
    for genre in FREQS:
        shutil.copytree(music / genre / "album", data / genre)
    mp = pytest.MonkeyPatch()
    mp.setenv("GENRE_LAB_CACHE", str(tmp_path_factory.mktemp("cache")))
    try:
        return train(make_settings("cnn", data=str(data), epochs=3, batch_size=8, valid=0.0, test=0.25,
                                   workers=1, run_id="tiny"), root=tmp_path_factory.mktemp("runs"), progress=False)
    finally:
        mp.undo()


@pytest.fixture(scope="module")
def catalog_root(music: Path, run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("catalogs")
    report = build_catalog(music, name="t", model=str(run), workers=1, progress=False, root=root)
    assert report.added == 12 and report.skipped == 1  # the duplicate's bytes are analysed once
    assert [Path(p).name for p, _ in report.failed] == ["broken.mp3"]
    return root


def test_catalog_has_metadata_spectra_and_embeddings(catalog_root: Path) -> None:
    cat = Catalog.load("t", root=catalog_root)
    tracks = cat.tracks
    assert len(tracks) == 12 == len(cat.embeddings)
    tagged = tracks[tracks["title"] == "Blues Tune 0"].iloc[0]
    assert tagged["artist"] == "Test Artist" and tagged["tag_genre"] == "blues"
    assert "metal song 1" in set(tracks["title"])  # file name fallback
    p = tracks[[c for c in tracks if c.startswith("p_")]].to_numpy()
    np.testing.assert_allclose(p.sum(1), 1.0, atol=1e-5)
    failures = pd.read_csv(catalog_root / "t" / "report.csv")
    assert "broken.mp3" in failures["path"].iloc[0] and failures["error"].iloc[0]


def test_rebuild_is_incremental(music: Path, run: Path, catalog_root: Path) -> None:
    report = build_catalog(music, name="t", model=str(run), workers=1, progress=False, root=catalog_root)
    assert report.added == 0 and report.skipped == 13 and report.total == 12


def test_recommend_excludes_query_and_duplicates(music: Path, run: Path, catalog_root: Path) -> None:
    cat = Catalog.load("t", root=catalog_root)
    query_path = music / "pop" / "album" / "pop0.flac"
    query = predict_song(query_path, model=load_model(run, device="cpu"))
    table = recommend(query, catalog=cat, k=5, exclude_hash=content_hash(query_path))
    assert len(table) == 5
    assert content_hash(query_path) not in set(table["hash"])
    assert table["hash"].is_unique
    assert (np.diff(table["similarity"].to_numpy()) <= 1e-6).all()
    assert all(isinstance(r, str) and "alike" in r for r in table["reason"])
    same = recommend(query, catalog=cat, k=10, same_genre=True, exclude_hash=content_hash(query_path))
    assert len(same) >= 1 and (same["genre"] == query.genre).all()


def test_recommend_command_json(music: Path, run: Path, catalog_root: Path, capsys: pytest.CaptureFixture) -> None:
    code = main(["recommend", str(music / "metal" / "album" / "metal0.flac"), "--catalog", str(catalog_root / "t"),
                 "--k", "3", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and len(out["results"]) == 3
    assert set(out["results"][0]) >= {"title", "artist", "genre", "similarity", "path", "reason"}


def test_unknown_catalog_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="catalog build"):
        Catalog.load("nope", root=tmp_path)
