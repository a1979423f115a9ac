"""What the band plays: drum patterns, bass lines, chord comping and melodies, as note or hit lists.

Rhythms are written as 16-step templates (one character per sixteenth of a 4/4 bar; 3/4 bars use the first 12):
``.`` rest, ``-`` hold the previous note, ``X``/``x``/``o`` a hit (accent / normal / ghost). Bass templates use
degree symbols instead of ``x``: ``R`` root, ``3`` third, ``5`` fifth, ``6`` sixth, ``b`` minor seventh,
``8`` octave, ``s`` a chord tone picked at random, ``A`` a chromatic approach to the next chord's root.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.synth import theory
from core.synth.instruments import Note
from core.synth.plan import Params, Plan

_VELOCITY = {"X": 1.0, "x": 0.8, "o": 0.4}

#: Drum pattern families: variants of ``{voice: template}`` (an artist prefers one).
DRUM_PATTERNS: dict[str, tuple[dict[str, str], ...]] = {
    "shuffle": (
        {"kick": "x.......x.......", "snare": "....x.......x...", "hat": "x.x.x.x.x.x.x.x."},
        {"kick": "x.....x.x.......", "snare": "....x.......x...",
         "ride": "x.x.x.x.x.x.x.x.", "pedal": "....x.......x..."},
    ),
    "jazz": (
        {"ride": "x...x.x.x...x.x.", "pedal": "....x.......x...",
         "kick": "o.......o.......", "snare": "......o.......o."},
        {"ride": "x...x.x.x...x.x.", "pedal": "....x.......x...", "brush": "x.x.x.x.x.x.x.x."},
    ),
    "train": (
        {"kick": "x.......x.......", "snare": "o.o.X.o.o.o.X.o."},
        {"kick": "x.......x.......", "rim": "....x.......x...", "hat": "..x...x...x...x."},
        {"kick": "x...x...x...x...", "snare": "....x.......x...",
         "hat": "x.x.x.x.x.x.x.x.", "shaker": "xxxxxxxxxxxxxxxx"},
    ),
    "disco": (
        {"kick": "x...x...x...x...", "clap": "....x.......x...", "ohat": "..x...x...x...x.", "hat": "x...x...x...x..."},
        {"kick": "x...x...x...x...", "snare": "....x.......x...",
         "ohat": "..x...x...x...x.", "hat": "xx.xxx.xxx.xxx.x"},
    ),
    "boombap": (
        {"kick": "x.........x.....", "snare": "....X.......X...", "hat": "x.x.x.x.x.x.x.x."},
        {"kick": "x......x..x.....", "snare": "....X.......X..o", "hat": "x.xxx.x.x.xxx.x."},
        {"kick": "x.x.......x..x..", "snare": "....X.......X...",
         "hat": "x.x.x.x.x.x.x.x.", "ohat": "..............x."},
    ),
    "metal": (
        {"kick": "xxxxxxxxxxxxxxxx", "snare": "....X.......X...",
         "hat": "x.x.x.x.x.x.x.x.", "crash": "x..............."},
        {"kick": "x.x.x.x.x.x.x.x.", "snare": "..X...X...X...X.", "ride": "x.x.x.x.x.x.x.x."},
        {"kick": "xxxx..xxxxxx..xx", "snare": "....X.......X...", "crash": "x.......x......."},
    ),
    "pop": (
        {"kick": "x.....x.x.......", "clap": "....x.......x...",
         "hat": "x.x.x.x.x.x.x.x.", "shaker": "..x...x...x...x."},
        {"kick": "x...x...x...x...", "snare": "....x.......x...", "hat": "xxxxxxxxxxxxxxxx"},
        {"kick": "x......xx.x.....", "clap": "....x.......x...", "hat": "..x...x...x...x."},
    ),
    "onedrop": (
        {"kick": "........x.......", "rim": "........x.......", "hat": "x.x.x.x.x.x.x.x."},
        {"kick": "x...x...x...x...", "rim": "........x.......", "hat": "..x...x...x...x."},
        {"kick": "........x.......", "snare": "........x.......", "hat": "x.xxx.xxx.xxx.xx"},
    ),
    "rock": (
        {"kick": "x.......x.x.....", "snare": "....x.......x...", "hat": "x.x.x.x.x.x.x.x."},
        {"kick": "x.x.....x.x.....", "snare": "....x.......x...", "ride": "x.x.x.x.x.x.x.x."},
        {"kick": "x.......xx......", "snare": "....x.......x...",
         "hat": "x.x.x.x.x.x...x.", "ohat": "............x..."},
    ),
}

BASS_TEMPLATES: dict[str, tuple[str, ...]] = {
    "boogie": ("R-3-5-6-b-6-5-3-", "R-3-5-6-8-6-5-3-"),
    "walking": ("R---s---s---A---", "R---s---5---A---"),
    "alternating": ("R-------5-------", "R---..5-R---..5-", "R---5---R---5-A-"),
    "octave": ("R-8-R-8-R-8-R-8-", "R.8.R.8.R.8.R88."),
    "sub": ("R---------R-----", "R------R--R-----", "R-----------5---"),
    "chug": ("RRRRRR.RRRRRR.R.", "R.RRR.RRR.RRRRRR", "RRRR....RRRR...."),
    "eighths": ("R-R-R-R-R-R-R-R-", "R--R--R-R--R--R-", "R-R-R-R-5-5-8-8-"),
    "reggae": ("R--.R.5-8--.5-3-", "..R-R.3-5--.3-R-", "R---.R5-R--.b-5-"),
    "sustain": ("R---------------", "R-------5-------"),
}


@dataclass(frozen=True)
class CompKind:
    """A way of playing chords: rhythm templates, voicing style, register centre (MIDI) and legato (0..1)."""

    templates: tuple[str, ...]
    voicing: str
    centre: float
    legato: float


COMP_KINDS: dict[str, CompKind] = {
    "shuffle": CompKind(("....x-......x-..", "x-..x-..x-..x-..", "..x-..x-..x-..x-"), "close", 58, 0.8),
    "charleston": CompKind(("x-....x-........", "x-.....x-.......", "....x-......x..."), "rootless", 62, 0.7),
    "pad": CompKind(("x---------------", "x-------x-------"), "spread", 62, 1.0),
    "arpeggio": CompKind(("x-x-x-x-x-x-x-x-", "xxxxxxxxxxxxxxxx"), "spread", 60, 1.6),
    "boomchick": CompKind(("....x-......x-..", "....x-.x....x-.x"), "triad", 60, 0.6),
    "strum": CompKind(("x-x-.xx-x-x-.xx-", "x-.xx-.xx-.xx-.x"), "close", 57, 0.9),
    "stabs": CompKind(("..x...x...x...x.", "x..x..x...x.x...", "..x-..x-..x-..x-"), "close", 65, 0.4),
    "loop": CompKind(("x-------.x------", "x-----x---------", "x---------x-----"), "close", 60, 1.0),
    "chug": CompKind(("xxxxxx.xxxxxx.x.", "x.xxx.xxx.xxxxxx", "X-------xxxxxxxx", "xxxx....X---xxxx"), "power", 45,
                     0.5),
    "power8": CompKind(("x-x-x-x-x-x-x-x-", "x--x--x-x--x--x-", "X-------x-x-x-x-"), "power", 50, 0.9),
    "synth": CompKind(("x-.x-.x-x-.x-.x-", "x-x-x-x-x-x-x-x-", "x-------x-------"), "close", 64, 0.85),
    "skank": CompKind(("....x.......x...", "..x...x...x...x."), "triad", 64, 0.35),
}


@dataclass(frozen=True)
class LeadKind:
    """A melodic style: scales (major key, minor key), grid (steps per note), note density (0..1 per grid
    point), chance a two-bar phrase rests, MIDI range, chance of a leap, of a bend/slide into a note, legato."""

    scales: tuple[str, str]
    grid: int
    density: float
    rest: float
    low: int
    high: int
    leap: float
    bend: float
    legato: float


LEAD_KINDS: dict[str, LeadKind] = {
    "blues": LeadKind(("blues", "blues"), 2, 0.55, 0.4, 60, 79, 0.15, 0.35, 0.9),
    "bebop": LeadKind(("bebop", "dorian"), 2, 0.8, 0.25, 58, 82, 0.2, 0.0, 0.85),
    "cantabile": LeadKind(("major", "harmonic_minor"), 4, 0.7, 0.2, 67, 88, 0.1, 0.0, 1.0),
    "country": LeadKind(("penta_major", "penta_minor"), 2, 0.5, 0.4, 64, 84, 0.15, 0.3, 0.8),
    "hook": LeadKind(("penta_major", "penta_minor"), 2, 0.5, 0.35, 62, 79, 0.1, 0.05, 0.9),
    "riff": LeadKind(("dorian", "dorian"), 1, 0.35, 0.4, 62, 81, 0.2, 0.0, 0.6),
    "tremolo": LeadKind(("phrygian", "phrygian"), 1, 0.9, 0.5, 59, 83, 0.1, 0.0, 0.9),
    "melodica": LeadKind(("penta_major", "penta_minor"), 2, 0.4, 0.5, 62, 81, 0.1, 0.0, 0.8),
    "solo": LeadKind(("penta_minor", "penta_minor"), 2, 0.6, 0.35, 59, 83, 0.2, 0.3, 0.85),
    "sparse": LeadKind(("penta_minor", "penta_minor"), 4, 0.5, 0.5, 62, 84, 0.15, 0.0, 1.0),
}


def _hits(template: str, length: int) -> list[tuple[int, int, str]]:
    """``(step, held steps, symbol)`` for every note of a template cut to ``length`` steps."""
    out = []
    template = template[:length]
    for i, symbol in enumerate(template):
        if symbol in ".-":
            continue
        held = 1
        while i + held < len(template) and template[i + held] == "-":
            held += 1
        out.append((i, held, symbol))
    return out


def _jitter(p: Params, seconds: float) -> float:
    """Human timing error: normal with the artist's spread (2-10 ms), returned in seconds."""
    return float(p.rng.normal(0.0, seconds))


