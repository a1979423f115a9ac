"""Re-evaluate a trained run on another dataset or split, into a new run-shaped evaluation folder.

The new folder follows the run-folder contract (so the dashboard shows it beside training runs), records
``evaluation_of`` in its ``run.json``, and carries a copy of the model file so it loads on its own.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pandas as pd

from core.analysis.evaluate import compute_metrics, predict_tracks
from core.models.base import RUNS_DIR, load_model, resolve_run
from core.runs.folder import staged_run
from core.training.train import TrainSettings, fingerprint, waveform_loader, warm_audio, dataset_name, prepare_manifest

MODEL_FILES = ("weights.safetensors", "knn.npz", "head.npz")


def evaluate_run(run: str | Path, *, data: str, split: str = "test", out: Path | None = None,
                 progress: bool = True) -> Path:
    """Evaluate ``run`` on ``split`` ("train", "valid", "test" or "all") of ``data``.

    The split is made with the run's own split rule and seed (or the data's split column / split files).

    Returns:
        The evaluation folder (default ``models/runs/<run_id>-on-<dataset>-<split>``).
    """
    if split not in ("train", "valid", "test", "all"):
        raise ValueError(f"Unknown split '{split}': choose train, valid, test or all.")
    folder = resolve_run(run)
    info = json.loads((folder / "run.json").read_text())
    model = load_model(folder)
    hyper = info.get("hyperparameters", {})
    settings = TrainSettings(model=info["model"], data=data, seed=int(info.get("seed", 0)),
                             valid=float(hyper.get("valid", 0.15)), test=float(hyper.get("test", 0.15)))
    started = time.perf_counter()
    manifest, split_info = prepare_manifest(settings)
    tracks = manifest if split == "all" else manifest[manifest["split"] == split]
    if tracks.empty:
        raise ValueError(f"The '{split}' split of '{data}' is empty.")
    unknown = sorted(set(tracks["label"]) - set(model.classes))
    if unknown:
        raise ValueError(f"The data has genres the model does not know: {', '.join(unknown)}.")
    warm_audio(tracks, model.cfg, settings, progress)
    predictions: pd.DataFrame = predict_tracks(model, tracks, waveform=waveform_loader(model.cfg),
                                               progress=progress)
    metrics, confusion = compute_metrics(predictions, model.classes)
    name = f"{folder.name}-on-{dataset_name(data)}-{split}"
    root = out.parent if out else RUNS_DIR
    run_id = out.name if out else name
    new_info = {**info, "run_id": run_id, "group": run_id, "evaluation_of": folder.name,
                "dataset": {"name": dataset_name(data), "source": data, "fingerprint": fingerprint(manifest),
                            "tracks": int(len(tracks))},
                "split": {**split_info, "evaluated": split},
                "durations": {"train_seconds": 0.0, "evaluate_seconds": time.perf_counter() - started}}
    with staged_run(run_id, root=root) as tmp:
        (tmp / "run.json").write_text(json.dumps(new_info, indent=2))
        shutil.copy2(folder / "history.csv", tmp / "history.csv")
        (tmp / "metrics.json").write_text(json.dumps(metrics, indent=2))
        confusion.to_csv(tmp / "confusion.csv")
        predictions.to_parquet(tmp / "predictions.parquet", index=False)
        for model_file in MODEL_FILES:
            if (folder / model_file).is_file():
                shutil.copy2(folder / model_file, tmp / model_file)
    return root / run_id
