"""Pretrained models ported to PyTorch: the musicnn taggers (Pons & Serra, 2019; ISC licence).

- :mod:`core.pretrained.tfcheckpoint`: reads TensorFlow V2 checkpoints without TensorFlow.
- :mod:`core.pretrained.convert`: turns the checkpoints inside the ``musicnn`` wheel into safetensors.
- :mod:`core.pretrained.musicnn`: the front-end, the network, tagging (``top_tags``) and the genre model.
- :mod:`core.pretrained.genre_map`: the documented mapping from tag vocabularies to the ten GTZAN genres.
"""