def drum_hits(plan: Plan, *, family: str, p: Params) -> dict[str, list[tuple[float, float]]]:
    """Hits ``{voice: [(time s, velocity), ...]}`` of a pattern family over the whole clip, with the artist's
    favourite variant, ghost notes, humanised timing, fills every 4 or 8 bars and crashes after them."""
    pattern = p.choice("drums.variant", DRUM_PATTERNS[family])
    spb = plan.steps_per_bar
    timing = p.uniform("drums.timing", 0.002, 0.01)
    phrase = p.choice("drums.phrase", (4, 8))
    ghosts = p.uniform("drums.ghosts", 0.0, 0.15)
    loud = family in ("rock", "metal", "pop", "disco")
    hits: dict[str, list[tuple[float, float]]] = {voice: [] for voice in pattern}
    hits.setdefault("snare", [])
    hits.setdefault("crash", [])
    hits.setdefault("tom", [])
    for bar in range(plan.n_bars):
        fill = bar % phrase == phrase - 1 and p.chance(0.7)
        for voice, template in pattern.items():
            for step, _, symbol in _hits(template, spb):
                if fill and step >= spb - 4 and voice in ("snare", "kick"):
                    continue
                vel = _VELOCITY.get(symbol, 0.8) * (0.85 + 0.15 * p.rng.random())
                hits[voice].append((plan.time(bar, step) + _jitter(p, timing), vel))
        for step in range(1, spb, 2):
            if p.chance(ghosts):
                hits["snare"].append((plan.time(bar, step) + _jitter(p, timing), 0.3))
        if fill:
            voice = "tom" if loud and p.chance(0.5) else "snare"
            for step in range(spb - 4, spb):
                hits[voice].append((plan.time(bar, step) + _jitter(p, timing), 0.6 + 0.1 * (step - spb + 4)))
        if loud and bar % phrase == 0 and bar > 0:
            hits["crash"].append((plan.time(bar, 0), 0.9))
    return hits


