"""The command line: help for every command; wrong paths and arguments give one line and exit code 2."""

from __future__ import annotations

import subprocess
import sys

import pytest

from core.cli.main import build_parser, main
from core.config import REPO_ROOT


def test_help_lists_every_command() -> None:
    out = subprocess.run([sys.executable, "-m", "core", "--help"], cwd=REPO_ROOT, capture_output=True, text=True)
    assert out.returncode == 0
    for command in ("synth", "features", "train", "evaluate", "runs", "predict", "catalog", "recommend", "tag",
                    "top-tags"):
        assert command in out.stdout


@pytest.mark.parametrize("argv", [
    ["predict", "/no/such/file.mp3"],
    ["train", "--model", "resnet", "--data", "x"],
    ["features", "/no/such/dir", "--out", "x.csv"],
    ["train", "--model", "cnn", "--data", "x", "--seeds", "a,b"],
    ["nonsense"],
])
def test_bad_arguments_exit_2_with_one_line(argv: list[str]) -> None:
    out = subprocess.run([sys.executable, "-m", "core", *argv], cwd=REPO_ROOT, capture_output=True, text=True)
    assert out.returncode == 2
    assert len(out.stderr.strip().splitlines()) == 1 and "Traceback" not in out.stderr


def test_user_errors_inside_commands_are_one_line(capsys, tmp_path) -> None:
    assert main(["evaluate", "no-such-run", "--data", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ")


def test_every_subcommand_has_help_text() -> None:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for name, sub_parser in sub.choices.items():
        assert sub_parser.description, name
