"""Catalog builds (metadata, incremental, bad files, batches that survive a kill, consistency on load, names) and
recommendations (self and duplicates excluded)."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from conftest import TONE_GENRES, noisy_tone
from mutagen.flac import FLAC

import core.analysis.predict as predict_module
import core.library.catalog as catalog_module
from core.analysis.predict import predict_song
from core.audio.files import content_hash
from core.cli.main import main
from core.library.catalog import Catalog, CatalogError, build_catalog
from core.library.recommend import recommend
from core.runs.folder import load_model
from core.training.train import make_settings, train

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
    assert all(isinstance(r, str) and "match in sound" in r for r in table["reason"])
    assert set(table["match"]) <= {"close", "fair", "weak"}
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


# --- names (issue #10) -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["../../x", "a/b", "..", ".hidden", "", "a\\b"])
def test_catalog_names_cannot_leave_the_catalogs_folder(music: Path, run: Path, tmp_path: Path, name: str,
                                                        capsys: pytest.CaptureFixture) -> None:
    root = tmp_path / "data" / "catalogs"
    with pytest.raises(CatalogError, match="is not a catalog name: a name is one folder name .* --out PATH"):
        build_catalog(music, name=name, model=str(run), workers=1, progress=False, root=root)
    with pytest.raises(CatalogError, match="is not a catalog name"):
        Catalog.load(name, root=root) if not {"/", "\\"} & set(name) else catalog_module.check_name(name)
    assert not (tmp_path / "x").exists() and not any(tmp_path.rglob("catalog.json"))
    if name == "../../x":
        assert main(["catalog", "build", str(music), "--name", name, "--model", str(run)]) == 2
        assert "is not a catalog name" in capsys.readouterr().err


def test_explicit_folder_with_out(music: Path, run: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "elsewhere" / "mine"
    code = main(["catalog", "build", str(music), "--out", str(out), "--model", str(run), "--workers", "1"])
    assert code == 0 and "Catalog 'mine': 12 added" in capsys.readouterr().out
    cat = Catalog.load(str(out))
    assert len(cat.tracks) == 12 == len(cat.index) and cat.info["complete"] and not cat.notes
    with pytest.raises(FileNotFoundError, match="--out"):
        Catalog.load(str(tmp_path / "missing"))


def test_a_second_build_of_the_same_catalog_is_refused(music: Path, run: Path, catalog_root: Path) -> None:
    with open(catalog_root / "t" / ".lock", "a+") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        with pytest.raises(CatalogError, match="being built by another process"):
            build_catalog(music, name="t", model=str(run), workers=1, progress=False, root=catalog_root)


# --- consistency on load (issue #10) ---------------------------------------------------------------------------

def _copy_of(catalog_root: Path, tmp_path: Path) -> Path:
    root = tmp_path / "catalogs"
    shutil.copytree(catalog_root / "t", root / "t")
    return root


def test_an_interrupted_commit_is_cut_back_to_the_committed_rows(music: Path, run: Path, catalog_root: Path,
                                                                 tmp_path: Path) -> None:
    root = _copy_of(catalog_root, tmp_path)
    folder = root / "t"
    tracks = pd.read_parquet(folder / "tracks.parquet")
    emb = np.load(folder / "embeddings.npy")
    # A kill between two renames of a commit: metadata of 3 more songs written, embeddings and marker not.
    extra = tracks.iloc[:3].assign(hash=["f" * 32, "e" * 32, "d" * 32])
    pd.concat([tracks, extra], ignore_index=True).to_parquet(folder / "tracks.parquet", index=False)
    cat = Catalog.load("t", root=root)
    assert len(cat.tracks) == len(cat.embeddings) == len(cat.index) == 12
    assert any("interrupted commit left 15 metadata rows and 12 embeddings" in n for n in cat.notes)
    # And the other way round, with a stale index: the index is rebuilt from the embeddings.
    tracks.to_parquet(folder / "tracks.parquet", index=False)
    np.save(folder / "embeddings.npy", np.concatenate([emb, emb[:5]]))
    shutil.rmtree(folder / "index")
    cat = Catalog.load("t", root=root)
    assert len(cat.tracks) == len(cat.embeddings) == len(cat.index) == 12
    assert any("index was rebuilt" in n for n in cat.notes)
    # The next build writes the repaired catalog and analyses nothing again.
    report = build_catalog(music, name="t", model=str(run), workers=1, progress=False, root=root)
    assert (report.added, report.total) == (0, 12) and report.notes
    assert len(np.load(folder / "embeddings.npy")) == 12 and not Catalog.load("t", root=root).notes


def test_a_mismatched_catalog_is_refused_never_served(music: Path, run: Path, catalog_root: Path,
                                                      tmp_path: Path) -> None:
    root = _copy_of(catalog_root, tmp_path)
    folder = root / "t"
    emb = np.load(folder / "embeddings.npy")
    # The case: more metadata rows than embeddings (here 12 and 8).
    np.save(folder / "embeddings.npy", emb[:8])
    with pytest.raises(CatalogError, match="records 12 songs but tracks.parquet holds 12 and embeddings.npy 8; "
                                           "it cannot be served; delete the folder"):
        Catalog.load("t", root=root)
    with pytest.raises(CatalogError, match="embeddings.npy 8"):  # never "0 added, 12 unchanged"
        build_catalog(music, name="t", model=str(run), workers=1, progress=False, root=root)
    # Same counts, other content: the checksums catch it.
    np.save(folder / "embeddings.npy", emb[::-1].copy())
    with pytest.raises(CatalogError, match="do not match the checksums"):
        Catalog.load("t", root=root)
    (folder / "tracks.parquet").write_bytes(b"garbage")
    with pytest.raises(CatalogError, match="is damaged: its songs or embeddings cannot be read"):
        Catalog.load("t", root=root)


# --- bad files never abort a build (issue #10) -----------------------------------------------------------------

def test_any_failure_in_one_file_is_reported_and_the_build_goes_on(music: Path, run: Path, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    real_predict, real_hash = predict_module.predict_song, catalog_module.content_hash

    def predict(path: str, **kwargs: object) -> object:  # workers are forked: they see this patch
        if Path(path).name == "blues0.flac":
            raise IndexError("list index out of range")
        if Path(path).name == "metal0.flac":
            os._exit(3)  # a native crash in the worker
        return real_predict(path, **kwargs)

    def content_hash(path: Path) -> str:
        if Path(path).name == "pop0.flac":
            raise PermissionError(13, "Permission denied")
        return real_hash(path)

    monkeypatch.setattr(predict_module, "predict_song", predict)
    monkeypatch.setattr(catalog_module, "content_hash", content_hash)
    report = build_catalog(music, name="bad", model=str(run), workers=2, progress=False, root=tmp_path)
    failed = {Path(p).name: e for p, e in report.failed}
    assert failed["blues0.flac"] == "unexpected error while analysing: IndexError: list index out of range"
    assert failed["metal0.flac"] == "the analysing process died on this file (a crash or out of memory)"
    assert failed["pop0.flac"] == "the file cannot be read (Permission denied)."
    assert "broken.mp3" in failed and len(failed) == 4
    assert report.added == 10 == report.total  # pop0's duplicate is analysed in its place
    assert len(pd.read_csv(tmp_path / "bad" / "report.csv")) == 4


# --- a killed build resumes (issue #10) ------------------------------------------------------------------------

_SLOW_BUILD = """
import sys, time
from pathlib import Path
import core.analysis.predict as predict_module
from core.library.catalog import build_catalog

