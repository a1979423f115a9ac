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


def _reason(query: SongPrediction, row: pd.Series, similarity: float) -> str:
    ours = [g for g, _ in query.top(2)]
    theirs = [g.strip() for g in str(row["top_genres"]).split(",")]
    shared = [g for g in ours if g in theirs]
    sound = f"sounds {similarity:.0%} alike"
    return f"shares {' and '.join(shared)}; {sound}" if shared else f"{sound} (different genre: {row['genre']})"


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
        ``similarity, path, reason`` (plus ``album``, ``hash``), best first.
    """
    if query.embedding.shape[0] != catalog.embeddings.shape[1]:
        raise InputError(f"The song was analysed with another model than catalog '{catalog.name}' "
                         f"(embedding size {query.embedding.shape[0]} vs {catalog.embeddings.shape[1]}).")
    tracks = catalog.tracks
    want = min(len(tracks), max(4 * k, k + 10) if not same_genre else len(tracks))
    ids, sims = catalog.index.search(query.embedding.astype(np.float32), k=want)
    rows = []
    seen: set[str] = {exclude_hash} if exclude_hash else set()
    for i, sim in zip(ids[0], sims[0]):
        if i < 0:
            continue
        row = tracks.iloc[int(i)]
        if row["hash"] in seen or (same_genre and row["genre"] != query.genre):
            continue
        seen.add(row["hash"])
        rows.append({"title": row["title"], "artist": row["artist"], "album": row.get("album", ""),
                     "genre": row["genre"], "tag_genre": str(row.get("tag_genre", "") or ""),
                     "similarity": float(sim), "path": row["path"],
                     "reason": _reason(query, row, float(sim)), "hash": row["hash"]})
        if len(rows) == k:
            break
    return pd.DataFrame(rows, columns=["title", "artist", "album", "genre", "tag_genre", "similarity", "path", "reason",
                                       "hash"])
