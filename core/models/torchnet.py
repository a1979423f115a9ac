"""CNN and CRNN genre models: a mel front-end plus a network from :mod:`core.models.nets`.

Training uses random crops of the training songs (``crops_per_track`` per song per epoch), validates on evenly
spaced segments averaged per song, stops early on the validation song accuracy and halves the learning rate when
the validation loss plateaus; classes are balanced by inverse-frequency loss weights. Seeded: on CPU the same
seed gives the same weights. CUDA is used when present, with the same code. Weights: ``weights.safetensors``.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from safetensors.torch import load_file, save_file
from tqdm import tqdm

from core.audio.decode import cut_segments, random_crop
from core.config import AudioConfig, class_index
from core.data.cache import waveform_loader
from core.models.base import default_device
from core.models.nets import GenreNet, build_net, for_inference
from core.training.settings import TorchSettings, TrainSettings


@dataclass
class TorchGenreModel:
    """A trained CNN/CRNN in evaluation mode (its weights do not change once it is made)."""

    kind: str
    classes: tuple[str, ...]
    cfg: AudioConfig
    net: GenreNet
    device: torch.device
    arch: dict[str, object] = field(default_factory=dict)
    batch_size: int = 64
    _fast: GenreNet | None = field(default=None, init=False, repr=False, compare=False)

    def predict_segments(self, segments: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Softmax probabilities ``(n, n_classes)`` and pooled embeddings ``(n, embedding_dim)``, from
        :func:`~core.models.nets.for_inference` of :attr:`net` (batch norms folded: equal within 1e-5), made once."""
        if self._fast is None:
            self._fast = for_inference(self.net.eval())
        net = self._fast
        probs, embs = [], []
        with torch.inference_mode():
            for start in range(0, len(segments), self.batch_size):
                # writable and contiguous (a shared read-only waveform is copied: torch wants writable arrays)
                batch = torch.from_numpy(np.require(segments[start: start + self.batch_size], requirements="CW"))
                logits, emb = net.embed(batch.to(self.device, dtype=torch.float32))
                probs.append(torch.softmax(logits, dim=1).cpu().numpy())
                embs.append(emb.cpu().numpy())
        return np.concatenate(probs).astype(np.float32), np.concatenate(embs).astype(np.float32)

    def save(self, folder: Path) -> None:
        """Write ``weights.safetensors``."""
        save_file({k: v.detach().cpu().contiguous() for k, v in self.net.state_dict().items()},
                  str(folder / "weights.safetensors"))


def load(folder: Path, info: dict, *, device: torch.device) -> TorchGenreModel:
    """A trained CNN/CRNN from its run folder."""
    cfg = AudioConfig.from_dict(info["audio_config"])
    classes = tuple(info["classes"])
    arch = dict(info["architecture"])
    net = build_net(info["model"], cfg=cfg, n_classes=len(classes), **arch)
    net.load_state_dict(load_file(folder / "weights.safetensors"))
    return TorchGenreModel(kind=info["model"], classes=classes, cfg=cfg, net=net.to(device).eval(), device=device,
                           arch=arch)


def audio_config(hyper: TorchSettings) -> AudioConfig:
    """The networks' audio: the project's default :class:`AudioConfig` (22050 Hz, 128 mel bands, 3-s segments)."""
    return AudioConfig()


def seed_everything(seed: int) -> np.random.Generator:
    """Seed torch and return a NumPy generator; deterministic algorithms on (CPU results repeat exactly)."""
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    return np.random.default_rng(seed)


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


