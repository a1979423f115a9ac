"""Dataset sources as one table (a *manifest*), and leak-free train/valid/test splits.

A :data:`Manifest` is a pandas DataFrame with one row per recording (or per 3-s feature row) and columns

* ``track_id`` (str): unique per recording (feature tables cut in segments repeat it, one row per segment);
* ``path`` (str or None): absolute audio path, None for feature-only rows;
* ``label`` (str): the genre;
* ``artist`` (str or missing): used to keep one artist on one side of a split;
* ``duration`` (float seconds or NaN): read from the file header, never by decoding;
* ``split`` (optional): ``"train"``, ``"valid"`` or ``"test"``.

Sources may add columns (``title``, ``segment``, ``subset``). :func:`load_source` picks the reader from
what a path is. Splits are made per track (and per artist when known) *before* any segment is cut.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
import soundfile as sf
from sklearn.model_selection import StratifiedGroupKFold
from tqdm import tqdm

from core.audio.files import audio_files
from core.config import AUDIO_EXTENSIONS
from core.errors import InputError

log = logging.getLogger(__name__)

#: A manifest is a plain DataFrame with the columns in :data:`MANIFEST_COLUMNS` (and optionally ``split``).
Manifest = pd.DataFrame
MANIFEST_COLUMNS: tuple[str, ...] = ("track_id", "path", "label", "artist", "duration")
SPLITS: tuple[str, ...] = ("train", "valid", "test")
#: Folder names under an FMA root that hold audio, with the subset each implies.
FMA_AUDIO_DIRS: dict[str, str | None] = {"fma_small": "small", "fma_medium": "medium", "fma_large": "large",
                                          "fma_full": None, "audio": None}
_FMA_SUBSET_ORDER = {"small": 0, "medium": 1, "large": 2}
_FMA_SPLIT_NAMES = {"training": "train", "validation": "valid", "test": "test"}
_GTZAN_NAME = re.compile(r"^([a-z]+)\.(\d{5})$")
_SEGMENT_SUFFIX = re.compile(r"^(.*\.\d{5})\.(\d+)$")
_SOURCE_KINDS = ("gtzan", "folders", "csv", "fma", "fma-small", "fma-medium", "features")


# ----------------------------------------------------------------------------------------------- helpers

def probe_durations(paths: list[str | None]) -> np.ndarray:
    """Durations in seconds read from file headers (``soundfile.info``); NaN where absent or unreadable.

    Returns:
        float64 array ``(len(paths),)``.
    """
    out = np.full(len(paths), np.nan)
    for i, path in enumerate(tqdm(paths, desc="durations", unit="file", disable=len(paths) < 500)):
        if path is None:
            continue
        try:
            out[i] = sf.info(path).duration
        except (sf.LibsndfileError, RuntimeError, OSError):
            pass
    return out


def _finish(frame: pd.DataFrame, *, probe: bool = True) -> Manifest:
    """Order columns, fix dtypes, probe missing durations and check ``track_id`` uniqueness."""
    frame = frame.reset_index(drop=True)
    for column in MANIFEST_COLUMNS:
        if column not in frame:
            frame[column] = np.nan if column == "duration" else None
    frame["track_id"] = frame["track_id"].astype(str)
    frame["label"] = frame["label"].astype(str)
    frame["artist"] = frame["artist"].astype("string")
    frame["duration"] = pd.to_numeric(frame["duration"], errors="coerce").astype(float)
    if probe:
        missing = frame["duration"].isna().to_numpy() & frame["path"].notna().to_numpy()
        if missing.any():
            paths = frame.loc[missing, "path"].tolist()
            frame.loc[missing, "duration"] = probe_durations(paths)
    if "segment" not in frame and frame["track_id"].duplicated().any():
        dupes = frame.loc[frame["track_id"].duplicated(), "track_id"].unique()[:3].tolist()
        raise InputError(f"Duplicate track ids in the source, e.g. {dupes}; every recording needs its own id.")
    extra = [c for c in frame.columns if c not in MANIFEST_COLUMNS]
    return frame[list(MANIFEST_COLUMNS) + extra]


def validate_manifest(manifest: Manifest) -> None:
    """Raise ``ValueError`` with a readable sentence when ``manifest`` breaks the manifest contract."""
    missing = [c for c in MANIFEST_COLUMNS if c not in manifest.columns]
    if missing:
        raise InputError(f"The manifest lacks the columns {missing}; expected {list(MANIFEST_COLUMNS)}.")
    if "split" in manifest.columns:
        bad = set(manifest["split"].dropna().unique()) - set(SPLITS)
        if bad:
            raise InputError(f"Unknown split names {sorted(bad)}; use {list(SPLITS)}.")


# ----------------------------------------------------------------------------------------------- sources

def load_folder_tree(root: str | Path) -> Manifest:
    """One folder per genre: ``<root>/<label>/**/<audio>``.

    ``track_id`` is the file's path relative to ``root`` without its extension (``rock/album/song``).
    """
    root = Path(root).resolve()
    rows = []
    for path in audio_files(root):
        rel = path.relative_to(root)
        if len(rel.parts) < 2:
            continue
        rows.append({"track_id": rel.with_suffix("").as_posix(), "path": str(path), "label": rel.parts[0]})
    if not rows:
        raise InputError(f"No audio files in genre folders under '{root}' (expected <root>/<genre>/<file>).")
    return _finish(pd.DataFrame(rows))


def _gtzan_genre_root(root: Path) -> Path:
    return root / "genres" if (root / "genres").is_dir() else root


def load_gtzan(root: str | Path) -> Manifest:
    """A GTZAN tree: ``<root>/genres/<genre>/<genre>.000NN.wav|.au`` or ``<root>/<genre>/<genre>.000NN.*``.

    ``track_id`` is the file stem (``blues.00000``), the label its folder. When ``<root>/metadata.csv`` exists
    (the project's synthetic set; columns path,label,artist,title,track_id,seed,duration, paths relative to
    ``root``), its ``track_id``, ``artist``, ``title`` and ``duration`` are used (rows matched by file name).
    """
    root = Path(root).resolve()
    genre_root = _gtzan_genre_root(root)
    rows = []
    for path in audio_files(genre_root):
        rel = path.relative_to(genre_root)
        if len(rel.parts) != 2:
            continue
        rows.append({"track_id": path.stem, "path": str(path), "label": rel.parts[0]})
    if not rows:
        raise InputError(f"No GTZAN audio under '{genre_root}' (expected <genre>/<genre>.000NN.wav).")
    frame = pd.DataFrame(rows)
    meta_path = root / "metadata.csv"
    if meta_path.is_file():
        frame = _merge_metadata(frame, meta_path)
    return _finish(frame)


def _merge_metadata(frame: pd.DataFrame, meta_path: Path) -> pd.DataFrame:
    """Take track_id/artist/title/duration from a ``metadata.csv``, matching rows by file name.

    GTZAN file names (``blues.00000.wav``) are unique in a tree, so the match holds whether the CSV's paths are
    relative to its folder, to ``genres/``, or absolute.
    """
    meta = pd.read_csv(meta_path)
    if "path" not in meta:
        raise InputError(f"'{meta_path}' has no 'path' column.")
    meta.index = [Path(str(p)).name for p in meta["path"].to_numpy(dtype=object)]
    meta = meta[~meta.index.duplicated()]
    names = [Path(p).name for p in frame["path"]]
    for column in ("track_id", "artist", "title", "duration"):
        if column in meta:
            values = meta[column].reindex(names).to_numpy(dtype=object)
            if column in frame:
                values = np.where(pd.isna(values), frame[column].to_numpy(dtype=object), values)
            frame[column] = values
    unmatched = len(set(meta.index) - set(names))
    if unmatched:
        log.warning("%d rows of %s name files that are not in the tree", unmatched, meta_path)
    return frame


def load_csv_manifest(csv_path: str | Path) -> Manifest:
    """A CSV with ``path,label[,artist][,split][,track_id]``; relative paths are relative to the CSV's folder.

    Without a ``track_id`` column the id is the path relative to the CSV's folder, without extension.
    """
    csv_path = Path(csv_path).resolve()
    table = pd.read_csv(csv_path)
    missing = {"path", "label"} - set(table.columns)
    if missing:
        raise InputError(f"'{csv_path}' needs the columns path and label; missing {sorted(missing)}.")
    base = csv_path.parent
    absolute = [(base / p).resolve() for p in table["path"].to_numpy(dtype=object)]
    table["path"] = [str(p) for p in absolute]
    if "track_id" not in table:
        table["track_id"] = [_relative_id(p, base) for p in absolute]
    if "split" in table:
        table["split"] = table["split"].astype(str).str.strip().str.lower()
    manifest = _finish(table)
    validate_manifest(manifest)
    return manifest


def _relative_id(path: Path, base: Path) -> str:
    try:
        return path.relative_to(base).with_suffix("").as_posix()
    except ValueError:
        return path.with_suffix("").as_posix()


def read_fma_tracks(tracks_csv: str | Path) -> pd.DataFrame:
    """Read an FMA tracks table into flat columns indexed by integer ``track_id``.

    Accepts the real ``fma_metadata/tracks.csv`` (3 header rows: section, field, ``track_id``), whose
    columns are flattened as ``track_genre_top``, ``set_subset``, ``artist_name`` …, or a flat table
    such as ``tracks_genres.csv`` (``track_id,genres,genres_all``), kept as is.
    """
    tracks_csv = Path(tracks_csv)
    with tracks_csv.open(encoding="utf-8") as handle:
        first = handle.readline()
    if first.startswith(","):
        table = pd.read_csv(tracks_csv, index_col=0, header=[0, 1], low_memory=False)
        table.columns = [f"{section}_{name}" for section, name in table.columns]
        # The short names this module reads, from the sections they live in.
        table = table.rename(columns={"track_genre_top": "genre_top", "track_genres": "genres",
                                      "track_genres_all": "genres_all", "track_title": "title",
                                      "set_subset": "subset", "set_split": "split"})
    else:
        table = pd.read_csv(tracks_csv, index_col="track_id", low_memory=False)
    table.index = table.index.astype(int)
    table.index.name = "track_id"
    return table


def fma_top_genres(genres_all: pd.Series, *, genres_csv: str | Path) -> pd.Series:
    """The top-level genre title of each track, where unique, from its ``genres_all`` list and ``genres.csv``.

    Args:
        genres_all: Lists of FMA genre ids as text (``"[17, 10, 76]"``), one per track; NaN allowed.
        genres_csv: FMA ``genres.csv`` (genre_id, #tracks, parent, title, top_level).

    Returns:
        Titles (``"Hip-Hop"``) aligned with ``genres_all``; missing where a track has no genre or several roots.
    """
    genres = pd.read_csv(genres_csv)
    top_of = dict(zip(genres["genre_id"].astype(int), genres["top_level"].astype(int)))
    title_of = dict(zip(genres["genre_id"].astype(int), genres["title"].astype(str)))

    def top(text: object) -> str | None:
        if not isinstance(text, str):
            return None
        roots = {top_of[g] for g in json.loads(text) if g in top_of}
        return title_of[roots.pop()] if len(roots) == 1 else None

    return pd.Series([top(t) for t in genres_all.to_numpy(dtype=object)], index=genres_all.index, dtype="string")


def _fma_audio_index(audio_dir: Path) -> dict[int, Path]:
    """Track id -> audio file, for ``000/000002.mp3`` (FMA layout) or flat ``000002.mp3`` files."""
    index: dict[int, Path] = {}
    for path in audio_files(audio_dir):
        if path.stem.isdigit():
            index[int(path.stem)] = path.resolve()
    return index


def load_fma(*, tracks_csv: str | Path, audio_dir: str | Path, genres_csv: str | Path | None = None,
             subset: str | None = None) -> Manifest:
    """FMA tracks that have audio under ``audio_dir``, labelled by their top-level genre.

    Args:
        tracks_csv: ``fma_metadata/tracks.csv`` (3-row header) or a flat table with ``track_id`` and either
            ``genre_top`` or ``genres_all``.
        audio_dir: ``fma_small/`` or ``fma_medium/`` (``000/000002.mp3`` layout) or a flat folder of
            ``000002.mp3`` files.
        genres_csv: ``genres.csv``, needed when the table has no ``genre_top`` (default: beside ``tracks_csv``).
        subset: ``"small"`` or ``"medium"`` (medium includes small) when the table has ``subset``; None keeps all.

    Returns:
        Manifest with ``track_id`` as the 6-digit FMA id text (``"000002"``), artist name where the table
        has one, FMA's own split (training/validation/test -> train/valid/test) where it has one.
    """
    tracks_csv, audio_dir = Path(tracks_csv), Path(audio_dir)
    table = read_fma_tracks(tracks_csv)
    if subset is not None:
        if subset not in _FMA_SUBSET_ORDER:
            raise InputError(f"Unknown FMA subset {subset!r}; use one of {list(_FMA_SUBSET_ORDER)}.")
        if "subset" in table:
            rank = table["subset"].map(_FMA_SUBSET_ORDER)
            table = table[rank.notna() & (rank <= _FMA_SUBSET_ORDER[subset])]
        else:
            log.info("%s has no subset column; subset=%s is implied by the audio folder", tracks_csv, subset)
    if "genre_top" in table:
        labels = table["genre_top"].astype("string")
    elif "genres_all" in table:
        genres_csv = Path(genres_csv) if genres_csv is not None else tracks_csv.parent / "genres.csv"
        if not genres_csv.is_file():
            raise InputError(f"'{tracks_csv}' has no genre_top column, and genres.csv was not found at "
                             f"'{genres_csv}' to derive it from genres_all.")
        labels = fma_top_genres(table["genres_all"], genres_csv=genres_csv)
    else:
        raise InputError(f"'{tracks_csv}' has neither genre_top nor genres_all: no label can be read.")
    audio = _fma_audio_index(audio_dir)
    if not audio:
        raise InputError(f"No FMA audio files (000002.mp3 …) under '{audio_dir}'.")
    ids = [tid for tid in sorted(audio) if tid in labels.index]
    unlabelled = [tid for tid in ids if pd.isna(labels.loc[tid])]
    if unlabelled:
        log.warning("%d FMA tracks with audio have no unique top-level genre and are skipped", len(unlabelled))
    ids = [tid for tid in ids if not pd.isna(labels.loc[tid])]
    unknown = len(audio) - len([t for t in audio if t in labels.index])
    if unknown:
        log.warning("%d audio files under %s are not in %s (or not in the subset)", unknown, audio_dir, tracks_csv)
    frame = pd.DataFrame({
        "track_id": [f"{tid:06d}" for tid in ids],
        "path": [str(audio[tid]) for tid in ids],
        "label": labels.loc[ids].astype(str).to_numpy(),
    })
    for source, column in (("artist_name", "artist"), ("title", "title"), ("subset", "subset")):
        if source in table:
            frame[column] = table.loc[ids, source].to_numpy(dtype=object)
    if "split" in table:
        frame["split"] = table.loc[ids, "split"].map(_FMA_SPLIT_NAMES).to_numpy(dtype=object)
    return _finish(frame)


def load_features_csv(path: str | Path) -> tuple[Manifest, np.ndarray, list[str]]:
    """The public GTZAN feature table (``features_30_sec.csv`` or ``features_3_sec.csv``).

    Rows are clips (``blues.00000.wav``) or 3-s segments (``blues.00000.3.wav``); ``track_id`` is the clip name
    without segment index (``blues.00000``), so segment rows share it and a split keeps a clip on one side.

    Returns:
        ``(manifest, features (n, 57) float64, feature column names)``; the manifest has ``path`` None,
        ``duration`` = ``length`` / 22050 s and, for segment tables, a ``segment`` index column.
    """
    path = Path(path)
    table = pd.read_csv(path)
    if not {"filename", "label"} <= set(table.columns):
        raise InputError(f"'{path}' is not a GTZAN feature table (needs the columns filename and label).")
    columns = [c for c in table.columns if c not in ("filename", "length", "label")]
    stems = [Path(str(name)).stem for name in table["filename"].to_numpy(dtype=object)]
    matches = [_SEGMENT_SUFFIX.match(s) for s in stems]
    frame = pd.DataFrame({"track_id": [m.group(1) if m else s for m, s in zip(matches, stems)],
                          "path": None, "label": table["label"].astype(str).to_numpy()})
    if "length" in table:
        frame["duration"] = table["length"].to_numpy(dtype=float) / 22050.0
    if any(matches):
        frame["segment"] = [int(m.group(2)) if m else 0 for m in matches]
    features = table[columns].to_numpy(dtype=np.float64)
    return _finish(frame, probe=False), features, columns


def load_source(spec: str) -> Manifest:
    """Read any supported source, chosen by what ``spec`` points to.

    ``spec`` is a path, optionally prefixed by a kind (``gtzan:``, ``folders:``, ``csv:``, ``fma:``,
    ``fma-small:``, ``fma-medium:``, ``features:``) to override detection. Detection:

    * a ``.csv`` file: a GTZAN feature table (``filename`` column), an FMA tracks table (3-row header, or
      ``genres_all``/``genre_top`` columns; audio looked for beside it), else a ``path,label`` manifest;
    * a folder with ``tracks.csv``, ``fma_metadata/tracks.csv`` or ``tracks_genres.csv``: FMA;
    * a folder with ``genres/``, or whose genre folders hold ``<genre>.000NN.*`` files: GTZAN;
    * any other folder: one sub-folder per genre.
    """
    kind, _, rest = spec.partition(":")
    if kind in _SOURCE_KINDS and rest:
        path = Path(rest).expanduser()
    else:
        kind, path = "", Path(spec).expanduser()
    if not path.exists():
        raise InputError(f"'{path}' does not exist.")
    if not kind:
        kind = _detect_kind(path)
    if kind == "features":
        return load_features_csv(path)[0]
    if kind == "csv":
        return load_csv_manifest(path)
    if kind.startswith("fma"):
        return _load_fma_spec(path, subset=kind.partition("-")[2] or None)
    if kind == "gtzan":
        return load_gtzan(path)
    return load_folder_tree(path)


def _detect_kind(path: Path) -> str:
    if path.is_file():
        if path.suffix.lower() != ".csv":
            raise InputError(f"'{path}' is neither a folder nor a CSV file.")
        with path.open(encoding="utf-8") as handle:
            header = handle.readline()
        names = set(header.strip().split(","))
        if "filename" in names:
            return "features"
        if header.startswith(",") or names & {"genres_all", "genre_top"}:
            return "fma"
        return "csv"
    if _fma_tracks_file(path) is not None:
        return "fma"
    if (path / "genres").is_dir():
        return "gtzan"
    for genre_dir in (p for p in path.iterdir() if p.is_dir()):
        files = [f for f in genre_dir.iterdir() if f.suffix.lower() in AUDIO_EXTENSIONS]
        if files and all((m := _GTZAN_NAME.match(f.stem)) and m.group(1) == genre_dir.name for f in files):
            return "gtzan"
    return "folders"


def _fma_tracks_file(root: Path) -> Path | None:
    for rel in ("tracks.csv", "fma_metadata/tracks.csv", "tracks_genres.csv"):
        if (root / rel).is_file():
            return root / rel
    return None


def _load_fma_spec(path: Path, *, subset: str | None) -> Manifest:
    """FMA from a root folder or a tracks file: audio in fma_<subset>/, fma_small/, fma_medium/ … or audio/."""
    tracks = path if path.is_file() else _fma_tracks_file(path)
    if tracks is None:
        raise InputError(f"No FMA tracks.csv under '{path}'.")
    candidates = [tracks.parent, tracks.parent.parent] if path.is_file() else [path, path / "fma_metadata"]
    names = ([f"fma_{subset}"] if subset else []) + list(FMA_AUDIO_DIRS)
    for base in candidates:
        for name in names:
            if (base / name).is_dir():
                implied = subset or FMA_AUDIO_DIRS[name]
                genres_csv = tracks.parent / "genres.csv"
                return load_fma(tracks_csv=tracks, audio_dir=base / name, subset=implied,
                                genres_csv=genres_csv if genres_csv.is_file() else None)
    raise InputError(f"No FMA audio folder ({', '.join(names)}) beside '{tracks}'.")


# ----------------------------------------------------------------------------------------------- splits

def _group_keys(manifest: Manifest, group: str) -> pd.Series:
    """One group key per row; every row of a track gets the key of the track's first row."""
    if group not in ("auto", "artist", "track"):
        raise InputError(f"Unknown group {group!r}; use 'auto', 'artist' or 'track'.")
    artist = manifest["artist"]
    if group == "auto":
        group = "artist" if artist.notna().all() else "track"
    track_key = "track:" + manifest["track_id"].astype(str)
    if group == "track":
        keys = track_key
    else:
        keys = ("artist:" + artist.astype(str)).where(artist.notna(), track_key)
    first = keys.groupby(manifest["track_id"].to_numpy()).first()
    return manifest["track_id"].map(first)


def _pick_fold(*, labels: np.ndarray, groups: np.ndarray, index: np.ndarray, fraction: float,
               seed: int) -> np.ndarray:
    """Rows (positions into ``index``) of one stratified, grouped fold of about ``fraction`` of ``index``.

    Of the ``round(1/fraction)`` folds, the one covering the most labels, then closest to the wanted size, wins.
    With fewer songs per genre than folds (a tiny set), the folds are capped at the largest genre's song count
    (so the held part is somewhat larger than ``fraction``) instead of failing.
    """
    sub_groups = groups[index]
    largest_class = int(np.unique(labels[index], return_counts=True)[1].max())
    if largest_class < 2:
        raise InputError(f"Every genre has a single song, so no groups (tracks or artists) can be held out for "
                         f"{fraction:.0%}; add songs or use fewer splits.")
    n_splits = max(2, min(int(round(1.0 / fraction)), largest_class))
    n_groups = len(np.unique(sub_groups))
    if n_groups < n_splits:
        raise InputError(f"Only {n_groups} groups (tracks or artists) to split {fraction:.0%} off; "
                         f"at least {n_splits} are needed. Use fewer splits or more data.")
    folds = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    best: tuple[tuple[int, float], np.ndarray] | None = None
    target = fraction * len(index)
    for _, held in folds.split(np.zeros(len(index)), labels[index], sub_groups):
        score = (-len(np.unique(labels[index][held])), abs(len(held) - target))
        if best is None or score < best[0]:
            best = (score, held)
    assert best is not None
    return index[best[1]]


def split_manifest(manifest: Manifest, *, valid: float = 0.15, test: float = 0.15, seed: int = 0,
                   group: str = "auto") -> Manifest:
    """Add a ``split`` column: stratified by label, grouped so no track (nor artist) crosses sides.

    Args:
        manifest: Any manifest; an existing ``split`` column is replaced.
        valid: Wanted fraction of rows in ``"valid"`` (0 for none).
        test: Wanted fraction of rows in ``"test"`` (0 for none).
        seed: Same seed, same manifest -> same split.
        group: ``"auto"`` groups by artist when every row has one, else by track; ``"artist"`` groups by
            artist where known and by track elsewhere; ``"track"`` by track only.

    Returns:
        A copy of ``manifest`` with ``split`` in {"train", "valid", "test"}. Sizes are approximate (whole
        groups move; scikit-learn's ``StratifiedGroupKFold`` with ``round(1/fraction)`` folds).
    """
    validate_manifest(manifest)
    if not (0 <= valid < 1 and 0 <= test < 1 and valid + test < 1):
        raise InputError(f"valid={valid} and test={test} must be fractions in [0, 1) summing below 1.")
    labels = manifest["label"].to_numpy(dtype=object).astype(str)
    groups = _group_keys(manifest, group).to_numpy(dtype=object).astype(str)
    split = np.full(len(manifest), "train", dtype=object)
    remaining = np.arange(len(manifest))
    if test > 0:
        held = _pick_fold(labels=labels, groups=groups, index=remaining, fraction=test, seed=seed)
        split[held] = "test"
        remaining = np.setdiff1d(remaining, held)
    if valid > 0:
        held = _pick_fold(labels=labels, groups=groups, index=remaining, fraction=valid / (1 - test), seed=seed)
        split[held] = "valid"
    out = manifest.copy()
    out["split"] = split
    return out


class AppliedSplit(NamedTuple):
    """Result of :func:`read_split_files`."""

    manifest: Manifest
    dropped: int
    unmatched: list[str]


def read_split_files(manifest: Manifest, folder: str | Path) -> AppliedSplit:
    """Apply split lists (one file name per line, e.g. ``blues/blues.00000.wav``) to ``manifest``.

    For each side the folder holds ``<side>_filtered.txt`` (the GTZAN fault-filtered lists) or ``<side>.txt``.
    A line matches the row whose ``track_id`` equals the line's stem (``blues.00000``) or whose file stem does.

    Returns:
        ``AppliedSplit(manifest with split, dropped = rows listed nowhere (removed),
        unmatched = listed names with no row)``.
    """
    validate_manifest(manifest)
    folder = Path(folder)
    side_of: dict[str, str] = {}
    for side in SPLITS:
        files = [folder / f"{side}_filtered.txt", folder / f"{side}.txt"]
        found = next((f for f in files if f.is_file()), None)
        if found is None:
            raise InputError(f"No {side} list in '{folder}' (looked for {', '.join(f.name for f in files)}).")
        for line in found.read_text(encoding="utf-8").splitlines():
            name = line.strip()
            if not name:
                continue
            key = Path(name).stem
            if side_of.get(key, side) != side:
                raise InputError(f"'{name}' is listed in both {side_of[key]} and {side}.")
            side_of[key] = side
    by_id = manifest["track_id"].astype(str).map(side_of)
    stems = pd.Series([Path(p).stem if isinstance(p, str) else None for p in manifest["path"]],
                      index=manifest.index).map(side_of)
    side = by_id.where(by_id.notna(), stems)
    keep = side.notna()
    matched = set(manifest.loc[keep, "track_id"].astype(str))
    matched |= {Path(p).stem for p in manifest.loc[keep, "path"] if isinstance(p, str)}
    unmatched = sorted(k for k in side_of if k not in matched)
    dropped = int((~keep).sum())
    if dropped:
        log.info("%d rows are in none of the split lists and were dropped", dropped)
    out = manifest.loc[keep].copy()
    out["split"] = side[keep].astype(str).to_numpy()
    return AppliedSplit(out.reset_index(drop=True), dropped, unmatched)

