"""Similar-image search (issue 14): descriptor cost, quality and index choices.

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 nice -n 15 python bench/similar_search.py descriptors
    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 nice -n 15 python bench/similar_search.py quality
    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 PYTHONPATH=$PYTHONPATH:/tmp/i14-faiss:/tmp/i14-usearch \\
        nice -n 15 python bench/similar_search.py index --sizes 10000 100000 1000000

``descriptors``: milliseconds per picture of ``describe`` (one region) and ``describe_picture``
(whole + proposed regions, what an upload stores) on 128x128 scenes and a 2048x2048 frame.
``quality``: precision@5 by kind on generated scenes (library seed 7, queries seed 9; the
basis was fitted on seed 1), whole-image queries against selection (object mask) queries, and
on plankton crops by category (classify's *training* generator, never its held-out one) against
a random baseline. ``index``: exact search (numpy float32, faiss ``IndexFlatIP``) against HNSW
(faiss ``IndexHNSWFlat``, usearch) on generated unit vectors (a mixture of 2000 Gaussian
clusters in 48 dimensions, queries drawn apart): recall@10 against exact, p50/p99 of single
queries on one thread, build time and memory per million vectors. faiss-cpu and usearch are
not dependencies of the service: install them apart (``pip install --target``) to run it.
"""

from __future__ import annotations

import argparse
import json
import os
import time
import uuid
from typing import Any

import numpy as np

from specimen_imaging import scenes, similarity
from specimen_segment.domain import similarity as search

DIMENSIONS = similarity.DIMENSIONS


def _percentiles(samples: list[float], cpu: list[float] | None = None) -> dict[str, float]:
    """Wall-clock p50/p99 in ms, and (``cpu``) the p50/p99 of the thread's own CPU time: on a
    shared, loaded machine the wall clock counts the waits for a core, the CPU time does not."""
    values = np.asarray(samples) * 1000
    out = {"p50_ms": round(float(np.percentile(values, 50)), 3),
           "p99_ms": round(float(np.percentile(values, 99)), 3)}
    if cpu is not None:
        cpu_ms = np.asarray(cpu) * 1000
        out["cpu_p50_ms"] = round(float(np.percentile(cpu_ms, 50)), 3)
        out["cpu_p99_ms"] = round(float(np.percentile(cpu_ms, 99)), 3)
    return out


def bench_descriptors() -> dict[str, Any]:
    small = [s.pixels for s in scenes.corpus(60, 11)]
    rng = np.random.default_rng(0)
    big = np.clip(rng.normal(128, 40, (2048, 2048, 3)), 0, 255).astype(np.uint8)
    out: dict[str, Any] = {}
    for name, fn in (("describe_region", lambda p: search.describe_region(p, None)),
                     ("describe_picture", search.describe_picture)):
        fn(small[0])
        for label, inputs in (("128px", small), ("2048px", [big] * 5)):
            times, cpu = [], []
            for pixels in inputs:
                start, start_cpu = time.perf_counter(), time.thread_time()
                fn(pixels)
                times.append(time.perf_counter() - start)
                cpu.append(time.thread_time() - start_cpu)
            out[f"{name}_{label}"] = _percentiles(times, cpu)
    rows = [search.describe_picture(p).shape[0] for p in small]
    out["rows_per_picture_mean"] = round(float(np.mean(rows)), 2)
    return out


def _precision_at_5(query: np.ndarray, scope: search.ScopeVectors, labels: np.ndarray,
                    query_labels: np.ndarray) -> float:
    hits = []
    for q, label in zip(query, query_labels, strict=True):
        top = [i for i, _ in search.rank_pictures(q, scope, 5)]
        hits.append(np.mean(labels[top] == label))
    return round(float(np.mean(hits)), 4)


def _scope(pictures: list[np.ndarray]) -> search.ScopeVectors:
    rows, owners = [], []
    for i, pixels in enumerate(pictures):
        vectors = search.describe_picture(pixels)
        rows.append(vectors)
        owners.extend([i] * vectors.shape[0])
    keys = tuple(search.PictureKey(uuid.UUID(int=i + 1)) for i in range(len(pictures)))
    return search.ScopeVectors(keys, np.asarray(owners), np.concatenate(rows))


