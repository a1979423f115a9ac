"""From musicnn tags to the ten GTZAN genres: a fixed, documented mapping (nothing is trained).

Neither tag vocabulary covers the ten genres alone: the Million Song Dataset tagger (``msd``, trained on last.fm
social tags, which are mostly genres) has blues, jazz, Hip-Hop, country, metal, pop, rock (and sub-styles), dance and
funk but no classical; the MagnaTagATune tagger (``mtt``, trained on instrument/mood/style annotations) has classical
but no blues, jazz or hip-hop. Both taggers run on every segment, and

1. **the MSD tagger decides every genre it has a tag for; the MTT tagger fills the gap (classical)**. MTT's own
   "rock", "pop", "country" tags are left out: they are calibrated differently and, added by a max, they inflate
   those genres (on the GTZAN country clip, MTT "rock" pushed country out of the top two);
2. each genre's score is the **largest probability among its tags** in :data:`GENRE_TAGS` (a max, not a sum, so a
   genre with many sub-tags, like rock, gains nothing from their number);
3. the ten scores (plus :data:`FLOOR`, so silence gives a flat spectrum instead of a division by zero) are divided
   by their sum: each segment's row sums to 1.

Disco has no tag of its own and is read from dance and funk. **Reggae has no tag in either vocabulary**, so this
model scores it 0 (only the floor): it cannot recognise reggae. A classifier trained on the musicnn embeddings (the
``transfer`` model) can.
"""

from __future__ import annotations

import numpy as np

from core.config import GENRES

#: Genre → ``(tagger, tag)`` pairs whose probability counts as evidence for it.
GENRE_TAGS: dict[str, tuple[tuple[str, str], ...]] = {
    "blues": (("msd", "blues"),),
    "classical": (("mtt", "classical"),),
    "country": (("msd", "country"),),
    "disco": (("msd", "dance"), ("msd", "funk")),
    "hiphop": (("msd", "Hip-Hop"),),
    "jazz": (("msd", "jazz"),),
    "metal": (("msd", "metal"), ("msd", "heavy metal")),
    "pop": (("msd", "pop"),),
    "reggae": (),
    "rock": (("msd", "rock"), ("msd", "classic rock"), ("msd", "hard rock"), ("msd", "alternative rock"),
             ("msd", "indie rock"), ("msd", "punk"), ("msd", "Progressive rock")),
}
#: Score every genre gets before normalisation.
FLOOR = 1e-3


def genre_spectrum(tag_probs: dict[str, np.ndarray], vocabularies: dict[str, tuple[str, ...]]) -> np.ndarray:
    """Genre probabilities from tag probabilities.

    Args:
        tag_probs: Tagger name → tag probabilities ``(n, n_tags)`` (sigmoid outputs), e.g. ``{"mtt": …, "msd": …}``.
        vocabularies: Tagger name → its tags in output order.

    Returns:
        ``(n, 10)`` float32 in :data:`core.config.GENRES` order; each row sums to 1.
    """
    n = len(next(iter(tag_probs.values())))
    scores = np.zeros((n, len(GENRES)), dtype=np.float64)
    for g, genre in enumerate(GENRES):
        for tagger, tag in GENRE_TAGS[genre]:
            column = tag_probs[tagger][:, vocabularies[tagger].index(tag)]
            scores[:, g] = np.maximum(scores[:, g], column)
    scores += FLOOR
    return (scores / scores.sum(axis=1, keepdims=True)).astype(np.float32)
