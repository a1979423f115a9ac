"""Write the synthetic genre set to disk as a GTZAN tree with ``metadata.csv`` (resumable and parallel)."""

from __future__ import annotations

import csv
import json
import multiprocessing
import os
import re
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
from tqdm import tqdm

from core.config import GENRES
from core.errors import GenreLabError
from core.synth.render import ARTISTS_PER_GENRE, render_clip

#: Bumped whenever the generator's output changes: a folder made by another version is refused.
SYNTH_VERSION = 2
_MANIFEST = "synth.json"
_METADATA = "metadata.csv"
_COLUMNS = ("path", "label", "artist", "title", "track_id", "seed", "duration")

_ENSEMBLES = {
    "blues": "Blues Band", "classical": "Chamber Ensemble", "country": "String Band", "disco": "Disco Orchestra",
    "hiphop": "Beat Crew", "jazz": "Jazz Quartet", "metal": "Metal Legion", "pop": "Pop Project",
    "reggae": "Reggae Sound System", "rock": "Rock Group",
}
_FORMS = {
    "blues": ("Shuffle", "Blues", "Lament", "Boogie"), "classical": ("Study", "Sonatina", "Prelude", "Nocturne"),
    "country": ("Ramble", "Two-Step", "Ballad", "Hoedown"), "disco": ("Groove", "Night", "Dance", "Fever"),
    "hiphop": ("Beat", "Cypher", "Loop", "Break"), "jazz": ("Standard", "Changes", "Blue Note", "Bop"),
    "metal": ("Riff", "Onslaught", "Dirge", "Anthem"), "pop": ("Single", "Hook", "Song", "Chorus"),
    "reggae": ("Riddim", "Skank", "Dub", "Roots"), "rock": ("Riff", "Anthem", "Ballad", "Jam"),
}


class SynthError(GenreLabError, ValueError):
    """A synthetic-set request that cannot be honoured; the message says why and what to do."""


def artist_name(*, genre: str, artist: int) -> str:
    """Display name of a synthetic artist, e.g. ``"Synth Blues Band 2"`` for artist 1 of blues."""
    return f"Synth {_ENSEMBLES[genre]} {artist + 1}"


def track_title(*, genre: str, index: int, seed: int) -> str:
    """Display title of clip ``index`` (0-based) of a genre, e.g. ``"Blues Shuffle No. 17"``."""
    forms = _FORMS[genre]
    return f"{genre.capitalize() if genre != 'hiphop' else 'Hip-Hop'} {forms[seed % len(forms)]} No. {index + 1}"


def clip_seed(*, seed: int, genre: str, index: int) -> int:
    """The render seed (32-bit) of clip ``index`` of ``genre`` in a set made with ``seed``."""
    state = np.random.SeedSequence([seed, GENRES.index(genre), index]).generate_state(1)
    return int(state[0])


@dataclass(frozen=True)
class _Job:
    path: Path
    genre: str
    seed: int
    artist: int
    seconds: float
    sample_rate: int
    difficulty: float


@dataclass(frozen=True)
class GenerationSummary:
    """What :func:`generate_dataset` did: clips written and skipped, wall seconds, the metadata path."""

    written: int
    skipped: int
    seconds: float
    metadata: Path


def _render_job(job: _Job) -> None:
    """Render one clip and write it atomically as 16-bit PCM WAV (runs in worker processes)."""
    audio = render_clip(genre=job.genre, seed=job.seed, seconds=job.seconds, sample_rate=job.sample_rate,
                        difficulty=job.difficulty, artist=job.artist)
    tmp = job.path.with_name(f".{job.path.name}.tmp")
    sf.write(tmp, audio, job.sample_rate, subtype="PCM_16", format="WAV")
    os.replace(tmp, job.path)


def restore_clip(path: Path, *, params: dict) -> Path:
    """Render one clip of a synthetic set again into ``path`` (``.../<genre>.000NN.wav``).

    ``params`` is the set's ``synth.json`` (runs record it in ``run.json``). A clip is a pure function of those
    parameters, so the file is the one :func:`generate_dataset` wrote: the dashboard uses this to show the audio
    of a shipped run's test songs on a machine where the set was never generated.
    """
    match = re.fullmatch(r"([a-z]+)\.(\d{5})\.wav", Path(path).name)
    if not match or match.group(1) not in GENRES:
        raise SynthError(f"'{path}' is not a clip of the synthetic set (<genre>.000NN.wav).")
    if params.get("version") != SYNTH_VERSION:
        raise SynthError(f"That set was made by generator version {params.get('version')}; this is version "
                         f"{SYNTH_VERSION}, which renders different audio.")
    genre, index = match.group(1), int(match.group(2))
    job = _Job(Path(path), genre, clip_seed(seed=int(params["seed"]), genre=genre, index=index),
               index % ARTISTS_PER_GENRE, float(params["seconds"]), int(params["sample_rate"]),
               float(params["difficulty"]))
    job.path.parent.mkdir(parents=True, exist_ok=True)
    _render_job(job)
    return job.path


