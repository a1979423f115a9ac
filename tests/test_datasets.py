"""Dataset sources -> manifests, and leak-free splits."""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from core.config import GENRES
from core.data.sources import (
    MANIFEST_COLUMNS,
    load_csv_manifest,
    load_features_csv,
    load_fma,
    load_folder_tree,
    load_gtzan,
    load_source,
    read_split_files,
    split_manifest,
)

SR = 8000


def _write(path: Path, seconds: float = 0.5, sample_rate: int = SR) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(zlib.crc32(path.name.encode()))
    sf.write(path, 0.1 * rng.standard_normal(int(seconds * sample_rate)).astype(np.float32), sample_rate)
    return path


@pytest.fixture()
def gtzan_tree(tmp_path: Path) -> Path:
    """``<tmp>/gtzan/genres/<genre>/<genre>.0000N.wav`` for 3 genres x 2 clips of 0.5 s."""
    root = tmp_path / "gtzan"
    for genre in GENRES[:3]:
        for i in range(2):
            _write(root / "genres" / genre / f"{genre}.{i:05d}.wav")
    return root


def _fake_manifest(*, genres: int = 10, tracks: int = 30, per_artist: int | None = 3,
                   rows_per_track: int = 1) -> pd.DataFrame:
    """Feature-only manifest: ``genres`` x ``tracks``, ``per_artist`` tracks per artist (None: unknown)."""
    rows = []
    for g in range(genres):
        for t in range(tracks):
            artist = None if per_artist is None else f"artist-{g}-{t // per_artist}"
            for s in range(rows_per_track):
                rows.append({"track_id": f"g{g}.{t:05d}", "path": None, "label": f"genre{g}", "artist": artist,
                             "duration": 30.0, "segment": s})
    return pd.DataFrame(rows)


def _assert_no_leak(split: pd.DataFrame, key: str) -> None:
    sides = split.dropna(subset=[key]).groupby(key)["split"].nunique()
    assert (sides == 1).all(), f"{key} on two sides: {sides[sides > 1].index[:5].tolist()}"


# ------------------------------------------------------------------------------------------------ sources

def test_gtzan_tree(gtzan_tree: Path) -> None:
    manifest = load_gtzan(gtzan_tree)
    assert list(manifest.columns[: len(MANIFEST_COLUMNS)]) == list(MANIFEST_COLUMNS)
    assert len(manifest) == 6 and manifest["track_id"].is_unique
    assert set(manifest["label"]) == set(GENRES[:3])
    row = manifest.set_index("track_id").loc["blues.00001"]
    assert row["label"] == "blues" and Path(row["path"]).is_absolute() and Path(row["path"]).is_file()
    np.testing.assert_allclose(manifest["duration"], 0.5, atol=1e-3)
    assert manifest["artist"].isna().all()
    # Detected from the root, from genres/ itself, and with an explicit kind.
    for spec in (str(gtzan_tree), str(gtzan_tree / "genres"), f"gtzan:{gtzan_tree}"):
        assert sorted(load_source(spec)["track_id"]) == sorted(manifest["track_id"])


def test_gtzan_metadata_csv_gives_artist_and_title(gtzan_tree: Path) -> None:
    rows = [{"path": f"genres/{g}/{g}.{i:05d}.wav", "label": g, "artist": f"{g}-artist-{i % 2}",
             "title": f"song {i}", "track_id": f"{g}.{i:05d}", "seed": i, "duration": 0.5}
            for g in GENRES[:3] for i in range(2)]
    pd.DataFrame(rows).to_csv(gtzan_tree / "metadata.csv", index=False)
    manifest = load_source(str(gtzan_tree)).set_index("track_id")
    assert manifest.loc["country.00001", "artist"] == "country-artist-1"
    assert manifest.loc["blues.00000", "title"] == "song 0"


def test_folder_tree_nested(tmp_path: Path) -> None:
    _write(tmp_path / "rock" / "album" / "a.flac")
    _write(tmp_path / "jazz" / "b.wav", seconds=1.0)
    (tmp_path / "jazz" / "notes.txt").write_text("not audio")
    manifest = load_source(str(tmp_path)).set_index("track_id")
    assert sorted(manifest.index) == ["jazz/b", "rock/album/a"]
    assert manifest.loc["rock/album/a", "label"] == "rock"
    assert manifest.loc["jazz/b", "duration"] == pytest.approx(1.0, abs=1e-3)
    with pytest.raises(ValueError, match="No audio"):
        load_folder_tree(tmp_path / "rock" / "album")


