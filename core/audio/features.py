"""Handcrafted features with the schema of the public GTZAN feature table (``features_30_sec.csv``).

The 57 values per clip (or per segment) are the means and variances of librosa 0.11 descriptors at its
defaults (``n_fft=2048``, ``hop_length=512``, Hann window, centred frames): chroma_stft, rms, spectral
centroid / bandwidth / rolloff, zero-crossing rate, the harmonic and percussive waveforms of
``librosa.effects.hpss`` ("harmony", "perceptr"), the ``beat_track`` tempo, and 20 MFCCs.

:func:`reference_clip_features` is that plain recipe: every librosa call recomputes its own STFT, HPSS
median-filters the 2-D spectrogram and ``beat_track`` runs its beat tracker for a tempo it already knew.
:func:`clip_features` computes the same values from **one** STFT: magnitude and power spectrograms feed
chroma, centroid, bandwidth, rolloff and the mel spectrogram; the log-mel feeds both the MFCCs and the onset
envelope of the tempo estimate; HPSS reuses the STFT and runs SciPy's 1-D running median over mirror-padded
rows laid end to end (exact, and several times faster than its 2-D filter). On the same thread settings the
two give identical values (see ``tests/test_features.py`` and ``bench/bench_features.py``).

:func:`features_table` runs this over many files in a process pool; :func:`features_command` is the CLI.
"""

from __future__ import annotations

import multiprocessing
import re
import warnings
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import librosa
import numpy as np
import pandas as pd
from scipy.ndimage import median_filter
from tqdm import tqdm

from core.audio.decode import AudioError, cut_segments, load_audio
from core.config import GENRES, AudioConfig
from core.errors import GenreLabError, InputError

#: The 57 feature columns of the public GTZAN table, in its order.
FEATURE_COLUMNS: tuple[str, ...] = (
    "chroma_stft_mean", "chroma_stft_var", "rms_mean", "rms_var", "spectral_centroid_mean",
    "spectral_centroid_var", "spectral_bandwidth_mean", "spectral_bandwidth_var", "rolloff_mean", "rolloff_var",
    "zero_crossing_rate_mean", "zero_crossing_rate_var", "harmony_mean", "harmony_var", "perceptr_mean",
    "perceptr_var", "tempo",
    "mfcc1_mean", "mfcc1_var", "mfcc2_mean", "mfcc2_var", "mfcc3_mean", "mfcc3_var", "mfcc4_mean", "mfcc4_var",
    "mfcc5_mean", "mfcc5_var", "mfcc6_mean", "mfcc6_var", "mfcc7_mean", "mfcc7_var", "mfcc8_mean", "mfcc8_var",
    "mfcc9_mean", "mfcc9_var", "mfcc10_mean", "mfcc10_var", "mfcc11_mean", "mfcc11_var", "mfcc12_mean",
    "mfcc12_var", "mfcc13_mean", "mfcc13_var", "mfcc14_mean", "mfcc14_var", "mfcc15_mean", "mfcc15_var",
    "mfcc16_mean", "mfcc16_var", "mfcc17_mean", "mfcc17_var", "mfcc18_mean", "mfcc18_var", "mfcc19_mean",
    "mfcc19_var", "mfcc20_mean", "mfcc20_var",
)

#: The rate the public table was computed at (``librosa.load`` default), in Hz.
FEATURE_SAMPLE_RATE = 22050
#: Shortest input accepted, in seconds: below it HPSS's 31-frame median window is longer than the clip.
MIN_SECONDS = 1.0
N_MFCC = 20
HPSS_KERNEL = 31

_FILES_PER_WORKER = 8
_GTZAN_NAME = re.compile(r"^(?P<genre>[a-z]+)\.\d+$")


class FeatureError(GenreLabError, ValueError):
    """Input the features cannot be computed for; ``str(error)`` is a sentence for a person."""


def _check(samples: np.ndarray, *, sample_rate: int) -> np.ndarray:
    """Validate a mono waveform and return it as float32 ``(n,)`` (the dtype ``librosa.load`` gives)."""
    y = np.asarray(samples)
    if y.ndim != 1:
        raise FeatureError(f"Features need a mono waveform of shape (n,); got shape {y.shape}.")
    seconds = len(y) / sample_rate
    if seconds < MIN_SECONDS:
        raise FeatureError(f"The audio is {seconds:.2f} s long; handcrafted features need at least "
                           f"{MIN_SECONDS:g} s.")
    if not np.isfinite(y).all():
        raise FeatureError("The audio contains NaN or infinite samples.")
    return y.astype(np.float32, copy=False)