def bench_quality() -> dict[str, Any]:
    library = scenes.corpus(400, 7)
    queries = scenes.corpus(80, 9)
    scope = _scope([s.pixels for s in library])
    kinds = np.array([s.kind for s in library])
    backgrounds = np.array([s.background for s in library])
    q_kinds = np.array([s.kind for s in queries])
    q_backgrounds = np.array([s.background for s in queries])
    whole = np.stack([search.describe_region(s.pixels, None) for s in queries])
    selected = np.stack([search.describe_region(s.pixels, s.mask) for s in queries])
    overlap = []
    for w, s in zip(whole, selected, strict=True):
        a = {i for i, _ in search.rank_pictures(w, scope, 10)}
        b = {i for i, _ in search.rank_pictures(s, scope, 10)}
        overlap.append(len(a & b) / 10)
    out: dict[str, Any] = {
        "scenes": {
            "library": len(library), "queries": len(queries), "kinds": len(scenes.KINDS),
            "random_baseline_kind": round(1 / len(scenes.KINDS), 4),
            "random_baseline_background": round(1 / len(scenes.BACKGROUNDS), 4),
            "whole_image_p5_kind": _precision_at_5(whole, scope, kinds, q_kinds),
            "whole_image_p5_same_background": _precision_at_5(whole, scope, backgrounds, q_backgrounds),
            "selection_p5_kind": _precision_at_5(selected, scope, kinds, q_kinds),
            "selection_p5_same_background": _precision_at_5(selected, scope, backgrounds, q_backgrounds),
            "top10_overlap_whole_vs_selection": round(float(np.mean(overlap)), 4),
        }}
    try:
        from specimen_classify.domain.synthetic_plankton import object_crop, plankton_frame
    except ImportError:
        return out
    crops, labels = [], []
    for seed in range(6):
        frame = plankton_frame((4242, seed), height=768, width=768)
        for item in frame.objects:
            crops.append(object_crop(frame, item.object_id))
            labels.append(item.category)
    labels_arr = np.array(labels)
    vectors = np.stack([search.describe_region(c, None) for c in crops])
    keys = tuple(search.PictureKey(uuid.UUID(int=i + 1)) for i in range(len(crops)))
    hits = []
    for i, v in enumerate(vectors):
        scope_i = search.ScopeVectors(keys, np.arange(len(crops)), vectors)
        top = [j for j, _ in search.rank_pictures(v, scope_i, 5, frozenset({i}))]
        hits.append(np.mean(labels_arr[top] == labels_arr[i]))
    shares = np.unique(labels_arr, return_counts=True)[1] / len(labels_arr)
    out["plankton_crops"] = {"crops": len(crops), "categories": len(shares),
                             "p5_category": round(float(np.mean(hits)), 4),
                             "random_baseline": round(float((shares ** 2).sum()), 4)}
    return out


def generated_vectors(n: int, seed: int, centres: np.ndarray) -> np.ndarray:
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, centres.shape[0], n)
    out = np.empty((n, DIMENSIONS), np.float32)
    for start in range(0, n, 100_000):
        stop = min(n, start + 100_000)
        block = centres[pick[start:stop]] + rng.normal(0, 0.08, (stop - start, DIMENSIONS))
        out[start:stop] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out


def _timed(fn: Any, queries: np.ndarray) -> tuple[list[Any], dict[str, float]]:
    """Results of single queries, and their latency figures (wall and CPU)."""
    results, times, cpu = [], [], []
    for q in queries:
        start, start_cpu = time.perf_counter(), time.thread_time()
        results.append(fn(q))
        times.append(time.perf_counter() - start)
        cpu.append(time.thread_time() - start_cpu)
    return results, _percentiles(times, cpu)


def _recall(found: list[np.ndarray], truth: list[np.ndarray]) -> float:
    return round(float(np.mean([len(set(f.tolist()) & set(t.tolist())) / 10
                                for f, t in zip(found, truth, strict=True)])), 4)


