"""Instruments: named timbres that turn note lists into audio, and drum kits that turn hit lists into audio."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from core.synth import dsp
from core.synth.plan import Params


class Note(NamedTuple):
    """One note: onset ``time`` (s), held ``dur`` (s), MIDI ``pitch``, velocity ``vel`` (0..1) and ``bend``
    (cents the note starts off pitch, gliding in)."""

    time: float
    dur: float
    pitch: int
    vel: float
    bend: float = 0.0


@dataclass(frozen=True)
class Timbre:
    """How an instrument sounds.

    Attributes:
        shape: Wavetable shape (see :func:`core.synth.dsp.wavetable`); ``None`` = plucked string (Karplus-Strong).
        cutoff: Range of the tone's low-pass in Hz (the artist picks a point in it).
        attack: Attack time in s.
        t60: Range of the decay time in s (30 = sustained).
        release: Release after the note ends, s.
        voices: Detuned unison voices; ``detune`` their total spread in cents.
        vibrato: Vibrato depth in cents (at ``vibrato_hz``).
        tremolo: Amplitude modulation depth (0..1) at 5.5 Hz (organ Leslie, e-piano).
        damping: Range of the string-loop damping (plucked strings only; low = twangy).
        distorted: Played through the part's amp (:func:`core.synth.dsp.drive`).
        breath: Level of breath noise following the envelope (wind instruments).
        drop: Cents the note starts above pitch, falling in 40 ms (808 bass).
    """

    shape: str | None
    cutoff: tuple[float, float] = (3000.0, 6000.0)
    attack: float = 0.005
    t60: tuple[float, float] = (30.0, 30.0)
    release: float = 0.08
    voices: int = 1
    detune: float = 0.0
    vibrato: float = 0.0
    vibrato_hz: float = 5.5
    tremolo: float = 0.0
    damping: tuple[float, float] = (0.1, 0.3)
    distorted: bool = False
    breath: float = 0.0
    drop: float = 0.0


TIMBRES: dict[str, Timbre] = {
    "piano": Timbre("piano", cutoff=(2500, 6000), attack=0.003, t60=(1.5, 3.0), release=0.15),
    "epiano": Timbre("epiano", cutoff=(3000, 6000), attack=0.003, t60=(2.0, 4.0), release=0.2, tremolo=0.25),
    "organ": Timbre("organ", cutoff=(4000, 8000), attack=0.01, release=0.05, tremolo=0.3),
    "strings": Timbre("saw", cutoff=(2500, 5000), attack=0.3, release=0.4, voices=3, detune=14.0, vibrato=10.0),
    "supersaw": Timbre("saw", cutoff=(5000, 10000), attack=0.005, t60=(6.0, 12.0), release=0.15, voices=3,
                       detune=20.0),
    "synth_pluck": Timbre("square", cutoff=(2000, 5000), attack=0.002, t60=(0.3, 0.6), release=0.05),
    "twang": Timbre(None, t60=(1.0, 2.0), damping=(0.02, 0.12)),
    "clean_guitar": Timbre(None, t60=(1.0, 2.0), damping=(0.15, 0.3)),
    "nylon": Timbre(None, t60=(0.8, 1.5), damping=(0.35, 0.5)),
    "dist_guitar": Timbre("saw", cutoff=(3000, 6000), attack=0.003, t60=(4.0, 8.0), release=0.05, voices=2,
                          detune=8.0, distorted=True),
    "lead_guitar": Timbre("saw", cutoff=(2500, 5000), attack=0.005, t60=(3.0, 6.0), release=0.08, vibrato=25.0,
                          distorted=True),
    "sax": Timbre("reed", cutoff=(1500, 3500), attack=0.04, release=0.08, vibrato=18.0, breath=0.1),
    "flute": Timbre("sine", cutoff=(3000, 3000), attack=0.06, release=0.1, vibrato=10.0, breath=0.2),
    "violin": Timbre("saw", cutoff=(3000, 6000), attack=0.08, release=0.15, vibrato=25.0, vibrato_hz=6.0),
    "brass": Timbre("saw", cutoff=(1500, 3500), attack=0.03, release=0.08, vibrato=8.0),
    "harmonica": Timbre("reed", cutoff=(2000, 4000), attack=0.02, release=0.06, vibrato=30.0, breath=0.08),
    "voice": Timbre("voice", cutoff=(4000, 7000), attack=0.05, release=0.1, vibrato=20.0),
    "square_lead": Timbre("square", cutoff=(3000, 8000), attack=0.005, release=0.05, vibrato=8.0),
    "finger_bass": Timbre("bass", cutoff=(800, 1600), attack=0.005, t60=(1.5, 2.5), release=0.05),
    "pick_bass": Timbre("saw", cutoff=(1500, 3000), attack=0.003, t60=(1.0, 2.0), release=0.04),
    "upright": Timbre(None, t60=(0.6, 1.0), damping=(0.4, 0.5)),
    "synth_bass": Timbre("saw", cutoff=(400, 1200), attack=0.005, release=0.03),
    "sub_bass": Timbre("sine", cutoff=(400, 400), attack=0.005, t60=(1.5, 3.0), release=0.1, drop=300.0),
    "dub_bass": Timbre("bass", cutoff=(300, 600), attack=0.01, release=0.05),
    "cello": Timbre("saw", cutoff=(1500, 3000), attack=0.12, release=0.3, voices=2, detune=6.0, vibrato=15.0),
}


def play(notes: list[Note], *, timbre: str, n_samples: int, sample_rate: int, p: Params,
         drive_gain: float = 1.0) -> np.ndarray:
    """Render ``notes`` with the named timbre into ``(n_samples,)``; distorted timbres go through an amp with
    ``drive_gain``. The artist sets the cutoff, decay and damping within the timbre's ranges."""
    spec = TIMBRES[timbre]
    out = np.zeros(n_samples)
    cutoff = int(round(p.uniform(f"{timbre}.cutoff", *spec.cutoff, log=True), -1))
    t60 = p.uniform(f"{timbre}.t60", *spec.t60)
    damping = p.uniform(f"{timbre}.damping", *spec.damping)
    for note in notes:
        start = int(note.time * sample_rate)
        if start >= n_samples or start < 0:
            continue
        length = min(n_samples - start, int((note.dur + spec.release) * sample_rate))
        if length < 16:
            continue
        freq = dsp.midi_hz(note.pitch)
        if spec.shape is None:
            tone = dsp.pluck(freq=freq, n=length, sample_rate=sample_rate, t60=t60, damping=damping,
                             pick=0.1 + 0.2 * p.rng.random(), rng=p.rng)
            tone = tone * np.clip(1.0 - (np.arange(length) / sample_rate - note.dur) / spec.release, 0.0, 1.0)
        else:
            table = dsp.wavetable(spec.shape, note.pitch, sample_rate, cutoff)
            tone = np.zeros(length)
            for v in range(spec.voices):
                cents = spec.detune * (v / (spec.voices - 1) - 0.5) if spec.voices > 1 else 0.0
                tone += dsp.oscillate(table, freq=freq * 2.0 ** (cents / 1200.0), n=length, sample_rate=sample_rate,
                                      vibrato_hz=spec.vibrato_hz, vibrato_cents=spec.vibrato,
                                      bend_cents=note.bend + spec.drop, bend_seconds=0.04 if spec.drop else 0.08,
                                      phase=float(p.rng.random()))
            tone /= spec.voices
            if spec.breath:
                noise = dsp.bandpass(p.rng.uniform(-1.0, 1.0, length), low=min(2.0 * freq, 8000.0),
                                     high=min(8.0 * freq, 10000.0), sample_rate=sample_rate)
                tone += spec.breath * noise
            tone *= dsp.envelope(n=length, sample_rate=sample_rate, attack=spec.attack, t60=t60, hold=note.dur,
                                 release=spec.release)
        out[start:start + length] += note.vel * tone
    if spec.tremolo:
        t = np.arange(n_samples) / sample_rate
        out *= 1.0 - spec.tremolo * 0.5 * (1.0 + np.sin(2.0 * np.pi * 5.5 * t))
    if spec.distorted and np.any(out):
        out = dsp.drive(out, gain=drive_gain, sample_rate=sample_rate,
                        cabinet_hz=p.uniform("amp.cabinet", 3000.0, 6000.0, log=True))
    return out


