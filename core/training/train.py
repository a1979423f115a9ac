"""Training: one function per model family, one run folder per training.

CNN/CRNN train on random crops of the training songs (``crops_per_track`` per song per epoch), validate on
evenly spaced segments averaged per song, stop early on the validation song accuracy, and halve the learning
rate when the validation loss plateaus. Classes are balanced by inverse-frequency loss weights. KNN fits
StandardScaler + KNeighborsClassifier (one scikit-learn pipeline) on the training split only. Everything is seeded:
on CPU the same seed gives the same metrics. CUDA is used when present, with the same code.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import platform
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from safetensors.torch import save_file
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from tqdm import tqdm

from core.audio.decode import cut_segments, random_crop
from core.config import AudioConfig, repo_relative
from core.analysis.evaluate import compute_metrics, predict_tracks, segment_rows
from core.models.base import RUNS_DIR, KNNGenreModel, TorchGenreModel, default_device
from core.models.nets import build_net
from core.runs.folder import staged_run


@dataclass
class TrainSettings:
    """Everything that defines a training run (saved in ``run.json``)."""

    model: str
    data: str
    split: str = "auto"
    valid: float = 0.15
    test: float = 0.15
    epochs: int = 30
    lr: float = 1e-3
    batch_size: int = 32
    weight_decay: float = 1e-4
    optimizer: str = "adam"
    patience: int = 8
    augment: bool = True
    seed: int = 0
    device: str | None = None
    crops_per_track: int = 4
    k: int = 10
    knn_unit: str = "segment"
    channels: tuple[int, ...] = (16, 32, 32, 32)
    workers: int | None = None
    run_id: str | None = None
    group: str | None = None
    architecture: dict[str, object] = field(default_factory=dict)


def seed_everything(seed: int) -> np.random.Generator:
    """Seed torch and return a NumPy generator; deterministic algorithms on (CPU results repeat exactly)."""
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    return np.random.default_rng(seed)


def fingerprint(manifest: pd.DataFrame) -> str:
    """A short hash of the dataset's tracks, labels and split (identifies the data a run saw)."""
    keys = manifest[["track_id", "label", "split"]].astype(str).agg("|".join, axis=1).sort_values()
    return hashlib.blake2b("\n".join(keys).encode(), digest_size=8).hexdigest()


def _versions() -> dict[str, str]:
    import librosa
    import sklearn

    return {"python": platform.python_version(), "torch": torch.__version__, "librosa": librosa.__version__,
            "numpy": np.__version__, "scikit-learn": sklearn.__version__}


def prepare_manifest(settings: TrainSettings, manifest: pd.DataFrame | None = None,
                     ) -> tuple[pd.DataFrame, dict[str, object]]:
    """Load the data source (unless given) and split it; returns the manifest with ``split`` and a description.

    ``settings.split``: ``auto`` (the source's own split column when complete, else a seeded split stratified
    by genre and grouped by artist when known, else by track), ``column``, or ``files:DIR`` (split lists such as
    the GTZAN fault-filtered ones; unlisted tracks are dropped).
    """
    from core.data.sources import load_source, read_split_files, split_manifest

    manifest = load_source(settings.data) if manifest is None else manifest
    info: dict[str, object]
    if settings.split.startswith("files:"):
        folder = settings.split.split(":", 1)[1]
        applied = read_split_files(manifest, folder)
        manifest = applied.manifest
        info = {"kind": "files", "folder": folder, "dropped": int(applied.dropped)}
    elif settings.split == "column" or (settings.split == "auto" and "split" in manifest
                                        and manifest["split"].notna().all()):
        info = {"kind": "column"}
    elif settings.split == "auto":
        group = "artist" if "artist" in manifest and manifest["artist"].notna().all() else "track"
        manifest = split_manifest(manifest, valid=settings.valid, test=settings.test, seed=settings.seed)
        info = {"kind": f"{group}-grouped", "valid": settings.valid, "test": settings.test, "seed": settings.seed}
    else:
        raise ValueError(f"Unknown split '{settings.split}': use auto, column or files:DIR.")
    info["counts"] = {s: int((manifest["split"] == s).sum()) for s in ("train", "valid", "test")}
    if info["counts"]["train"] == 0 or info["counts"]["test"] == 0:
        raise ValueError("The split left no training or no test songs; use more data or other split fractions.")
    return manifest, info


