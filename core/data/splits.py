"""Split rules as data: a :class:`SplitSpec` says how a manifest is split, is saved in every run and reloads.

A run records the *resolved* rule (never ``auto``), so re-evaluating it on the same data rebuilds exactly the
same train/valid/test tracks, and evaluating it on other data uses all of it or a rule the user names.

Rules (the CLI's ``--split`` text):

- ``auto``: the source's own ``split`` column when every row has one, else ``grouped``.
- ``grouped``: seeded split stratified by genre and grouped by artist when known, else by track
  (``valid`` and ``test`` fractions, ``seed``).
- ``column``: the source's ``split`` column.
- ``files:DIR``: split lists ``DIR/{train,valid,test}*.txt`` such as GTZAN's fault-filtered ones (unlisted tracks
  are dropped).
- ``all``: every track is a test track (evaluation of a trained model on another dataset).

Two optional subsets narrow a rule for studies (learning curves): ``genres`` keeps the tracks of those genres in
every part, and ``songs_per_genre`` keeps at most N *learning* songs (train and valid parts together) of each genre,
drawn by ``seed`` (a hash of seed and track id, so a larger N keeps every song of a smaller N). The test part is
never subsampled: every size of a learning curve is measured on the same test songs.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, replace
from typing import Literal

import pandas as pd

from core.config import from_repo, repo_relative
from core.errors import InputError

SplitKind = Literal["auto", "grouped", "column", "files", "all"]
SPLIT_NAMES = ("train", "valid", "test")


@dataclass(frozen=True)
class SplitSpec:
    """How a manifest is divided into train / valid / test.

    Attributes:
        kind: See the module docstring.
        valid: Fraction of tracks for validation (``grouped`` only).
        test: Fraction of tracks for the test (``grouped`` only).
        seed: Seed of the grouped split (same seed, same manifest, same split).
        folder: Folder of split lists (``files`` only).
        songs_per_genre: At most this many learning songs (train + valid) per genre, drawn by ``seed``; None: all.
        genres: Only these genres (in every part); None: all.
    """

    kind: SplitKind = "auto"
    valid: float = 0.15
    test: float = 0.15
    seed: int = 0
    folder: str | None = None
    songs_per_genre: int | None = None
    genres: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.songs_per_genre is not None and self.songs_per_genre < 1:
            raise InputError(f"Songs per genre must be at least 1, not {self.songs_per_genre}.")
        if self.genres is not None and len(set(self.genres)) < 2:
            raise InputError("A genre subset needs at least two different genres.")

    @classmethod
    def parse(cls, text: str, *, valid: float = 0.15, test: float = 0.15, seed: int = 0,
              songs_per_genre: int | None = None, genres: tuple[str, ...] | None = None) -> "SplitSpec":
        """From the CLI's ``--split`` text (``auto``, ``grouped``, ``column``, ``files:DIR``, ``all``)."""
        subset = {"songs_per_genre": songs_per_genre, "genres": tuple(genres) if genres else None}
        if text.startswith("files:"):  # stored relative to the repository, so the run reloads from anywhere
            return cls(kind="files", folder=repo_relative(text.split(":", 1)[1]), valid=valid, test=test, seed=seed,
                       **subset)
        if text not in ("auto", "grouped", "column", "all"):
            raise InputError(f"Unknown split '{text}': use auto, grouped, column, files:DIR or all.")
        return cls(kind=text, valid=valid, test=test, seed=seed, **subset)  # type: ignore[arg-type]

    def to_dict(self) -> dict[str, object]:
        """Plain JSON (saved as ``run.json["split"]["spec"]``)."""
        return asdict(self)

    @classmethod
    def from_run_info(cls, split_info: dict) -> "SplitSpec":
        """The spec a run recorded; runs written before specs were saved are read from their description."""
        if "spec" in split_info:
            spec = dict(split_info["spec"])
            return cls(**{**spec, "genres": tuple(spec["genres"]) if spec.get("genres") else None})
        kind = str(split_info.get("kind", ""))
        if kind == "files":
            return cls(kind="files", folder=str(split_info["folder"]))
        if kind == "column":
            return cls(kind="column")
        if kind.endswith("-grouped"):
            return cls(kind="grouped", valid=float(split_info["valid"]), test=float(split_info["test"]),
                       seed=int(split_info["seed"]))
        raise InputError(f"The run's split '{kind}' cannot be rebuilt; name a split with --split.")


