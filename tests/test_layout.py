"""Project layout rules: core never imports Streamlit; the top-level folders and the two README commands exist."""

from __future__ import annotations

import subprocess
import sys

from core.config import REPO_ROOT


def test_core_imports_without_streamlit() -> None:
    code = (
        "import importlib, pkgutil, sys, core\n"
        "for m in pkgutil.walk_packages(core.__path__, 'core.'):\n"
        "    if m.name != 'core.__main__':\n"
        "        importlib.import_module(m.name)\n"
        "print('streamlit' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_layout_and_readme_commands() -> None:
    for name in ("dashboard", "core", "models", "data", "tests", "bench", ".streamlit", ".ci"):
        assert (REPO_ROOT / name).is_dir(), name
    for name in ("requirements.txt", "README.md", ".streamlit/config.toml", ".ci/run", "dashboard/Home.py"):
        assert (REPO_ROOT / name).is_file(), name
    readme = (REPO_ROOT / "README.md").read_text()
    assert "pip install -r requirements.txt && streamlit run dashboard/Home.py" in readme
    assert "pip install -r requirements-dev.txt && python -m pytest" in readme
    assert "pip install -r requirements-dev.txt && python -m pytest" in (REPO_ROOT / ".ci" / "run").read_text()
    assert "torch==2.13.0" in (REPO_ROOT / "requirements.txt").read_text()