def test_csv_manifest_relative_paths(tmp_path: Path) -> None:
    _write(tmp_path / "audio" / "x.wav")
    _write(tmp_path / "audio" / "y.wav")
    csv = tmp_path / "list.csv"
    csv.write_text("path,label,artist,split\naudio/x.wav,rock,A,train\naudio/y.wav,pop,,Test\n")
    manifest = load_source(str(csv))
    assert manifest["path"].tolist() == [str((tmp_path / "audio" / n).resolve()) for n in ("x.wav", "y.wav")]
    assert manifest["track_id"].tolist() == ["audio/x", "audio/y"]
    assert manifest["split"].tolist() == ["train", "test"]
    assert manifest["artist"].iloc[0] == "A" and pd.isna(manifest["artist"].iloc[1])
    csv.write_text("file,genre\nx.wav,rock\n")
    with pytest.raises(ValueError, match="path and label"):
        load_csv_manifest(csv)


def test_fma_shared_folder(shared_data: Path) -> None:
    manifest = load_source(str(shared_data / "fma"))
    assert manifest["track_id"].tolist() == ["000002"]
    assert manifest["label"].tolist() == ["Hip-Hop"]
    assert manifest["duration"].iloc[0] == pytest.approx(29.98, abs=0.05)


def test_fma_genre_top_derived_from_genres_all(shared_data: Path, tmp_path: Path) -> None:
    # Tracks 2 ([21] Hip-Hop), 10 ([10] Pop), 20 ([17, 10, 76, 103]: Folk and Pop roots, so no unique top).
    for tid in (2, 10, 20):
        _write(tmp_path / "fma_small" / f"{tid:06d}"[:3] / f"{tid:06d}.wav")
    manifest = load_fma(tracks_csv=shared_data / "fma" / "tracks_genres.csv", audio_dir=tmp_path / "fma_small",
                        genres_csv=shared_data / "fma" / "genres.csv")
    assert dict(zip(manifest["track_id"], manifest["label"])) == {"000002": "Hip-Hop", "000010": "Pop"}


def _write_real_fma_tracks(path: Path) -> None:
    """A tracks.csv in the real FMA layout: section row, field row, ``track_id`` row, then data."""
    columns = [("artist", "name"), ("set", "split"), ("set", "subset"), ("track", "genre_top"),
               ("track", "genres_all"), ("track", "title")]
    data = [(2, "AWOL", "training", "small", "Hip-Hop", "[21]", "Food"),
            (5, "AWOL", "validation", "small", "Hip-Hop", "[21]", "This World"),
            (10, "Kurt Vile", "test", "medium", "Pop", "[10]", "Freeway"),
            (20, "Chris", "training", "large", "", "[17, 10, 76, 103]", "Spiritual")]
    lines = ["," + ",".join(c[0] for c in columns), "," + ",".join(c[1] for c in columns),
             "track_id" + "," * len(columns)]
    lines += [",".join(f'"{v}"' if isinstance(v, str) and "," in v else str(v) for v in row) for row in data]
    path.write_text("\n".join(lines) + "\n")


def test_fma_real_tracks_csv_subsets(tmp_path: Path) -> None:
    (tmp_path / "fma_metadata").mkdir()
    _write_real_fma_tracks(tmp_path / "fma_metadata" / "tracks.csv")
    for tid in (2, 5, 10, 20):
        _write(tmp_path / "fma_medium" / f"{tid:06d}"[:3] / f"{tid:06d}.wav")
    small = load_fma(tracks_csv=tmp_path / "fma_metadata" / "tracks.csv", audio_dir=tmp_path / "fma_medium",
                     subset="small")
    assert small["track_id"].tolist() == ["000002", "000005"]
    medium = load_source(f"fma-medium:{tmp_path}").set_index("track_id")
    assert medium.index.tolist() == ["000002", "000005", "000010"]
    assert medium.loc["000010", "label"] == "Pop" and medium.loc["000010", "artist"] == "Kurt Vile"
    assert medium["split"].tolist() == ["train", "valid", "test"]
    assert medium.loc["000005", "title"] == "This World"


def test_features_csv_30s(shared_data: Path) -> None:
    manifest, features, columns = load_features_csv(shared_data / "gtzan" / "features_30_sec.csv")
    assert features.shape == (1000, 57) and len(columns) == 57 and np.isfinite(features).all()
    assert "label" not in columns and "length" not in columns
    assert manifest["track_id"].iloc[0] == "blues.00000" and manifest["path"].isna().all()
    assert manifest["label"].value_counts().to_dict() == {g: 100 for g in GENRES}
    assert manifest["duration"].iloc[0] == pytest.approx(661794 / 22050)
    assert len(load_source(str(shared_data / "gtzan" / "features_30_sec.csv"))) == 1000


