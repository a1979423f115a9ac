"""Pretrained models ported to PyTorch: the musicnn taggers (Pons & Serra, 2019; ISC licence).

- :mod:`core.pretrained.tfcheckpoint`: reads TensorFlow V2 checkpoints without TensorFlow.
- :mod:`core.pretrained.convert`: turns the checkpoints inside the ``musicnn`` wheel into safetensors.
- :mod:`core.pretrained.musicnn`: the front-end, the network, tagging (``top_tags``) and the genre model.
- :mod:`core.pretrained.genre_map`: the documented mapping from tag vocabularies to the ten GTZAN genres.
- :mod:`core.pretrained.runtime`: the taggers on ONNX Runtime (the CPU path).

This file imports nothing heavy: the dashboard's first page asks :func:`weights_present` without loading torch.
"""

from __future__ import annotations

from core.config import REPO_ROOT

PRETRAINED_DIR = REPO_ROOT / "models" / "pretrained"
TAGGERS: tuple[str, ...] = ("mtt", "msd")


def weights_present() -> bool:
    """Whether both taggers' converted weights are in :data:`PRETRAINED_DIR`."""
    return all((PRETRAINED_DIR / f"musicnn_{name}.safetensors").is_file() for name in TAGGERS)
