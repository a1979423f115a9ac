"""Recordings that are not music, for checking the "is this music?" verdict in both directions.

Deterministic (seeded) noise, tones, sweeps, click trains, room tone, rain-like noise and silence, plus spoken
sentences in several languages from Debian's ``espeak-ng`` when it is installed (``apt-get install espeak-ng``).
Every clip is mono float32 at ``sample_rate``; nothing is downloaded.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr
from scipy import signal

#: Sentences and espeak-ng voices (voice, language key, words per minute).
SENTENCES = {
    "en": "The weather service expects light rain in the morning, clearing by the afternoon. Traffic on the main "
          "bridge is slow because of road works, and the meeting has been moved to Thursday evening.",
    "de": "Der Wetterdienst erwartet am Morgen leichten Regen, der sich bis zum Nachmittag auflöst. Der Verkehr auf "
          "der Hauptbrücke ist wegen Bauarbeiten langsam.",
    "fr": "Le service météo prévoit une pluie légère le matin, qui se dissipera dans l'après-midi. La circulation "
          "sur le pont principal est lente à cause des travaux.",
    "es": "El servicio meteorológico espera lluvia ligera por la mañana, que se despejará por la tarde. El tráfico "
          "en el puente principal es lento por las obras.",
}
VOICES = (("en", "en", 160), ("en-us+f3", "en", 140), ("de", "de", 150), ("fr+f2", "fr", 160), ("es", "es", 170))


def _level(x: np.ndarray, dbfs: float) -> np.ndarray:
    return (x / (np.sqrt(np.mean(np.square(x))) + 1e-12) * 10 ** (dbfs / 20)).astype(np.float32)


def _coloured(n: int, exponent: float, rng: np.random.Generator, sample_rate: int) -> np.ndarray:
    """Noise with power spectrum ~ 1/f^exponent (0 white, 1 pink, 2 brown)."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1 / sample_rate)
    f[0] = f[1]
    return np.fft.irfft(spectrum / f ** (exponent / 2), n)


def speech_clips(*, sample_rate: int = 22050, seconds: float = 20.0) -> dict[str, np.ndarray]:
    """Spoken sentences from espeak-ng (empty when it is not installed), at about −20 dBFS."""
    if shutil.which("espeak-ng") is None:
        return {}
    clips = {}
    with tempfile.TemporaryDirectory() as folder:
        wav = Path(folder) / "speech.wav"
        for voice, lang, speed in VOICES:
            subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(wav), SENTENCES[lang]],
                           check=True, capture_output=True)
            x, rate = sf.read(wav, dtype="float32")
            x = soxr.resample(x, rate, sample_rate) if rate != sample_rate else x
            clips[f"speech {voice}"] = _level(x[: int(seconds * sample_rate)], -20)
    return clips


def nonmusic_clips(*, sample_rate: int = 22050, seconds: float = 20.0, seed: int = 0,
                   speech: bool = True) -> dict[str, np.ndarray]:
    """Name → mono waveform ``(n,)`` of every non-music clip (speech only where espeak-ng is installed)."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sample_rate)
    t = np.arange(n) / sample_rate
    nyq = sample_rate / 2
    clicks = {}
    for rate in (10, 50):
        x = np.zeros(n)
        x[(np.arange(0, seconds, 1 / rate) * sample_rate).astype(int)] = 0.8
        clicks[f"clicks {rate} Hz"] = x.astype(np.float32)
    top = min(9000.0, 0.9 * nyq)
    bed = signal.lfilter(*signal.butter(2, [800 / nyq, min(6000.0, top) / nyq], "band"), rng.standard_normal(n))
    drops = np.zeros(n)
    drops[rng.integers(0, n - 200, 3000)] = rng.uniform(0.2, 1.0, 3000)
    drops = signal.lfilter(*signal.butter(2, [2000 / nyq, top / nyq], "band"),
                           signal.lfilter([1], [1, -0.95], drops))
    clips = {
        "white noise": _level(rng.standard_normal(n), -20),
        "pink noise": _level(_coloured(n, 1, rng, sample_rate), -20),
        "brown noise": _level(_coloured(n, 2, rng, sample_rate), -20),
        "tone 440 Hz": (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32),
        "tone 1 kHz": (0.3 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32),
        "sweep 50 Hz-7 kHz": (0.3 * signal.chirp(t, 50, t[-1], 7000)).astype(np.float32),
        **clicks,
        "rain-like noise": _level(bed, -28) + _level(drops, -26),
        "room tone": _level(_coloured(n, 2, rng, sample_rate), -50)
        + (0.003 * np.sin(2 * np.pi * 50 * t)).astype(np.float32),
        "silence": np.zeros(n, dtype=np.float32),
    }
    if speech:
        clips.update(speech_clips(sample_rate=sample_rate, seconds=seconds))
    return {name: np.clip(x, -1, 1).astype(np.float32) for name, x in clips.items()}
