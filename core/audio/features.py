"""Handcrafted features with the schema of the public GTZAN feature table (``features_30_sec.csv``).

The 57 values per clip (or per segment) are the means and variances of librosa 0.11 descriptors at its
defaults (``n_fft=2048``, ``hop_length=512``, Hann window, centred frames): chroma_stft, rms, spectral
centroid / bandwidth / rolloff, zero-crossing rate, the harmonic and percussive waveforms of
``librosa.effects.hpss`` ("harmony", "perceptr"), the ``beat_track`` tempo, and 20 MFCCs.

:func:`reference_clip_features` is that plain recipe: every librosa call recomputes its own STFT, HPSS
median-filters the 2-D spectrogram, ``beat_track`` runs its beat tracker for a tempo it already knew, and so on.
:func:`clip_features` gives **bit-identical** values (tolerance zero: ``tests/test_features.py`` on the real
GTZAN clips and on edge cases) about 15 times faster on one thread (``bench/bench_features.py``), by doing each of
librosa's floating-point operations once and in the same order:

- one ``librosa.stft``, whose magnitude and power feed everything; mel and chroma filter banks cached;
- HPSS: both 31-point median filters by a sorted-window running median compiled with Numba and vectorised
  across columns, then the soft masks, inverse FFTs and overlap-add in blocks of frames that stay in cache;
- the tempogram of the tempo estimate in blocks along contiguous rows; the tuning estimate of the chroma (its
  ``piptrack`` peaks) on the 150–4000 Hz band only; centroid and bandwidth with NumPy's pairwise summation order;
  rolloff and zero-crossing rate in one pass each.

What bounds it: the two median filters (about a quarter of the time) and the FFTs (the float64 STFT, the float32
inverse STFTs of both HPSS parts and the tempogram's float64 autocorrelations, about a fifth). Both must be
computed as librosa computes them for the values to stay identical: a float32 STFT, or the percussive part
taken as the signal minus the harmonic part, would change the last bits (and could flip the tempo or tuning,
which are arg-maxima). The compiled kernels are cached on disk by Numba; the first call in a fresh checkout
compiles them (about 10 s on these machines).

:func:`features_table` runs this over many files in a process pool; the CLI's ``features`` command calls it.
"""

from __future__ import annotations

import functools
import multiprocessing
import re
import warnings
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import librosa
import numba
import numpy as np
import pandas as pd
import scipy.fft
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


# --- the fast recipe ----------------------------------------------------------------------------------------------
# librosa's defaults, which both recipes use: 2048-sample Hann frames every 512 samples, centred with zero padding.
_N_FFT = 2048
_HOP = 512
#: ``np.finfo(np.float32).tiny``: below it librosa's soft mask calls a bin silent (and splits it half and half).
_TINY32 = float(np.finfo(np.float32).tiny)
#: ``piptrack``'s band and threshold as ``chroma_stft`` calls it (to estimate tuning): Hz, fraction of the frame peak.
_PITCH_FMIN, _PITCH_FMAX, _PITCH_THRESHOLD = 150.0, 4000.0, 0.1
#: ``zero_crossings``' threshold, as librosa's float32 kernel receives it: |sample| <= this counts as zero.
_ZC_THRESHOLD = np.float32(1e-10)
#: ``librosa.istft``'s window: float64 ``(n_fft,)``.
_ISTFT_WINDOW = librosa.filters.get_window("hann", _N_FFT, fftbins=True)
# Work sizes that keep the working set in cache: columns whose sorted median windows fit in L1, frames whose
# spectra and waveforms (inverse STFT) or autocorrelations (tempogram) fit in L2.
_MEDIAN_COLUMNS = 128
_ISTFT_FRAMES = 64
_TEMPOGRAM_FRAMES = 128


@numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _mirror(index: int, size: int) -> int:
    """Index into ``size`` values extended by mirroring at both ends (d c b a | a b c d | d c b a | ...)."""
    index %= 2 * size
    return index if index < size else 2 * size - 1 - index


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _running_median(x: np.ndarray, out: np.ndarray) -> None:
    """Median of :data:`HPSS_KERNEL` consecutive rows of ``x`` for every row and column, into ``out``.

    Equal element for element to ``scipy.ndimage.median_filter(x, size=(31, 1), mode="reflect")``, the filter
    ``librosa.decompose.hpss`` uses: a median is one of the window's own values, so nothing is rounded.
    Columns are filtered :data:`_MEDIAN_COLUMNS` at a time, each keeping its window sorted: one step down
    removes the outgoing value ``o`` and inserts the incoming ``v`` by setting every window position ``k`` to
    ``s[k] if s[k] < o else min(s[k+1], max(s[k], v))`` when ``v >= o`` (the mirror image otherwise), so the
    middle position holds the median; these loops run across columns and are vectorised. ``x`` and ``out``:
    float32 ``(rows, columns)`` of any strides (a transposed view filters along the other axis); the rows are
    mirrored beyond the edges (:func:`_mirror`), as SciPy's ``reflect`` mode does.
    """
    n_rows, n_cols = x.shape
    half = HPSS_KERNEL // 2
    window = np.empty((HPSS_KERNEL + 2, _MEDIAN_COLUMNS), np.float32)  # rows 1..31 sorted; 0, 32: -inf, +inf
    updated = np.empty_like(window)
    outgoing = np.zeros(_MEDIAN_COLUMNS, np.float32)
    incoming = np.zeros(_MEDIAN_COLUMNS, np.float32)
    for start in range(0, n_cols, _MEDIAN_COLUMNS):
        width = min(_MEDIAN_COLUMNS, n_cols - start)  # a last, narrower block leaves its spare columns alone
        for sorted_window in (window, updated):
            sorted_window[0], sorted_window[HPSS_KERNEL + 1] = -np.inf, np.inf
        for k in range(HPSS_KERNEL):
            row = _mirror(k - half, n_rows)
            for j in range(width):
                window[k + 1, j] = x[row, start + j]
        for j in range(width):
            window[1 : HPSS_KERNEL + 1, j] = np.sort(window[1 : HPSS_KERNEL + 1, j])
            out[0, start + j] = window[half + 1, j]
        for i in range(1, n_rows):
            leaving, entering = _mirror(i - 1 - half, n_rows), _mirror(i + half, n_rows)
            for j in range(width):
                outgoing[j], incoming[j] = x[leaving, start + j], x[entering, start + j]
            for k in range(1, HPSS_KERNEL + 1):
                for j in range(_MEDIAN_COLUMNS):
                    o, v, s = outgoing[j], incoming[j], window[k, j]
                    rising = s if s < o else min(window[k + 1, j], max(s, v))
                    falling = s if s > o else max(window[k - 1, j], min(s, v))
                    updated[k, j] = rising if v >= o else falling
            window, updated = updated, window
            for j in range(width):
                out[i, start + j] = window[half + 1, j]


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _hpss_spectra(stft_t: np.ndarray, magnitude_t: np.ndarray, harm_t: np.ndarray, perc_t: np.ndarray,
                  harmonic_t: np.ndarray, percussive_t: np.ndarray) -> None:
    """``librosa.decompose.hpss``'s output spectra (power-2 soft masks, margin 1) from its median filters.

    The same float32 operations as ``softmask`` and ``(magnitude * mask) * phase`` with ``magphase``'s phase,
    so the result is bit-identical. All arrays are ``(frames, bins)``, C-contiguous; ``stft_t`` and the
    outputs are complex64 viewed as float32 ``(frames, 2 * bins)`` (real and imaginary parts interleaved), the
    others float32.
    """
    n_frames, n_bins = magnitude_t.shape
    for t in range(n_frames):
        for f in range(n_bins):
            h, p, mag = harm_t[t, f], perc_t[t, f], magnitude_t[t, f]
            z = max(h, p)
            silent = z < _TINY32  # softmask gives such bins half and half
            z = np.float32(1.0) if silent else z
            qh, qp = h / z, p / z
            qh, qp = qh * qh, qp * qp
            mask_h = np.float32(0.5) if silent else qh / (qh + qp)
            mask_p = np.float32(0.5) if silent else qp / (qp + qh)
            zero = mag == 0
            nonzero = np.float32(1.0) if zero else mag
            re = stft_t[t, 2 * f] / nonzero + (np.float32(1.0) if zero else np.float32(0.0))
            im = stft_t[t, 2 * f + 1] / nonzero
            sh, sp = mag * mask_h, mag * mask_p
            harmonic_t[t, 2 * f], harmonic_t[t, 2 * f + 1] = sh * re, sh * im
            percussive_t[t, 2 * f], percussive_t[t, 2 * f + 1] = sp * re, sp * im


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _overlap_add(frames: np.ndarray, window: np.ndarray, first: int, signals: np.ndarray) -> None:
    """``librosa.istft``'s overlap-add for a block of frames of several signals, bit-identical.

    ``frames`` float32 ``(signals, block, n_fft)`` are inverse FFTs of frames ``first, first + 1, ...``; each
    is multiplied by the float64 ``window`` and added into float32 ``signals`` ``(signals, samples)``, which
    start ``n_fft // 2`` samples before the audio (the centred first frame), rounding to float32 after every
    addition as librosa does.
    """
    n_signals, n_block, n_fft = frames.shape
    for c in range(n_signals):
        for t in range(n_block):
            target, frame = signals[c, (first + t) * _HOP : (first + t) * _HOP + n_fft], frames[c, t]
            for k in range(n_fft):
                target[k] = np.float64(target[k]) + window[k] * np.float64(frame[k])