def is_features_table(data: str) -> bool:
    """True when ``data`` is a GTZAN-style feature CSV (a ``filename`` column): features, no audio."""
    path = Path(data.split(":", 1)[1] if data.startswith("features:") else data)
    if path.suffix.lower() != ".csv" or not path.is_file():
        return False
    with path.open(encoding="utf-8") as handle:
        return "filename" in handle.readline().strip().split(",")


def waveform_loader(cfg: AudioConfig) -> Callable[[str], np.ndarray]:
    """``path -> samples (n,)`` at ``cfg.sample_rate`` from the on-disk cache."""
    from core.data.cache import cached_waveform

    return lambda path: cached_waveform(path, sample_rate=cfg.sample_rate, max_seconds=cfg.max_seconds)


def warm_audio(manifest: pd.DataFrame, cfg: AudioConfig, settings: TrainSettings, progress: bool) -> None:
    """Decode every track into the cache (parallel, resumable); a file that fails stops training with its name."""
    from core.data.cache import warm_cache

    report = warm_cache(list(manifest["path"]), sample_rate=cfg.sample_rate, max_seconds=cfg.max_seconds,
                        workers=settings.workers, progress=progress)
    if getattr(report, "failed", None):
        raise ValueError(f"{len(report.failed)} files could not be decoded, e.g. {report.failed[0]}.")


def _class_index(labels: pd.Series, classes: tuple[str, ...]) -> np.ndarray:
    lookup = {c: i for i, c in enumerate(classes)}
    return np.array([lookup[v] for v in labels.to_numpy(dtype=object)], dtype=np.int64)


def _epoch_loss(net: torch.nn.Module, waves: np.ndarray, targets: np.ndarray, *, loss_fn: torch.nn.Module,
                device: torch.device, batch_size: int, optimizer: torch.optim.Optimizer | None,
                bar: tqdm | None = None) -> tuple[float, float, np.ndarray]:
    """One pass (training when ``optimizer`` is given). Returns mean loss, accuracy and probabilities ``(n, C)``."""
    net.train(optimizer is not None)
    total, correct, probs = 0.0, 0, []
    with torch.set_grad_enabled(optimizer is not None):
        for start in range(0, len(waves), batch_size):
            x = torch.from_numpy(waves[start : start + batch_size]).to(device)
            y = torch.from_numpy(targets[start : start + batch_size]).to(device)
            logits = net(x)
            loss = loss_fn(logits, y)
            if optimizer is not None:
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
            total += float(loss.detach()) * len(y)
            correct += int((logits.argmax(1) == y).sum())
            probs.append(torch.softmax(logits.detach(), 1).cpu().numpy())
            if bar is not None:
                bar.update(len(y))
                bar.set_postfix(loss=f"{total / max(1, bar.n):.3f}", acc=f"{correct / max(1, bar.n):.3f}")
    return total / len(waves), correct / len(waves), np.concatenate(probs)