real = predict_module.predict_song

def slow(*args, **kwargs):  # forked workers inherit this: each song takes at least 0.5 s
    time.sleep(0.5)
    return real(*args, **kwargs)

predict_module.predict_song = slow
build_catalog(Path(sys.argv[1]), name="k", model=sys.argv[2], workers=2, progress=False, root=Path(sys.argv[3]),
              batch_size=2)
"""


def _children(pid: int) -> set[int]:
    kids: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        kids |= {int(k) for k in (task / "children").read_text().split()}
    return kids


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux /proc to find the workers")
def test_a_killed_build_resumes_and_leaves_no_workers(music: Path, run: Path, tmp_path: Path) -> None:
    root = tmp_path / "catalogs"
    build = subprocess.Popen([sys.executable, "-c", _SLOW_BUILD, str(music), str(run), str(root)],
                             stderr=subprocess.PIPE, text=True)
    marker = root / "k" / "catalog.json"
    try:
        deadline = time.monotonic() + 180
        while not marker.exists():
            assert build.poll() is None, build.stderr.read()
            assert time.monotonic() < deadline, "no commit within 3 minutes"
            time.sleep(0.02)
        workers = _children(build.pid)
        assert workers, "the build should be running its worker processes"
    finally:
        build.send_signal(signal.SIGKILL)
        build.wait(timeout=30)
    deadline = time.monotonic() + 10
    while any(map(_alive, workers)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(map(_alive, workers)), "worker processes outlived the killed build"

    committed = Catalog.load("k", root=root)
    done = len(committed.tracks)
    assert 2 <= done < 12 and len(committed.embeddings) == len(committed.index) == done
    assert committed.info["complete"] is False and any("did not finish" in n for n in committed.notes)

    report = build_catalog(music, name="k", model=str(run), workers=1, progress=False, root=root, batch_size=1)
    assert report.added == 12 - done and report.skipped == done + 1  # finished files are not analysed again
    cat = Catalog.load("k", root=root)
    assert len(cat.tracks) == len(cat.embeddings) == len(cat.index) == 12 and cat.tracks["hash"].is_unique
    assert cat.info["complete"] is True and not cat.notes
    assert not [p.name for p in (root / "k").rglob("*.tmp")]


def test_catalog_search_by_style_genre_and_text() -> None:
    from core.library.catalog import search

    tracks = pd.DataFrame({"title": ["Drop Zone", "Blue Morning", "Night Drive"], "artist": ["A", "B", "C"],
                           "album": ["", "", "Roads"], "genre": ["disco", "blues", "pop"],
                           "tag_genre": ["Dubstep", "Blues", ""],
                           "styles": ["electronic, dance / house", "blues, country", "pop, electronic"],
                           "path": ["a", "b", "c"]})
    cat = Catalog(name="t", info={}, tracks=tracks, embeddings=np.zeros((3, 4), np.float32), index=None)
    assert list(search(cat, style="Electronic")["title"]) == ["Drop Zone", "Night Drive"]
    assert list(search(cat, style="electronic", genre="dubstep")["title"]) == ["Drop Zone"]  # the file's own tag
    assert list(search(cat, text="roads")["title"]) == ["Night Drive"]
    assert search(cat, style="punk").empty
