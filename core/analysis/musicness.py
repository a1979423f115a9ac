"""Is this music, and is it like the music the model was trained on? A distance score on segment embeddings.

Score of a recording = mean over its 3-s segments of the segment embedding's Mahalanobis distance (Ledoit-Wolf
shrunk covariance) to the training music's segment embeddings, divided by ``sqrt(d)`` so a typical training
segment scores about 1. Two cutoffs are fitted with the model (:func:`fit_reference`) and stored beside it as
plain arrays (``musicness.npz`` in the run folder, never pickle):

- ``score > cutoff``: **not music** (speech, noise, tones, clicks …);
- ``ood_cutoff < score <= cutoff``: **music, unlike the training data** (the genre call is uncertain);
- otherwise **music**.

A loudness gate comes first: a recording whose RMS level is below ``silence_dbfs`` is **silent** (not music)
whatever its score — silence and quiet room tone look like the quiet passages of songs to the embedding.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: RMS level (dBFS) under which a recording is called silent.
SILENCE_DBFS = -58.0
#: The not-music cutoff sits this factor above the highest (cross-fitted) score of any training song. 1.15, not
#: less: with 1.02, two 2-3-s excerpts of GTZAN's valid part scored above the cutoff (jazz.00027 at 1.14x the
#: highest training score); ``python -m bench.eval_real_music`` measures every real recording of ../shared/data.
CUTOFF_MARGIN = 1.15
#: Percentile of the training songs' (cross-fitted) scores above which music is "unlike the training data".
OOD_PERCENTILE = 97.5


@dataclass(frozen=True)
class Reference:
    """Statistics of the training music's segment embeddings and the two cutoffs.

    Attributes:
        mean: ``(d,)`` mean embedding.
        precision: ``(d, d)`` inverse of the shrunk covariance.
        cutoff: Song score above which the recording is not music.
        ood_cutoff: Song score above which music is unlike the training data.
        silence_dbfs: RMS level under which a recording is silent.
    """

    mean: np.ndarray
    precision: np.ndarray
    cutoff: float
    ood_cutoff: float
    silence_dbfs: float = SILENCE_DBFS

    def save(self, path: Path) -> None:
        """Plain arrays in an ``.npz`` (no pickle)."""
        np.savez(path, mean=self.mean, precision=self.precision, cutoff=np.float64(self.cutoff),
                 ood_cutoff=np.float64(self.ood_cutoff), silence_dbfs=np.float64(self.silence_dbfs))

    @classmethod
    def load(cls, path: Path) -> "Reference":
        with np.load(path, allow_pickle=False) as z:
            return cls(mean=z["mean"], precision=z["precision"], cutoff=float(z["cutoff"]),
                       ood_cutoff=float(z["ood_cutoff"]), silence_dbfs=float(z["silence_dbfs"]))


def _statistics(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.covariance import LedoitWolf

    lw = LedoitWolf().fit(np.asarray(x, dtype=np.float64))
    return lw.location_, lw.precision_


def segment_scores(mean: np.ndarray, precision: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Mahalanobis distance / sqrt(d) of each segment embedding ``x (n, d)`` → ``(n,)``."""
    diff = np.asarray(x, dtype=np.float64) - mean
    d2 = np.einsum("nd,de,ne->n", diff, precision, diff)
    return np.sqrt(np.maximum(d2, 0.0) / diff.shape[1])


def fit_reference(train: list[np.ndarray], *, folds: int = 5, seed: int = 0) -> Reference:
    """Fit the reference on training songs' segment embeddings and set both cutoffs.

    Args:
        train: One ``(n_segments, d)`` array per training song.
        folds: Training songs are scored by a reference fitted without them (cross-fitting), so their scores are
            honest, not the in-sample scores of songs the statistics were fitted on.

    Returns:
        The reference: ``ood_cutoff`` = the :data:`OOD_PERCENTILE` percentile of the cross-fitted training song
        scores; ``cutoff`` = :data:`CUTOFF_MARGIN` × the highest cross-fitted training song score, so no training
        song would be called "not music" by a reference that had not seen it.
    """
    order = np.random.default_rng(seed).permutation(len(train))
    scores = np.zeros(len(train))
    for fold in range(folds):
        out = order[fold::folds]
        fit = np.concatenate([train[i] for i in np.setdiff1d(order, out)])
        mean, precision = _statistics(fit)
        for i in out:
            scores[i] = segment_scores(mean, precision, train[i]).mean()
    mean, precision = _statistics(np.concatenate(train))
    return Reference(mean=mean, precision=precision, cutoff=CUTOFF_MARGIN * float(scores.max()),
                     ood_cutoff=float(np.percentile(scores, OOD_PERCENTILE)))


def rms_dbfs(samples: np.ndarray) -> float:
    """RMS level of a waveform in dB relative to full scale (−inf-safe: silence gives about −240)."""
    return float(20 * np.log10(np.sqrt(np.mean(np.square(samples, dtype=np.float64))) + 1e-12))


def verdict(reference: Reference, embeddings: np.ndarray, *, level_dbfs: float) -> dict[str, object]:
    """The verdict for one recording (its segment embeddings ``(n, d)`` and RMS level in dBFS).

    Returns:
        ``{"verdict": "music" | "music, unlike the training data" | "not music" | "silent", "is_music": bool,
        "unusual": bool, "score": float, "cutoff": float, "ood_cutoff": float, "level_dbfs": float}``.
    """
    score = float(segment_scores(reference.mean, reference.precision, embeddings).mean())
    if level_dbfs < reference.silence_dbfs:
        call = "silent"
    elif score > reference.cutoff:
        call = "not music"
    elif score > reference.ood_cutoff:
        call = "music, unlike the training data"
    else:
        call = "music"
    return {"verdict": call, "is_music": call.startswith("music"), "unusual": call != "music",
            "score": round(score, 4), "cutoff": round(reference.cutoff, 4),
            "ood_cutoff": round(reference.ood_cutoff, 4), "level_dbfs": round(max(level_dbfs, -240.0), 2)}