@dataclass(frozen=True)
class Kit:
    """Parameter ranges of a drum kit (Hz, seconds, 0..1 mixes); the artist picks a point in each."""

    kick_hz: tuple[float, float]
    kick_end: tuple[float, float]
    kick_decay: tuple[float, float]
    kick_click: tuple[float, float]
    snare_hz: tuple[float, float]
    snare_decay: tuple[float, float]
    snappy: tuple[float, float]
    hat_cutoff: tuple[float, float]
    hat_decay: tuple[float, float]


KITS: dict[str, Kit] = {
    "acoustic": Kit((90, 130), (45, 60), (0.3, 0.5), (0.2, 0.4), (180, 230), (0.18, 0.3), (0.5, 0.7),
                    (6000, 8000), (0.05, 0.09)),
    "brushes": Kit((70, 90), (42, 50), (0.25, 0.4), (0.0, 0.05), (170, 210), (0.15, 0.25), (0.3, 0.5),
                   (5000, 7000), (0.05, 0.08)),
    "electronic": Kit((150, 200), (45, 55), (0.4, 0.6), (0.05, 0.15), (190, 230), (0.15, 0.25), (0.65, 0.8),
                      (8000, 10000), (0.03, 0.06)),
    "boombap": Kit((110, 140), (42, 52), (0.5, 0.8), (0.25, 0.4), (160, 200), (0.25, 0.35), (0.5, 0.65),
                   (4500, 6500), (0.04, 0.07)),
    "metal": Kit((120, 160), (55, 70), (0.15, 0.25), (0.7, 1.0), (220, 260), (0.15, 0.22), (0.65, 0.8),
                 (7500, 9500), (0.04, 0.07)),
}

