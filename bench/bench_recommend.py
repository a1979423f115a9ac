"""Similar-song search at catalog scale: build time, memory, query latency and recall of ``core.library.index``.

For each embedding dimension and data kind, a synthetic catalog of ``--n`` tracks is indexed with
``EmbeddingIndex.build`` (IVF above the default 50k threshold), saved, loaded back, and measured:

* build time (k-means training, adding, nprobe calibration) and index size (the file; IVF-Flat holds the same
  float32 vectors, ids and centroids in memory);
* p50/p95 latency of one query (k=10, one call per query, after loading), over the held-out queries;
* recall@10 of those queries against exact search, and the exact index's single-query latency.

Data kinds:

* ``clustered``: 10 "genre" centres, 20,000 "artist" centres around them (spread 0.6 per coordinate, genre
  centres are unit normal) and tracks around their artist (spread 0.6 again), then L2-normalised. Song
  embeddings are organised this way (genre > artist/album > track) and the spreads overlap, so a track's
  nearest neighbours span several artists. Queries are 200 new tracks by the same artists.
* ``uniform``: isotropic Gaussian directions. The worst case: in 200 dimensions every cosine is ~0 ± 0.07,
  there is no neighbourhood structure to exploit, and calibration drives IVF towards scanning everything.

    python -m bench.bench_recommend                       # 1M clustered tracks, dims 64 and 200
    python -m bench.bench_recommend --data uniform        # the worst case (slower: IVF ends up scanning most cells)
    python -m bench.bench_recommend --n 100000            # quick run
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import faiss
import numpy as np
from tqdm import tqdm

from core.library.index import INDEX_FILE, EmbeddingIndex, available_cores

N_GENRES, N_ARTISTS, SPREAD = 10, 20_000, 0.6


def synthetic(kind: str, *, n: int, dim: int, seed: int) -> np.ndarray:
    """(n, dim) float32 unit rows of the given kind (see module docstring); the cluster centres are fixed,
    ``seed`` draws the tracks (so two seeds give a catalog and fresh queries from one distribution)."""
    rng = np.random.default_rng(seed)
    out = np.empty((n, dim), dtype=np.float32)
    if kind == "clustered":
        centres = np.random.default_rng(12345)
        genres = centres.standard_normal((N_GENRES, dim), dtype=np.float32)
        artists = genres[centres.integers(0, N_GENRES, N_ARTISTS)]
        artists += SPREAD * centres.standard_normal((N_ARTISTS, dim), dtype=np.float32)
    chunk = 100_000
    for start in tqdm(range(0, n, chunk), desc=f"generate {kind} {n}x{dim}", unit="chunk", leave=False):
        block = out[start:start + chunk]
        rng.standard_normal(block.shape, dtype=np.float32, out=block)
        if kind == "clustered":
            block *= SPREAD
            block += artists[rng.integers(0, N_ARTISTS, block.shape[0])]
        block /= np.linalg.norm(block, axis=1, keepdims=True)
    return out


def single_query_ms(index: EmbeddingIndex, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Wall-clock and CPU (this process) milliseconds of ``index.search(query, k=10)``, one call per (D,) query
    row, after one warm-up call: two (q,) arrays. CPU time shows the work when other jobs share the cores."""
    index.search(queries[0], k=10)
    wall, cpu = np.empty(len(queries)), np.empty(len(queries))
    for i, query in enumerate(queries):
        start, start_cpu = time.perf_counter(), time.process_time()
        index.search(query, k=10)
        wall[i], cpu[i] = time.perf_counter() - start, time.process_time() - start_cpu
    return wall * 1e3, cpu * 1e3


def bench_one(kind: str, *, n: int, dim: int, n_queries: int, exact_latency_queries: int) -> dict[str, float]:
    """Measure one (data kind, dimension) case; returns the figures for the summary table."""
    catalog = synthetic(kind, n=n, dim=dim, seed=0)
    queries = synthetic(kind, n=n_queries, dim=dim, seed=1)

    exact = EmbeddingIndex.build(catalog, exact_threshold=n + 1)
    start = time.perf_counter()
    truth, _ = exact.search(queries, k=10)
    exact_batch_s = time.perf_counter() - start
    exact_ms, _ = single_query_ms(exact, queries[:exact_latency_queries])
    del exact

    start = time.perf_counter()
    index = EmbeddingIndex.build(catalog)
    build_s = time.perf_counter() - start
    meta = index.describe()
    del catalog
    with tempfile.TemporaryDirectory() as tmp:
        index.save(Path(tmp))
        del index
        file_mb = (Path(tmp) / INDEX_FILE).stat().st_size / 2**20
        start = time.perf_counter()
        index = EmbeddingIndex.load(Path(tmp))
        load_s = time.perf_counter() - start
    ann_ms, ann_cpu_ms = single_query_ms(index, queries)
    ids, _ = index.search(queries, k=10)
    recall = float(np.mean([np.intersect1d(a, b).size / 10 for a, b in zip(ids, truth)]))
    row = {"data": kind, "dim": dim, "kind": meta["kind"], "nlist": meta.get("nlist", 0),
           "nprobe": meta.get("nprobe", 0), "build_s": build_s, "load_s": load_s, "file_mb": file_mb,
           "p50_ms": float(np.percentile(ann_ms, 50)), "p95_ms": float(np.percentile(ann_ms, 95)),
           "cpu_p50_ms": float(np.percentile(ann_cpu_ms, 50)),
           "recall": recall, "exact_p50_ms": float(np.percentile(exact_ms, 50)),
           "exact_batch_ms_per_query": exact_batch_s / n_queries * 1e3}
    tqdm.write(" ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()))
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="catalog size (tracks)")
    parser.add_argument("--dims", default="64,200", help="comma-separated embedding dimensions")
    parser.add_argument("--data", default="clustered", help="comma-separated: clustered, uniform")
    parser.add_argument("--queries", type=int, default=200, help="held-out queries (latency and recall)")
    parser.add_argument("--exact-queries", type=int, default=20, help="queries timed on the exact index")
    args = parser.parse_args()
    kinds = [k.strip() for k in args.data.split(",")]
    if not set(kinds) <= {"clustered", "uniform"}:
        parser.error(f"--data takes clustered and/or uniform, not {args.data!r}")
    dims = [int(d) for d in args.dims.split(",")]

    print(f"{args.n:,} tracks, {args.queries} queries, k=10; faiss {faiss.__version__}, "
          f"{available_cores()} core(s) used, load average {os.getloadavg()[0]:.1f} before start")
    start = time.perf_counter()
    rows = [bench_one(kind, n=args.n, dim=dim, n_queries=args.queries, exact_latency_queries=args.exact_queries)
            for kind in kinds for dim in dims]
    print(f"\ntotal {time.perf_counter() - start:.0f} s, load average {os.getloadavg()[0]:.1f} at the end\n")
    print("| data | D | index | nlist / nprobe | build s | index MiB | p50 ms | p95 ms "
          "| CPU p50 ms | recall@10 | exact p50 ms |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['data']} | {r['dim']} | {r['kind']} | {r['nlist']} / {r['nprobe']} | {r['build_s']:.1f} "
              f"| {r['file_mb']:.0f} | {r['p50_ms']:.2f} | {r['p95_ms']:.2f} "
              f"| {r['cpu_p50_ms']:.2f} | {r['recall']:.3f} | {r['exact_p50_ms']:.1f} |")


if __name__ == "__main__":
    main()
