"""Re-evaluate a trained run on a split of its own data or on another dataset, into a new run folder.

On the data it was trained on, a run is split again with the rule recorded in its ``run.json`` (the same tracks
land in the same parts, checked by the data's fingerprint), so its test songs can never include training songs.
On other data the whole dataset is evaluated unless a split rule is named.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pandas as pd

from core.analysis.evaluate import predict_tracks
from core.config import repo_relative
from core.data.cache import decodable_tracks, waveform_loader
from core.data.splits import SPLIT_NAMES, SplitSpec, apply_split
from core.errors import GenreLabError, InputError
from core.runs.folder import (
    dataset_name,
    fingerprint,
    load_model,
    resolve_run,
    write_run,
)


def _same_source(info: dict, data: str) -> bool:
    return info.get("dataset", {}).get("source") == repo_relative(data)


def _as_trained(manifest: pd.DataFrame, info: dict) -> tuple[pd.DataFrame, dict] | None:
    """``manifest`` split by the run's recorded rule when that gives exactly the data the run saw (same fingerprint,
    wherever the data now lives), else None."""
    try:
        split, split_info = apply_split(manifest, SplitSpec.from_run_info(info.get("split", {})))
    except (GenreLabError, ValueError):
        return None
    skipped = {s["path"] for s in info.get("skipped_files", [])}
    seen = split[~split["path"].map(lambda p: repo_relative(p) in skipped)] if skipped else split
    return (split, split_info) if fingerprint(seen) == info.get("dataset", {}).get("fingerprint") else None


def evaluate_run(run: str | Path, *, data: str, split: str = "test", rule: str | None = None,
                 out: Path | None = None, progress: bool = True) -> Path:
    """Evaluate ``run`` on ``split`` ("train", "valid", "test" or "all") of ``data``.

    Args:
        run: Run folder or run id.
        data: Data source (see :func:`core.data.sources.load_source`).
        split: Which part to evaluate.
        rule: Split rule for the data (``--split`` text). Default: the run's recorded rule when ``data`` is the
            data the run was trained on (recognised by its fingerprint, wherever it lives now), else ``all`` (every
            track of another dataset is a test track).
        out: The new folder (default ``<runs root>/<run_id>-on-<dataset>-<split>``).

    Raises:
        InputError: an unknown part, an empty part, genres the model does not know, or the run's own data source
            changed since training (its fingerprint differs), which would make the split unreliable.
    """
    if split not in (*SPLIT_NAMES, "all"):
        raise InputError(f"Unknown split '{split}': choose train, valid, test or all.")
    folder = resolve_run(run)
    info = json.loads((folder / "run.json").read_text())
    model = load_model(folder)
    started = time.perf_counter()
    from core.data.sources import load_source

    manifest = load_source(data)
    trained = None if rule is not None else _as_trained(manifest, info)
    same = trained is not None
    if rule is not None:
        manifest, split_info = apply_split(manifest, SplitSpec.parse(rule, seed=int(info.get("seed", 0))))
    elif trained is not None:  # the run's own data (wherever it lives now): exactly its split
        manifest, split_info = trained
    elif _same_source(info, data):
        raise InputError(f"'{data}' changed since run '{folder.name}' was trained (its tracks, labels or split "
                         "differ), so its test part cannot be rebuilt; name a split rule with --split-rule.")
    else:  # other data: every track is a test track
        manifest, split_info = apply_split(manifest, SplitSpec(kind="all"))
    tracks = manifest if split == "all" else manifest[manifest["split"] == split]
    if tracks.empty:
        raise InputError(f"The '{split}' part of '{data}' is empty (split rule: {split_info['kind']}).")
    unknown = sorted(set(tracks["label"]) - set(model.classes))
    if unknown:
        raise InputError(f"The data has genres the model does not know: {', '.join(unknown)}.")
    tracks, skipped = decodable_tracks(tracks, model.cfg, progress=progress)
    predictions: pd.DataFrame = predict_tracks(model, tracks, waveform=waveform_loader(model.cfg),
                                               progress=progress)
    run_id = out.name if out else f"{folder.name}-on-{dataset_name(data)}-{split}"
    new_info = {key: info[key] for key in ("model", "hyperparameters", "seed") if key in info}
    new_info.update({
        "run_id": run_id, "group": run_id, "evaluation_of": folder.name,
        "dataset": {"name": dataset_name(data), "source": repo_relative(data), "fingerprint": fingerprint(manifest),
                    "tracks": int(len(tracks)), **({"synth": info["dataset"]["synth"]}
                                                  if same and "synth" in info.get("dataset", {}) else {})},
        "split": {**split_info, "evaluated": split},
        "durations": {"train_seconds": 0.0, "evaluate_seconds": time.perf_counter() - started},
    })
    if skipped:
        new_info["skipped_files"] = [{"path": repo_relative(p), "reason": r} for p, r in skipped]
    history = pd.read_csv(folder / "history.csv")
    return write_run(new_info, model=model, history=history, predictions=predictions,
                     root=out.parent if out else None)
