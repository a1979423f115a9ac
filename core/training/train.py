"""Training: one run folder per training, whatever the model kind.

:func:`train` loads the data source, applies the split rule (:mod:`core.data.splits`), decodes the audio into the
cache (files that cannot be read are reported in ``run.json`` and left out), calls the kind's ``train`` from
:mod:`core.models.registry`, evaluates the test split with the same path as the app and writes the run folder
(:func:`core.runs.folder.write_run`). Everything is seeded: on CPU the same seed gives the same metrics.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import fields, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from core.analysis.evaluate import predict_tracks
from core.config import class_order, repo_relative
from core.data.cache import decodable_tracks, waveform_loader
from core.data.splits import SplitSpec, apply_split
from core.errors import InputError
from core.models.registry import model_kind
from core.runs.folder import dataset_name, fingerprint, write_run
from core.training.settings import TrainSettings


def make_settings(model: str, data: str, **options: Any) -> TrainSettings:
    """Settings for ``model`` from flat options (``epochs=20, lr=2e-3, seed=1`` …).

    Raises:
        InputError: an option that does not apply to the model's family, or an unknown model.
    """
    family = model_kind(model).settings
    if family is None:
        raise InputError(f"The '{model}' model is pretrained: there is nothing to train.")
    common = {f.name for f in fields(TrainSettings)} - {"model", "data", "hyper"}
    own = {f.name for f in fields(family)}
    wrong = sorted(set(options) - common - own)
    if wrong:
        raise InputError(f"{', '.join('--' + w.replace('_', '-') for w in wrong)} does not apply to {model}.")
    hyper = family(**{k: v for k, v in options.items() if k in own})
    return TrainSettings(model=model, data=data, hyper=hyper, **{k: v for k, v in options.items() if k in common})


def split_spec(settings: TrainSettings) -> SplitSpec:
    """The split rule of ``settings`` (``--split``, ``--valid``, ``--test``, ``--seed``, and the study subsets
    ``--songs-per-genre``, ``--genres``)."""
    return SplitSpec.parse(settings.split, valid=settings.valid, test=settings.test, seed=settings.seed,
                           songs_per_genre=settings.songs_per_genre, genres=settings.genres)


def prepare_manifest(settings: TrainSettings, manifest: pd.DataFrame | None = None,
                     ) -> tuple[pd.DataFrame, dict[str, object]]:
    """Load the data source (unless given) and split it; returns the manifest with ``split`` and a description.

    Raises:
        ValueError: the split leaves no training or no test songs.
    """
    from core.data.sources import load_source

    manifest = load_source(settings.data) if manifest is None else manifest
    manifest, info = apply_split(manifest, split_spec(settings))
    counts = info["counts"]
    if counts["train"] == 0 or counts["test"] == 0:  # type: ignore[index]
        raise InputError("The split left no training or no test songs; use more data or other split fractions.")
    return manifest, info


def is_features_table(data: str) -> bool:
    """True when ``data`` is a GTZAN-style feature CSV (a ``filename`` column): features, no audio."""
    path = Path(data.split(":", 1)[1] if data.startswith("features:") else data)
    if path.suffix.lower() != ".csv" or not path.is_file():
        return False
    with path.open(encoding="utf-8") as handle:
        return "filename" in handle.readline().strip().split(",")


def _run_id(settings: TrainSettings) -> str:
    if settings.run_id:
        return settings.run_id
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    return f"{settings.model}-{dataset_name(settings.data)}-s{settings.seed}-{stamp}"


def _run_info(settings: TrainSettings, manifest: pd.DataFrame, split_info: dict, durations: dict[str, float],
              skipped: list[tuple[str, str]]) -> dict[str, object]:
    """The ``run.json`` fields that training knows (the run folder's writer adds the model's own)."""
    run_id = _run_id(settings)
    info: dict[str, object] = {
        "run_id": run_id,
        "model": settings.model,
        "group": settings.group or run_id,
        "hyperparameters": settings.hyperparameters(),
        "dataset": {"name": dataset_name(settings.data), "source": repo_relative(settings.data),
                    "fingerprint": fingerprint(manifest), "tracks": int(len(manifest))},
        "split": split_info,
        "seed": settings.seed,
        "durations": durations,
    }
    if skipped:
        info["skipped_files"] = [{"path": repo_relative(p), "reason": r} for p, r in skipped]
    synth = Path(settings.data) / "synth.json"
    if synth.is_file():  # the project's synthetic set: its parameters let any machine re-render the audio
        import json

        info["dataset"]["synth"] = json.loads(synth.read_text())  # type: ignore[index]
    return info


def train(settings: TrainSettings, *, root: Path | None = None, progress: bool = True,
          on_epoch: Callable[[dict[str, float]], None] | None = None, extra: dict[str, object] | None = None,
          ) -> Path:
    """Train one model on one split, evaluate it on the test split and write its run folder.

    Args:
        on_epoch: Called with each epoch's history row (``epoch``, ``val_acc`` …) by kinds that train in epochs
            (CNN, CRNN; a study's scheduler uses it); refused for the others.
        extra: More ``run.json`` fields (a study's ``study`` record).

    Returns:
        The run folder. Nothing is written when training fails or is interrupted.
    """
    kind = model_kind(settings.model)
    if kind.settings is None or not isinstance(settings.hyper, kind.settings):
        raise InputError(f"Settings for '{settings.model}' need {kind.settings} hyperparameters.")
    if on_epoch is not None and not kind.epochs:
        raise InputError(f"'{settings.model}' is fitted in one step: it has no epochs to report.")
    if is_features_table(settings.data):
        return _train_on_feature_table(settings, root=root, extra=extra)
    started = time.perf_counter()
    manifest, split_info = prepare_manifest(settings)
    classes = class_order(manifest["label"])
    code = kind.code()
    manifest, skipped = decodable_tracks(manifest, code.audio_config(settings.hyper), workers=settings.workers,
                                         progress=progress)
    epochs = {} if on_epoch is None else {"on_epoch": on_epoch}
    model, history = code.train(settings, manifest, classes=classes, progress=progress, **epochs)
    train_seconds = time.perf_counter() - started
    test = manifest[manifest["split"] == "test"]
    predictions = predict_tracks(model, test, waveform=waveform_loader(model.cfg), progress=progress)
    durations = {"train_seconds": train_seconds, "evaluate_seconds": time.perf_counter() - started - train_seconds}
    info = {**_run_info(settings, manifest, split_info, durations, skipped), **(extra or {})}
    return write_run(info, model=model, history=history, predictions=predictions, root=root)


def _train_on_feature_table(settings: TrainSettings, *, root: Path | None,
                            extra: dict[str, object] | None) -> Path:
    """KNN on a public GTZAN feature CSV (no audio): fit on train+valid rows, evaluate the test rows."""
    import numpy as np

    from core.data.sources import load_features_csv
    from core.models.knn import fit_on_table

    if settings.model != "knn":
        raise InputError("A feature table has no audio: only --model knn can train on it.")
    started = time.perf_counter()
    base, features, _ = load_features_csv(settings.data.split(":", 1)[-1])
    manifest, split_info = prepare_manifest(settings, base.assign(row=np.arange(len(base))))
    model, predictions = fit_on_table(settings, features, manifest, classes=class_order(manifest["label"]))
    durations = {"train_seconds": time.perf_counter() - started, "evaluate_seconds": 0.0}
    return write_run({**_run_info(settings, manifest, split_info, durations, []), **(extra or {})}, model=model,
                     history=pd.DataFrame(), predictions=predictions, root=root)


def train_seeds(settings: TrainSettings, seeds: list[int], *, root: Path | None = None,
                progress: bool = True) -> list[Path]:
    """One run per seed in one ``group`` (shown as mean ± std)."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    group = settings.group or f"{settings.model}-{dataset_name(settings.data)}-{stamp}"
    paths = []
    for seed in seeds:
        run_id = f"{settings.run_id}-s{seed}" if settings.run_id else None
        paths.append(train(replace(settings, seed=seed, group=group, run_id=run_id), root=root, progress=progress))
    return paths