#: Relative level of each drum voice in dB.
_VOICE_DB = {"kick": 0.0, "snare": -1.0, "clap": -2.0, "rim": -8.0, "hat": -12.0, "ohat": -12.0, "pedal": -16.0,
             "ride": -14.0, "crash": -10.0, "tom": -4.0, "brush": -10.0, "shaker": -18.0}


def drum_voices(kit_name: str, *, sample_rate: int, p: Params) -> dict[str, np.ndarray]:
    """One-shot samples (peak 1, scaled by the voice's level) of every drum voice of a kit, for one clip."""
    kit = KITS[kit_name]
    rng, sr = p.rng, sample_rate
    u = p.uniform
    hat_cut = u("kit.hat_cutoff", *kit.hat_cutoff, log=True)
    kick_hz = u("kit.kick_hz", *kit.kick_hz, log=True)
    voices = {
        "kick": dsp.kick(sample_rate=sr, f_start=kick_hz, f_end=u("kit.kick_end", *kit.kick_end), sweep=0.03,
                         decay=u("kit.kick_decay", *kit.kick_decay), click=u("kit.click", *kit.kick_click), rng=rng),
        "snare": dsp.snare(sample_rate=sr, tone_hz=u("kit.snare_hz", *kit.snare_hz), tone_decay=0.12,
                           noise_decay=u("kit.snare_decay", *kit.snare_decay), noise_hz=4000.0,
                           snappy=u("kit.snappy", *kit.snappy), rng=rng),
        "hat": dsp.cymbal(sample_rate=sr, decay=u("kit.hat_decay", *kit.hat_decay), cutoff=hat_cut, metal=0.6,
                          scale=1.0, rng=rng),
        "ohat": dsp.cymbal(sample_rate=sr, decay=0.35, cutoff=hat_cut, metal=0.6, scale=1.0, rng=rng),
        "pedal": dsp.cymbal(sample_rate=sr, decay=0.04, cutoff=hat_cut * 0.8, metal=0.7, scale=1.0, rng=rng),
        "ride": dsp.cymbal(sample_rate=sr, decay=1.6, cutoff=3500.0, metal=0.85, scale=1.7, rng=rng),
        "crash": dsp.cymbal(sample_rate=sr, decay=1.8, cutoff=3000.0, metal=0.3, scale=2.3, rng=rng),
        "tom": dsp.kick(sample_rate=sr, f_start=1.6 * kick_hz, f_end=1.5 * kick_hz * 0.9, sweep=0.05, decay=0.35,
                        click=0.2, rng=rng),
        "clap": dsp.clap(sample_rate=sr, decay=0.15, centre=1500.0, rng=rng),
        "rim": dsp.rim(sample_rate=sr, rng=rng),
        "brush": dsp.brush(sample_rate=sr, decay=0.25, rng=rng),
        "shaker": dsp.shaker(sample_rate=sr, rng=rng),
    }
    boost = {"hat": 4.0, "ohat": 4.0} if kit_name == "electronic" else {}
    return {name: sample * 10.0 ** ((_VOICE_DB[name] + boost.get(name, 0.0)) / 20.0) for name, sample in voices.items()}


def place(hits: list[tuple[float, float]], *, sample: np.ndarray, n_samples: int, sample_rate: int) -> np.ndarray:
    """Add ``sample`` at every ``(time s, velocity)`` hit into ``(n_samples,)``."""
    out = np.zeros(n_samples)
    for time, vel in hits:
        start = int(time * sample_rate)
        if 0 <= start < n_samples:
            end = min(n_samples, start + sample.size)
            out[start:end] += vel * sample[: end - start]
    return out