@numba.njit("float64(float64[::1], int64, int64)", cache=True, nogil=True, error_model="numpy")
def _pairwise_sum(a: np.ndarray, start: int, n: int) -> float:
    """Sum of float64 ``a[start:start + n]`` in the order ``np.add.reduce`` uses along a contiguous axis.

    NumPy's pairwise summation: fewer than 8 values are added in turn; up to 128 with eight interleaved
    accumulators, combined as ``((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))``, then the remainder in turn;
    more are split in two halves (the first a multiple of 8 long) summed recursively. Same order, same bits.
    """
    if n < 8:
        total = 0.0
        for i in range(start, start + n):
            total += a[i]
        return total
    if n <= 128:
        r0, r1, r2, r3, r4, r5, r6, r7 = (a[start], a[start + 1], a[start + 2], a[start + 3], a[start + 4],
                                          a[start + 5], a[start + 6], a[start + 7])
        stop = start + n - n % 8
        for i in range(start + 8, stop, 8):
            r0, r1, r2, r3 = r0 + a[i], r1 + a[i + 1], r2 + a[i + 2], r3 + a[i + 3]
            r4, r5, r6, r7 = r4 + a[i + 4], r5 + a[i + 5], r6 + a[i + 6], r7 + a[i + 7]
        total = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
        for i in range(stop, start + n):
            total += a[i]
        return total
    half = n // 2
    half -= half % 8
    return _pairwise_sum(a, start, half) + _pairwise_sum(a, start + half, n - half)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _spectral_shape(magnitude_t: np.ndarray, freqs: np.ndarray, centroid: np.ndarray, bandwidth: np.ndarray,
                    rolloff: np.ndarray) -> None:
    """Spectral centroid, bandwidth (p = 2) and 85 % rolloff of each frame, in Hz, bit-identical to librosa.

    ``magnitude_t`` float32 ``(frames, bins)``, ``freqs`` float64 ``(bins,)``; outputs float64 ``(frames,)``.
    As librosa computes them: each frame is normalised to unit sum in float64 and rounded to float32 (a silent
    frame, sum below float32's smallest normal number, is left as it is), the sums over bins are NumPy's
    pairwise sums (:func:`_pairwise_sum`), and the rolloff is the lowest bin frequency where the float32
    running sum reaches 0.85 × the frame's float32 total.
    """
    n_frames, n_bins = magnitude_t.shape
    terms = np.empty(n_bins)
    normalised = np.empty(n_bins, np.float32)
    running = np.empty(n_bins, np.float32)
    for t in range(n_frames):
        row = magnitude_t[t]
        for f in range(n_bins):
            terms[f] = row[f]
        length = _pairwise_sum(terms, 0, n_bins)
        length = 1.0 if length < _TINY32 else length
        for f in range(n_bins):
            normalised[f] = np.float64(row[f]) / length
            terms[f] = freqs[f] * np.float64(normalised[f])
        c = _pairwise_sum(terms, 0, n_bins)
        for f in range(n_bins):
            deviation = abs(c - freqs[f])
            terms[f] = np.float64(normalised[f]) * (deviation * deviation)
        centroid[t], bandwidth[t] = c, np.sqrt(_pairwise_sum(terms, 0, n_bins))
        total = np.float32(0.0)
        for f in range(n_bins):
            total += row[f]
            running[f] = total
        rolloff[t] = freqs[np.searchsorted(running, np.float32(0.85) * total)]


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _zero_crossing_rate(y: np.ndarray, out: np.ndarray) -> None:
    """``librosa.feature.zero_crossing_rate`` (centred 2048-sample frames every 512, edge padding), exactly.

    A crossing is a sign change between neighbouring samples of a frame, |sample| <= :data:`_ZC_THRESHOLD`
    counting as +0; the rate is crossings / 2048. ``y`` float32 ``(n,)``; ``out`` float64 ``(1 + n // 512,)``.
    Crossings are counted once and summed per frame from a running count (integers: no rounding).
    """
    n = y.shape[0]
    half = _N_FFT // 2
    padded = n + 2 * half
    running = np.empty(padded, np.int64)  # running[i]: crossings between padded samples 0..i
    previous = y[0] < -_ZC_THRESHOLD
    running[0] = 0
    for i in range(1, padded):
        negative = y[min(max(i - half, 0), n - 1)] < -_ZC_THRESHOLD
        running[i] = running[i - 1] + (negative != previous)
        previous = negative
    for t in range(out.shape[0]):
        start = t * _HOP
        out[t] = (running[start + _N_FFT - 1] - running[start]) / _N_FFT


