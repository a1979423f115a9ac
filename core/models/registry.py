"""The model kinds: one entry each, the only place that says what a kind is and where its code lives.

Each kind's module (``module``) provides::

    audio_config(hyper) -> AudioConfig                                              # trainable kinds
    train(settings, manifest, *, classes, progress) -> (model, history DataFrame)   # trainable kinds
    load(folder, info, *, device) -> GenreModel                                    # from a run folder

and its model object has ``save(folder)``, writing ``model_file`` (safetensors or ``.npz``, never pickle).
Adding a kind = one entry here + its module + its tests.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType

from core.errors import InputError
from core.training.settings import EnsembleSettings, KNNSettings, TorchSettings, TransferSettings

#: Name that selects the pretrained tagger wherever a run is expected.
PRETRAINED_NAME = "musicnn"
#: The shipped genre model trained on real recordings (GTZAN, fault-filtered split): the default of the app, the
#: CLI and catalogs when its run folder is present (:func:`core.runs.folder.default_model`).
DEFAULT_RUN = "transfer-gtzan"


@dataclass(frozen=True)
class ModelKind:
    """What the project knows about one model kind.

    Attributes:
        name: The ``--model`` name stored in ``run.json["model"]``.
        title: Human name for tables and selectors.
        module: Module with ``train``/``load`` (imported on first use, so listing kinds stays cheap).
        settings: Hyperparameter dataclass of the family (``None``: pretrained, nothing to train).
        model_file: The file in a run folder that holds the trained parameters.
        saliency: The dashboard may show Grad-CAM / occlusion maps (a network over a mel spectrogram).
        epochs: Trains in epochs with a validation score per epoch (its ``train`` takes ``on_epoch``), so a
            study's scheduler can stop it early.
    """

    name: str
    title: str
    module: str
    settings: type | None
    model_file: str | None
    saliency: bool = False
    epochs: bool = False

    def code(self) -> ModuleType:
        """The kind's module."""
        return importlib.import_module(self.module)


KINDS: dict[str, ModelKind] = {
    "cnn": ModelKind("cnn", "CNN", "core.models.torchnet", TorchSettings, "weights.safetensors", saliency=True,
                     epochs=True),
    "crnn": ModelKind("crnn", "CRNN", "core.models.torchnet", TorchSettings, "weights.safetensors", saliency=True,
                      epochs=True),
    "knn": ModelKind("knn", "KNN (handcrafted features)", "core.models.knn", KNNSettings, "knn.npz"),
    "transfer": ModelKind("transfer", "musicnn + trained head", "core.models.transfer", TransferSettings, "head.npz"),
    "ensemble": ModelKind("ensemble", "ensemble (mean of runs' probabilities)", "core.models.ensemble",
                          EnsembleSettings, "ensemble.json"),
    PRETRAINED_NAME: ModelKind(PRETRAINED_NAME, "musicnn tags mapped to genres", "core.pretrained.musicnn", None,
                               None),
}

#: Kinds that ``train`` accepts.
TRAINABLE: tuple[str, ...] = tuple(name for name, kind in KINDS.items() if kind.settings is not None)


def model_kind(name: str) -> ModelKind:
    """The kind called ``name``.

    Raises:
        ValueError: no such kind (the message lists the known ones).
    """
    try:
        return KINDS[name]
    except KeyError:
        raise InputError(f"Unknown model '{name}'. Choose {', '.join(KINDS)}.") from None
