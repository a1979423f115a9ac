"""Shared fixtures: synthetic audio made on the fly, the real data folder beside the repo, and the end of Home's
background model warm-ups."""

from __future__ import annotations

import importlib.util
import sys
import threading
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from core.config import REPO_ROOT

SHARED_DATA: Path = REPO_ROOT.parent / "shared" / "data"


@pytest.fixture(autouse=True)
def warm_ups_end_with_their_test():
    """Home starts a background model warm-up (``dashboard.loaders.warm_up``) whenever it shows no song: wait for it
    at the end of the test, so that no model is still loading while the next test clears caches or changes torch's
    threads (a warm-up left running across tests aborted the interpreter at exit)."""
    yield
    for thread in threading.enumerate():
        if thread.name == "genre-lab-warm-up":
            thread.join(timeout=60)


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


#: Three "genres" that tiny models separate easily: a tone frequency each (Hz).
TONE_GENRES: dict[str, float] = {"blues": 220.0, "metal": 660.0, "pop": 1320.0}


def noisy_tone(freq: float, *, seconds: float, rng: np.random.Generator, sr: int = 22050,
               noise: float = 0.05) -> np.ndarray:
    """A 0.3-amplitude sine plus Gaussian noise: float32 ``(seconds * sr,)``."""
    t = np.arange(int(seconds * sr)) / sr
    return (0.3 * np.sin(2 * np.pi * freq * t) + noise * rng.standard_normal(t.size)).astype(np.float32)


def load_fuzz_harness() -> ModuleType:
    """``bench/fuzz_decode.py`` as a module (bench/ is not an installed package; its worker runs with
    ``python -m bench.fuzz_decode`` from the repository root). Its seed encoders also serve the decoder tests."""
    name = "fuzz_decode_under_test"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, REPO_ROOT / "bench" / "fuzz_decode.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module
