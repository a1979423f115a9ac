"""Song catalogs: a music folder analysed once, stored for recommendations.

``data/catalogs/<name>/``::

    catalog.json      model, classes, embedding size, counts, created
    tracks.parquet    one row per song: path, content hash, title, artist, album, tag genre, predicted genre,
                      top genres, duration, p_<class> spectrum columns
    embeddings.npy    (n_tracks, d) float32 song embeddings, row-aligned with tracks.parquet
    index/            the similarity index (core.library.index)
    report.csv        files that could not be analysed, with the reason

Building is incremental: a file whose content hash is already in the catalog is not analysed again. Songs are
analysed in parallel worker processes (each loads the model once), with a progress bar; a bad file is listed in
the report and never aborts the build.
"""

from __future__ import annotations

import json
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from core.analysis.evaluate import prob_columns
from core.audio.decode import AudioError
from core.audio.files import audio_files, content_hash
from core.config import AUDIO_EXTENSIONS, REPO_ROOT, repo_relative
from core.errors import InputError, NotFoundError

CATALOGS_DIR: Path = REPO_ROOT / "data" / "catalogs"


def read_metadata(path: Path) -> dict[str, str]:
    """Title, artist, album and genre from the file's tags (mutagen), with the file name as the title fallback."""
    import mutagen

    meta = {"title": "", "artist": "", "album": "", "tag_genre": ""}
    try:
        tags = mutagen.File(path, easy=True)
    except Exception:  # noqa: BLE001 - unreadable tags are not fatal: the audio may still decode
        tags = None
    if tags is not None and tags.tags is not None:
        for key, column in (("title", "title"), ("artist", "artist"), ("album", "album"), ("genre", "tag_genre")):
            values = tags.tags.get(key) if hasattr(tags.tags, "get") else None
            if values:
                meta[column] = "; ".join(str(v) for v in values)
    meta["title"] = meta["title"] or path.stem.replace("_", " ")
    return meta


_WORKER_MODEL = None


def _init_worker(model_ref: str) -> None:
    global _WORKER_MODEL
    from core.runs.folder import load_model

    torch.set_num_threads(1)
    _WORKER_MODEL = load_model(model_ref, device="cpu")


def _analyse(path: str) -> tuple[str, dict[str, object] | None, np.ndarray | None, str]:
    """Worker: ``(path, row, embedding, error)`` for one file."""
    from core.analysis.predict import predict_song

    try:
        pred = predict_song(path, model=_WORKER_MODEL)
    except AudioError as error:
        return path, None, None, str(error)
    if pred.is_silent:
        return path, None, None, "silent recording"
    row: dict[str, object] = {"duration": pred.duration, "genre": pred.genre,
                              "top_genres": ", ".join(g for g, _ in pred.top(2)),
                              **dict(zip(prob_columns(pred.classes), map(float, pred.spectrum)))}
    return path, row, pred.embedding.astype(np.float32), ""


@dataclass
class CatalogReport:
    """What a build did."""

    folder: Path
    added: int
    skipped: int
    failed: list[tuple[str, str]]
    total: int


