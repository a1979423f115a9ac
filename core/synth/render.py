"""Render one synthetic clip: plan the song, play each part, mix, add room, tone, noise and normalise."""

from __future__ import annotations

import math

import numpy as np

from core.config import GENRES
from core.synth import dsp, parts, theory
from core.synth.instruments import TIMBRES, drum_voices, place, play
from core.synth.plan import Params, Plan
from core.synth.styles import DEFAULT_GAINS, GenreStyle, clip_style

#: Synthetic artists per genre (artist ids 0..ARTISTS_PER_GENRE-1 have distinct signatures).
ARTISTS_PER_GENRE = 4
#: Peak level of every clip: -1 dBFS.
PEAK = 10.0 ** (-1.0 / 20.0)


def _plan(style: GenreStyle, p: Params, *, seconds: float, sample_rate: int) -> Plan:
    """Tempo, meter, swing, key and chord sequence of a clip."""
    tempo = p.uniform("tempo", *style.tempo)
    beats = 3 if p.chance(style.meter3) else 4
    n_beats = int(math.ceil(seconds * tempo / 60.0)) + 2 * beats
    n_beats += (-n_beats) % beats
    beat_len = 60.0 / tempo * (1.0 + style.rubato * np.sin(2 * np.pi * np.arange(n_beats) / 16.0
                                                          + p.rng.uniform(0, 2 * np.pi)))
    beat_times = np.concatenate([[0.0], np.cumsum(beat_len)])
    key_pref = int(p.artist_u("key") * 12)
    tonic = key_pref if p.chance(0.6) else int(p.rng.integers(12))
    text = p.choice("progression", style.progressions)
    chords = theory.parse_progression(text, tonic=tonic)
    start = int(p.rng.integers(len(chords)))
    n_bars = n_beats // beats
    bars = tuple(tuple(chords[(start + b) % len(chords)]) for b in range(n_bars))
    return Plan(sample_rate=sample_rate, n_samples=int(round(seconds * sample_rate)), beats_per_bar=beats,
                swing8=p.uniform("swing8", *style.swing8), swing16=p.uniform("swing16", *style.swing16),
                beat_times=beat_times, bars=bars, tonic=tonic, minor=theory.is_minor(text))


def _drums(plan: Plan, style: GenreStyle, p: Params) -> np.ndarray:
    family = p.choice("drums.family", style.drums)
    samples = drum_voices(style.kit, sample_rate=plan.sample_rate, p=p)
    out = np.zeros(plan.n_samples)
    for voice, hits in parts.drum_hits(plan, family=family, p=p).items():
        out += place(hits, sample=samples[voice], n_samples=plan.n_samples, sample_rate=plan.sample_rate)
    return out


def _parts(plan: Plan, style: GenreStyle, p: Params) -> dict[str, np.ndarray]:
    """Each part's audio ``(n_samples,)`` before mixing."""
    n, sr = plan.n_samples, plan.sample_rate
    drive_gain = p.uniform("drive", *style.drive, log=True)
    out: dict[str, np.ndarray] = {}
    if style.drums:
        out["drums"] = _drums(plan, style, p)
    bass_timbre = p.choice("bass.timbre", style.bass_timbres)
    out["bass"] = play(parts.bass_notes(plan, kind=p.choice("bass.kind", style.bass), p=p), timbre=bass_timbre,
                       n_samples=n, sample_rate=sr, p=p)
    comp_timbre = p.choice("comp.timbre", style.comp_timbres)
    comp = parts.comp_notes(plan, kind=p.choice("comp.kind", style.comp), p=p,
                            strum=TIMBRES[comp_timbre].shape is None)
    out["comp"] = play(comp, timbre=comp_timbre, n_samples=n, sample_rate=sr, p=p, drive_gain=drive_gain)
    if style.texture == "dub" and p.chance(p.uniform("dub", 0.2, 1.0)):
        out["comp"] = dsp.echo(out["comp"], delay=plan.step_seconds(0) * 3, feedback=0.45, sample_rate=sr)
    if style.lead and p.chance(style.lead_prob):
        lead = parts.lead_notes(plan, kind=p.choice("lead.kind", style.lead), p=p)
        out["lead"] = play(lead, timbre=p.choice("lead.timbre", style.lead_timbres), n_samples=n, sample_rate=sr,
                           p=p, drive_gain=max(2.0, drive_gain / 2.0))
    if p.chance(style.pad_prob):
        out["pad"] = play(parts.pad_notes(plan), timbre=p.choice("pad.timbre", style.pad_timbres), n_samples=n,
                          sample_rate=sr, p=p)
    return out


