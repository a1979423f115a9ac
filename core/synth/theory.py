"""Just enough music theory: scales, chords written as Roman numerals, and voicings.

Pitches are MIDI note numbers (60 = middle C); pitch classes are 0..11 (0 = C).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: Scales as semitone offsets from the tonic.
SCALES: dict[str, tuple[int, ...]] = {
    "major": (0, 2, 4, 5, 7, 9, 11),
    "minor": (0, 2, 3, 5, 7, 8, 10),
    "harmonic_minor": (0, 2, 3, 5, 7, 8, 11),
    "dorian": (0, 2, 3, 5, 7, 9, 10),
    "mixolydian": (0, 2, 4, 5, 7, 9, 10),
    "phrygian": (0, 1, 3, 5, 7, 8, 10),
    "penta_major": (0, 2, 4, 7, 9),
    "penta_minor": (0, 3, 5, 7, 10),
    "blues": (0, 3, 5, 6, 7, 10),
    "bebop": (0, 2, 4, 5, 7, 9, 10, 11),
}

_DEGREES = {"i": 0, "ii": 2, "iii": 4, "iv": 5, "v": 7, "vi": 9, "vii": 11}
_ROMAN = re.compile(r"^(?P<acc>[b#]?)(?P<num>[ivIV]+)(?P<suffix>.*)$")
#: Chord suffixes: (intervals for an upper-case numeral, intervals for a lower-case one).
_SUFFIXES: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {
    "": ((0, 4, 7), (0, 3, 7)),
    "7": ((0, 4, 7, 10), (0, 3, 7, 10)),
    "maj7": ((0, 4, 7, 11), (0, 4, 7, 11)),
    "maj9": ((0, 4, 7, 11, 14), (0, 4, 7, 11, 14)),
    "9": ((0, 4, 7, 10, 14), (0, 3, 7, 10, 14)),
    "13": ((0, 4, 10, 14, 21), (0, 3, 10, 14, 17)),
    "6": ((0, 4, 7, 9), (0, 3, 7, 9)),
    "add9": ((0, 4, 7, 14), (0, 3, 7, 14)),
    "sus4": ((0, 5, 7), (0, 5, 7)),
    "5": ((0, 7), (0, 7)),
    "o": ((0, 3, 6), (0, 3, 6)),
    "m7b5": ((0, 3, 6, 10), (0, 3, 6, 10)),
}


@dataclass(frozen=True)
class Chord:
    """A chord: ``root`` pitch class (0..11) and ``intervals`` in semitones above it (root first)."""

    root: int
    intervals: tuple[int, ...]

    @property
    def pitch_classes(self) -> tuple[int, ...]:
        """Pitch classes of the chord tones."""
        return tuple((self.root + i) % 12 for i in self.intervals)

    @property
    def third(self) -> int:
        """Semitones from root to the third (4 when the chord has none, e.g. a power chord)."""
        return 3 if 3 in self.intervals else 4

    @property
    def fifth(self) -> int:
        """Semitones from root to the fifth (6 for diminished chords)."""
        return 6 if 6 in self.intervals and 7 not in self.intervals else 7


def parse_roman(token: str, *, tonic: int) -> Chord:
    """``"bVI7"`` in the key with tonic pitch class ``tonic`` -> :class:`Chord`.

    Upper case = major, lower case = minor; ``b``/``#`` shift the root; suffixes: 7, maj7, maj9, 9, 13, 6, add9,
    sus4, 5 (power chord), o (diminished), m7b5 (half-diminished).
    """
    match = _ROMAN.match(token)
    if not match or match["num"].lower() not in _DEGREES or match["suffix"] not in _SUFFIXES:
        raise ValueError(f"Cannot read chord '{token}'.")
    shift = {"": 0, "b": -1, "#": 1}[match["acc"]]
    root = (tonic + _DEGREES[match["num"].lower()] + shift) % 12
    upper, lower = _SUFFIXES[match["suffix"]]
    return Chord(root=root, intervals=upper if match["num"].isupper() else lower)


def parse_progression(text: str, *, tonic: int) -> list[list[Chord]]:
    """One bar per space-separated token; ``"ii7/V7"`` splits a bar between two chords."""
    return [[parse_roman(part, tonic=tonic) for part in token.split("/")] for token in text.split()]


def is_minor(text: str) -> bool:
    """True when a progression starts on a lower-case tonic (a minor key)."""
    first = text.split()[0].split("/")[0].lstrip("b#")
    return first[:1].islower()


def nearest(pitch_class: int, *, centre: float) -> int:
    """MIDI pitch of ``pitch_class`` closest to ``centre``."""
    base = int(round(centre)) - 6
    return base + (pitch_class - base) % 12


def voice(chord: Chord, *, style: str, centre: float) -> list[int]:
    """MIDI pitches of ``chord`` around ``centre``.

    Styles: ``"close"`` every chord tone, in the inversion whose mean pitch is nearest the centre (chords of
    five or more tones stay in root position); ``"triad"`` root, third and fifth only; ``"rootless"`` without
    the root (jazz piano); ``"power"`` root, fifth, octave; ``"spread"`` a low root an octave under the centre
    and the other tones above it (strings).
    """
    if style == "power":
        root = nearest(chord.root, centre=centre)
        return [root, root + 7, root + 12]
    if style == "spread":
        root = nearest(chord.root, centre=centre - 12)
        return [root] + [root + 12 + i for i in chord.intervals[1:]]
    intervals = chord.intervals
    if style == "triad":
        intervals = (0, chord.third, chord.fifth)
    elif style == "rootless" and len(intervals) > 3:
        intervals = intervals[1:]
    stack = [nearest(chord.root, centre=centre - 5) + i for i in intervals]
    if len(stack) > 4:  # extended chords stay in root position (inversions would cluster the upper tones)
        return stack
    inversions = [sorted(stack[k:] + [q + 12 for q in stack[:k]]) for k in range(len(stack))]
    inversions += [[q - 12 for q in inv] for inv in inversions]
    return min(inversions, key=lambda inv: abs(sum(inv) / len(inv) - centre))


def scale_pitches(*, tonic: int, scale: str, low: int, high: int) -> list[int]:
    """Every MIDI pitch of ``scale`` on ``tonic`` between ``low`` and ``high`` inclusive."""
    classes = {(tonic + s) % 12 for s in SCALES[scale]}
    return [p for p in range(low, high + 1) if p % 12 in classes]
