"""The random choices of one clip and its time grid.

:class:`Params` separates two kinds of randomness: an *artist* value per named parameter (the same for every
clip of one synthetic artist: its signature) and *clip* draws around it (seeded by the clip's seed). All seeds
go through ``numpy.random.SeedSequence`` and parameter names are hashed with CRC-32 (Python's ``hash`` is salted
per process), so a clip is the same in any process.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from core.synth.theory import Chord

_SALT = 0x5359_4E54  # "SYNT"
T = TypeVar("T")


class Params:
    """Artist-consistent random parameters of one clip.

    ``difficulty`` (0..1) loosens the artist signature (wider clip jitter, less loyal choices).
    """

    def __init__(self, *, genre_index: int, artist: int, seed: int, difficulty: float) -> None:
        self.difficulty = difficulty
        self.rng = np.random.default_rng([_SALT, genre_index, artist, seed])
        self._artist_key = (_SALT + 1, genre_index, artist)
        self._artist_u: dict[str, float] = {}

    def artist_u(self, name: str) -> float:
        """The artist's fixed value in [0, 1) for parameter ``name``."""
        if name not in self._artist_u:
            key = [*self._artist_key, zlib.crc32(name.encode())]
            self._artist_u[name] = float(np.random.default_rng(key).random())
        return self._artist_u[name]

    def uniform(self, name: str, lo: float, hi: float, *, log: bool = False) -> float:
        """A value in [lo, hi] near the artist's preferred point (jitter 0.1-0.25 of the range by difficulty);
        ``log`` interpolates geometrically (frequencies)."""
        jitter = 0.1 + 0.15 * self.difficulty
        u = float(np.clip(self.artist_u(name) + self.rng.normal(0.0, jitter), 0.0, 1.0))
        if log:
            return float(lo * (hi / lo) ** u)
        return lo + u * (hi - lo)

    def choice(self, name: str, options: Sequence[T]) -> T:
        """The artist's preferred option, or (more often as difficulty rises) any option.

        Options are listed most typical first: at low difficulty most artists prefer the first ones (the
        artist's value is raised to the power ``1 + 3 * (1 - difficulty)``), at difficulty 1 all are equally
        likely."""
        loyalty = 0.95 - 0.45 * self.difficulty
        if self.rng.random() < loyalty:
            skew = 1.0 + 3.0 * (1.0 - self.difficulty)
            return options[int(self.artist_u(name) ** skew * len(options))]
        return options[int(self.rng.integers(len(options)))]

    def chance(self, probability: float) -> bool:
        """True with ``probability`` (a clip-level draw)."""
        return bool(self.rng.random() < probability)


@dataclass(frozen=True)
class Plan:
    """Time grid and harmony of one clip.

    Attributes:
        sample_rate: Hz.
        n_samples: Clip length in samples.
        beats_per_bar: 4 (or 3 for waltz-time classical clips); a bar has ``4 * beats_per_bar`` sixteenth steps.
        swing8: Delay of the off-beat eighth, as a fraction of a beat (1/6 = triplet shuffle).
        swing16: Delay of the off-beat sixteenth, as a fraction of an eighth.
        beat_times: ``(n_beats + 1,)`` onset time of every beat in seconds (uneven under rubato).
        bars: Chords of each bar (one, or two splitting the bar).
        tonic: Key tonic pitch class.
        minor: Whether the key is minor.
    """

    sample_rate: int
    n_samples: int
    beats_per_bar: int
    swing8: float
    swing16: float
    beat_times: np.ndarray
    bars: tuple[tuple[Chord, ...], ...]
    tonic: int
    minor: bool

    @property
    def steps_per_bar(self) -> int:
        """Sixteenth-note steps per bar."""
        return 4 * self.beats_per_bar

    @property
    def n_bars(self) -> int:
        """Bars covering the clip."""
        return len(self.bars)

    def time(self, bar: int, step: int) -> float:
        """Onset in seconds of sixteenth ``step`` of ``bar`` (steps past the bar roll over), with swing."""
        bar, step = bar + step // self.steps_per_bar, step % self.steps_per_bar
        beat, sub = divmod(step, 4)
        index = min(bar * self.beats_per_bar + beat, self.beat_times.size - 2)
        half, odd = divmod(sub, 2)
        start, length = (0.0, 0.5 + self.swing8) if half == 0 else (0.5 + self.swing8, 0.5 - self.swing8)
        frac = start + (0.5 + self.swing16) * length * odd
        t0, t1 = self.beat_times[index], self.beat_times[index + 1]
        return float(t0 + frac * (t1 - t0))

    def step_seconds(self, bar: int) -> float:
        """Average length of a sixteenth in ``bar`` (s)."""
        i = min(bar * self.beats_per_bar, self.beat_times.size - 2)
        return float(self.beat_times[i + 1] - self.beat_times[i]) / 4.0

    def chord(self, bar: int, step: int) -> Chord:
        """Chord sounding at ``step`` of ``bar``."""
        chords = self.bars[min(bar, self.n_bars - 1)]
        return chords[min(step * len(chords) // self.steps_per_bar, len(chords) - 1)]

    def next_chord(self, bar: int, step: int) -> Chord:
        """The next chord change after ``step`` of ``bar`` (or the current chord at the end)."""
        current = self.chord(bar, step)
        for b in range(bar, min(bar + 2, self.n_bars)):
            for s in range(step + 1 if b == bar else 0, self.steps_per_bar):
                if self.chord(b, s) != current:
                    return self.chord(b, s)
        return current
