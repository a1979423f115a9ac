"""The one analysis path: a song in, its genre spectrum, timeline, top genres and embedding out.

Evaluation, the CLI, the catalog and the dashboard all call :func:`predict_song` (or
:func:`predict_waveform` when the waveform is already decoded), so they can never disagree.

The song's **genre spectrum** is the plain mean of the segment probabilities, as in the reports this project
follows. A song is flagged **between genres** when the top two genres of the spectrum are closer than
``margin`` (default :data:`AMBIGUITY_MARGIN`, 0.15 probability) — a documented, configurable cutoff.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import numpy as np
import soxr

from core.analysis.musicness import rms_dbfs
from core.audio.decode import Decoded, cut_segments, load_audio
from core.errors import GenreLabError

if TYPE_CHECKING:  # torch is imported by the models themselves, not by the analysis path
    from core.models.base import GenreModel


class ModelOutputError(GenreLabError):
    """A model returned non-finite numbers for some audio."""


#: Top-1 minus top-2 probability under which a song is "between genres".
AMBIGUITY_MARGIN = 0.15
#: Segments per model call when progress is reported (16 segments, 48 s of audio: one update every ~0.2 s).
PROGRESS_BATCH = 16

#: ``on_progress(done, total)``: segments analysed so far, of the song's total.
Progress = Callable[[int, int], None]


@dataclass
class SongPrediction:
    """Everything the product shows about one song.

    Attributes:
        classes: Genre names, the column order of every probability array.
        segment_probs: ``(n_segments, n_classes)`` probabilities of each segment.
        bounds: ``(n_segments, 2)`` start/end seconds of each segment.
        spectrum: ``(n_classes,)`` mean of ``segment_probs`` (sums to 1).
        embedding: ``(d,)`` mean segment embedding (for recommendations).
        segment_embeddings: ``(n_segments, d)``.
        margin: Top-1 minus top-2 spectrum probability.
        entropy: Normalised entropy of the spectrum in [0, 1] (1 = uniform).
        ambiguous: ``margin < margin cutoff``: the song sits between genres.
        duration: Analysed seconds.
        is_silent: The decoded audio was silent (predictions are meaningless).
        notices: Human sentences from decoding (skipped audio, damage, silence).
        styles: Broad styles → independent probabilities (models built on the pretrained taggers; else empty).
        descriptors: Group (vocals, instruments, mood, era) → descriptor → probability (same models).
        tags: Tagger (``mtt``, ``msd``) → its top tags ``[[tag, probability], …]`` (same models).
        music: The "is this music?" verdict (:func:`core.analysis.musicness.verdict`) of models that carry a
            reference of their training music; None otherwise.
    """

    classes: tuple[str, ...]
    segment_probs: np.ndarray
    bounds: np.ndarray
    spectrum: np.ndarray
    embedding: np.ndarray
    segment_embeddings: np.ndarray
    margin: float
    entropy: float
    ambiguous: bool
    duration: float
    is_silent: bool = False
    notices: list[str] = field(default_factory=list)
    styles: dict[str, float] = field(default_factory=dict)
    descriptors: dict[str, dict[str, float]] = field(default_factory=dict)
    tags: dict[str, list] = field(default_factory=dict)
    music: dict[str, object] | None = None


    def top(self, n: int = 3) -> list[tuple[str, float]]:
        """The ``n`` most probable genres with their probabilities, best first."""
        order = np.argsort(-self.spectrum, kind="stable")[:n]
        return [(self.classes[i], float(self.spectrum[i])) for i in order]

    @property
    def genre(self) -> str:
        """The most probable genre."""
        return self.top(1)[0][0]

    def to_json(self) -> dict[str, object]:
        """Plain-JSON view: ``spectrum`` (genre → probability), ``segments``, ``top``, flags."""
        return {
            "spectrum": {c: round(float(p), 6) for c, p in zip(self.classes, self.spectrum)},
            "top": [{"genre": g, "probability": round(p, 6)} for g, p in self.top(3)],
            "between_genres": self.ambiguous,
            "margin": round(self.margin, 6),
            "entropy": round(self.entropy, 6),
            "duration_seconds": round(self.duration, 3),
            "silent": self.is_silent,
            "music": self.music,
            "styles": self.styles or None,
            "tags": ({**self.tags, "descriptors": self.descriptors} if self.tags else None),
            "notices": self.notices,
            "segments": [
                {"start": round(float(s), 3), "end": round(float(e), 3),
                 "probabilities": {c: round(float(p), 6) for c, p in zip(self.classes, row)}}
                for (s, e), row in zip(self.bounds, self.segment_probs)
            ],
        }


def summarise(segment_probs: np.ndarray, *, margin: float = AMBIGUITY_MARGIN) -> tuple[np.ndarray, float, float, bool]:
    """Song spectrum and ambiguity from segment probabilities ``(n, C)``: ``(spectrum (C,), margin, entropy, flag)``."""
    spectrum = segment_probs.mean(axis=0)
    spectrum = spectrum / spectrum.sum()
    top2 = np.sort(spectrum)[-2:]
    gap = float(top2[1] - top2[0]) if len(spectrum) > 1 else 1.0
    nz = spectrum[spectrum > 0]
    entropy = float(-(nz * np.log(nz)).sum() / np.log(len(spectrum))) if len(spectrum) > 1 else 0.0
    return spectrum, gap, entropy, gap < margin


def predict_waveform(samples: np.ndarray, *, model: GenreModel, margin: float = AMBIGUITY_MARGIN,
                     notices: list[str] | None = None, is_silent: bool = False,
                     on_progress: Progress | None = None) -> SongPrediction:
    """Analyse a mono waveform ``(n,)`` already at ``model.cfg.sample_rate``.

    ``on_progress(done, total)`` is called after every :data:`PROGRESS_BATCH` segments (same results either way).
    """
    cfg = model.cfg
    segments, bounds = cut_segments(samples, sample_rate=cfg.sample_rate, segment_seconds=cfg.segment_seconds)
    if on_progress is None:
        probs, embs = model.predict_segments(segments)
    else:
        parts = []
        for start in range(0, len(segments), PROGRESS_BATCH):
            parts.append(model.predict_segments(segments[start: start + PROGRESS_BATCH]))
            on_progress(min(start + PROGRESS_BATCH, len(segments)), len(segments))
        probs, embs = (np.concatenate(arrays) for arrays in zip(*parts))
    if not (np.isfinite(probs).all() and np.isfinite(embs).all()):
        raise ModelOutputError("The model produced invalid numbers for this audio (not finite), so no genre can be "
                               "given; the file may hold extreme values.")
    spectrum, gap, entropy, flag = summarise(probs, margin=margin)
    extra = model.describe(embs, level_dbfs=rms_dbfs(samples)) if hasattr(model, "describe") else {}
    return SongPrediction(classes=tuple(model.classes), segment_probs=probs, bounds=bounds, spectrum=spectrum,
                          embedding=embs.mean(axis=0), segment_embeddings=embs, margin=gap, entropy=entropy,
                          ambiguous=flag, duration=len(samples) / cfg.sample_rate, is_silent=is_silent,
                          notices=list(notices or []), **extra)


def predict_song(audio: str | Path | bytes | BinaryIO | Decoded, *, model: GenreModel,
                 margin: float = AMBIGUITY_MARGIN, on_progress: Progress | None = None) -> SongPrediction:
    """Decode (at the model's rate, capped at ``cfg.max_seconds``) and analyse one song; ``on_progress`` as in
    :func:`predict_waveform`.

    Raises:
        core.audio.decode.AudioError: the audio cannot be decoded (its message is for people).
    """
    cfg = model.cfg
    decoded = audio if isinstance(audio, Decoded) else load_audio(
        audio, sample_rate=cfg.sample_rate, max_seconds=cfg.max_seconds)
    samples = decoded.samples
    if decoded.sample_rate != cfg.sample_rate:
        samples = soxr.resample(samples, decoded.sample_rate, cfg.sample_rate, quality="HQ").astype(np.float32)
    return predict_waveform(samples, model=model, margin=margin, notices=decoded.notices,
                            is_silent=decoded.is_silent, on_progress=on_progress)