def _master(mix: np.ndarray, style: GenreStyle, p: Params, *, sample_rate: int) -> np.ndarray:
    """Room reverb, slow dynamics, tone (low-pass, the genre's 3-band EQ plus artist and clip deviations,
    moving towards flat as difficulty rises), texture and background noise."""
    n, d = mix.size, p.difficulty
    ir = dsp.reverb_ir(sample_rate=sample_rate, t60=p.uniform("room", *style.room), predelay=0.02,
                       brightness=p.uniform("room.brightness", 0.3, 0.8), rng=p.rng)
    mix = mix + p.uniform("reverb", *style.reverb) * 1.5 * dsp.convolve(mix, ir)
    points = p.rng.normal(0.0, style.dynamics / 2.0, size=max(2, int(n / sample_rate / 4)) + 1)
    mix = mix * 10.0 ** (np.interp(np.linspace(0, points.size - 1, n), np.arange(points.size), points) / 20.0)
    mix = dsp.lowpass(mix, cutoff=p.uniform("brightness", *style.brightness, log=True), sample_rate=sample_rate)
    low = dsp.lowpass(mix, cutoff=250.0, sample_rate=sample_rate)
    high = dsp.highpass(mix, cutoff=4000.0, sample_rate=sample_rate)
    bands = (low, mix - low - high, high)
    for band, (name, genre_db) in zip(bands, zip(("low", "mid", "high"), style.eq)):
        db = (1.0 - 0.6 * d**2) * genre_db + p.uniform(f"eq.{name}", -1.5, 1.5) + p.rng.normal(0.0, 0.5 + 2.0 * d**2)
        mix = mix + (10.0 ** (db / 20.0) - 1.0) * band
    if p.chance(0.25 * d**2):  # a band-limited (radio / phone-like) recording
        mix = dsp.bandpass(mix, low=p.rng.uniform(80, 400), high=p.rng.uniform(3000, 6000), sample_rate=sample_rate)
    rms = float(np.sqrt(np.mean(mix**2))) + 1e-12
    if style.texture == "vinyl" and p.chance(p.uniform("vinyl", 0.0, 1.0)):
        clicks = (p.rng.random(n) < 8.0 / sample_rate) * p.rng.normal(0.0, 1.0, n)
        crackle = dsp.highpass(clicks, cutoff=1500.0, sample_rate=sample_rate)
        mix = mix + rms * 0.8 * crackle / (np.max(np.abs(crackle)) + 1e-12)
    snr_db = p.rng.uniform(38.0, 48.0) - 28.0 * d
    noise = dsp.coloured_noise(n=n, slope=float(p.rng.uniform(0.0, 2.0)), rng=p.rng)
    return mix + rms * 10.0 ** (-snr_db / 20.0) * noise


def render_clip(*, genre: str, seed: int, seconds: float, sample_rate: int = 22050, difficulty: float = 0.5,
                artist: int = 0) -> np.ndarray:
    """One synthetic clip of ``genre``: float32 mono ``(round(seconds * sample_rate),)`` with peak -1 dBFS.

    The clip is a pure function of the arguments: ``seed`` (int >= 0) draws the clip, ``artist`` (0 ..
    :data:`ARTISTS_PER_GENRE` - 1, or any int >= 0) fixes a consistent signature (preferred key, tempo
    sub-range, instruments, mix, effects), ``difficulty`` in [0, 1] controls how much genres overlap.
    """
    if genre not in GENRES:
        raise ValueError(f"Unknown genre '{genre}'; choose one of {', '.join(GENRES)}.")
    if not 0.0 <= difficulty <= 1.0:
        raise ValueError(f"difficulty must be between 0 and 1, got {difficulty}.")
    if seed < 0 or artist < 0:
        raise ValueError(f"seed and artist must be non-negative integers, got seed={seed}, artist={artist}.")
    if not 0.0 < seconds <= 600.0:
        raise ValueError(f"seconds must be in (0, 600], got {seconds}.")
    if not 8000 <= sample_rate <= 96000:
        raise ValueError(f"sample_rate must be between 8000 and 96000 Hz, got {sample_rate}.")
    p = Params(genre_index=GENRES.index(genre), artist=artist, seed=seed, difficulty=difficulty)
    style, _ = clip_style(genre, p)
    preroll = int(p.rng.uniform(0.5, 2.5) * sample_rate)  # start mid-song: notes and reverb already sounding
    plan = _plan(style, p, seconds=seconds + preroll / sample_rate, sample_rate=sample_rate)
    audio = _parts(plan, style, p)
    mix = np.zeros(plan.n_samples)
    jitter = 1.0 + 3.0 * difficulty**2  # dB of extra random level per part
    for name, part in audio.items():
        rms = float(np.sqrt(np.mean(part**2)))
        if rms > 0:
            gain_db = p.uniform(f"gain.{name}", *style.gains.get(name, DEFAULT_GAINS[name])) + p.rng.normal(0, jitter)
            mix += part / rms * 10.0 ** (gain_db / 20.0)
    mix = _master(mix, style, p, sample_rate=sample_rate)
    mix = dsp.highpass(mix, cutoff=30.0, sample_rate=sample_rate)[preroll:preroll + int(round(seconds * sample_rate))]
    crest = p.uniform("master.crest", 3.0, 8.0)  # soft limiter: peaks above crest x RMS are rounded off
    mix = np.tanh(mix / (crest * np.sqrt(np.mean(mix**2)) + 1e-12))
    mix *= PEAK / (np.max(np.abs(mix)) + 1e-12)
    return mix.astype(np.float32)