def train_torch(settings: TrainSettings, manifest: pd.DataFrame, *, cfg: AudioConfig, classes: tuple[str, ...],
                progress: bool = True) -> tuple[TorchGenreModel, pd.DataFrame]:
    """Train a CNN/CRNN; returns the best model (by validation song accuracy) and the history table."""
    rng = seed_everything(settings.seed)
    device = torch.device(settings.device) if settings.device else default_device()
    load = waveform_loader(cfg)
    train = manifest[manifest["split"] == "train"]
    valid = manifest[manifest["split"] == "valid"]
    if valid.empty:
        valid = train
    train_waves = [load(p) for p in train["path"]]
    train_y = _class_index(train["label"], classes)
    val_segments, val_tracks = [], []
    for i, path in enumerate(valid["path"]):
        segs, _ = cut_segments(load(path), sample_rate=cfg.sample_rate, segment_seconds=cfg.segment_seconds)
        val_segments.append(segs)
        val_tracks += [i] * len(segs)
    val_x = np.concatenate(val_segments)
    val_tracks_arr = np.array(val_tracks)
    val_song_y = _class_index(valid["label"], classes)
    val_y = val_song_y[val_tracks_arr]

    hyper = {"channels": list(settings.channels), **settings.architecture}
    net = build_net(settings.model, cfg=cfg, n_classes=len(classes), augment=settings.augment, **hyper).to(device)
    counts = np.bincount(train_y, minlength=len(classes)).astype(np.float64)
    weights = torch.tensor(counts.sum() / (len(classes) * np.maximum(counts, 1)), dtype=torch.float32, device=device)
    loss_fn = torch.nn.CrossEntropyLoss(weight=weights)
    eval_loss = torch.nn.CrossEntropyLoss()
    opt_cls = {"adam": torch.optim.AdamW, "sgd": torch.optim.SGD}[settings.optimizer]
    extra = {"momentum": 0.9, "nesterov": True} if settings.optimizer == "sgd" else {}
    optimizer = opt_cls(net.parameters(), lr=settings.lr, weight_decay=settings.weight_decay, **extra)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.5, patience=2)

    history, best, best_key, stale = [], None, (-1.0, -math.inf), 0
    crop = cfg.segment_samples
    for epoch in range(1, settings.epochs + 1):
        started = time.perf_counter()
        order = np.repeat(np.arange(len(train_waves)), settings.crops_per_track)
        rng.shuffle(order)
        x = np.stack([random_crop(train_waves[i], length=crop, rng=rng) for i in order])
        with tqdm(total=len(order), desc=f"epoch {epoch}/{settings.epochs}", unit="crop", disable=not progress,
                  leave=False) as bar:
            tr_loss, tr_acc, _ = _epoch_loss(net, x, train_y[order], loss_fn=loss_fn, device=device,
                                             batch_size=settings.batch_size, optimizer=optimizer, bar=bar)
        va_loss, va_acc_seg, va_probs = _epoch_loss(net, val_x, val_y, loss_fn=eval_loss, device=device,
                                                    batch_size=128, optimizer=None)
        song_probs = np.stack([va_probs[val_tracks_arr == i].mean(0) for i in range(len(valid))])
        va_acc = float((song_probs.argmax(1) == val_song_y).mean())
        scheduler.step(va_loss)
        lr = optimizer.param_groups[0]["lr"]
        history.append({"epoch": epoch, "train_loss": tr_loss, "train_acc": tr_acc, "val_loss": va_loss,
                        "val_acc": va_acc, "val_segment_acc": va_acc_seg, "lr": lr,
                        "seconds": time.perf_counter() - started})
        if progress:
            tqdm.write(f"epoch {epoch:3d}  train loss {tr_loss:.3f} acc {tr_acc:.3f}  "
                       f"valid loss {va_loss:.3f} song acc {va_acc:.3f}  lr {lr:.2g}")
        key = (va_acc, -va_loss)
        if key > best_key:
            best_key, best, stale = key, copy.deepcopy(net.state_dict()), 0
        else:
            stale += 1
            if stale >= settings.patience:
                break
    net.load_state_dict(best)
    net.eval()
    model = TorchGenreModel(kind=settings.model, classes=classes, cfg=cfg, net=net, device=device)
    return model, pd.DataFrame(history)


def train_knn(settings: TrainSettings, manifest: pd.DataFrame, *, cfg: AudioConfig, classes: tuple[str, ...],
              progress: bool = True) -> KNNGenreModel:
    """Fit StandardScaler + KNN on the handcrafted features of the training songs (segments or whole clips).

    KNN has no early stopping, so it fits on the ``train`` and ``valid`` songs together; ``test`` stays unseen.
    """
    from core.audio.features import FEATURE_COLUMNS, features_table

    fit_on = manifest[manifest["split"].isin(["train", "valid"])]
    table = features_table([Path(p) for p in fit_on["path"]], labels=list(fit_on["label"]),
                           segment_seconds=cfg.segment_seconds if settings.knn_unit == "segment" else None,
                           workers=settings.workers, progress=progress)
    return fit_knn(table[list(FEATURE_COLUMNS)].to_numpy(dtype=np.float64), table["label"], k=settings.k, cfg=cfg,
                   classes=classes)


