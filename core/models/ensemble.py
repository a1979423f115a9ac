"""Ensembles: a model kind that averages the segment probabilities of several trained runs (its members).

An ensemble is "trained" like any run (``python -m core ensemble RUN RUN ... --name NAME``, or ``train --model
ensemble --members RUN,RUN``): its members are loaded, checked to know the same genres and to have been trained on
exactly the data and split of the ensemble (the dataset fingerprint, so the test songs are unseen by every
member), and the ensemble is evaluated on the test part into an ordinary run folder with metrics.

Audio runs at the highest sample rate among the members; a member that expects another rate gets each segment
resampled (soxr HQ). A segment's probabilities are the plain mean of the members'. Embeddings, styles, tags and the
music verdict come from the first member (list the pretrained head first to keep them).

The run folder holds ``ensemble.json`` (the member run ids) and ``members/<run_id>/``: each member's ``run.json``,
``metrics.json`` and model files, copied, so the ensemble loads (without pickle) even when a member's own folder
is later removed or retrained.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import soxr
import torch

from core.config import AudioConfig
from core.errors import InputError
from core.training.settings import EnsembleSettings, TrainSettings

if TYPE_CHECKING:
    from core.models.base import GenreModel

MEMBERS_DIR = "members"


@dataclass
class EnsembleGenreModel:
    """The mean of its members' probabilities ``(n, C)``; embeddings ``(n, d)`` of the first member.

    Attributes:
        members: The loaded member models (same ``classes``).
        sources: Each member's folder (copied into the ensemble's folder by :meth:`save`).
    """

    kind: str
    classes: tuple[str, ...]
    cfg: AudioConfig
    members: list[GenreModel]
    sources: list[Path]

    def predict_segments(self, segments: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(n, cfg.segment_samples)`` waveforms at ``cfg.sample_rate`` → ``(mean probabilities (n, C),
        first member's embeddings (n, d))``."""
        probs, first = [], None
        for member in self.members:
            p, emb = member.predict_segments(_resample(segments, rate=self.cfg.sample_rate, cfg=member.cfg))
            probs.append(p.astype(np.float64))
            first = emb if first is None else first
        return np.mean(probs, axis=0).astype(np.float32), first

    def describe(self, embeddings: np.ndarray, *, level_dbfs: float) -> dict[str, object]:
        """The first member's styles, tags and music verdict (nothing when it has none)."""
        first = self.members[0]
        return first.describe(embeddings, level_dbfs=level_dbfs) if hasattr(first, "describe") else {}

    def save(self, folder: Path) -> None:
        """Write ``ensemble.json`` and copy each member's ``run.json``, ``metrics.json`` and model files."""
        from core.runs.folder import RUN_FILES

        (folder / "ensemble.json").write_text(json.dumps({"members": [s.name for s in self.sources]}, indent=2))
        for source in self.sources:
            target = folder / MEMBERS_DIR / source.name
            target.mkdir(parents=True)
            for item in source.iterdir():
                if item.is_file() and (item.name in ("run.json", "metrics.json") or item.name not in RUN_FILES):
                    shutil.copy2(item, target / item.name)
                elif item.is_dir():  # a member that is itself an ensemble
                    shutil.copytree(item, target / item.name)


def _resample(segments: np.ndarray, *, rate: int, cfg: AudioConfig) -> np.ndarray:
    """``segments (n, samples)`` at ``rate`` Hz as ``(n, cfg.segment_samples)`` at ``cfg.sample_rate`` (soxr HQ,
    each segment on its own; trimmed or zero-padded to the exact length)."""
    if rate == cfg.sample_rate:
        return segments
    out = soxr.resample(np.ascontiguousarray(segments.T), rate, cfg.sample_rate, quality="HQ").T
    length = cfg.segment_samples
    out = out[:, :length] if out.shape[1] >= length else np.pad(out, ((0, 0), (0, length - out.shape[1])))
    return np.ascontiguousarray(out, dtype=np.float32)


