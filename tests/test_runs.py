"""Run folders appear whole or not at all; re-evaluation keeps a run's own split."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from core.data.splits import SplitSpec, apply_split
from core.runs.evaluate import evaluate_run
from core.runs.folder import Run, list_runs, staged_run
from core.training.train import make_settings, train


def test_interrupted_run_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(KeyboardInterrupt):
        with staged_run("r1", root=tmp_path) as tmp:
            (tmp / "run.json").write_text("{}")
            raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []
    assert list_runs(tmp_path) == []


def test_completed_run_is_renamed_into_place(tmp_path: Path) -> None:
    with staged_run("r2", root=tmp_path) as tmp:
        (tmp / "run.json").write_text("{}")
    assert [p.name for p in tmp_path.iterdir()] == ["r2"]
    with pytest.raises(FileExistsError):
        with staged_run("r2", root=tmp_path):
            pass


@pytest.mark.parametrize("bad", ["/tmp/x", "../up", "", "a/b"])
def test_run_ids_cannot_escape_the_runs_folder(tmp_path: Path, bad: str) -> None:
    with pytest.raises(ValueError, match="Run id"):
        with staged_run(bad, root=tmp_path):
            pass


# --- the split rule is recorded, so re-evaluation never scores training songs ---------------------------------------

@pytest.fixture(scope="module")
def tone_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3 genres × 6 songs of 4 s (tone + noise), with split lists that differ from any seeded split."""
    import soundfile as sf
    from conftest import TONE_GENRES, noisy_tone

    root = tmp_path_factory.mktemp("tones")
    rng = np.random.default_rng(1)
    lists: dict[str, list[str]] = {"train": [], "valid": [], "test": []}
    for genre, freq in TONE_GENRES.items():
        (root / "audio" / genre).mkdir(parents=True)
        for i in range(6):
            sf.write(root / "audio" / genre / f"{genre}.{i:05d}.wav", noisy_tone(freq, seconds=4, rng=rng), 22050)
            lists["test" if i in (1, 4) else "valid" if i == 2 else "train"].append(f"{genre}/{genre}.{i:05d}.wav")
    (root / "splits").mkdir()
    for side, names in lists.items():
        (root / "splits" / f"{side}.txt").write_text("\n".join(names) + "\n")
    return root


def _test_tracks(run: Path) -> set[str]:
    return set(Run(run).predictions["track_id"])


@pytest.mark.parametrize("rule", ["files", "grouped"])
def test_reevaluation_keeps_the_runs_test_tracks(tone_tree: Path, tmp_path: Path, rule: str,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GENRE_LAB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("GENRE_LAB_RUNS", str(tmp_path / "runs"))
    data = str(tone_tree / "audio")
    split = f"files:{tone_tree / 'splits'}" if rule == "files" else "auto"
    run = train(make_settings("knn", data, k=3, split=split, seed=3, run_id="r", workers=1), progress=False)
    trained = _test_tracks(run)
    assert SplitSpec.from_run_info(Run(run).info["split"]).kind == rule
    again = evaluate_run("r", data=data, progress=False)
    assert _test_tracks(again) == trained  # exactly the run's own test songs, no training song among them
    if rule == "files":
        assert trained == {f"{g}.{i:05d}" for g in ("blues", "metal", "pop") for i in (1, 4)}
    # the same data moved elsewhere is recognised by its fingerprint: still exactly the run's test tracks
    moved = tmp_path / "moved"
    shutil.copytree(tone_tree / "audio", moved)
    assert _test_tracks(evaluate_run("r", data=str(moved), progress=False)) == trained
    # another dataset (here one song fewer): every track is evaluated unless a rule is named
    other = tmp_path / "other"
    shutil.copytree(tone_tree / "audio", other)
    (other / "pop" / "pop.00005.wav").unlink()
    everything = evaluate_run("r", data=str(other), progress=False)
    assert len(_test_tracks(everything)) == 17
    named = evaluate_run("r", data=str(other), rule=f"files:{tone_tree / 'splits'}", out=tmp_path / "runs" / "n",
                         progress=False)
    assert _test_tracks(named) == {f"{g}.{i:05d}" for g in ("blues", "metal", "pop") for i in (1, 4)}


def test_reevaluation_refuses_changed_training_data(tone_tree: Path, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GENRE_LAB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("GENRE_LAB_RUNS", str(tmp_path / "runs"))
    data = tmp_path / "data"
    shutil.copytree(tone_tree / "audio", data)
    train(make_settings("knn", str(data), k=3, run_id="r", workers=1), progress=False)
    (data / "pop" / "pop.00005.wav").unlink()
    with pytest.raises(ValueError, match="changed since"):
        evaluate_run("r", data=str(data), progress=False)


def test_runs_written_before_split_specs_reload() -> None:
    assert SplitSpec.from_run_info({"kind": "artist-grouped", "valid": 0.25, "test": 0.25, "seed": 0}) == \
        SplitSpec(kind="grouped", valid=0.25, test=0.25, seed=0)
    assert SplitSpec.from_run_info({"kind": "files", "folder": "x"}) == SplitSpec(kind="files", folder="x")


def test_split_lists_without_their_test_part_report_on_valid(tone_tree: Path, tmp_path: Path) -> None:
    """Like ../shared/data/gtzan_ff (its test part held back): the lists' valid tracks become the test part and a
    grouped share of the train tracks becomes validation, so no reported track took part in any decision."""
    from core.data.sources import load_source

    lists = tmp_path / "lists"
    lists.mkdir()
    for side in ("train", "valid"):
        shutil.copy(tone_tree / "splits" / f"{side}.txt", lists / f"{side}.txt")
    (lists / "test.txt").write_text("blues/blues.99999.wav\n")  # listed, but not in the data
    manifest, info = apply_split(load_source(str(tone_tree / "audio")), SplitSpec.parse(f"files:{lists}", valid=0.25))
    listed_valid = {f"{g}.00002" for g in ("blues", "metal", "pop")}
    assert set(manifest.loc[manifest["split"] == "test", "track_id"]) == listed_valid
    assert info["counts"]["valid"] > 0 and "valid tracks" in str(info["test_part"])
    assert not (set(manifest.loc[manifest["split"] != "test", "track_id"]) & listed_valid)


def test_run_evaluated_before_balanced_accuracy_gets_it_from_its_recalls(tmp_path: Path) -> None:
    """An older run's metrics.json has no balanced accuracy: tables show the same number computed from the per-genre
    recalls it does store, never a missing value."""
    import json

    from core.config import REPO_ROOT

    recorded = json.loads((REPO_ROOT / "models" / "runs" / "transfer-gtzan" / "metrics.json").read_text())
    old = json.loads(json.dumps(recorded))
    for level in ("song", "segment"):
        del old[level]["balanced_accuracy"]
    (tmp_path / "metrics.json").write_text(json.dumps(old))
    run = Run(tmp_path)
    for level in ("song", "segment"):
        assert run.metrics[level]["balanced_accuracy"] == pytest.approx(recorded[level]["balanced_accuracy"], abs=1e-12)
