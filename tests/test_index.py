"""EmbeddingIndex: exact search equals NumPy brute force; IVF recall; persistence; edge cases."""

from __future__ import annotations

import json
from pathlib import Path

import faiss
import numpy as np
import pytest

from core.library.index import EmbeddingIndex, available_cores


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def _clustered(n: int, dim: int, *, seed: int) -> np.ndarray:
    """(n, dim) float32: 10 "genre" centres, 3,000 "artist" centres around them, tracks around the artists;
    the artist and track spreads are as large as the genre spacing, so clusters overlap (neighbours are not
    trivially found in one cell). Fixed generator state for the centres; ``seed`` draws the tracks."""
    centres = np.random.default_rng(1234)
    genres = centres.standard_normal((10, dim), dtype=np.float32)
    artists = genres[centres.integers(0, 10, 3000)] + 0.6 * centres.standard_normal((3000, dim), dtype=np.float32)
    rng = np.random.default_rng(seed)
    tracks = artists[rng.integers(0, 3000, n)] + 0.6 * rng.standard_normal((n, dim), dtype=np.float32)
    return tracks


def _brute_force(catalog: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    sims = _unit(queries.astype(np.float64)) @ _unit(catalog.astype(np.float64)).T
    top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
    ids = np.take_along_axis(top, np.argsort(-np.take_along_axis(sims, top, axis=1), axis=1), axis=1)
    return ids, np.take_along_axis(sims, ids, axis=1)


@pytest.fixture(scope="module")
def ivf_case() -> tuple[EmbeddingIndex, np.ndarray, np.ndarray]:
    """A 60k x 64 clustered catalog indexed with IVF (threshold lowered), and 200 fresh queries."""
    catalog = _clustered(60_000, 64, seed=0)
    queries = _clustered(200, 64, seed=1)
    return EmbeddingIndex.build(catalog, exact_threshold=10_000), catalog, queries


def test_exact_search_equals_numpy_brute_force() -> None:
    rng = np.random.default_rng(0)
    catalog = rng.standard_normal((3000, 48)) * rng.uniform(0.1, 10.0, (3000, 1))  # norms must not matter
    queries = rng.standard_normal((25, 48))
    index = EmbeddingIndex.build(catalog)
    assert (index.kind, len(index), index.dim, index.nprobe) == ("exact", 3000, 48, None)

    ids, sims = index.search(queries, k=10)
    want_ids, want_sims = _brute_force(catalog, queries, 10)
    assert ids.dtype == np.int64 and sims.dtype == np.float32 and ids.shape == sims.shape == (25, 10)
    np.testing.assert_array_equal(ids, want_ids)
    np.testing.assert_allclose(sims, want_sims, atol=1e-5)
    assert np.all(np.diff(sims, axis=1) <= 0)

    one_ids, one_sims = index.search(7.5 * queries[3], k=10)  # a 1-D, rescaled query
    np.testing.assert_array_equal(one_ids, want_ids[3:4])
    np.testing.assert_allclose(one_sims, want_sims[3:4], atol=1e-5)


def test_ivf_recall_at_10_on_clustered_catalog(ivf_case) -> None:
    index, catalog, queries = ivf_case
    assert index.kind == "ivf" and len(index) == 60_000 and 1 <= index.nprobe <= index.describe()["nlist"]
    assert index.describe()["calibrated_recall_at_10"] >= 0.97
    truth, _ = _brute_force(catalog, queries, 10)
    ids, sims = index.search(queries, k=10)
    recall = np.mean([np.intersect1d(a, b).size / 10 for a, b in zip(ids, truth)])
    assert recall >= 0.95, f"recall@10 {recall:.3f}"
    assert np.all(np.diff(sims, axis=1) <= 0) and np.all(np.abs(sims) <= 1.0)
    exact_sims = _unit(queries[:, None, :].astype(np.float64)) * _unit(catalog[ids].astype(np.float64))
    np.testing.assert_allclose(sims, exact_sims.sum(axis=2), atol=1e-5)  # returned scores are true cosines


def test_save_load_round_trip_gives_identical_results(ivf_case, tmp_path: Path) -> None:
    ivf, _, queries = ivf_case
    exact = EmbeddingIndex.build(_clustered(500, 64, seed=2))
    for name, index in (("ivf", ivf), ("exact", exact)):
        index.save(tmp_path / name)
        meta = json.loads((tmp_path / name / "index.json").read_text())
        assert (meta["kind"], meta["dim"], meta["count"]) == (index.kind, 64, len(index))
        loaded = EmbeddingIndex.load(tmp_path / name)
        assert (loaded.kind, len(loaded), loaded.dim, loaded.nprobe) == (index.kind, len(index), 64, index.nprobe)
        for got, want in zip(loaded.search(queries, k=10), index.search(queries, k=10)):
            np.testing.assert_array_equal(got, want)


def test_load_reports_missing_and_inconsistent_files(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="index.json"):
        EmbeddingIndex.load(tmp_path / "nothing")
    EmbeddingIndex.build(np.eye(4)).save(tmp_path / "idx")
    meta_path = tmp_path / "idx" / "index.json"
    meta = json.loads(meta_path.read_text())
    meta_path.write_text(json.dumps({**meta, "count": 5}))
    with pytest.raises(ValueError, match="does not match"):
        EmbeddingIndex.load(tmp_path / "idx")


def test_k_larger_than_catalog_is_clipped_for_both_kinds() -> None:
    catalog = _clustered(600, 16, seed=3)
    queries = _clustered(4, 16, seed=4)
    want_ids, want_sims = _brute_force(catalog, queries, 600)
    exact = EmbeddingIndex.build(catalog[:5])
    ids, _ = exact.search(queries, k=10)
    assert ids.shape == (4, 5) and all(sorted(row) == list(range(5)) for row in ids)
    # nprobe=1 leaves every query's probed cell short of 600 rows: the search must widen until complete
    ivf = EmbeddingIndex.build(catalog, exact_threshold=0, nprobe=1)
    assert ivf.kind == "ivf" and ivf.nprobe == 1
    ids, sims = ivf.search(queries, k=1000)
    assert ids.shape == (4, 600) and (ids >= 0).all()
    assert all(sorted(row) == list(range(600)) for row in ids)
    np.testing.assert_allclose(sims, want_sims, atol=1e-5)


def test_zero_and_non_finite_vectors_are_clear_errors() -> None:
    catalog = np.ones((6, 8))
    catalog[4] = 0.0
    with pytest.raises(ValueError, match=r"rows \[4\] are zero vectors"):
        EmbeddingIndex.build(catalog)
    catalog[4] = np.nan
    with pytest.raises(ValueError, match=r"rows \[4\] contain NaN"):
        EmbeddingIndex.build(catalog)
    index = EmbeddingIndex.build(np.eye(8))
    with pytest.raises(ValueError, match="zero vectors"):
        index.search(np.zeros(8), k=3)
    with pytest.raises(ValueError, match="k must be >= 1"):
        index.search(np.ones(8), k=0)
    with pytest.raises(ValueError, match=r"\(n, D\)"):
        EmbeddingIndex.build(np.zeros((0, 8)))


def test_dimension_mismatch_is_a_clear_value_error() -> None:
    index = EmbeddingIndex.build(np.eye(8))
    with pytest.raises(ValueError, match=r"shape \(q, 8\) or \(8,\) to match the index; got \(2, 7\)"):
        index.search(np.ones((2, 7)), k=3)
    with pytest.raises(ValueError, match=r"got \(9,\)"):
        index.search(np.ones(9), k=3)


def test_faiss_threads_respect_available_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert available_cores() == 1
    EmbeddingIndex.build(np.eye(4))
    assert faiss.omp_get_max_threads() == 1
    monkeypatch.delenv("OMP_NUM_THREADS")
    index = EmbeddingIndex.build(np.eye(4))
    assert faiss.omp_get_max_threads() == available_cores() >= 1
    index.search(np.ones(4), k=2)  # a single query runs on one thread
    assert faiss.omp_get_max_threads() == 1
    index.search(np.ones((3, 4)), k=2)
    assert faiss.omp_get_max_threads() == available_cores()
