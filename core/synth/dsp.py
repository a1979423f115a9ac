"""Signal building blocks: band-limited oscillators, envelopes, plucked strings, drum voices and effects.

Pure NumPy/SciPy. Every function that needs noise takes a ``numpy.random.Generator`` so a clip is a function
of its seed. Signals are float64 mono arrays at the ``sample_rate`` given; times are seconds, frequencies Hz.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy import fft as sfft
from scipy import signal

#: Samples in one wavetable cycle (a power of two, so phase wraps with a bit mask).
TABLE_SIZE = 4096
_TWO_PI = 2.0 * np.pi


def midi_hz(midi: float) -> float:
    """Frequency in Hz of a MIDI note number (69 = A4 = 440 Hz)."""
    return 440.0 * 2.0 ** ((midi - 69.0) / 12.0)


# --- oscillators --------------------------------------------------------------------------------------------

def _harmonic_amplitudes(shape: str, k: np.ndarray, f0: float) -> np.ndarray:
    """Amplitude of harmonic ``k`` (1-based float array) for a named timbre ``shape`` at fundamental ``f0`` Hz."""
    odd = (k % 2 == 1).astype(np.float64)
    if shape == "sine":
        return (k == 1).astype(np.float64)
    if shape == "saw":
        return 1.0 / k
    if shape == "square":
        return odd / k
    if shape == "reed":  # clarinet/sax-like: odd harmonics strong, even ones weaker
        return (0.35 + 0.65 * odd) / k
    if shape == "bass":
        return 1.0 / k**2
    if shape == "piano":  # hammer struck near 1/7 of the string: harmonic 7 and its multiples are weak
        return np.where(k % 7 == 0, 0.1, 1.0) / k**1.4
    if shape == "epiano":  # tine: fundamental, a little 2nd, a bell partial near the 7th
        bars = {1: 1.0, 2: 0.3, 3: 0.08, 7: 0.1}
        return np.array([bars.get(int(h), 0.0) for h in k])
    if shape == "organ":  # drawbars 8' 4' 2 2/3' 2' 1 3/5' 1 1/3' 1'
        bars = {1: 1.0, 2: 0.75, 3: 0.55, 4: 0.45, 5: 0.15, 6: 0.3, 8: 0.25}
        return np.array([bars.get(int(h), 0.0) for h in k])
    if shape == "voice":  # an open "ah": three formants over a glottal 1/k slope
        formants = ((730.0, 90.0, 1.0), (1090.0, 110.0, 0.5), (2440.0, 160.0, 0.25))
        f = k * f0
        env = sum(g / (1.0 + ((f - fc) / bw) ** 2) for fc, bw, g in formants)
        return (0.15 + env) / np.sqrt(k)
    raise ValueError(f"Unknown oscillator shape '{shape}'.")


@lru_cache(maxsize=2048)
def wavetable(shape: str, midi: int, sample_rate: int, cutoff_hz: int) -> np.ndarray:
    """One band-limited cycle ``(TABLE_SIZE,)`` of ``shape`` for MIDI note ``midi``, peak 1.

    Harmonics stop below 0.45 x ``sample_rate`` (room for vibrato and detune without aliasing) and are
    shaped by a 4th-order low-pass magnitude at ``cutoff_hz``. Cached: the result depends only on the arguments.
    """
    f0 = midi_hz(midi)
    n_harm = int(max(1, min(TABLE_SIZE // 2 - 1, 0.45 * sample_rate / f0)))
    k = np.arange(1, n_harm + 1, dtype=np.float64)
    amps = _harmonic_amplitudes(shape, k, f0) / np.sqrt(1.0 + (k * f0 / cutoff_hz) ** 8)
    spec = np.zeros(TABLE_SIZE // 2 + 1, dtype=np.complex128)
    spec[1:n_harm + 1] = -0.5j * TABLE_SIZE * amps
    table = np.fft.irfft(spec, n=TABLE_SIZE)
    table /= np.max(np.abs(table)) + 1e-12
    table.setflags(write=False)
    return table


def oscillate(table: np.ndarray, *, freq: float, n: int, sample_rate: int, vibrato_hz: float = 0.0,
              vibrato_cents: float = 0.0, bend_cents: float = 0.0, bend_seconds: float = 0.06,
              phase: float = 0.0) -> np.ndarray:
    """Read ``table`` at ``freq`` Hz for ``n`` samples: ``(n,)``.

    ``vibrato_cents`` (fading in over 0.3 s) and ``bend_cents`` (the note starts that far off pitch and glides
    to it over ``bend_seconds``) modulate the pitch; ``phase`` is the start phase in cycles.
    """
    t = np.arange(n) / sample_rate
    if vibrato_cents or bend_cents:
        cents = np.zeros(n)
        if vibrato_cents:
            cents += vibrato_cents * np.sin(_TWO_PI * vibrato_hz * t) * np.minimum(1.0, t / 0.3)
        if bend_cents:
            cents += bend_cents * np.clip(1.0 - t / bend_seconds, 0.0, 1.0)
        cycles = phase + np.cumsum(freq * 2.0 ** (cents / 1200.0)) / sample_rate
    else:
        cycles = phase + freq * t
    index = (cycles * TABLE_SIZE).astype(np.int64) & (TABLE_SIZE - 1)
    return table[index]


def envelope(*, n: int, sample_rate: int, attack: float, t60: float, hold: float, release: float) -> np.ndarray:
    """Gain curve ``(n,)``: linear attack (s), exponential decay to -60 dB in ``t60`` s, held for ``hold`` s,
    then a linear release over ``release`` s."""
    t = np.arange(n) / sample_rate
    env = np.minimum(1.0, t / max(attack, 1e-4)) * 10.0 ** (-3.0 * t / t60)
    return env * np.clip(1.0 - (t - hold) / max(release, 1e-4), 0.0, 1.0)


def pluck(*, freq: float, n: int, sample_rate: int, t60: float, damping: float, pick: float,
          rng: np.random.Generator) -> np.ndarray:
    """A Karplus-Strong plucked string ``(n,)`` at ``freq`` Hz, evaluated in the frequency domain.

    The string loop ``1 / (1 - g * ((1 - damping) + damping z^-1) * z^-D)`` is applied to a one-period noise
    burst by FFT, so the delay ``D`` can be fractional (exact tuning) and the cost is one FFT per note.
    ``damping`` in [0, 0.5]: 0 is bright and twangy, 0.5 is the classic dull average (the pluck itself is
    low-passed at 4-44 x ``freq`` accordingly). ``pick`` in (0, 0.5) is the
    plucking position as a fraction of the string (a comb on the excitation). ``t60`` is the decay time in s.
    The FFT covers the note plus half a ``t60``, so the wrapped tail stays 30 dB under the attack.
    """
    period = sample_rate / freq
    n_fft = sfft.next_fast_len(n + int(0.5 * t60 * sample_rate) + int(period) + 1, real=True)
    burst = np.zeros(n_fft)
    width = max(2, int(round(period)))
    burst[:width] = rng.uniform(-1.0, 1.0, width)
    spectrum = sfft.rfft(burst)
    w = _TWO_PI * np.arange(spectrum.size) / n_fft
    gain = 10.0 ** (-3.0 / (t60 * freq))
    loop = gain * ((1.0 - damping) + damping * np.exp(-1j * w)) * np.exp(-1j * w * (period - damping))
    bright = freq * (4.0 + 40.0 * max(0.0, 1.0 - 2.0 * damping))  # dull strings get a softer pluck
    soft = 1.0 / np.sqrt(1.0 + (w * sample_rate / _TWO_PI / bright) ** 2)
    spectrum *= soft * (1.0 - np.exp(-1j * w * pick * period)) / (1.0 - loop)
    out = sfft.irfft(spectrum, n=n_fft)[:n]
    return out / (np.max(np.abs(out)) + 1e-12)


# --- filters and effects ------------------------------------------------------------------------------------

@lru_cache(maxsize=256)
def _butter(kind: str, cutoff: tuple[float, ...], sample_rate: int, order: int) -> np.ndarray:
    nyq = 0.5 * sample_rate
    edges = [min(max(c / nyq, 1e-4), 0.999) for c in cutoff]
    return signal.butter(order, edges if len(edges) > 1 else edges[0], btype=kind, output="sos")


def lowpass(x: np.ndarray, *, cutoff: float, sample_rate: int, order: int = 2) -> np.ndarray:
    """Butterworth low-pass of ``x`` at ``cutoff`` Hz."""
    return signal.sosfilt(_butter("lowpass", (round(cutoff),), sample_rate, order), x)


def highpass(x: np.ndarray, *, cutoff: float, sample_rate: int, order: int = 2) -> np.ndarray:
    """Butterworth high-pass of ``x`` at ``cutoff`` Hz."""
    return signal.sosfilt(_butter("highpass", (round(cutoff),), sample_rate, order), x)


def bandpass(x: np.ndarray, *, low: float, high: float, sample_rate: int, order: int = 2) -> np.ndarray:
    """Butterworth band-pass of ``x`` between ``low`` and ``high`` Hz."""
    return signal.sosfilt(_butter("bandpass", (round(low), round(high)), sample_rate, order), x)


def drive(x: np.ndarray, *, gain: float, sample_rate: int, cabinet_hz: float = 4500.0) -> np.ndarray:
    """Guitar-amp distortion: pre-emphasis, ``tanh`` saturation with ``gain`` (1 clean ... 80 metal),
    then a speaker-cabinet low-pass at ``cabinet_hz``. Output peak about 1."""
    x = x / (np.max(np.abs(x)) + 1e-12)
    x = highpass(x, cutoff=120.0, sample_rate=sample_rate)
    y = np.tanh(gain * x + 0.1) - np.tanh(0.1)  # the offset adds even harmonics (and DC, removed below)
    return highpass(lowpass(y, cutoff=cabinet_hz, sample_rate=sample_rate, order=4), cutoff=60.0,
                    sample_rate=sample_rate)


def reverb_ir(*, sample_rate: int, t60: float, predelay: float, brightness: float,
              rng: np.random.Generator) -> np.ndarray:
    """A room impulse response: exponentially decaying noise (``t60`` s) whose highs die ``brightness`` x as
    fast (``brightness`` < 1 means darker tails), after ``predelay`` s of silence. Unit energy."""
    n = int((predelay + t60) * sample_rate)
    t = np.arange(n) / sample_rate - predelay
    noise = rng.standard_normal(n)
    low = lowpass(noise, cutoff=2000.0, sample_rate=sample_rate)
    decay = np.where(t >= 0, 10.0 ** (-3.0 * np.maximum(t, 0) / t60), 0.0)
    fast = np.where(t >= 0, 10.0 ** (-3.0 * np.maximum(t, 0) / (t60 * brightness)), 0.0)
    ir = low * decay + (noise - low) * fast
    return ir / np.sqrt(np.sum(ir**2) + 1e-12)


def convolve(x: np.ndarray, ir: np.ndarray) -> np.ndarray:
    """``x`` convolved with ``ir``, cut to ``len(x)`` (FFT overlap-add)."""
    return signal.oaconvolve(x, ir)[: x.size]


def echo(x: np.ndarray, *, delay: float, feedback: float, sample_rate: int, repeats: int = 4) -> np.ndarray:
    """Feedback delay (dub echo): ``x`` plus ``repeats`` copies every ``delay`` s, each ``feedback`` x quieter
    and darker."""
    out = x.copy()
    tap = x
    shift = int(delay * sample_rate)
    for i in range(1, repeats + 1):
        if shift * i >= x.size:
            break
        tap = lowpass(tap, cutoff=3500.0, sample_rate=sample_rate) * feedback
        out[shift * i:] += tap[: x.size - shift * i]
    return out


def coloured_noise(*, n: int, slope: float, rng: np.random.Generator) -> np.ndarray:
    """Noise ``(n,)`` with a power spectrum falling as ``f^-slope`` (0 white, 1 pink, 2 brown), unit RMS."""
    spectrum = sfft.rfft(rng.standard_normal(n))
    f = np.arange(spectrum.size, dtype=np.float64)
    f[0] = 1.0
    noise = sfft.irfft(spectrum / f ** (slope / 2.0), n=n)
    return noise / (np.sqrt(np.mean(noise**2)) + 1e-12)


# --- drum voices (each returns a short one-shot, peak 1) -----------------------------------------------------

def _one_shot(x: np.ndarray) -> np.ndarray:
    return x / (np.max(np.abs(x)) + 1e-12)


def _metal(t: np.ndarray, *, scale: float) -> np.ndarray:
    """Six detuned square waves at TR-808 cymbal ratios: the metallic core of hats and cymbals."""
    freqs = scale * np.array([205.3, 304.4, 369.6, 522.7, 540.0, 800.0])
    return np.sum(np.sign(np.sin(_TWO_PI * freqs[:, None] * t[None, :])), axis=0)


def kick(*, sample_rate: int, f_start: float, f_end: float, sweep: float, decay: float, click: float,
         rng: np.random.Generator) -> np.ndarray:
    """Bass drum: a sine swept from ``f_start`` to ``f_end`` Hz (time constant ``sweep`` s), decaying to
    -60 dB in ``decay`` s, plus a noise ``click`` (0..1) at the attack."""
    t = np.arange(int(decay * sample_rate)) / sample_rate
    freq = f_end + (f_start - f_end) * np.exp(-t / sweep)
    body = np.sin(_TWO_PI * np.cumsum(freq) / sample_rate) * 10.0 ** (-3.0 * t / decay)
    return _one_shot(body + click * rng.uniform(-1, 1, t.size) * np.exp(-t / 0.002))


def snare(*, sample_rate: int, tone_hz: float, tone_decay: float, noise_decay: float, noise_hz: float,
          snappy: float, rng: np.random.Generator) -> np.ndarray:
    """Snare: a drum-head tone at ``tone_hz`` plus band-passed wire noise around ``noise_hz``, mixed by
    ``snappy`` (0 all tone, 1 all wires); decays are -60 dB times in s."""
    t = np.arange(int(max(tone_decay, noise_decay) * sample_rate)) / sample_rate
    tone = (np.sin(_TWO_PI * tone_hz * t) + 0.5 * np.sin(_TWO_PI * 1.6 * tone_hz * t)) * 10.0 ** (-3 * t / tone_decay)
    noise = bandpass(rng.uniform(-1, 1, t.size), low=0.4 * noise_hz, high=min(2.5 * noise_hz, 10000.0),
                     sample_rate=sample_rate) * 10.0 ** (-3.0 * t / noise_decay)
    return _one_shot((1.0 - snappy) * _one_shot(tone) + snappy * _one_shot(noise))


def cymbal(*, sample_rate: int, decay: float, cutoff: float, metal: float, scale: float,
           rng: np.random.Generator) -> np.ndarray:
    """Hi-hat, ride or crash: metallic squares (weight ``metal``) plus noise, high-passed at ``cutoff`` Hz,
    decaying to -60 dB in ``decay`` s; ``scale`` shifts the metallic partials."""
    t = np.arange(int(decay * sample_rate)) / sample_rate
    raw = metal * _metal(t, scale=scale) / 6.0 + (1.0 - metal) * rng.uniform(-1, 1, t.size)
    return _one_shot(highpass(raw, cutoff=cutoff, sample_rate=sample_rate, order=4) * 10.0 ** (-3.0 * t / decay))


def clap(*, sample_rate: int, decay: float, centre: float, rng: np.random.Generator) -> np.ndarray:
    """Hand clap: three 10 ms noise bursts then a decaying tail, band-passed around ``centre`` Hz."""
    t = np.arange(int((0.03 + decay) * sample_rate)) / sample_rate
    env = np.zeros_like(t)
    for start in (0.0, 0.01, 0.02):
        env = np.maximum(env, np.where(t >= start, np.exp(-(t - start) / 0.004), 0.0))
    env = np.maximum(env, np.where(t >= 0.03, 10.0 ** (-3.0 * (t - 0.03) / decay), 0.0))
    return _one_shot(bandpass(rng.uniform(-1, 1, t.size), low=0.6 * centre, high=1.8 * centre,
                              sample_rate=sample_rate) * env)


def brush(*, sample_rate: int, decay: float, rng: np.random.Generator) -> np.ndarray:
    """Brush on a snare: soft band-passed noise with a 15 ms swell."""
    t = np.arange(int(decay * sample_rate)) / sample_rate
    env = np.minimum(1.0, t / 0.015) * 10.0 ** (-3.0 * t / decay)
    return _one_shot(bandpass(rng.uniform(-1, 1, t.size), low=1500.0, high=7000.0, sample_rate=sample_rate) * env)


def rim(*, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """Rim shot / side stick: a short woody knock near 1.7 kHz."""
    t = np.arange(int(0.06 * sample_rate)) / sample_rate
    knock = np.sin(_TWO_PI * 1700.0 * t) + 0.6 * np.sin(_TWO_PI * 480.0 * t)
    return _one_shot(knock * np.exp(-t / 0.008) + 0.3 * rng.uniform(-1, 1, t.size) * np.exp(-t / 0.002))


def shaker(*, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """Shaker / tambourine grain: high-passed noise with a 10 ms swell and 80 ms decay."""
    t = np.arange(int(0.1 * sample_rate)) / sample_rate
    env = np.minimum(1.0, t / 0.01) * np.exp(-t / 0.025)
    return _one_shot(highpass(rng.uniform(-1, 1, t.size), cutoff=5000.0, sample_rate=sample_rate) * env)