def build_catalog(folder: Path, *, name: str, model: str = "musicnn", workers: int | None = None,
                  progress: bool = True, root: Path = CATALOGS_DIR) -> CatalogReport:
    """Analyse every audio file under ``folder`` into catalog ``name`` (incremental by content hash).

    Args:
        folder: Music folder, scanned recursively.
        name: Catalog name (its folder under ``root``).
        model: Run id / folder or ``"musicnn"``; an existing catalog keeps its model.
        workers: Processes (default: CPU count, at most 4).
    """
    from core.library.index import EmbeddingIndex
    from core.runs.folder import load_model

    out = root / name
    out.mkdir(parents=True, exist_ok=True)
    old_tracks, old_emb, info = _load_parts(out)
    if info and info["model"] != model:
        raise InputError(f"Catalog '{name}' was built with model '{info['model']}', not '{model}'.")
    known = set(old_tracks["hash"]) if not old_tracks.empty else set()
    files = audio_files(folder)
    if not files:
        raise InputError(f"No audio files ({', '.join(AUDIO_EXTENSIONS)}) under '{folder}'.")
    todo, hashes, skipped = [], {}, 0
    for path in files:
        digest = content_hash(path)
        if digest in known or digest in hashes.values():
            skipped += 1
            continue
        hashes[str(path)] = digest
        todo.append(str(path))
    classes = load_model(model, device="cpu").classes if not info else tuple(info["classes"])
    rows, embs, failed = [], [], []
    n_workers = workers or min(4, os.cpu_count() or 1)
    if todo:
        with ProcessPoolExecutor(max_workers=n_workers, initializer=_init_worker, initargs=(model,)) as pool:
            for path, row, emb, error in tqdm(pool.map(_analyse, todo, chunksize=1), total=len(todo),
                                              desc=f"catalog {name}", unit="song", disable=not progress):
                if row is None:
                    failed.append((repo_relative(Path(path)), error))
                    continue
                rows.append({"path": repo_relative(Path(path)), "hash": hashes[path],
                             **read_metadata(Path(path)), **row})
                embs.append(emb)
    tracks = pd.concat([old_tracks, pd.DataFrame(rows)], ignore_index=True) if rows else old_tracks
    embeddings = np.concatenate([old_emb, np.stack(embs)]) if embs and old_emb.size else (
        np.stack(embs) if embs else old_emb)
    if tracks.empty:
        raise InputError(f"None of the {len(files)} files under '{folder}' could be analysed.")
    tracks.to_parquet(out / "tracks.parquet", index=False)
    np.save(out / "embeddings.npy", embeddings.astype(np.float32), allow_pickle=False)
    EmbeddingIndex.build(embeddings).save(out / "index")
    pd.DataFrame(failed, columns=["path", "error"]).to_csv(out / "report.csv", index=False)
    (out / "catalog.json").write_text(json.dumps({
        "name": name, "model": model, "classes": list(classes), "tracks": int(len(tracks)),
        "embedding_dim": int(embeddings.shape[1]), "source": repo_relative(Path(folder)),
        "updated": datetime.now(timezone.utc).isoformat(timespec="seconds")}, indent=2))
    return CatalogReport(folder=out, added=len(rows), skipped=skipped, failed=failed, total=len(tracks))


def _load_parts(folder: Path) -> tuple[pd.DataFrame, np.ndarray, dict | None]:
    if not (folder / "catalog.json").is_file():
        return pd.DataFrame(), np.zeros((0, 0), np.float32), None
    info = json.loads((folder / "catalog.json").read_text())
    return (pd.read_parquet(folder / "tracks.parquet"), np.load(folder / "embeddings.npy", allow_pickle=False),
            info)


@dataclass
class Catalog:
    """A built catalog, loaded for queries."""

    name: str
    info: dict
    tracks: pd.DataFrame
    embeddings: np.ndarray
    index: object

    @classmethod
    def load(cls, name: str, *, root: Path = CATALOGS_DIR) -> "Catalog":
        """Load ``root/name`` (clear ``FileNotFoundError`` when it does not exist)."""
        from core.library.index import EmbeddingIndex

        folder = Path(name) if (Path(name) / "catalog.json").is_file() else root / name
        if not (folder / "catalog.json").is_file():
            raise NotFoundError(f"No catalog '{name}'. Build one with `python -m core catalog build DIR "
                                    f"--name {name}`.")
        tracks, emb, info = _load_parts(folder)
        return cls(name=info["name"], info=info, tracks=tracks, embeddings=emb,
                   index=EmbeddingIndex.load(folder / "index"))


def list_catalogs(root: Path = CATALOGS_DIR) -> list[str]:
    """Names of built catalogs."""
    return sorted(p.parent.name for p in root.glob("*/catalog.json")) if root.is_dir() else []
