"""The project's error family: every failure caused by what a person gave (a file, an argument, a data source)
is a :class:`GenreLabError` whose message is a sentence for that person. Anything else is a bug.

``GenreLabError`` ├─ ``InputError`` (a wrong argument, setting or data source; also a ``ValueError``)
                  ├─ ``NotFoundError`` (a named file, run or catalog is absent; also a ``FileNotFoundError``)
                  ├─ ``core.audio.decode.AudioError`` (audio that cannot be analysed)
                  ├─ ``core.audio.features.FeatureError``, ``core.library.tags.TagError``,
                  ├─ ``core.synth.dataset.SynthError``, ``core.pretrained.tfcheckpoint.CheckpointError``
"""

from __future__ import annotations


class GenreLabError(Exception):
    """Root of the project's errors; ``str(error)`` is a sentence a person understands."""


class InputError(GenreLabError, ValueError):
    """A wrong argument, setting or data source."""


class NotFoundError(GenreLabError, FileNotFoundError):
    """A named file, run or catalog does not exist."""
