"""Training settings, typed per model family; the CLI's ``train`` options are generated from these fields.

:class:`TrainSettings` holds what every run has (data, split, seed, device, ids) and ``hyper``, the
hyperparameters of the model's family (:class:`TorchSettings`, :class:`KNNSettings`, :class:`TransferSettings`,
:class:`EnsembleSettings`).
:func:`core.training.train.make_settings` builds one from flat keyword arguments and refuses options that do not apply
to the kind.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Literal


def _opt(default: Any, help_text: str, **extra: Any) -> Any:
    """A dataclass field whose ``help`` (and optional ``choices``) becomes a CLI option."""
    return field(default=default, metadata={"help": help_text, **extra})


@dataclass(frozen=True)
class TorchSettings:
    """CNN / CRNN training."""

    epochs: int = _opt(30, "training epochs (early stopping may end sooner)")
    lr: float = _opt(1e-3, "learning rate")
    batch_size: int = _opt(32, "crops per batch")
    weight_decay: float = _opt(1e-4, "weight decay")
    optimizer: Literal["adamw", "sgd"] = _opt("adamw", "AdamW, or SGD with Nesterov momentum 0.9",
                                              choices=("adamw", "sgd"))
    patience: int = _opt(8, "early-stopping patience in epochs")
    augment: bool = _opt(True, "SpecAugment time/frequency masks while training")
    crops_per_track: int = _opt(4, "random 3-s crops per training song per epoch")
    channels: tuple[int, ...] = _opt((16, 32, 32, 32), "channels of the four conv blocks")


@dataclass(frozen=True)
class KNNSettings:
    """KNN on handcrafted features."""

    k: int = _opt(10, "neighbours")
    unit: Literal["segment", "clip"] = _opt("segment", "one feature row per 3-s segment or per whole clip",
                                            choices=("segment", "clip"))


@dataclass(frozen=True)
class TransferSettings:
    """Logistic-regression head on the pretrained musicnn taggers' outputs."""

    c: float = _opt(0.003, "inverse regularisation strength of the logistic regression")
    hop_seconds: float = _opt(1.5, "training windows start every this many seconds (3-s windows overlap)")
    balance: bool = _opt(True, "weight windows by 1/(windows of their song) x inverse genre frequency")
    music_verdict: bool = _opt(True, "fit the reference of the training music for the 'is it music?' verdict "
                                     "(musicness.npz, 1.3 MB; studies may leave it out)")


@dataclass(frozen=True)
class EnsembleSettings:
    """An ensemble: the runs whose probabilities it averages (nothing is fitted)."""

    members: tuple[str, ...] = _opt((), "run ids or folders of the runs to average, e.g. transfer-gtzan,cnn-gtzan")


FamilySettings = TorchSettings | KNNSettings | TransferSettings | EnsembleSettings


@dataclass(frozen=True)
class TrainSettings:
    """One training run: the data, its split, the seed, and the family's hyperparameters (saved in ``run.json``)."""

    model: str
    data: str
    hyper: FamilySettings
    split: str = _opt("auto", "auto, grouped, column, files:DIR (split lists) or all")
    valid: float = _opt(0.15, "validation fraction of a grouped split")
    test: float = _opt(0.15, "test fraction of a grouped split")
    seed: int = _opt(0, "seed of the split and the model")
    songs_per_genre: int | None = _opt(None, "at most N learning songs (train + valid) per genre, drawn by the "
                                             "seed; the test part is untouched")
    genres: tuple[str, ...] | None = _opt(None, "only these genres, e.g. blues,classical (every part)")
    device: str | None = _opt(None, "cpu or cuda (default: cuda when present)")
    workers: int | None = _opt(None, "decoding processes (default: all cores)")
    run_id: str | None = _opt(None, "name of the run folder (default: model-data-seed-time)")
    group: str | None = None

    def hyperparameters(self) -> dict[str, object]:
        """The family's hyperparameters plus the split fractions, as plain JSON."""
        values = asdict(self.hyper)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in values.items()}


#: Fields of :class:`TrainSettings` that the CLI offers (``model``, ``data``, ``hyper`` and ``group`` are special).
COMMON_OPTIONS = tuple(f for f in fields(TrainSettings) if "help" in f.metadata)



def with_options(settings: TrainSettings, **options: Any) -> TrainSettings:
    """A copy with common fields and/or hyperparameters replaced."""
    own = {f.name for f in fields(type(settings.hyper))}
    hyper = replace(settings.hyper, **{k: v for k, v in options.items() if k in own})
    return replace(settings, hyper=hyper, **{k: v for k, v in options.items() if k not in own})
