"""Run folders appear whole or not at all."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.runs.folder import list_runs, staged_run


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
