"""Broad styles and descriptors from the two musicnn taggers' tag probabilities (nothing is trained).

Shown beside the genre spectrum (``predict --json``: ``styles`` and ``tags``; Home; catalogs).

Each style / descriptor is a set of ``(tagger, tag)`` pairs from ``models/pretrained/musicnn_tags.json``
(``mtt``: MagnaTagATune, 50 instrument/mood/style tags; ``msd``: Million Song Dataset last.fm tags, mostly
genres). A segment's score for a style is the **largest probability among its tags** (an "any of these tags"
proxy: many sub-tags do not add up), and a song's score is the **mean over its segments**. Scores are
independent sigmoid-derived probabilities: they do not sum to 1, and several styles can be high at once.

Not covered, because neither vocabulary has a tag for it: reggae, Latin, world music other than Indian (MTT's
"indian"/"sitar"), gospel, K-pop, etc. Use the genre head for reggae.

Calibration differs between taggers and between tags (MSD genre tags rarely exceed ~0.6; MTT "guitar" is often
> 0.8), so compare a style across songs rather than two styles within a song; ``rank`` is a display helper only.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from core.errors import InputError

Tag = tuple[str, str]

#: Style → (tagger, tag) pairs. Order is the display/column order.
STYLES: dict[str, tuple[Tag, ...]] = {
    "electronic": (("msd", "electronic"), ("msd", "electronica"), ("msd", "electro"), ("mtt", "electronic"),
                   ("mtt", "techno"), ("mtt", "synth")),
    "dance / house": (("msd", "dance"), ("msd", "House"), ("msd", "party"), ("mtt", "dance"), ("mtt", "techno")),
    "hip-hop": (("msd", "Hip-Hop"),),
    "r&b / soul": (("msd", "rnb"), ("msd", "soul")),
    "funk": (("msd", "funk"),),
    "folk": (("msd", "folk"),),
    "country": (("msd", "country"), ("mtt", "country")),
    "blues": (("msd", "blues"),),
    "jazz": (("msd", "jazz"),),
    "classical": (("mtt", "classical"), ("mtt", "classic"), ("mtt", "opera"), ("mtt", "choral")),
    "metal": (("msd", "metal"), ("msd", "heavy metal"), ("mtt", "metal")),
    "punk": (("msd", "punk"),),
    "rock": (("msd", "rock"), ("msd", "classic rock"), ("msd", "hard rock"), ("msd", "alternative rock"),
             ("msd", "indie rock"), ("msd", "Progressive rock"), ("mtt", "rock")),
    "indie / alternative": (("msd", "indie"), ("msd", "alternative"), ("msd", "indie pop"),
                            ("msd", "alternative rock"), ("msd", "indie rock")),
    "pop": (("msd", "pop"), ("msd", "indie pop"), ("mtt", "pop")),
    "easy listening / oldies": (("msd", "easy listening"), ("msd", "oldies")),
    "ambient / chill": (("msd", "ambient"), ("msd", "chillout"), ("msd", "chill"), ("mtt", "ambient"),
                        ("mtt", "new age")),
    "experimental": (("msd", "experimental"), ("mtt", "weird")),
    "indian": (("mtt", "indian"), ("mtt", "sitar")),
}

#: Descriptor group → descriptor → (tagger, tag) pairs.
DESCRIPTORS: dict[str, dict[str, tuple[Tag, ...]]] = {
    "vocals": {
        "female vocals": (("mtt", "female"), ("mtt", "woman"), ("mtt", "female vocal"), ("mtt", "female voice"),
                          ("msd", "female vocalists"), ("msd", "female vocalist")),
        "male vocals": (("mtt", "male"), ("mtt", "man"), ("mtt", "male vocal"), ("mtt", "male voice"),
                        ("msd", "male vocalists")),
        "vocals": (("mtt", "vocal"), ("mtt", "vocals"), ("mtt", "singing"), ("mtt", "voice")),
        "instrumental": (("mtt", "no vocals"), ("mtt", "no vocal"), ("mtt", "no voice"), ("msd", "instrumental")),
        "choir": (("mtt", "choir"), ("mtt", "choral")),
        "opera": (("mtt", "opera"),),
    },
    "instruments": {
        "guitar": (("mtt", "guitar"), ("msd", "guitar")),
        "acoustic": (("msd", "acoustic"),),
        "piano": (("mtt", "piano"),),
        "strings": (("mtt", "strings"), ("mtt", "violin"), ("mtt", "cello")),
        "drums / beat": (("mtt", "drums"), ("mtt", "beat"), ("mtt", "beats")),
        "synth": (("mtt", "synth"),),
        "flute": (("mtt", "flute"),),
        "harp": (("mtt", "harp"),),
        "harpsichord": (("mtt", "harpsichord"),),
        "sitar": (("mtt", "sitar"),),
    },
    "mood": {
        "mellow / soft": (("msd", "Mellow"), ("mtt", "soft"), ("mtt", "quiet")),
        "slow": (("mtt", "slow"),),
        "fast": (("mtt", "fast"),),
        "loud": (("mtt", "loud"),),
        "happy": (("msd", "happy"),),
        "sad": (("msd", "sad"),),
        "beautiful": (("msd", "beautiful"),),
        "sexy": (("msd", "sexy"),),
        "catchy": (("msd", "catchy"),),
        "party": (("msd", "party"),),
        "solo": (("mtt", "solo"),),
    },
    "era": {decade: (("msd", decade),) for decade in ("60s", "70s", "80s", "90s", "00s")},
}


@dataclass
class StyleResult:
    """Scores of one recording.

    Attributes:
        names: Column names, ``(k,)``.
        segments: Per-segment scores ``(n_segments, k)`` float32 in [0, 1].
        song: Mean over segments, ``(k,)`` float32.
    """

    names: tuple[str, ...]
    segments: np.ndarray
    song: np.ndarray

    def rank(self, top: int = 5) -> list[tuple[str, float]]:
        """``top`` highest song-level scores, ``[(name, score), ...]``, highest first."""
        order = np.argsort(-self.song, kind="stable")[:top]
        return [(self.names[i], float(self.song[i])) for i in order]

    def as_dict(self) -> dict[str, float]:
        return {n: float(v) for n, v in zip(self.names, self.song)}


def _score(mapping: Mapping[str, tuple[Tag, ...]], tag_probs: Mapping[str, np.ndarray],
           vocabularies: Mapping[str, tuple[str, ...]]) -> StyleResult:
    n = {len(np.asarray(p)) for p in tag_probs.values()}
    if len(n) != 1:
        raise InputError(f"Taggers disagree on the number of segments: {sorted(n)}.")
    n_seg = n.pop()
    names = tuple(mapping)
    out = np.zeros((n_seg, len(names)), dtype=np.float32)
    for j, name in enumerate(names):
        for tagger, tag in mapping[name]:
            if tagger not in tag_probs:
                raise InputError(f"'{name}' needs the {tagger} tagger's probabilities.")
            vocab = vocabularies[tagger]
            if tag not in vocab:
                raise InputError(f"'{name}': tag '{tag}' is not in the {tagger} vocabulary.")
            out[:, j] = np.maximum(out[:, j], np.asarray(tag_probs[tagger])[:, vocab.index(tag)])
    song = out.mean(axis=0) if n_seg else np.zeros(len(names), np.float32)
    return StyleResult(names=names, segments=out, song=song.astype(np.float32))


def style_probabilities(tag_probs: Mapping[str, np.ndarray],
                        vocabularies: Mapping[str, tuple[str, ...]]) -> StyleResult:
    """Style scores from per-segment tag probabilities.

    Args:
        tag_probs: ``{"mtt": (n_segments, 50), "msd": (n_segments, 50)}`` sigmoid outputs of both taggers for the
            same segments (:func:`core.pretrained.musicnn.tag_probabilities`).
        vocabularies: Tagger → tags in output order (``core.pretrained.musicnn.tag_vocabulary``).

    Returns:
        :class:`StyleResult` with ``len(STYLES)`` columns.
    """
    return _score(STYLES, tag_probs, vocabularies)


def descriptor_probabilities(tag_probs: Mapping[str, np.ndarray], vocabularies: Mapping[str, tuple[str, ...]]
                             ) -> dict[str, StyleResult]:
    """Descriptor scores, one :class:`StyleResult` per group of :data:`DESCRIPTORS` (vocals, instruments, mood,
    era); arguments as :func:`style_probabilities`."""
    return {group: _score(mapping, tag_probs, vocabularies) for group, mapping in DESCRIPTORS.items()}


def describe(tag_probs: Mapping[str, np.ndarray], vocabularies: Mapping[str, tuple[str, ...]], *,
             top: int = 5, top_descriptors: int = 3) -> dict[str, list[tuple[str, float]]]:
    """Top styles and top descriptors per group, for display: ``{"styles": [...], "vocals": [...], ...}``."""
    out = {"styles": style_probabilities(tag_probs, vocabularies).rank(top)}
    for group, res in descriptor_probabilities(tag_probs, vocabularies).items():
        out[group] = res.rank(top_descriptors)
    return out