def train(settings: TrainSettings, manifest: pd.DataFrame, *, classes: tuple[str, ...], progress: bool = True,
          on_epoch: Callable[[dict[str, float]], None] | None = None) -> tuple[TorchGenreModel, pd.DataFrame]:
    """Train a CNN/CRNN; returns the best model (by validation song accuracy) and the history table.

    ``on_epoch`` receives each epoch's history row as it is written (a study's scheduler may stop the trial there).
    """
    hp: TorchSettings = settings.hyper
    cfg = audio_config(hp)
    rng = seed_everything(settings.seed)
    device = torch.device(settings.device) if settings.device else default_device()
    load = waveform_loader(cfg)
    train = manifest[manifest["split"] == "train"]
    valid = manifest[manifest["split"] == "valid"]
    if valid.empty:
        valid = train
    train_waves = [load(p) for p in train["path"]]
    train_y = class_index(train["label"], classes)
    val_segments, val_tracks = [], []
    for i, path in enumerate(valid["path"]):
        segs, _ = cut_segments(load(path), sample_rate=cfg.sample_rate, segment_seconds=cfg.segment_seconds)
        val_segments.append(segs)
        val_tracks += [i] * len(segs)
    val_x = np.concatenate(val_segments)
    val_tracks_arr = np.array(val_tracks)
    val_song_y = class_index(valid["label"], classes)
    val_y = val_song_y[val_tracks_arr]

    arch = {"channels": list(hp.channels)}
    net = build_net(settings.model, cfg=cfg, n_classes=len(classes), augment=hp.augment, **arch).to(device)
    counts = np.bincount(train_y, minlength=len(classes)).astype(np.float64)
    weights = torch.tensor(counts.sum() / (len(classes) * np.maximum(counts, 1)), dtype=torch.float32, device=device)
    loss_fn = torch.nn.CrossEntropyLoss(weight=weights)
    eval_loss = torch.nn.CrossEntropyLoss()
    opt_cls = {"adamw": torch.optim.AdamW, "sgd": torch.optim.SGD}[hp.optimizer]
    extra = {"momentum": 0.9, "nesterov": True} if hp.optimizer == "sgd" else {}
    optimizer = opt_cls(net.parameters(), lr=hp.lr, weight_decay=hp.weight_decay, **extra)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.5, patience=2)

    history, best, best_key, stale = [], None, (-1.0, -math.inf), 0
    crop = cfg.segment_samples
    for epoch in range(1, hp.epochs + 1):
        started = time.perf_counter()
        order = np.repeat(np.arange(len(train_waves)), hp.crops_per_track)
        rng.shuffle(order)
        x = np.stack([random_crop(train_waves[i], length=crop, rng=rng) for i in order])
        with tqdm(total=len(order), desc=f"epoch {epoch}/{hp.epochs}", unit="crop", disable=not progress,
                  leave=False) as bar:
            tr_loss, tr_acc, _ = _epoch_loss(net, x, train_y[order], loss_fn=loss_fn, device=device,
                                             batch_size=hp.batch_size, optimizer=optimizer, bar=bar)
        va_loss, va_acc_seg, va_probs = _epoch_loss(net, val_x, val_y, loss_fn=eval_loss, device=device,
                                                    batch_size=128, optimizer=None)
        song_probs = np.stack([va_probs[val_tracks_arr == i].mean(0) for i in range(len(valid))])
        va_acc = float((song_probs.argmax(1) == val_song_y).mean())
        scheduler.step(va_loss)
        lr = optimizer.param_groups[0]["lr"]
        history.append({"epoch": epoch, "train_loss": tr_loss, "train_acc": tr_acc, "val_loss": va_loss,
                        "val_acc": va_acc, "val_segment_acc": va_acc_seg, "lr": lr,
                        "seconds": time.perf_counter() - started})
        if on_epoch is not None:
            on_epoch(history[-1])
        if progress:
            tqdm.write(f"epoch {epoch:3d}  train loss {tr_loss:.3f} acc {tr_acc:.3f}  "
                       f"valid loss {va_loss:.3f} song acc {va_acc:.3f}  lr {lr:.2g}")
        key = (va_acc, -va_loss)
        if key > best_key:
            best_key, best, stale = key, copy.deepcopy(net.state_dict()), 0
        else:
            stale += 1
            if stale >= hp.patience:
                break
    net.load_state_dict(best)
    net.eval()
    model = TorchGenreModel(kind=settings.model, classes=classes, cfg=cfg, net=net, device=device, arch=arch)
    return model, pd.DataFrame(history)