def fit_knn(features: np.ndarray, labels: pd.Series, *, k: int, cfg: AudioConfig,
            classes: tuple[str, ...]) -> KNNGenreModel:
    """Fit the scaler + KNN pipeline on features ``(n, 57)`` and their genre labels."""
    y = _class_index(pd.Series(labels), classes)
    pipe = make_pipeline(StandardScaler(), KNeighborsClassifier(n_neighbors=k)).fit(features, y)
    scaler = pipe.named_steps["standardscaler"]
    return KNNGenreModel(kind="knn", classes=classes, cfg=cfg, mean=scaler.mean_, scale=scaler.scale_,
                         train_features=features, train_labels=y, k=k)


def train_knn_on_table(settings: TrainSettings, *, root: Path = RUNS_DIR) -> Path:
    """KNN on a public GTZAN feature CSV (no audio): fit on train+valid rows, evaluate the test rows, write a run."""
    from core.config import GENRES
    from core.data.sources import load_features_csv

    if settings.model != "knn":
        raise ValueError("A feature table has no audio: only --model knn can train on it.")
    started = time.perf_counter()
    base, features, _ = load_features_csv(settings.data.split(":", 1)[-1])
    manifest, split_info = prepare_manifest(settings, base.assign(row=np.arange(len(base))))
    present = set(manifest["label"])
    classes = tuple(g for g in GENRES if g in present) + tuple(sorted(present - set(GENRES)))
    cfg = AudioConfig(segment_seconds=3.0 if "segment" in manifest else 30.0)
    fit_on = manifest[manifest["split"].isin(["train", "valid"])]
    model = fit_knn(features[fit_on["row"].to_numpy()], fit_on["label"], k=settings.k, cfg=cfg, classes=classes)
    train_seconds = time.perf_counter() - started
    test = manifest[manifest["split"] == "test"]
    predictions = features_csv_rows(test, features[test["row"].to_numpy()], model)
    return write_run(model=model, settings=settings, manifest=manifest, split_info=split_info,
                     history=pd.DataFrame(), predictions=predictions, root=root,
                     durations={"train_seconds": train_seconds, "evaluate_seconds": 0.0})


def _run_id(settings: TrainSettings, dataset: str) -> str:
    if settings.run_id:
        return settings.run_id
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    return f"{settings.model}-{dataset}-s{settings.seed}-{stamp}"


def dataset_name(data: str) -> str:
    """A short name for a data source (its folder or file stem)."""
    path = Path(data)
    return path.stem if path.suffix else path.name


def train(settings: TrainSettings, *, cfg: AudioConfig | None = None, root: Path = RUNS_DIR,
          progress: bool = True) -> Path:
    """Train one model on one split, evaluate it on the test split and write its run folder.

    Returns:
        The run folder. Nothing is written when training fails or is interrupted.
    """
    if settings.model not in ("cnn", "crnn", "knn", "transfer"):
        raise ValueError(f"Unknown model '{settings.model}'. Choose cnn, crnn, knn or transfer.")
    if is_features_table(settings.data):
        return train_knn_on_table(settings, root=root)
    started = time.perf_counter()
    manifest, split_info = prepare_manifest(settings)
    from core.config import GENRES

    present = set(manifest["label"])
    classes = tuple(g for g in GENRES if g in present) + tuple(sorted(present - set(GENRES)))
    if settings.model == "knn" and settings.knn_unit == "clip":
        cfg = cfg or AudioConfig(segment_seconds=30.0)
    cfg = cfg or AudioConfig()
    if settings.model == "transfer":
        from core.models.transfer import train_transfer

        model, history = train_transfer(settings, manifest, classes=classes, progress=progress), pd.DataFrame()
        cfg = model.cfg
    else:
        warm_audio(manifest, cfg, settings, progress)
        if settings.model == "knn":
            model, history = train_knn(settings, manifest, cfg=cfg, classes=classes, progress=progress), pd.DataFrame()
        else:
            model, history = train_torch(settings, manifest, cfg=cfg, classes=classes, progress=progress)
    train_seconds = time.perf_counter() - started
    test = manifest[manifest["split"] == "test"]
    predictions = predict_tracks(model, test, waveform=waveform_loader(model.cfg), progress=progress)
    return write_run(model=model, settings=settings, manifest=manifest, split_info=split_info, history=history,
                     predictions=predictions, root=root,
                     durations={"train_seconds": train_seconds,
                                "evaluate_seconds": time.perf_counter() - started - train_seconds})