def test_features_csv_3s_rows_share_the_clip_id(shared_data: Path, tmp_path: Path) -> None:
    table = pd.read_csv(shared_data / "gtzan" / "features_30_sec.csv").iloc[[0, 0, 0, 100, 100]].copy()
    table["filename"] = ["blues.00000.0.wav", "blues.00000.1.wav", "blues.00000.2.wav",
                         "classical.00000.0.wav", "classical.00000.1.wav"]
    table["length"] = 66149
    table.to_csv(tmp_path / "features_3_sec.csv", index=False)
    manifest, features, _ = load_features_csv(tmp_path / "features_3_sec.csv")
    assert manifest["track_id"].tolist() == ["blues.00000"] * 3 + ["classical.00000"] * 2
    assert manifest["segment"].tolist() == [0, 1, 2, 0, 1]
    assert features.shape == (5, 57)
    assert manifest["duration"].iloc[0] == pytest.approx(3.0, abs=0.01)


# ------------------------------------------------------------------------------------------------ splits

@pytest.mark.parametrize("seed", [0, 1, 2])
def test_split_by_artist_no_leak_every_genre_everywhere(seed: int) -> None:
    manifest = _fake_manifest()
    split = split_manifest(manifest, seed=seed)
    _assert_no_leak(split, "track_id")
    _assert_no_leak(split, "artist")
    for side in ("train", "valid", "test"):
        assert set(split.loc[split["split"] == side, "label"]) == set(manifest["label"]), side
    fractions = split["split"].value_counts(normalize=True)
    assert fractions["test"] == pytest.approx(0.15, abs=0.05)
    assert fractions["valid"] == pytest.approx(0.15, abs=0.05)


def test_split_by_track_keeps_segments_together() -> None:
    manifest = _fake_manifest(tracks=20, per_artist=None, rows_per_track=10)
    split = split_manifest(manifest, valid=0.2, test=0.2, seed=3)
    _assert_no_leak(split, "track_id")
    assert set(split["split"]) == {"train", "valid", "test"}
    for side in ("train", "valid", "test"):
        assert split.loc[split["split"] == side, "label"].nunique() == 10


def test_split_partial_artists() -> None:
    manifest = _fake_manifest(tracks=20, per_artist=2)
    manifest.loc[manifest.index % 5 == 0, "artist"] = None
    # auto: some artists unknown -> grouped by track only; artist: known artists grouped, others by track.
    by_artist = split_manifest(manifest, group="artist", seed=0)
    _assert_no_leak(by_artist, "artist")
    _assert_no_leak(by_artist, "track_id")
    auto = split_manifest(manifest, group="auto", seed=0)
    _assert_no_leak(auto, "track_id")
    with pytest.raises(ValueError, match="group"):
        split_manifest(manifest, group="album")


def test_split_is_deterministic() -> None:
    manifest = _fake_manifest()
    first = split_manifest(manifest, seed=7)["split"].tolist()
    assert split_manifest(manifest, seed=7)["split"].tolist() == first
    assert split_manifest(manifest.copy(), seed=8)["split"].tolist() != first


def test_split_errors_are_readable() -> None:
    with pytest.raises(ValueError, match="groups"):
        split_manifest(_fake_manifest(genres=2, tracks=1, per_artist=None), seed=0)
    with pytest.raises(ValueError, match="fractions"):
        split_manifest(_fake_manifest(), valid=0.6, test=0.5)


def test_real_gtzan_split_lists(shared_data: Path) -> None:
    manifest, _, _ = load_features_csv(shared_data / "gtzan" / "features_30_sec.csv")
    applied = read_split_files(manifest, shared_data / "gtzan" / "splits")
    counts = applied.manifest["split"].value_counts().to_dict()
    assert counts == {"train": 443, "valid": 197, "test": 290}
    assert applied.dropped == 70 and applied.unmatched == []
    _assert_no_leak(applied.manifest, "track_id")
    assert applied.manifest.set_index("track_id").loc["blues.00000", "split"] == "valid"


def test_split_lists_match_file_stems_and_report_unmatched(gtzan_tree: Path, tmp_path: Path) -> None:
    folder = tmp_path / "lists"
    folder.mkdir()
    (folder / "train.txt").write_text("blues/blues.00000.wav\nclassical/classical.00000.wav\n")
    (folder / "valid.txt").write_text("blues/blues.00001.wav\n")
    (folder / "test.txt").write_text("country/country.00000.wav\nrock/rock.00099.wav\n")
    applied = read_split_files(load_gtzan(gtzan_tree), folder)
    assert applied.dropped == 2 and applied.unmatched == ["rock.00099"]
    assert dict(zip(applied.manifest["track_id"], applied.manifest["split"])) == {
        "blues.00000": "train", "blues.00001": "valid", "classical.00000": "train", "country.00000": "test"}
    (folder / "valid.txt").write_text("blues/blues.00000.wav\n")
    with pytest.raises(ValueError, match="both"):
        read_split_files(load_gtzan(gtzan_tree), folder)
