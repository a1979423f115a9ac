"""Similar songs: nearest catalog songs by embedding cosine similarity, with a reason for each.

The query song is analysed with the catalog's own model (embeddings of different models are not comparable).
The query itself and exact duplicates (same content hash) are excluded; ``same_genre`` keeps only songs whose
predicted genre equals the query's.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from core.analysis.predict import SongPrediction
from core.errors import InputError
from core.library.catalog import Catalog

#: A query genre counts as shared with a catalog song when it has at least this probability in the query.
SHARED_FLOOR = 0.2


def _reason(query: SongPrediction, row: pd.Series, match: str) -> str:
    ours = [g for g, p in query.top(2) if p >= SHARED_FLOOR]
    theirs = [g.strip() for g in str(row["top_genres"]).split(",")]
    shared = [g for g in ours if g in theirs]
    if shared:
        return f"shares {' and '.join(shared)}; a {match} match in sound"
    return f"a {match} match in sound, of another genre ({row['genre']})"


def similarity_bands(embeddings: np.ndarray, *, sample: int = 1000, seed: int = 0) -> tuple[float, float]:
    """The median and 90th percentile of cosine similarity between songs of a catalog ``(n, d)`` (a random sample
    of at most ``sample`` songs): a match below the median is *weak*, one above the 90th percentile *close*."""
    rows = embeddings
    if len(rows) > sample:
        rows = rows[np.random.default_rng(seed).choice(len(rows), sample, replace=False)]
    unit = rows / np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-12)
    pairs = (unit @ unit.T)[np.triu_indices(len(unit), 1)]
    if not len(pairs):
        return 0.0, 1.0
    return float(np.median(pairs)), float(np.percentile(pairs, 90))


def recommend(query: SongPrediction, *, catalog: Catalog, k: int = 10, same_genre: bool = False,
              exclude_hash: str | None = None) -> pd.DataFrame:
    """The ``k`` catalog songs most similar to ``query``.

    Args:
        query: The song's prediction by the catalog's model (``query.embedding`` of the catalog's dimension).
        catalog: A loaded :class:`Catalog`.
        k: Number of songs.
        same_genre: Keep only songs whose predicted genre is the query's.
        exclude_hash: Content hash of the query file (excluded with its exact duplicates).

    Returns:
        Columns ``title, artist, genre`` (predicted), ``tag_genre`` (the file's own genre tag, may be empty),
        ``similarity`` (cosine), ``match`` ("close", "fair" or "weak" against this catalog's own spread of
        similarities, :func:`similarity_bands`), ``path, reason`` (plus ``album``, ``hash``), best first.
    """
    if query.embedding.shape[0] != catalog.embeddings.shape[1]:
        raise InputError(f"The song was analysed with another model than catalog '{catalog.name}' "
                         f"(embedding size {query.embedding.shape[0]} vs {catalog.embeddings.shape[1]}).")
    tracks = catalog.tracks
    want = min(len(tracks), max(4 * k, k + 10) if not same_genre else len(tracks))
    ids, sims = catalog.index.search(query.embedding.astype(np.float32), k=want)
    weak, close = similarity_bands(catalog.embeddings)
    rows = []
    seen: set[str] = {exclude_hash} if exclude_hash else set()
    for i, sim in zip(ids[0], sims[0]):
        if i < 0:
            continue
        row = tracks.iloc[int(i)]
        if row["hash"] in seen or (same_genre and row["genre"] != query.genre):
            continue
        seen.add(row["hash"])
        match = "close" if sim >= close else "weak" if sim < weak else "fair"
        rows.append({"title": row["title"], "artist": row["artist"], "album": row.get("album", ""),
                     "genre": row["genre"], "tag_genre": str(row.get("tag_genre", "") or ""),
                     "similarity": float(sim), "match": match, "path": row["path"],
                     "reason": _reason(query, row, match), "hash": row["hash"]})
        if len(rows) == k:
            break
    return pd.DataFrame(rows, columns=["title", "artist", "album", "genre", "tag_genre", "similarity", "match", "path",
                                       "reason", "hash"])
