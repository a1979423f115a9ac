"""Ray engines (core.cluster): a catalog and a cache pass on Ray equal the local ones, Ray resumes a stopped build,
a file that kills its worker is reported, and Ray stays out of the dashboard's and the default CLI's imports."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from conftest import TONE_GENRES, noisy_tone

from core.cli.main import main
from core.config import REPO_ROOT
from core.data.cache import warm_cache
from core.library.catalog import Catalog, build_catalog
from core.training.train import make_settings, train

SR = 22050


@pytest.fixture(scope="module")
def ray_local():
    """A local Ray with this machine's cores, shared by the module's tests (skipped where Ray cannot start)."""
    from core.cluster.session import RayUnavailableError, ray_session

    try:
        session = ray_session(num_cpus=os.cpu_count())
        ray = session.__enter__()
    except RayUnavailableError as exc:
        pytest.skip(f"Ray cannot start here: {exc}")
    yield ray
    session.__exit__(None, None, None)


@pytest.fixture(scope="module")
def music(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Nine 4-s tones (three "genres") and one file with an audio name that is not audio."""
    root = tmp_path_factory.mktemp("music")
    rng = np.random.default_rng(3)
    for genre, freq in TONE_GENRES.items():
        (root / genre).mkdir()
        for i in range(3):
            sf.write(root / genre / f"{genre}{i}.wav", noisy_tone(freq * (1 + 0.03 * i), seconds=4, rng=rng), SR)
    (root / "notes.wav").write_text("not audio: a text file with an audio file's name\n")
    return root