def _mean_var(x: np.ndarray) -> tuple[float, float]:
    """Mean and (population) variance over every element, accumulated in float64."""
    return float(np.mean(x, dtype=np.float64)), float(np.var(x, dtype=np.float64))


def _assemble(*, chroma: np.ndarray, rms: np.ndarray, centroid: np.ndarray, bandwidth: np.ndarray,
              rolloff: np.ndarray, zcr: np.ndarray, harmonic: np.ndarray, percussive: np.ndarray, tempo: float,
              mfcc: np.ndarray) -> np.ndarray:
    """The (57,) float64 vector in :data:`FEATURE_COLUMNS` order; ``mfcc`` is ``(20, frames)``."""
    values: list[float] = []
    for part in (chroma, rms, centroid, bandwidth, rolloff, zcr, harmonic, percussive):
        values.extend(_mean_var(part))
    values.append(float(tempo))
    for row in mfcc:
        values.extend(_mean_var(row))
    return np.asarray(values, dtype=np.float64)


def reference_clip_features(samples: np.ndarray, *, sample_rate: int = FEATURE_SAMPLE_RATE) -> np.ndarray:
    """The plain librosa recipe behind the public table (slow: seven STFTs, 2-D HPSS, beat tracking).

    Kept as the parity reference for :func:`clip_features` (tests and ``bench/bench_features.py``).

    Args:
        samples: Mono waveform ``(n,)`` at ``sample_rate`` Hz, at least :data:`MIN_SECONDS` long.
        sample_rate: In Hz.

    Returns:
        float64 ``(57,)`` in :data:`FEATURE_COLUMNS` order.
    """
    y, sr = _check(samples, sample_rate=sample_rate), sample_rate
    harmonic, percussive = librosa.effects.hpss(y)
    tempo, _ = librosa.beat.beat_track(y=y, sr=sr)
    return _assemble(
        chroma=librosa.feature.chroma_stft(y=y, sr=sr), rms=librosa.feature.rms(y=y),
        centroid=librosa.feature.spectral_centroid(y=y, sr=sr),
        bandwidth=librosa.feature.spectral_bandwidth(y=y, sr=sr),
        rolloff=librosa.feature.spectral_rolloff(y=y, sr=sr), zcr=librosa.feature.zero_crossing_rate(y),
        harmonic=harmonic, percussive=percussive, tempo=float(np.atleast_1d(tempo)[0]),
        mfcc=librosa.feature.mfcc(y=y, sr=sr, n_mfcc=N_MFCC))


def _running_median_rows(matrix: np.ndarray) -> np.ndarray:
    """Median over a centred window of :data:`HPSS_KERNEL` along each row (mirror-reflected edges).

    Equal element for element to ``scipy.ndimage.median_filter(matrix, size=(1, 31), mode="reflect")``
    (the filter ``librosa.decompose.hpss`` uses) but several times faster: each row is mirror-padded by
    half a window (SciPy's ``reflect`` is NumPy's ``symmetric``), the rows are laid end to end and one call
    runs SciPy's 1-D running median over them; a window centred in a row never reaches past its padding.
    """
    half = HPSS_KERNEL // 2
    padded = np.pad(matrix, ((0, 0), (half, half)), mode="symmetric")
    filtered = median_filter(padded.ravel(), size=HPSS_KERNEL, mode="reflect").reshape(padded.shape)
    return filtered[:, half:-half]


def _hpss_waveforms(magnitude: np.ndarray, phase: np.ndarray, *, length: int) -> tuple[np.ndarray, np.ndarray]:
    """``librosa.effects.hpss`` (kernel 31, power 2, margin 1) from an existing STFT's magnitude and phase.

    Args:
        magnitude: ``(1 + n_fft/2, frames)`` float32.
        phase: Unit-modulus complex STFT phase, same shape.
        length: Samples of the original waveform.

    Returns:
        ``(harmonic (length,), percussive (length,))`` float32 waveforms.
    """
    harm = _running_median_rows(magnitude)
    perc = _running_median_rows(magnitude.T).T
    mask_harm = librosa.util.softmask(harm, perc, power=2.0, split_zeros=True)
    mask_perc = librosa.util.softmask(perc, harm, power=2.0, split_zeros=True)
    return (librosa.istft((magnitude * mask_harm) * phase, dtype=np.float32, length=length),
            librosa.istft((magnitude * mask_perc) * phase, dtype=np.float32, length=length))