def bass_notes(plan: Plan, *, kind: str, p: Params) -> list[Note]:
    """A bass line of the named kind over the clip's chords, in MIDI 28-51."""
    template = p.choice(f"bass.{kind}", BASS_TEMPLATES[kind])
    step_s = plan.step_seconds(0)
    notes = []
    for bar in range(plan.n_bars):
        for step, held, symbol in _hits(template, plan.steps_per_bar):
            chord = plan.chord(bar, step)
            root = theory.nearest(chord.root, centre=34.0)
            if symbol == "A":
                target = theory.nearest(plan.next_chord(bar, step).root, centre=34.0)
                pitch = target + (1 if p.chance(0.5) else -1)
            elif symbol == "s":
                pitch = root + int(p.rng.choice([chord.third, chord.fifth, 12, 10 if 10 in chord.intervals else 9]))
            else:
                offset = {"R": 0, "3": chord.third, "5": chord.fifth, "6": 9, "b": 10, "8": 12}[symbol]
                pitch = root + offset
            vel = 0.75 + 0.25 * p.rng.random()
            notes.append(Note(plan.time(bar, step), held * step_s * 0.9, pitch, vel))
    return notes


def comp_notes(plan: Plan, *, kind: str, p: Params, strum: bool) -> list[Note]:
    """Chords of the named comping kind; ``strum`` staggers the strings of plucked instruments (5-20 ms)."""
    spec = COMP_KINDS[kind]
    template = p.choice(f"comp.{kind}", spec.templates)
    step_s = plan.step_seconds(0)
    centre = spec.centre + p.uniform("comp.register", -3.0, 3.0)
    strum_s = p.uniform("comp.strum", 0.005, 0.02)
    notes = []
    for bar in range(plan.n_bars):
        hits = _hits(template, plan.steps_per_bar)
        for index, (step, held, symbol) in enumerate(hits):
            pitches = theory.voice(plan.chord(bar, step), style=spec.voicing, centre=centre)
            vel = _VELOCITY.get(symbol, 0.8) * (0.8 + 0.2 * p.rng.random())
            start = plan.time(bar, step)
            dur = held * step_s * spec.legato
            if kind == "arpeggio":
                pitch = pitches[index % len(pitches)] + (12 if (index // len(pitches)) % 2 else 0)
                notes.append(Note(start, dur, pitch, vel))
                continue
            order = pitches if index % 2 == 0 else pitches[::-1]
            for k, pitch in enumerate(order):
                offset = k * strum_s if strum else 0.0
                notes.append(Note(start + offset, max(dur - offset, 0.02), pitch, vel * (0.9 if k else 1.0)))
    return notes


def pad_notes(plan: Plan) -> list[Note]:
    """Sustained chords (one per chord change) for a background pad, around MIDI 64."""
    notes = []
    for bar in range(plan.n_bars):
        n_chords = len(plan.bars[bar])
        for i in range(n_chords):
            step = i * plan.steps_per_bar // n_chords
            held = plan.steps_per_bar // n_chords
            for pitch in theory.voice(plan.chord(bar, step), style="close", centre=64.0):
                notes.append(Note(plan.time(bar, step), held * plan.step_seconds(bar), pitch, 0.6))
    return notes


def lead_notes(plan: Plan, *, kind: str, p: Params) -> list[Note]:
    """A melody: a random walk on the scale, landing on chord tones on beats, phrased in two-bar phrases that
    sometimes rest (call and response), with bends or slides into notes where the style has them."""
    spec = LEAD_KINDS[kind]
    scale = spec.scales[1] if plan.minor else spec.scales[0]
    pitches = theory.scale_pitches(tonic=plan.tonic, scale=scale, low=spec.low, high=spec.high)
    index = len(pitches) // 2
    density = spec.density * p.uniform("lead.density", 0.7, 1.2)
    onsets: list[tuple[float, int, float, float]] = []
    active = False
    for bar in range(plan.n_bars):
        if bar % 2 == 0:
            active = not p.chance(spec.rest)
        if not active:
            continue
        for step in range(0, plan.steps_per_bar, spec.grid):
            if not p.chance(density):
                continue
            steps = (-4, -3, 3, 4) if p.chance(spec.leap) else (-2, -1, -1, 1, 1, 2)
            move = int(p.rng.choice(steps))
            index = int(np.clip(index + move, 0, len(pitches) - 1))
            pitch = pitches[index]
            if step % 4 == 0 and p.chance(0.7):
                tones = plan.chord(bar, step).pitch_classes
                pitch = min((q for q in pitches if q % 12 in tones), key=lambda q: abs(q - pitch), default=pitch)
                index = pitches.index(pitch)
            bend = float(-p.rng.choice((100.0, 200.0))) if p.chance(spec.bend) else 0.0
            onsets.append((plan.time(bar, step), pitch, 0.7 + 0.3 * p.rng.random(), bend))
    max_dur = 4 * spec.grid * plan.step_seconds(0)
    ends = [t for t, *_ in onsets[1:]] + [float("inf")]
    return [Note(time, min(end - time, max_dur) * spec.legato, pitch, vel, bend)
            for (time, pitch, vel, bend), end in zip(onsets, ends)]
