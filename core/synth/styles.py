"""The ten genres as recipes: tempo, groove, harmony, instrumentation, effects, and their musical neighbours.

Every range is what an artist of the genre may choose from (an artist picks a point; its clips jitter around it).
``difficulty`` widens the ranges towards :data:`GLOBAL_RANGES` and lets parts be borrowed from neighbours.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from core.synth.plan import Params

Range = tuple[float, float]


@dataclass(frozen=True)
class GenreStyle:
    """Recipe of a genre.

    Attributes:
        tempo: BPM range. swing8 / swing16: see :class:`core.synth.plan.Plan`.
        progressions: Chord progressions in Roman numerals (one token per bar).
        drums: Drum pattern families (empty: no drums); kit: drum kit name.
        bass, comp, lead: Kinds of part (an artist prefers one); *_timbres: instruments that play them.
        lead_prob: Chance a clip has a melody. pad_timbres / pad_prob: an optional sustained pad layer.
        drive: Amp gain range for distorted instruments. brightness: master low-pass range (Hz).
        reverb: wet level range; room: reverb decay range (s). gains: part levels in dB (ranges).
        meter3: chance of 3/4 time. rubato: tempo wobble (fraction). dynamics: slow level swells (dB).
        eq: Production EQ in dB (lows under 250 Hz, mids, highs over 4 kHz): the genre's typical balance.
        texture: ``"vinyl"`` crackle, ``"dub"`` echo on the chords, or ``""``.
        neighbours: Genres that parts are borrowed from at higher difficulty, with weights.
    """

    tempo: Range
    swing8: Range
    swing16: Range
    progressions: tuple[str, ...]
    drums: tuple[str, ...]
    kit: str
    bass: tuple[str, ...]
    bass_timbres: tuple[str, ...]
    comp: tuple[str, ...]
    comp_timbres: tuple[str, ...]
    lead: tuple[str, ...]
    lead_timbres: tuple[str, ...]
    lead_prob: float
    pad_timbres: tuple[str, ...]
    pad_prob: float
    drive: Range
    brightness: Range
    reverb: Range
    room: Range
    neighbours: dict[str, float]
    eq: tuple[float, float, float]
    gains: dict[str, Range] = field(default_factory=dict)
    meter3: float = 0.0
    rubato: float = 0.0
    dynamics: float = 2.0
    texture: str = ""


#: Where every genre's ranges move to as difficulty approaches 1 (at half the distance).
GLOBAL_RANGES: dict[str, Range] = {
    "tempo": (60.0, 190.0), "drive": (1.0, 60.0), "brightness": (2500.0, 11000.0), "reverb": (0.0, 0.5),
    "room": (0.4, 2.5),
}

#: Default part levels in dB; a style's ``gains`` override them.
DEFAULT_GAINS: dict[str, Range] = {"drums": (-1.0, 1.0), "bass": (-5.0, -1.0), "comp": (-4.0, 0.0),
                                   "lead": (-6.0, -2.0), "pad": (-10.0, -5.0)}

#: Fields that travel together when a part is borrowed from a neighbouring genre.
PART_FIELDS: dict[str, tuple[str, ...]] = {
    "groove": ("tempo", "swing8", "swing16"),
    "harmony": ("progressions",),
    "drums": ("drums", "kit"),
    "bass": ("bass", "bass_timbres"),
    "comp": ("comp", "comp_timbres", "drive"),
    "lead": ("lead", "lead_timbres", "lead_prob"),
    "pad": ("pad_timbres", "pad_prob"),
}

STYLES: dict[str, GenreStyle] = {
    "blues": GenreStyle(
        tempo=(70, 120), swing8=(0.12, 0.17), swing16=(0, 0),
        progressions=("I7 I7 I7 I7 IV7 IV7 I7 I7 V7 IV7 I7 V7", "I7 IV7 I7 I7 IV7 IV7 I7 I7 V7 IV7 I7 V7",
                      "i7 i7 i7 i7 iv7 iv7 i7 i7 bVI7 V7 i7 V7"),
        drums=("shuffle",), kit="acoustic", bass=("boogie", "walking"), bass_timbres=("finger_bass", "upright"),
        comp=("shuffle",), comp_timbres=("dist_guitar", "clean_guitar"),
        lead=("blues",), lead_timbres=("lead_guitar", "harmonica"), lead_prob=0.85,
        pad_timbres=("organ",), pad_prob=0.2, drive=(3, 8), brightness=(3500, 7000), reverb=(0.1, 0.3),
        room=(0.8, 1.6), neighbours={"jazz": 0.5, "rock": 0.3, "country": 0.2}, eq=(-1.0, 4.0, -1.0),
    ),
    "classical": GenreStyle(
        tempo=(60, 110), swing8=(0, 0), swing16=(0, 0),
        progressions=("I IV V I", "I vi ii V", "I V vi iii IV I IV V", "i iv V i", "i VI iv V", "I ii V I"),
        drums=(), kit="acoustic", bass=("sustain",), bass_timbres=("cello",),
        comp=("pad", "arpeggio"), comp_timbres=("strings", "piano"),
        lead=("cantabile",), lead_timbres=("violin", "flute"), lead_prob=0.85,
        pad_timbres=("strings",), pad_prob=0.6, drive=(1, 1), brightness=(3000, 6000), reverb=(0.25, 0.5),
        room=(1.6, 2.8), neighbours={"jazz": 0.5, "pop": 0.3, "country": 0.2}, eq=(-2.0, 0.0, -3.0),
        gains={"bass": (-6.0, -2.0), "comp": (-3.0, 0.0), "lead": (-4.0, -1.0)},
        meter3=0.35, rubato=0.06, dynamics=8.0,
    ),
    "country": GenreStyle(
        tempo=(90, 140), swing8=(0, 0.05), swing16=(0, 0),
        progressions=("I I IV I V V I I", "I IV I V", "I V vi IV", "I I IV IV I V I I"),
        drums=("train",), kit="acoustic", bass=("alternating",), bass_timbres=("finger_bass", "upright"),
        comp=("strum", "boomchick"), comp_timbres=("twang", "clean_guitar"),
        lead=("country",), lead_timbres=("twang", "violin"), lead_prob=0.75,
        pad_timbres=("organ",), pad_prob=0.1, drive=(1, 2), brightness=(5000, 9000), reverb=(0.05, 0.2),
        room=(0.6, 1.2), neighbours={"rock": 0.4, "blues": 0.3, "pop": 0.3}, eq=(-2.0, 2.0, 1.0),
    ),
    "disco": GenreStyle(
        tempo=(112, 128), swing8=(0, 0), swing16=(0, 0.04),
        progressions=("i7 i7 iv7 iv7", "i9 IV9", "Imaj7 ii7", "vi7 ii7 V7 Imaj7"),
        drums=("disco",), kit="electronic", bass=("octave",), bass_timbres=("pick_bass", "finger_bass"),
        comp=("stabs",), comp_timbres=("clean_guitar", "epiano", "strings"),
        lead=("riff", "hook"), lead_timbres=("brass", "strings"), lead_prob=0.6,
        pad_timbres=("strings",), pad_prob=0.6, drive=(1, 2), brightness=(7000, 11000), reverb=(0.1, 0.25),
        room=(0.8, 1.5), neighbours={"pop": 0.6, "hiphop": 0.2, "reggae": 0.2}, eq=(3.0, -1.0, 4.0),
        gains={"drums": (1.0, 3.0)},
    ),
    "hiphop": GenreStyle(
        tempo=(80, 98), swing8=(0, 0), swing16=(0.08, 0.2),
        progressions=("i7 i7 iv7 iv7", "i7 bVImaj7", "i9 i9 bVII7 bVII7", "ii9 V13"),
        drums=("boombap",), kit="boombap", bass=("sub",), bass_timbres=("sub_bass", "finger_bass"),
        comp=("loop",), comp_timbres=("epiano", "piano", "strings"),
        lead=("sparse",), lead_timbres=("flute", "epiano"), lead_prob=0.4,
        pad_timbres=("strings",), pad_prob=0.2, drive=(1, 2), brightness=(2500, 5000), reverb=(0.02, 0.12),
        room=(0.5, 1.0), neighbours={"reggae": 0.3, "pop": 0.3, "disco": 0.2, "jazz": 0.2}, eq=(6.0, -1.0, -4.0),
        gains={"drums": (1.0, 3.0), "bass": (-2.0, 1.0), "comp": (-7.0, -3.0)}, texture="vinyl",
    ),
    "jazz": GenreStyle(
        tempo=(100, 200), swing8=(0.12, 0.17), swing16=(0, 0),
        progressions=("ii9 V13 Imaj9 Imaj9", "Imaj9 vi9 ii9 V13", "iii7 VI13 ii9 V13", "iim7b5 V7 i9 i9",
                      "Imaj7/vi9 ii9/V13 iii7/VI13 ii9/V13"),
        drums=("jazz",), kit="brushes", bass=("walking",), bass_timbres=("upright",),
        comp=("charleston",), comp_timbres=("piano", "epiano"),
        lead=("bebop",), lead_timbres=("sax", "brass"), lead_prob=0.8,
        pad_timbres=("organ",), pad_prob=0.1, drive=(1, 1.5), brightness=(4000, 7000), reverb=(0.1, 0.3),
        room=(0.8, 1.6), neighbours={"blues": 0.6, "classical": 0.3, "hiphop": 0.1}, eq=(1.0, 0.0, -4.0),
        gains={"drums": (-4.0, -1.0)},
    ),
    "metal": GenreStyle(
        tempo=(140, 200), swing8=(0, 0), swing16=(0, 0),
        progressions=("i i bVI bVII", "i bII i bII", "i i bVII bVI", "i5 bIII5 bVII5 iv5"),
        drums=("metal",), kit="metal", bass=("chug",), bass_timbres=("pick_bass",),
        comp=("chug",), comp_timbres=("dist_guitar",),
        lead=("tremolo",), lead_timbres=("lead_guitar",), lead_prob=0.4,
        pad_timbres=("strings",), pad_prob=0.05, drive=(25, 80), brightness=(7000, 11000), reverb=(0.05, 0.2),
        room=(0.6, 1.2), neighbours={"rock": 0.9, "hiphop": 0.1}, eq=(2.0, -3.0, 3.0),
        gains={"comp": (0.0, 3.0)}, dynamics=1.0,
    ),
    "pop": GenreStyle(
        tempo=(95, 130), swing8=(0, 0), swing16=(0, 0.03),
        progressions=("I V vi IV", "vi IV I V", "I vi IV V", "IV I V vi"),
        drums=("pop",), kit="electronic", bass=("eighths",), bass_timbres=("synth_bass",),
        comp=("synth",), comp_timbres=("supersaw", "piano", "synth_pluck"),
        lead=("hook",), lead_timbres=("voice", "square_lead"), lead_prob=0.8,
        pad_timbres=("supersaw", "strings"), pad_prob=0.5, drive=(1, 2), brightness=(7000, 11000),
        reverb=(0.1, 0.25), room=(0.8, 1.5), neighbours={"disco": 0.4, "rock": 0.3, "hiphop": 0.3}, eq=(3.0, 0.0, 4.0),
    ),
    "reggae": GenreStyle(
        tempo=(65, 85), swing8=(0.03, 0.08), swing16=(0, 0.05),
        progressions=("I IV", "I V", "i iv", "I IV V IV", "i bVII"),
        drums=("onedrop",), kit="acoustic", bass=("reggae",), bass_timbres=("dub_bass",),
        comp=("skank",), comp_timbres=("organ", "clean_guitar"),
        lead=("melodica",), lead_timbres=("harmonica", "organ"), lead_prob=0.5,
        pad_timbres=("organ",), pad_prob=0.3, drive=(1, 2), brightness=(3000, 6000), reverb=(0.1, 0.25),
        room=(0.8, 1.5), neighbours={"hiphop": 0.4, "pop": 0.3, "blues": 0.3}, eq=(6.0, -2.0, -2.0),
        gains={"bass": (-1.0, 2.0)}, texture="dub",
    ),
    "rock": GenreStyle(
        tempo=(100, 150), swing8=(0, 0.02), swing16=(0, 0),
        progressions=("I IV V IV", "I bVII IV I", "I V IV I", "i bVII bVI bVII", "I IV I V"),
        drums=("rock",), kit="acoustic", bass=("eighths",), bass_timbres=("pick_bass", "finger_bass"),
        comp=("power8",), comp_timbres=("dist_guitar",),
        lead=("solo",), lead_timbres=("lead_guitar",), lead_prob=0.5,
        pad_timbres=("organ",), pad_prob=0.15, drive=(5, 15), brightness=(5000, 9000), reverb=(0.08, 0.25),
        room=(0.8, 1.4), neighbours={"metal": 0.5, "country": 0.2, "blues": 0.2, "pop": 0.1},
        eq=(1.0, 2.0, 1.0),
    ),
}


def widen(base: Range, wide: Range, amount: float) -> Range:
    """``base`` moved ``amount`` (0..1) of the way towards ``wide``."""
    return (base[0] + amount * (wide[0] - base[0]), base[1] + amount * (wide[1] - base[1]))


def clip_style(genre: str, p: Params) -> tuple[GenreStyle, dict[str, str]]:
    """The genre's style for one clip: each part borrowed from a weighted neighbour with probability
    ``0.4 * difficulty ** 3``, and the open ranges widened ``0.5 * difficulty ** 2`` of the way towards
    :data:`GLOBAL_RANGES`. Returns the style and ``{part: lender genre}`` for the borrowed parts."""
    style = STYLES[genre]
    d = p.difficulty
    names = sorted(style.neighbours)
    weights = [style.neighbours[n] for n in names]
    borrowed: dict[str, str] = {}
    for part, fields_ in PART_FIELDS.items():
        if p.chance(0.4 * d**3):
            lender = names[int(p.rng.choice(len(names), p=[w / sum(weights) for w in weights]))]
            if part == "drums" and not STYLES[lender].drums and style.drums:
                continue
            style = replace(style, **{f: getattr(STYLES[lender], f) for f in fields_})
            borrowed[part] = lender
    widened = {name: widen(getattr(style, name), wide, 0.5 * d**2) for name, wide in GLOBAL_RANGES.items()}
    return replace(style, **widened), borrowed