def clip_features(samples: np.ndarray, *, sample_rate: int = FEATURE_SAMPLE_RATE) -> np.ndarray:
    """The 57 table features of one waveform, from a single STFT (several times faster than the plain recipe).

    Args:
        samples: Mono waveform ``(n,)`` at ``sample_rate`` Hz (the table uses 22050 Hz), at least
            :data:`MIN_SECONDS` long. Silence gives finite values (tempo 0).
        sample_rate: In Hz.

    Returns:
        float64 ``(57,)`` in :data:`FEATURE_COLUMNS` order.

    Raises:
        FeatureError: not mono, shorter than :data:`MIN_SECONDS`, or non-finite samples.
    """
    y, sr = _check(samples, sample_rate=sample_rate), sample_rate
    magnitude, phase = librosa.magphase(librosa.stft(y))
    power = magnitude**2
    log_mel = librosa.power_to_db(librosa.feature.melspectrogram(S=power, sr=sr))
    onset = librosa.onset.onset_strength(S=log_mel, sr=sr, aggregate=np.median)
    # beat_track's tempo: 0 when there is no onset at all, else librosa.feature.tempo of the same envelope.
    tempo = float(librosa.feature.tempo(onset_envelope=onset, sr=sr)[0]) if onset.any() else 0.0
    harmonic, percussive = _hpss_waveforms(magnitude, phase, length=len(y))
    centroid = librosa.feature.spectral_centroid(S=magnitude, sr=sr)
    with warnings.catch_warnings():  # silence has no pitches to tune from: librosa warns, then uses 0 cents
        warnings.filterwarnings("ignore", message="Trying to estimate tuning from empty frequency set")
        chroma = librosa.feature.chroma_stft(S=power, sr=sr)
    return _assemble(
        chroma=chroma, rms=librosa.feature.rms(y=y), centroid=centroid,
        bandwidth=librosa.feature.spectral_bandwidth(S=magnitude, sr=sr, centroid=centroid),
        rolloff=librosa.feature.spectral_rolloff(S=magnitude, sr=sr), zcr=librosa.feature.zero_crossing_rate(y),
        harmonic=harmonic, percussive=percussive, tempo=tempo,
        mfcc=librosa.feature.mfcc(S=log_mel, n_mfcc=N_MFCC))


def segment_features(samples: np.ndarray, *, sample_rate: int = FEATURE_SAMPLE_RATE,
                     segment_seconds: float = 3.0) -> tuple[np.ndarray, np.ndarray]:
    """Features of each segment from :func:`core.audio.decode.cut_segments` (the project's one segmentation).

    Consecutive non-overlapping segments; a remainder shorter than a segment is dropped, and a recording
    shorter than one segment becomes one zero-padded segment.

    Args:
        samples: Mono waveform ``(n,)`` at ``sample_rate`` Hz.
        sample_rate: In Hz.
        segment_seconds: Segment length in seconds (at least :data:`MIN_SECONDS`).

    Returns:
        ``(features (n_segments, 57) float64, bounds (n_segments, 2) start/end seconds)``.
    """
    segments, bounds = cut_segments(np.asarray(samples, dtype=np.float32), sample_rate=sample_rate,
                                    segment_seconds=segment_seconds)
    feats = np.stack([clip_features(segment, sample_rate=sample_rate) for segment in segments])
    return feats, bounds


def _file_rows(path: Path, segment_seconds: float | None, sample_rate: int,
               max_seconds: float | None) -> list[dict[str, object]]:
    """Table rows (``filename``, ``length`` in samples, 57 features) for one file: one, or one per segment."""
    samples = load_audio(path, sample_rate=sample_rate, max_seconds=max_seconds).samples
    if segment_seconds is None:
        return [{"filename": path.name, "length": len(samples),
                 **dict(zip(FEATURE_COLUMNS, clip_features(samples, sample_rate=sample_rate).tolist()))}]
    feats, _ = segment_features(samples, sample_rate=sample_rate, segment_seconds=segment_seconds)
    seg_len = int(round(segment_seconds * sample_rate))
    return [{"filename": f"{path.stem}.{i}{path.suffix}", "length": seg_len,
             **dict(zip(FEATURE_COLUMNS, row.tolist()))} for i, row in enumerate(feats)]


