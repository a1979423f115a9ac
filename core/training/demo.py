"""Reproduce everything the repository ships: the synthetic set, the three demo runs and the demo catalog.

``python -m core demo`` runs, in order (each step skips what is already there):

1. ``data/synth``: the synthetic genre set (:data:`SYNTH`: clips per genre, seconds, seed, difficulty);
2. ``models/runs/{cnn,crnn,knn,transfer}-synth`` (:data:`DEMO_RUNS`) and ``knn-seeds-s{0,1,2}``
   (:data:`DEMO_SEED_GROUP`): the shipped runs, split by artist;
3. ``data/catalogs/demo``: small tagged Opus clips rendered from the generator with their own seeds (so they are
   not training songs), analysed into the demo catalog with the pretrained tagger.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import soundfile as sf
from tqdm import tqdm

from core.config import GENRES, REPO_ROOT
from core.library.catalog import CATALOGS_DIR, build_catalog
from core.runs.folder import default_model, runs_root
from core.training.settings import TrainSettings, with_options
from core.training.train import make_settings, train, train_seeds

SYNTH_DIR: Path = REPO_ROOT / "data" / "synth"
#: Parameters of the shipped synthetic set.
SYNTH = {"per_genre": 40, "seconds": 30.0, "seed": 0, "difficulty": 0.5}
_COMMON = {"data": "data/synth", "split": "auto", "valid": 0.25, "test": 0.25, "seed": 0}
#: The shipped runs and their settings (each trains in under 10 minutes on 2 CPU cores).
DEMO_RUNS: dict[str, TrainSettings] = {
    "cnn-synth": make_settings("cnn", epochs=20, lr=2e-3, crops_per_track=6, **_COMMON),
    "crnn-synth": make_settings("crnn", epochs=20, lr=2e-3, crops_per_track=6, **_COMMON),
    "knn-synth": make_settings("knn", k=10, **_COMMON),
    # the head as it was when this run was shipped: C = 1, consecutive windows, no weights
    "transfer-synth": make_settings("transfer", c=1.0, hop_seconds=3.0, balance=False, **_COMMON),
}
#: A seed group (split and model seeded 0, 1, 2) so the Compare page shows training variance as mean ± std.
DEMO_SEED_GROUP = ("knn-seeds", make_settings("knn", k=10, **_COMMON), [0, 1, 2])
DEMO_CATALOG = "demo"
#: Demo catalog: clips per genre, seconds per clip, base seed (distinct from the training set's clips).
CATALOG_CLIPS = {"per_genre": 6, "seconds": 20.0, "seed": 1_000_003}


def write_catalog_audio(folder: Path, *, per_genre: int, seconds: float, seed: int, progress: bool = True) -> int:
    """Render tagged Opus clips (title, artist, album, genre) for the demo catalog; returns how many were written."""
    from mutagen.oggopus import OggOpus

    from core.synth import ARTISTS_PER_GENRE, artist_name, render_clip, track_title

    folder.mkdir(parents=True, exist_ok=True)
    written = 0
    jobs = [(g, i) for g in GENRES for i in range(per_genre)]
    for genre, i in tqdm(jobs, desc="demo catalog audio", unit="clip", disable=not progress):
        path = folder / f"{genre}-{i:02d}.opus"
        if path.exists():
            continue
        artist = i % ARTISTS_PER_GENRE
        clip_seed = seed + 1000 * GENRES.index(genre) + i
        wave = render_clip(genre=genre, seed=clip_seed, seconds=seconds, sample_rate=48000, artist=artist)
        # compression level 0.9 ≈ 32 kbit/s: previews stay clear and the shipped catalog small (~80 kB per clip).
        with sf.SoundFile(path, "w", 48000, 1, format="OGG", subtype="OPUS", compression_level=0.9) as f:
            for start in range(0, len(wave), 48000):  # blocks: libsndfile's Ogg encoders crash on huge writes
                f.write(np.asarray(wave[start : start + 48000], dtype=np.float32))
        tags = OggOpus(path)
        tags["title"] = track_title(genre=genre, index=i, seed=clip_seed)
        tags["artist"] = artist_name(genre=genre, artist=artist)
        tags["album"] = "Genre Lab synthetic set (generated)"
        tags["genre"] = genre
        tags.save()
        written += 1
    return written


def build_demo(*, runs: bool = True, catalog: bool = True, workers: int | None = None, progress: bool = True,
               say: Callable[[str], None] = lambda line: None) -> None:
    """Run the steps of the module docstring, skipping what exists. ``say`` receives one line per step."""
    from core.synth import generate_dataset

    group, group_settings, seeds = DEMO_SEED_GROUP
    root = runs_root()
    missing = [run_id for run_id in DEMO_RUNS if not (root / run_id).exists()]
    group_missing = not any((root / f"{group}-s{seed}").exists() for seed in seeds)
    if runs and (missing or group_missing):
        generate_dataset(SYNTH_DIR, workers=workers, progress=progress, **SYNTH)
        for run_id in missing:
            say(f"training {run_id} …")
            train(with_options(DEMO_RUNS[run_id], data=str(SYNTH_DIR), run_id=run_id, workers=workers),
                  progress=progress)
        if group_missing:
            train_seeds(with_options(group_settings, data=str(SYNTH_DIR), run_id=group, group=group, workers=workers),
                        seeds, progress=progress)
    elif runs:
        say("All shipped runs exist; delete a run folder under models/runs to retrain it.")
    if catalog:
        audio = CATALOGS_DIR / DEMO_CATALOG / "audio"
        write_catalog_audio(audio, progress=progress, **CATALOG_CLIPS)
        build_catalog(audio, name=DEMO_CATALOG, model=default_model(), workers=workers, progress=progress)