def _is_done(job: _Job) -> bool:
    """True when ``job.path`` is a complete clip: mono 16-bit WAV of the right rate and length."""
    if not job.path.is_file():
        return False
    try:
        info = sf.info(str(job.path))
    except RuntimeError:
        return False
    return (info.samplerate == job.sample_rate and info.channels == 1 and info.subtype == "PCM_16"
            and info.frames == int(round(job.seconds * job.sample_rate)))


def _check_manifest(out_dir: Path, params: dict) -> None:
    """Refuse a folder generated with other parameters; record ours."""
    path = out_dir / _MANIFEST
    if path.is_file():
        previous = json.loads(path.read_text())
        changed = {k: (previous.get(k), v) for k, v in params.items() if previous.get(k) != v}
        if changed:
            what = ", ".join(f"{k}={old!r} there, {new!r} asked" for k, (old, new) in sorted(changed.items()))
            raise SynthError(f"'{out_dir}' holds a synthetic set made with other parameters ({what}). "
                             "Choose another --out folder, or delete that one to regenerate it.")
    elif out_dir.is_dir() and any(out_dir.iterdir()):
        raise SynthError(f"'{out_dir}' is not empty and holds no {_MANIFEST}: choose an empty or new folder.")


def _generate(out_dir: Path, *, per_genre: int, seconds: float, seed: int, sample_rate: int, difficulty: float,
              workers: int | None, progress: bool) -> GenerationSummary:
    if per_genre < 1:
        raise SynthError(f"per_genre must be at least 1, got {per_genre}.")
    if seed < 0:
        raise SynthError(f"seed must be a non-negative integer, got {seed}.")
    if not 0.0 < seconds <= 600.0:
        raise SynthError(f"seconds must be in (0, 600], got {seconds}.")
    if not 0.0 <= difficulty <= 1.0:
        raise SynthError(f"difficulty must be between 0 and 1, got {difficulty}.")
    out_dir = Path(out_dir)
    params = {"generator": "core.synth", "version": SYNTH_VERSION, "seed": seed, "seconds": float(seconds),
              "sample_rate": sample_rate, "difficulty": float(difficulty), "artists_per_genre": ARTISTS_PER_GENRE,
              "genres": list(GENRES)}
    _check_manifest(out_dir, params)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / _MANIFEST).write_text(json.dumps(params, indent=2) + "\n")
    rows, jobs = [], []
    for genre in GENRES:
        (out_dir / "genres" / genre).mkdir(parents=True, exist_ok=True)
        for index in range(per_genre):
            rel = Path("genres") / genre / f"{genre}.{index:05d}.wav"
            artist = index % ARTISTS_PER_GENRE
            cseed = clip_seed(seed=seed, genre=genre, index=index)
            rows.append({"path": rel.as_posix(), "label": genre, "artist": artist_name(genre=genre, artist=artist),
                         "title": track_title(genre=genre, index=index, seed=cseed), "track_id": rel.stem,
                         "seed": cseed, "duration": float(seconds)})
            job = _Job(out_dir / rel, genre, cseed, artist, float(seconds), sample_rate, float(difficulty))
            if not _is_done(job):
                jobs.append(job)
    start = time.perf_counter()
    workers = max(1, min(workers or os.cpu_count() or 1, len(jobs) or 1))
    bar = tqdm(total=len(jobs), desc="synth", unit="clip", disable=not progress or not jobs)
    if workers == 1:
        for job in jobs:
            _render_job(job)
            bar.update()
    else:
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            for future in as_completed([pool.submit(_render_job, job) for job in jobs]):
                future.result()
                bar.update()
    bar.close()
    metadata = out_dir / _METADATA
    tmp = metadata.with_name(f".{_METADATA}.tmp")
    with tmp.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, metadata)
    (out_dir / _MANIFEST).write_text(json.dumps({**params, "per_genre": per_genre}, indent=2) + "\n")
    return GenerationSummary(written=len(jobs), skipped=len(rows) - len(jobs),
                             seconds=time.perf_counter() - start, metadata=metadata)


def generate_dataset(out_dir: Path, *, per_genre: int, seconds: float = 30.0, seed: int = 0,
                     sample_rate: int = 22050, difficulty: float = 0.5, workers: int | None = None,
                     progress: bool = True) -> GenerationSummary:
    """Write ``per_genre`` clips of every genre to ``out_dir``; returns what was written (and ``metadata.csv``).

    Layout: ``out_dir/genres/<genre>/<genre>.000NN.wav`` (mono 16-bit PCM WAV, ``seconds`` long at
    ``sample_rate`` Hz), ``out_dir/metadata.csv`` (columns path [relative to out_dir], label, artist, title,
    track_id, seed [the clip's render seed], duration [s]) and ``out_dir/synth.json`` (the parameters).
    Clip ``NN`` belongs to artist ``NN % ARTISTS_PER_GENRE``. Clips already complete on disk are skipped, so an
    interrupted run resumes and a larger ``per_genre`` only adds clips; a folder made with another seed,
    length, rate, difficulty or generator version is refused (:class:`SynthError`). ``workers`` processes
    (default: all cores) render in parallel; the bytes do not depend on their number.
    """
    return _generate(out_dir, per_genre=per_genre, seconds=seconds, seed=seed, sample_rate=sample_rate,
                     difficulty=difficulty, workers=workers, progress=progress)