def write_run(*, model, settings: TrainSettings, manifest: pd.DataFrame, split_info: dict[str, object],
              history: pd.DataFrame, predictions: pd.DataFrame, root: Path, durations: dict[str, float]) -> Path:
    """Write a complete run folder atomically (see :mod:`core.runs.folder`)."""
    metrics, confusion = compute_metrics(predictions, model.classes)
    name = dataset_name(settings.data)
    run_id = _run_id(settings, name)
    hyper = {k: v for k, v in asdict(settings).items()
             if k not in ("model", "data", "split", "seed", "device", "run_id", "group", "architecture", "workers")}
    info = {
        "run_id": run_id,
        "model": model.kind,
        "group": settings.group or run_id,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "classes": list(model.classes),
        "audio_config": model.cfg.to_dict(),
        "hyperparameters": hyper,
        "architecture": {"channels": list(settings.channels), **settings.architecture}
        if model.kind in ("cnn", "crnn") else {},
        "dataset": {"name": name, "source": repo_relative(settings.data), "fingerprint": fingerprint(manifest),
                    "tracks": int(len(manifest))},
        "split": split_info,
        "seed": settings.seed,
        "device": str(getattr(model, "device", "cpu")),
        "versions": _versions(),
        "durations": durations,
    }
    synth = Path(settings.data) / "synth.json"
    if synth.is_file():  # the project's synthetic set: its parameters let any machine re-render the audio
        info["dataset"]["synth"] = json.loads(synth.read_text())
    with staged_run(run_id, root=root) as tmp:
        (tmp / "run.json").write_text(json.dumps(info, indent=2))
        history_cols = ["epoch", "train_loss", "train_acc", "val_loss", "val_acc", "val_segment_acc", "lr", "seconds"]
        (history if not history.empty else pd.DataFrame(columns=history_cols)).to_csv(tmp / "history.csv",
                                                                                        index=False)
        (tmp / "metrics.json").write_text(json.dumps(metrics, indent=2))
        confusion.to_csv(tmp / "confusion.csv")
        predictions.to_parquet(tmp / "predictions.parquet", index=False)
        if model.kind in ("cnn", "crnn"):
            save_file({k: v.detach().cpu().contiguous() for k, v in model.net.state_dict().items()},
                      str(tmp / "weights.safetensors"))
        else:
            model.save(tmp)
    return root / run_id


def train_seeds(settings: TrainSettings, seeds: list[int], *, root: Path = RUNS_DIR,
                progress: bool = True) -> list[Path]:
    """One run per seed in one ``group`` (shown as mean ± std)."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    group = settings.group or f"{settings.model}-{dataset_name(settings.data)}-{stamp}"
    paths = []
    for seed in seeds:
        run_id = f"{settings.run_id}-s{seed}" if settings.run_id else None
        paths.append(train(replace(settings, seed=seed, group=group, run_id=run_id), root=root, progress=progress))
    return paths


def features_csv_rows(manifest: pd.DataFrame, features: np.ndarray, model: KNNGenreModel) -> pd.DataFrame:
    """Prediction rows for feature-only data (public GTZAN CSV): one row per CSV row, grouped by track."""
    probs, _ = model.predict_features(features)
    parts = []
    for track_id, idx in manifest.groupby("track_id", sort=False).indices.items():
        n = len(idx)
        seg = model.cfg.segment_seconds
        bounds = np.stack([np.arange(n) * seg, (np.arange(n) + 1) * seg], axis=1)
        parts.append(segment_rows(track_id=str(track_id), path="", true=manifest["label"].iloc[idx[0]],
                                  bounds=bounds, probs=probs[idx], classes=model.classes))
    return pd.concat(parts, ignore_index=True)
