"""The one audio configuration shared by training, evaluation, the CLI and the dashboard.

Every spectrogram parameter is explicit and saved in each run folder (``run.json``), so preprocessing
can never drift between training and inference.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import InputError

#: The ten GTZAN genres, in the order used for class indices everywhere in the project.
GENRES: tuple[str, ...] = (
    "blues", "classical", "country", "disco", "hiphop", "jazz", "metal", "pop", "reggae", "rock",
)



def class_order(labels: Iterable[str]) -> tuple[str, ...]:
    """Class order for a set of labels: the GTZAN genres present, in :data:`GENRES` order, then others sorted."""
    present = set(labels)
    return tuple(g for g in GENRES if g in present) + tuple(sorted(present - set(GENRES)))


def class_index(labels: Iterable[str], classes: tuple[str, ...]) -> np.ndarray:
    """Integer class indices ``(n,)`` of ``labels`` in ``classes``."""
    lookup = {c: i for i, c in enumerate(classes)}
    return np.array([lookup[v] for v in labels], dtype=np.int64)


#: Formats the decoder accepts, by file extension (lower case, with the dot).
AUDIO_EXTENSIONS: tuple[str, ...] = (".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".au", ".aiff", ".aif",
                                     ".m4a", ".mp4", ".aac")

#: Repository root (the folder holding ``core/``); paths in the project are resolved from here.
REPO_ROOT: Path = Path(__file__).resolve().parent.parent


def repo_relative(path: str | Path) -> str:
    """``path`` relative to the repository when inside it or beside it (``../shared/data/…``), so run folders and
    catalogs move between machines; else absolute. POSIX separators."""
    resolved = Path(os.path.abspath(path))  # not resolve(): a symlinked folder keeps the name it was given
    for base, prefix in ((REPO_ROOT, ""), (REPO_ROOT.parent, "../")):
        try:
            return prefix + resolved.relative_to(base).as_posix()
        except ValueError:
            continue
    return str(resolved)


def from_repo(stored: str | Path) -> Path:
    """Inverse of :func:`repo_relative`: relative paths are taken from the repository root."""
    path = Path(stored)
    return path if path.is_absolute() else REPO_ROOT / path


@dataclass(frozen=True)
class AudioConfig:
    """Audio and mel-spectrogram parameters.

    Attributes:
        sample_rate: Rate every waveform is resampled to, in Hz.
        n_fft: STFT window length in samples (Hann window, centred frames, reflect padding).
        hop_length: STFT hop in samples.
        n_mels: Number of mel bands.
        f_min: Lowest mel band edge in Hz.
        f_max: Highest mel band edge in Hz.
        mel_scale: ``"slaney"`` or ``"htk"`` (librosa's ``htk=False/True``).
        mel_norm: ``"slaney"`` (area-normalised triangles) or ``None``.
        power: Exponent of the magnitude spectrogram (2.0 = power).
        db_ref: Fixed reference power for dB conversion: ``10*log10(max(S, amin) / db_ref)``. Fixed (not
            the clip maximum) so that a segment and a whole song share one scale.
        db_amin: Floor applied before the logarithm.
        segment_seconds: Length of one analysis segment in seconds.
        max_seconds: Audio beyond this many seconds is skipped at decode time (memory stays bounded).
    """

    sample_rate: int = 22050
    n_fft: int = 2048
    hop_length: int = 512
    n_mels: int = 128
    f_min: float = 0.0
    f_max: float = 11025.0
    mel_scale: str = "slaney"
    mel_norm: str | None = "slaney"
    power: float = 2.0
    db_ref: float = 1.0
    db_amin: float = 1e-10
    segment_seconds: float = 3.0
    max_seconds: float = 900.0

    @property
    def segment_samples(self) -> int:
        """Samples in one segment."""
        return int(round(self.segment_seconds * self.sample_rate))

    @property
    def segment_frames(self) -> int:
        """Spectrogram frames of one segment (centred STFT)."""
        return 1 + self.segment_samples // self.hop_length

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON dictionary of every field."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "AudioConfig":
        """Build from a dictionary; unknown keys are an error so a run never loads half-understood."""
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise InputError(f"Unknown AudioConfig fields: {sorted(unknown)}")
        return cls(**data)

    def to_json(self) -> str:
        """JSON text of :meth:`to_dict`."""
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "AudioConfig":
        """Inverse of :meth:`to_json`."""
        return cls.from_dict(json.loads(text))