def bench_index(sizes: list[int], queries_n: int, build_threads: int,
                methods: set[str]) -> dict[str, Any]:
    rng = np.random.default_rng(14)
    centres = rng.normal(0, 1 / np.sqrt(DIMENSIONS), (2000, DIMENSIONS))
    out: dict[str, Any] = {}
    for n in sizes:
        vectors = generated_vectors(n, 1, centres)
        queries = generated_vectors(queries_n, 2, centres)
        row: dict[str, Any] = {}

        def exact(q: np.ndarray, vectors: np.ndarray = vectors) -> np.ndarray:
            scores = vectors @ q
            top = np.argpartition(-scores, 10)[:10]
            return top[np.argsort(-scores[top])]

        truth, times = _timed(exact, queries)
        row["numpy_exact"] = {**times, "recall10": 1.0,
                              "bytes_per_million": DIMENSIONS * 4 * 1_000_000}
        scope = search.ScopeVectors(tuple(search.PictureKey(uuid.UUID(int=i + 1)) for i in range(n)),
                                    np.arange(n), vectors) if n <= 100_000 else None
        if scope is not None:
            _, times = _timed(lambda q, scope=scope: search.rank_pictures(q, scope, 10), queries[:50])
            row["rank_pictures_exact"] = times
        try:
            import faiss
        except ImportError:
            faiss = None
        if faiss is not None and "faiss" in methods:
            flat = faiss.IndexFlatIP(DIMENSIONS)
            flat.add(vectors)
            faiss.omp_set_num_threads(1)
            found, times = _timed(lambda q, flat=flat: flat.search(q[None, :], 10)[1][0], queries)
            row["faiss_flat"] = {**times, "recall10": _recall(found, truth)}
            faiss.omp_set_num_threads(build_threads)
            hnsw = faiss.IndexHNSWFlat(DIMENSIONS, 32, faiss.METRIC_INNER_PRODUCT)
            hnsw.hnsw.efConstruction = 80
            start = time.perf_counter()
            hnsw.add(vectors)
            build = time.perf_counter() - start
            size = len(faiss.serialize_index(hnsw))
            faiss.omp_set_num_threads(1)
            for ef in (32, 64, 128):
                hnsw.hnsw.efSearch = ef
                found, times = _timed(lambda q, hnsw=hnsw: hnsw.search(q[None, :], 10)[1][0], queries)
                row[f"faiss_hnsw32_ef{ef}"] = {**times, "recall10": _recall(found, truth),
                                               "build_s": round(build, 1),
                                               "bytes_per_million": round(size / n * 1_000_000)}
            del hnsw, flat
        try:
            from usearch.index import Index
        except ImportError:
            Index = None
        if Index is not None and "usearch" in methods:
            for dtype in ("f32", "i8"):
                index = Index(ndim=DIMENSIONS, metric="ip", dtype=dtype, connectivity=16,
                              expansion_add=64, expansion_search=64)
                start = time.perf_counter()
                index.add(np.arange(n), vectors, threads=build_threads)
                build = time.perf_counter() - start
                found, times = _timed(lambda q, index=index: index.search(q, 10, threads=1).keys, queries)
                row[f"usearch_{dtype}"] = {**times, "recall10": _recall(found, truth),
                                           "build_s": round(build, 1),
                                           "bytes_per_million": round(index.memory_usage / n * 1_000_000)}
                del index
        out[str(n)] = row
        print(json.dumps({str(n): row}), flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("part", choices=["descriptors", "quality", "index"])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--build-threads", type=int, default=1)
    parser.add_argument("--methods", nargs="+", default=["faiss", "usearch"],
                        help="the index libraries to measure besides numpy (default: both)")
    arguments = parser.parse_args()
    if os.environ.get("OMP_NUM_THREADS") != "1":
        print("note: set OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 for one-core figures")
    if arguments.part == "descriptors":
        result = bench_descriptors()
    elif arguments.part == "quality":
        result = bench_quality()
    else:
        result = bench_index(arguments.sizes, arguments.queries, arguments.build_threads,
                             set(arguments.methods))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