def _file_job(index: int, path: Path, segment_seconds: float | None, sample_rate: int,
              max_seconds: float | None) -> tuple[int, list[dict[str, object]], str]:
    """Worker body: ``(index, rows, error)``; a bad file yields no rows and a one-line error."""
    try:
        return index, _file_rows(path, segment_seconds, sample_rate, max_seconds), ""
    except (AudioError, FeatureError) as error:
        return index, [], f"{path}: {error}"
    except (OSError, ValueError, librosa.ParameterError) as error:
        return index, [], f"{path}: features failed ({error.__class__.__name__}: {error})"


def _one_thread() -> None:
    """Pool initializer: one BLAS/OpenMP thread per worker process (the pool itself uses the cores)."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1)


def features_table(paths: Sequence[Path], *, labels: Sequence[str | None] | None = None,
                   segment_seconds: float | None = None, sample_rate: int = FEATURE_SAMPLE_RATE,
                   max_seconds: float | None = AudioConfig.max_seconds, workers: int | None = None,
                   progress: bool = True) -> pd.DataFrame:
    """The public table's layout for audio files: ``filename, length, <57 features>[, label]``.

    Files are decoded with :func:`core.audio.decode.load_audio` at ``sample_rate`` (the table's 22050 Hz by
    default), at most ``max_seconds`` each (the project's 15-minute cap by default), and processed in parallel
    (a spawn-context process pool; each worker uses one BLAS thread).

    Args:
        paths: Audio files.
        labels: One label per path (``None`` where unknown); adds a ``label`` column.
        segment_seconds: ``None``: one row per file, ``length`` = its samples. Otherwise one row per segment
            named like the public 3-second table (``blues.00000.0.wav``), ``length`` = segment samples (66150
            for 3 s; the public 3-second table says 66149).
        workers: Processes (default: all cores, but at most one per 8 files, since each worker spends a few
            seconds importing librosa; ``<= 1`` runs in this process).
        progress: Show a tqdm bar on stderr.

    Returns:
        One row per file or segment, in the order of ``paths``. Files that failed have no rows; their
        one-line messages (``"<path>: <reason>"``) are in ``table.attrs["errors"]`` (a list of str).
    """
    paths = [Path(p) for p in paths]
    if labels is not None and len(labels) != len(paths):
        raise InputError(f"{len(labels)} labels for {len(paths)} files.")
    if workers is None:  # a worker spends seconds importing librosa: only worth it for several files each
        workers = min(multiprocessing.cpu_count(), len(paths) // _FILES_PER_WORKER)
    n_workers = min(workers, len(paths))
    results: dict[int, list[dict[str, object]]] = {}
    errors: dict[int, str] = {}
    bar = tqdm(total=len(paths), desc="features", unit="file", disable=not progress)
    if n_workers <= 1:
        jobs = (_file_job(i, p, segment_seconds, sample_rate, max_seconds) for i, p in enumerate(paths))
        for index, rows, error in jobs:
            results[index], errors[index] = rows, error
            bar.update()
    else:
        with ProcessPoolExecutor(max_workers=n_workers, mp_context=multiprocessing.get_context("spawn"),
                                 initializer=_one_thread) as pool:
            futures = [pool.submit(_file_job, i, p, segment_seconds, sample_rate, max_seconds)
                       for i, p in enumerate(paths)]
            for future in as_completed(futures):
                index, rows, error = future.result()
                results[index], errors[index] = rows, error
                bar.update()
    bar.close()
    records: list[dict[str, object]] = []
    for index in range(len(paths)):
        for row in results[index]:
            if labels is not None:
                row["label"] = labels[index]
            records.append(row)
    columns = ["filename", "length", *FEATURE_COLUMNS] + (["label"] if labels is not None else [])
    table = pd.DataFrame.from_records(records, columns=columns)
    table.attrs["errors"] = [errors[i] for i in range(len(paths)) if errors[i]]
    return table


def label_from_path(path: Path) -> str | None:
    """The genre of a GTZAN-style name (``jazz.00042.wav``) or of a parent folder named after a genre."""
    match = _GTZAN_NAME.match(path.stem)
    if match and match["genre"] in GENRES:
        return match["genre"]
    return path.parent.name if path.parent.name in GENRES else None