@functools.lru_cache(maxsize=8)
def _mel_basis(sample_rate: int) -> np.ndarray:
    """``librosa.filters.mel`` at the defaults (128 bands, n_fft 2048): float32 ``(128, 1025)``, read-only."""
    basis = librosa.filters.mel(sr=sample_rate, n_fft=_N_FFT)
    basis.flags.writeable = False
    return basis


@functools.lru_cache(maxsize=256)
def _chroma_basis(sample_rate: int, tuning: float) -> np.ndarray:
    """``librosa.filters.chroma`` at ``tuning`` (fractions of a bin): float32 ``(12, 1025)``, read-only."""
    basis = librosa.filters.chroma(sr=sample_rate, n_fft=_N_FFT, tuning=tuning)
    basis.flags.writeable = False
    return basis


@functools.lru_cache(maxsize=8)
def _istft_envelope(n_frames: int, length: int) -> np.ndarray:
    """``librosa.istft``'s squared-window sum for ``n_frames`` centred frames, cut to ``length``: float32."""
    envelope = librosa.filters.window_sumsquare(window="hann", n_frames=n_frames, n_fft=_N_FFT, hop_length=_HOP,
                                                dtype=np.float32)
    envelope = librosa.util.fix_length(envelope[_N_FFT // 2:], size=length)
    envelope.flags.writeable = False
    return envelope


def _hpss_waveforms(stft: np.ndarray, magnitude: np.ndarray, *, length: int) -> tuple[np.ndarray, np.ndarray]:
    """``librosa.effects.hpss`` (kernel 31, power 2, margin 1) from an existing STFT, bit-identical.

    The two median filters run over the whole spectrogram; then, :data:`_ISTFT_FRAMES` frames at a time, the
    soft masks give the harmonic and percussive spectra, which are inverted (``scipy.fft.irfft``, the FFT
    library librosa uses) and overlap-added as ``librosa.istft`` does; finally both signals are divided by the
    squared-window envelope.

    Args:
        stft: complex64 ``(1 + n_fft/2, frames)`` as ``librosa.stft`` returns it (Fortran order).
        magnitude: ``np.abs(stft)``, float32, same shape and order.
        length: Samples of the original waveform.

    Returns:
        ``(harmonic (length,), percussive (length,))`` float32 waveforms.
    """
    magnitude_t = magnitude.T  # (frames, bins), C-contiguous: the harmonic median runs along frames
    harm_t, perc_t = np.empty_like(magnitude_t), np.empty_like(magnitude_t)
    _running_median(magnitude_t, harm_t)
    _running_median(magnitude, perc_t.T)  # (bins, frames) views: the percussive median runs along bins
    n_frames, n_bins = magnitude_t.shape
    stft_t = stft.T.view(np.float32)  # (frames, 2 * bins): real and imaginary parts interleaved
    spectra = np.empty((2, _ISTFT_FRAMES, n_bins), np.complex64)  # one block's harmonic and percussive spectra
    signals = np.zeros((2, _N_FFT + _HOP * (n_frames - 1)), np.float32)
    for start in range(0, n_frames, _ISTFT_FRAMES):
        stop = min(start + _ISTFT_FRAMES, n_frames)
        block = spectra[:, : stop - start]
        _hpss_spectra(stft_t[start:stop], magnitude_t[start:stop], harm_t[start:stop], perc_t[start:stop],
                      block[0].view(np.float32), block[1].view(np.float32))
        _overlap_add(scipy.fft.irfft(block, n=_N_FFT, axis=-1), _ISTFT_WINDOW, start, signals)
    waveforms = signals[:, _N_FFT // 2 : _N_FFT // 2 + length]
    envelope = _istft_envelope(n_frames, length)
    np.divide(waveforms, envelope, out=waveforms, where=envelope > _TINY32)
    return waveforms[0], waveforms[1]


def _tempogram(onset: np.ndarray, *, n_lags: int) -> np.ndarray:
    """``librosa.feature.tempogram(onset_envelope=onset, win_length=n_lags)``, bit-identical.

    The same operations (Hann-windowed frames centred with linear-ramp padding, autocorrelation by FFT, each
    frame divided by its largest absolute value), done :data:`_TEMPOGRAM_FRAMES` frames at a time along
    contiguous rows, where librosa transforms the whole array along its slow axis.

    Args:
        onset: float32 ``(frames,)`` onset strength.
        n_lags: Autocorrelation lags (window length), in frames.

    Returns:
        float64 ``(n_lags, frames)``, C order as librosa's (which fixes the summation order of ``np.mean``).
    """
    padded = np.pad(onset, n_lags // 2, mode="linear_ramp", end_values=[0, 0])
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_lags)[: len(onset)]  # (frames, lags) views
    window = librosa.filters.get_window("hann", n_lags, fftbins=True)
    n_fft = scipy.fft.next_fast_len(2 * n_lags - 1, real=True)
    tempogram = np.empty((n_lags, len(onset)))
    for start in range(0, len(onset), _TEMPOGRAM_FRAMES):
        stop = min(start + _TEMPOGRAM_FRAMES, len(onset))
        power = librosa.util.abs2(scipy.fft.rfft(frames[start:stop] * window, n=n_fft, axis=-1))
        autocorrelation = scipy.fft.irfft(power, n=n_fft, axis=-1)[:, :n_lags]
        peak = np.max(np.abs(autocorrelation), axis=-1, keepdims=True)
        peak[peak < np.finfo(np.float64).tiny] = 1.0  # librosa.util.normalize leaves silent frames as they are
        tempogram[:, start:stop] = (autocorrelation / peak).T
    return tempogram


def _tempo(onset: np.ndarray, *, sample_rate: int) -> float:
    """``librosa.beat.beat_track``'s tempo of an onset-strength envelope, in beats per minute (bit-identical).

    0 when there is no onset at all, as ``beat_track`` returns; otherwise ``librosa.feature.tempo`` (8-second
    autocorrelation windows, log-normal prior around 120 BPM) of :func:`_tempogram`.

    Args:
        onset: float32 ``(frames,)`` onset strength (``librosa.onset.onset_strength`` with ``np.median``).
        sample_rate: In Hz.
    """
    if not onset.any():
        return 0.0
    n_lags = int(librosa.time_to_frames(8.0, sr=sample_rate, hop_length=_HOP))  # tempo's ac_size
    tempogram = _tempogram(onset, n_lags=n_lags)
    return float(librosa.feature.tempo(tg=tempogram, sr=sample_rate, hop_length=_HOP)[0])


def _tuning(power: np.ndarray, *, sample_rate: int) -> float:
    """``librosa.estimate_tuning`` as ``chroma_stft`` calls it: the same value, from the pitch band only.

    ``piptrack`` keeps the spectral peaks above a tenth of their frame's maximum inside 150–4000 Hz, refines
    each by parabolic interpolation and takes those at or above the median peak height; ``pitch_tuning``
    histograms their deviation from A440 in cents. This computes the same float32 peaks, but on the band's
    bins (and their neighbours) instead of the whole spectrogram.

    Args:
        power: float32 ``(1 + n_fft/2, frames)`` power spectrogram.
        sample_rate: In Hz.

    Returns:
        The tuning in fractions of a chroma bin, in [-0.5, 0.5) (0 without any peak).
    """
    freqs = librosa.fft_frequencies(sr=sample_rate, n_fft=_N_FFT)
    band = np.flatnonzero((freqs >= _PITCH_FMIN) & (freqs < min(_PITCH_FMAX, sample_rate / 2)))
    lo, hi = int(band[0]), int(band[-1]) + 1  # interior bins: each has a neighbour on both sides
    threshold = _PITCH_THRESHOLD * np.max(power, axis=0)  # float32, as piptrack's ref(S) * threshold
    kept = power[lo - 1 : hi + 1] * (power[lo - 1 : hi + 1] > threshold)
    rows, cols = np.nonzero((kept[1:-1] > kept[:-2]) & (kept[1:-1] >= kept[2:]))  # librosa.util.localmax
    bins = rows + lo
    x0, xm, xp = power[bins, cols], power[bins - 1, cols], power[bins + 1, cols]
    # librosa's compiled parabolic-interpolation stencil promotes 2 * x0 and the halving to float64.
    a = (xp + xm).astype(np.float64) - 2.0 * x0.astype(np.float64)
    b = (xp - xm).astype(np.float64) / 2.0
    with np.errstate(divide="ignore", invalid="ignore"):
        shift = np.where(np.abs(b) >= np.abs(a), 0.0, -b / a).astype(np.float32)
    pitch = ((bins + shift) * float(sample_rate) / _N_FFT).astype(np.float32)
    height = x0 + np.float32(0.5) * ((xp - xm) / 2.0) * shift
    selected = pitch[height >= np.median(height)] if len(height) else pitch
    with warnings.catch_warnings():  # silence has no pitches to tune from: librosa warns, then uses 0 cents
        warnings.filterwarnings("ignore", message="Trying to estimate tuning from empty frequency set")
        return float(librosa.pitch_tuning(selected, bins_per_octave=12))


def clip_features(samples: np.ndarray, *, sample_rate: int = FEATURE_SAMPLE_RATE) -> np.ndarray:
    """The 57 table features of one waveform: :func:`reference_clip_features`'s values, about 15 times faster.

    Bit-identical to the plain librosa recipe (tolerance zero; see the module docstring for how and
    ``tests/test_features.py`` for the check on the real GTZAN clips), given the same BLAS thread settings.

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
    stft = librosa.stft(y)  # (bins, frames) complex64: the one STFT every librosa call would recompute
    magnitude = np.abs(stft)
    power = magnitude**2
    log_mel = librosa.power_to_db(np.einsum("...ft,mf->...mt", power, _mel_basis(sr), optimize=True))
    onset = librosa.onset.onset_strength(S=log_mel, sr=sr, aggregate=np.median)
    tempo = _tempo(onset, sample_rate=sr)
    harmonic, percussive = _hpss_waveforms(stft, magnitude, length=len(y))
    raw_chroma = np.einsum("cf,...ft->...ct", _chroma_basis(sr, _tuning(power, sample_rate=sr)), power,
                           optimize=True)
    n_frames = magnitude.shape[1]
    centroid, bandwidth, rolloff, zcr = (np.empty(n_frames) for _ in range(4))
    _spectral_shape(magnitude.T, librosa.fft_frequencies(sr=sr, n_fft=_N_FFT), centroid, bandwidth, rolloff)
    _zero_crossing_rate(y, zcr)
    return _assemble(
        chroma=librosa.util.normalize(raw_chroma, norm=np.inf, axis=-2), rms=librosa.feature.rms(y=y),
        centroid=centroid, bandwidth=bandwidth, rolloff=rolloff, zcr=zcr, harmonic=harmonic,
        percussive=percussive, tempo=tempo, mfcc=librosa.feature.mfcc(S=log_mel, n_mfcc=N_MFCC))


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