@pytest.fixture(scope="module")
def run(music: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny CNN trained on the tones (a real model: its embeddings are what the catalogs compare)."""
    data = tmp_path_factory.mktemp("train")
    for genre in TONE_GENRES:
        shutil.copytree(music / genre, data / genre)
    mp = pytest.MonkeyPatch()
    mp.setenv("GENRE_LAB_CACHE", str(tmp_path_factory.mktemp("cache")))
    try:
        return train(make_settings("cnn", data=str(data), epochs=2, batch_size=8, valid=0.0, test=0.34, workers=1,
                                   run_id="tiny"), root=tmp_path_factory.mktemp("runs"), progress=False)
    finally:
        mp.undo()


@pytest.fixture(scope="module")
def local_catalog(music: Path, run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("catalogs") / "local"
    report = build_catalog(music, out=out, model=str(run), workers=1, progress=False)
    assert report.added == 9 and [Path(p).name for p, _ in report.failed] == ["notes.wav"]
    return out


def assert_same_catalog(a: Path, b: Path) -> None:
    """Same rows (every column; floats within 1e-6), same embeddings within 1e-5, same failed files and reasons."""
    one, two = Catalog.load(str(a)), Catalog.load(str(b))
    pd.testing.assert_frame_equal(one.tracks, two.tracks, check_exact=False, rtol=0, atol=1e-6)
    np.testing.assert_allclose(one.embeddings, two.embeddings, rtol=0, atol=1e-5)
    pd.testing.assert_frame_equal(pd.read_csv(a / "report.csv"), pd.read_csv(b / "report.csv"))
    drop = ("updated", "checksums", "name")
    assert {k: v for k, v in one.info.items() if k not in drop} == {k: v for k, v in two.info.items() if k not in drop}
    assert one.info["checksums"]["hashes"] == two.info["checksums"]["hashes"]


def test_ray_catalog_equals_the_local_one(ray_local, music: Path, run: Path, local_catalog: Path,
                                          tmp_path: Path) -> None:
    report = build_catalog(music, out=tmp_path / "ray", model=str(run), workers=2, progress=False, engine="ray")
    assert report.added == 9 and report.total == 9
    assert [(Path(p).name, bool(e)) for p, e in report.failed] == [("notes.wav", True)]
    assert_same_catalog(local_catalog, tmp_path / "ray")
    again = build_catalog(music, out=tmp_path / "ray", model=str(run), workers=2, progress=False, engine="ray")
    assert again.added == 0 and again.skipped == 9 and again.total == 9  # incremental: nothing analysed again


def test_a_stopped_ray_build_resumes_where_it_stopped(ray_local, music: Path, run: Path, local_catalog: Path,
                                                      tmp_path: Path) -> None:
    def stop_after_four(done: int, total: int) -> None:
        if done == 5:  # four songs written, the fifth result arrives: Ctrl-C
            raise KeyboardInterrupt

    out = tmp_path / "ray"
    with pytest.raises(KeyboardInterrupt):
        build_catalog(music, out=out, model=str(run), workers=2, progress=False, engine="ray", batch_size=2,
                      on_song=stop_after_four)
    info = json.loads((out / "catalog.json").read_text())
    assert info["complete"] is False and 1 <= info["tracks"] <= 5
    resumed = build_catalog(music, out=out, model=str(run), workers=2, progress=False, engine="ray", batch_size=2)
    assert resumed.skipped == info["tracks"] and resumed.added == 9 - info["tracks"] and resumed.total == 9
    assert_same_catalog(local_catalog, out)


def test_ray_cache_pass_equals_the_local_one(ray_local, music: Path, tmp_path: Path) -> None:
    paths = sorted(str(p) for p in music.rglob("*.wav"))
    local = warm_cache(paths, sample_rate=16000, workers=1, progress=False, cache_dir=tmp_path / "local")
    ray = warm_cache(paths, sample_rate=16000, workers=2, progress=False, cache_dir=tmp_path / "ray", engine="ray")
    assert (ray.decoded, ray.cached, [Path(p).name for p, _ in ray.failed]) == (9, 0, ["notes.wav"])
    assert ray.failed == local.failed
    names = sorted(p.relative_to(tmp_path / "local") for p in (tmp_path / "local").rglob("*.npy"))
    assert names == sorted(p.relative_to(tmp_path / "ray") for p in (tmp_path / "ray").rglob("*.npy"))
    for name in names:
        np.testing.assert_array_equal(np.load(tmp_path / "local" / name), np.load(tmp_path / "ray" / name))
    again = warm_cache(paths, sample_rate=16000, progress=False, cache_dir=tmp_path / "ray", engine="ray")
    assert (again.decoded, again.cached) == (0, 9)


def _die_on(batch: dict[str, np.ndarray], *, victim: str) -> dict[str, np.ndarray]:
    """A Ray task that kills its worker process on ``victim`` (as a native crash would)."""
    if Path(str(batch["path"][0])).name == victim:
        os._exit(1)
    return {"path": batch["path"], "size": np.array([os.path.getsize(p) for p in batch["path"]])}


def test_a_file_that_kills_its_worker_is_reported_and_the_rest_goes_on(ray_local, music: Path) -> None:
    import ray.cloudpickle

    from core.cluster.files import map_files

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # Ray's workers cannot import this test module
    paths = sorted(str(p) for p in music.rglob("*.wav"))
    results = list(map_files(paths, udf=_die_on, udf_kwargs={"victim": "metal1.wav"}, actors=False, workers=2))
    assert [p for p, _ in results] == paths
    lost = [Path(p).name for p, record in results if record is None]
    assert lost == ["metal1.wav"]
    assert all(record["size"] == os.path.getsize(p) for p, record in results if record is not None)


def test_address_needs_the_ray_engine(music: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["catalog", "build", str(music), "--out", str(tmp_path / "c"), "--address", "10.0.0.1:6379"]) == 2
    assert "--engine ray" in capsys.readouterr().err


def test_ray_stays_out_of_the_dashboard_and_the_default_commands() -> None:
    views = sorted(f"dashboard.views.{p.stem}" for p in (REPO_ROOT / "dashboard" / "views").glob("[a-z]*.py"))
    modules = ["dashboard.loaders", "dashboard.charts", *views, "core.cli.main", "core.library.catalog",
               "core.data.cache", "core.cluster"]
    code = (f"import importlib, sys\nfor m in {modules!r}: importlib.import_module(m)\n"
            "import core.cli.main as cli\ncli.build_parser().parse_args(['catalog', 'build', '.', '--name', 'x', "
            "'--engine', 'ray'])\nprint(sorted(m for m in sys.modules if m == 'ray' or m.startswith('ray.')))")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