def _member_infos(refs: tuple[str, ...]) -> list[tuple[Path, dict]]:
    from core.runs.folder import resolve_run

    if len(refs) < 2:
        raise InputError("An ensemble needs at least two member runs (--members RUN,RUN).")
    folders = [resolve_run(ref) for ref in refs]
    if len({f.name for f in folders}) != len(folders):
        raise InputError("An ensemble's members must be different runs.")
    return [(f, json.loads((f / "run.json").read_text())) for f in folders]


def audio_config(hyper: EnsembleSettings) -> AudioConfig:
    """The members' configuration with the highest sample rate (their segments must be equally long); the
    project's default :class:`AudioConfig` while no member is named.

    Raises:
        InputError: one member only, or members with different segment lengths.
    """
    if not hyper.members:
        return AudioConfig()
    configs = [AudioConfig.from_dict(info["audio_config"]) for _, info in _member_infos(hyper.members)]
    if len({c.segment_seconds for c in configs}) > 1:
        raise InputError("The members cut songs into segments of different lengths; they cannot be averaged.")
    return max(configs, key=lambda c: c.sample_rate)


def train(settings: TrainSettings, manifest: pd.DataFrame, *, classes: tuple[str, ...],
          progress: bool = True) -> tuple[EnsembleGenreModel, pd.DataFrame]:
    """Load and check the members (no fitting); no history.

    Raises:
        InputError: a member knows other genres, or was trained on other data or another split than ``manifest``
            (its test songs could include a member's training songs).
    """
    from core.runs.folder import fingerprint, load_model

    hp: EnsembleSettings = settings.hyper
    members = _member_infos(hp.members)
    seen = fingerprint(manifest)
    for folder, info in members:
        if tuple(info["classes"]) != classes:
            raise InputError(f"Member '{folder.name}' knows {', '.join(info['classes'])}, not the data's "
                             f"{', '.join(classes)}.")
        if info.get("dataset", {}).get("fingerprint") != seen:
            raise InputError(f"Member '{folder.name}' was trained on other data or another split (seed, rule) than "
                             "this ensemble: its test songs would not be unseen by every member.")
    models = [load_model(folder, device=settings.device) for folder, _ in members]
    return EnsembleGenreModel(kind="ensemble", classes=classes, cfg=audio_config(hp), members=models,
                              sources=[folder for folder, _ in members]), pd.DataFrame()


def load(folder: Path, info: dict, *, device: torch.device) -> EnsembleGenreModel:
    """An ensemble run: its copied members loaded by their own kinds (no pickle)."""
    from core.models.registry import model_kind

    names = json.loads((folder / "ensemble.json").read_text())["members"]
    sources = [folder / MEMBERS_DIR / name for name in names]
    members = []
    for source in sources:
        member_info = json.loads((source / "run.json").read_text())
        members.append(model_kind(member_info["model"]).code().load(source, member_info, device=device))
    return EnsembleGenreModel(kind="ensemble", classes=tuple(info["classes"]),
                              cfg=AudioConfig.from_dict(info["audio_config"]), members=members, sources=sources)


def ensemble_settings(members: tuple[str, ...], *, run_id: str, device: str | None = None) -> TrainSettings:
    """Settings of an ensemble of ``members`` on the first member's data, split rule and seed (so its test part is
    the members' own), named ``run_id``.

    Raises:
        InputError: fewer than two members.
    """
    from core.config import from_repo
    from core.data.splits import SplitSpec
    from core.training.train import make_settings

    _, info = _member_infos(members)[0]
    spec = SplitSpec.from_run_info(info["split"])
    split = f"files:{from_repo(str(spec.folder))}" if spec.kind == "files" else spec.kind
    return make_settings("ensemble", str(from_repo(info["dataset"]["source"])), members=tuple(members),
                         split=split, valid=spec.valid, test=spec.test, seed=spec.seed,
                         songs_per_genre=spec.songs_per_genre, genres=spec.genres, run_id=run_id, device=device)