def apply_split(manifest: pd.DataFrame, spec: SplitSpec) -> tuple[pd.DataFrame, dict[str, object]]:
    """Split ``manifest`` by ``spec``.

    Returns:
        The manifest with a ``split`` column (tracks dropped by split lists removed) and a description for
        ``run.json``: ``kind``, ``counts`` per split, ``learning_songs`` (train + valid songs per genre), ``spec``
        (the resolved, reloadable rule), ``subset`` when one narrows it, and details.
    """
    from core.data.sources import read_split_files, split_manifest

    kind = spec.kind
    if kind == "auto":
        has_column = "split" in manifest and manifest["split"].notna().all()
        kind = "column" if has_column else "grouped"
    resolved = replace(spec, kind=kind)
    info: dict[str, object]
    if kind == "files":
        applied = read_split_files(manifest, from_repo(str(spec.folder)))
        manifest = applied.manifest
        info = {"kind": "files", "folder": spec.folder, "dropped": int(applied.dropped)}
        if not (manifest["split"] == "test").any() and (manifest["split"] == "valid").any():
            manifest = _valid_as_test(manifest, spec)
            info.update(test_part="the lists' valid tracks (none of their test tracks is in the data)",
                        validation=f"{spec.valid:.0%} of the train list's tracks, grouped, seed {spec.seed}")
    elif kind == "column":
        if "split" not in manifest or manifest["split"].isna().any():
            raise InputError("The data has no complete 'split' column; use --split grouped or files:DIR.")
        info = {"kind": "column"}
    elif kind == "all":
        manifest = manifest.assign(split="test")
        info = {"kind": "all"}
    else:
        group = "artist" if "artist" in manifest and manifest["artist"].notna().all() else "track"
        manifest = split_manifest(manifest, valid=spec.valid, test=spec.test, seed=spec.seed)
        info = {"kind": f"{group}-grouped", "valid": spec.valid, "test": spec.test, "seed": spec.seed}
    if spec.genres is not None or spec.songs_per_genre is not None:
        manifest = _subset(manifest, spec)
        info["subset"] = {"songs_per_genre": spec.songs_per_genre, "genres": list(spec.genres) if spec.genres else None}
    learning = manifest[manifest["split"] != "test"].drop_duplicates("track_id")["label"].value_counts()
    info["learning_songs"] = {str(g): int(n) for g, n in sorted(learning.items())}
    info["counts"] = {s: int((manifest["split"] == s).sum()) for s in SPLIT_NAMES}
    info["spec"] = resolved.to_dict()
    return manifest, info


def _draw_key(seed: int, track_id: str) -> str:
    """Order of a track in the seeded draw of :func:`_subset` (independent of the manifest's row order)."""
    return hashlib.blake2b(f"{seed}:{track_id}".encode(), digest_size=8).hexdigest()


def _subset(manifest: pd.DataFrame, spec: SplitSpec) -> pd.DataFrame:
    """The genre subset (every part), then at most ``songs_per_genre`` learning songs per genre (test untouched).

    Raises:
        InputError: a named genre has no track in the data.
    """
    out = manifest
    if spec.genres is not None:
        missing = sorted(set(spec.genres) - set(out["label"]))
        if missing:
            raise InputError(f"The data has no songs of {', '.join(missing)} (genres: "
                             f"{', '.join(sorted(set(out['label'])))}).")
        out = out[out["label"].isin(spec.genres)]
    if spec.songs_per_genre is not None:
        learning = out["split"] != "test"
        songs = out.loc[learning, ["track_id", "label"]].drop_duplicates("track_id")
        songs = songs.assign(_key=[_draw_key(spec.seed, str(t)) for t in songs["track_id"]])
        kept = songs.sort_values("_key", kind="stable").groupby("label", sort=False).head(spec.songs_per_genre)
        out = out[~learning | out["track_id"].isin(kept["track_id"])]
    return out


def _valid_as_test(manifest: pd.DataFrame, spec: SplitSpec) -> pd.DataFrame:
    """Split lists whose test part is held back (e.g. ``../shared/data/gtzan_ff``): their valid tracks become the
    test part, and a grouped ``spec.valid`` share of their train tracks becomes the validation part (early
    stopping), so the reported figures are measured on tracks no decision was taken on."""
    from core.data.sources import split_manifest

    out = manifest.copy()
    listed_valid = out["split"] == "valid"
    out.loc[listed_valid, "split"] = "test"
    train = out[out["split"] == "train"]
    if spec.valid > 0:
        carved = split_manifest(train.drop(columns="split"), valid=spec.valid, test=0.0, seed=spec.seed)
        out.loc[train.index, "split"] = carved["split"].to_numpy()
    return out
