"""Shared fixtures: synthetic audio made on the fly, and the real data folder beside the repo."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.config import REPO_ROOT

SHARED_DATA: Path = REPO_ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` beside the repository; the test is skipped where it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data folder {SHARED_DATA} is absent")
    return SHARED_DATA


@pytest.fixture()
def sine() -> tuple[np.ndarray, int]:
    """A 2 s, 440 Hz sine at 22050 Hz, amplitude 0.5: ``(samples (n,), sample_rate)``."""
    sr = 22050
    t = np.arange(2 * sr) / sr
    return (0.5 * np.sin(2 * np.pi * 440.0 * t)).astype(np.float32), sr
