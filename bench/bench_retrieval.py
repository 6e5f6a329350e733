"""Cognition retrieval benchmark: `python -m bench.bench_retrieval` prints a Markdown table.

Bases of 1k items (real MiniLM embeddings of generated sentences, added through `add_many`) and of 10k and
100k items (synthetic vectors inserted through the same bulk path `add_many` ends in, so the index code is the
one a run uses). Synthetic vectors are clustered unit vectors (2,000 random centres plus noise): like real
sentence embeddings, most pairs are near-orthogonal while each item has close neighbours. Uniform random
vectors would be the worst case for HNSW and unlike any text corpus.

Per base: FAISS search time alone, the same for an exact flat index over the same vectors (the alternative
to HNSW), `search_vectors` time (freshness check, FAISS, fetching the items from
SQLite), recall@5 against exact brute force, the cost of adding one item (including persisting the index),
the time to write the index file (done at once for small bases, after 1% new items for big ones), to reopen
(load the index file) and to rebuild the index from the stored embeddings. Query
embedding with MiniLM is measured separately: it does not depend on the base size.
"""

from __future__ import annotations

import itertools
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import faiss
import numpy as np

from knowledge.cognition import CognitionBase, CognitionDraft
from knowledge.embeddings import MiniLMEmbedder

SIZES = (1_000, 10_000, 100_000)
QUERIES = 200
K = 5
DIM = 384

_SUBJECTS = ["Larger circles", "The optimiser", "A penalty term", "The evaluator", "Island migration", "UCB1",
             "The linear programme", "Basin hopping", "A cascade stage", "Novelty search"]
_VERBS = ["should favour", "tends to miss", "benefits from", "is slowed by", "works best with", "often breaks",
          "can replace", "rarely needs", "pairs well with", "should be checked against"]
_OBJECTS = ["the corners of the square", "small random perturbations", "exact rational checks", "many restarts",
            "analytic gradients", "a tight time budget", "diverse parent programs", "hexagonal starting rows",
            "failed candidates and their errors", "a shrink of all radii by one part in a billion"]


def _sentences(count: int, offset: int = 0) -> list[str]:
    combos = itertools.islice(itertools.product(_SUBJECTS, _VERBS, _OBJECTS), offset, offset + count)
    return [f"{s} {v} {o} (note {offset + i})." for i, (s, v, o) in enumerate(combos)]


def _questions(count: int, rng: np.random.Generator) -> list[str]:
    """Queries worded unlike the stored sentences (a question, other order)."""
    picks = rng.integers(0, 10, (count, 3))
    return [f"when {_OBJECTS[o]} matter, what about {_SUBJECTS[s].lower()} that {_VERBS[v]} them?"
            for s, v, o in picks]


def _clustered(count: int, centres: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    picked = centres[rng.integers(0, len(centres), count)]
    vectors = picked + 0.8 * rng.standard_normal((count, DIM)).astype(np.float32) / np.sqrt(DIM)
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def _times_ms(call: Callable[[np.ndarray], object], queries: np.ndarray) -> tuple[float, float]:
    samples = []
    for query in queries:
        start = time.perf_counter()
        call(query[None, :])
        samples.append((time.perf_counter() - start) * 1e3)
    return float(np.median(samples)), float(np.percentile(samples, 95))


def _build(folder: Path, size: int, embedder: MiniLMEmbedder, rng: np.random.Generator) -> tuple:
    """A base of `size` items; returns (base, stored vectors, query vectors, build seconds, data label)."""
    base = CognitionBase(folder / "run.db", folder / "cognition.faiss", embedder)
    start = time.perf_counter()
    if size <= 1_000:
        base.add_many([CognitionDraft(text, "bench") for text in _sentences(size)])
        queries, label = embedder.embed(_questions(QUERIES, rng)), "MiniLM"
    else:
        centres = _clustered(2_000, rng.standard_normal((2_000, DIM)).astype(np.float32), rng)
        vectors = _clustered(size, centres, rng)
        base._add_embedded([CognitionDraft(f"synthetic item {i}", "bench") for i in range(size)], vectors, None)
        queries, label = _clustered(QUERIES, centres, rng), "synthetic"
    build_s = time.perf_counter() - start
    with base._connect() as conn:
        _, stored = base._vectors_since(conn, 0)
    return base, stored, queries, build_s, label


def _exact_flat_ms(stored: np.ndarray, queries: np.ndarray) -> tuple[float, float]:
    """Single-query search time of an exact flat index over the same vectors, on one thread like the base's."""
    flat = faiss.IndexFlatIP(stored.shape[1])
    flat.add(stored)
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        return _times_ms(lambda q: flat.search(q, K), queries)
    finally:
        faiss.omp_set_num_threads(threads)


def _recall(base: CognitionBase, stored: np.ndarray, queries: np.ndarray) -> float:
    assert base._index is not None
    _, found = base._index.search(queries, K)
    exact = np.argsort(-(queries @ stored.T), axis=1)[:, :K] + 1  # ids are 1..n in insertion order
    return float(np.mean([len(set(f) & set(e)) / K for f, e in zip(found, exact, strict=True)]))


def _measure(size: int, embedder: MiniLMEmbedder, rng: np.random.Generator) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        base, stored, queries, build_s, label = _build(folder, size, embedder, rng)
        assert base._index is not None and base.count() == size
        kind = base._index.kind
        faiss_ms = _times_ms(lambda q: base._index.search(q, K), queries)  # type: ignore[union-attr]
        full_ms = _times_ms(lambda q: base.search_vectors(q, K, 0.0), queries)
        recall = _recall(base, stored, queries)
        exact_ms = _exact_flat_ms(stored, queries)
        start = time.perf_counter()
        with base._lock:
            base._persist()
        write_s = time.perf_counter() - start
        start = time.perf_counter()
        CognitionBase(folder / "run.db", folder / "cognition.faiss", embedder)
        reopen_s = time.perf_counter() - start
        start = time.perf_counter()
        base.rebuild_index()
        rebuild_s = time.perf_counter() - start
        adds = []
        for i, query in enumerate(queries[:5]):
            start = time.perf_counter()
            base._add_embedded([CognitionDraft(f"late item {i}", "bench-add")], query[None, :], None)
            adds.append(time.perf_counter() - start)
    add_ms = f"{1e3 * float(np.median(adds)):.0f} ({1e3 * max(adds):.0f})"
    return (f"| {size:,} | {label} | {kind} | {build_s:.1f} | {faiss_ms[0]:.3f} / {faiss_ms[1]:.3f} | "
            f"{exact_ms[0]:.3f} / {exact_ms[1]:.3f} | "
            f"{full_ms[0]:.3f} / {full_ms[1]:.3f} | {recall:.3f} | {add_ms} | "
            f"{write_s:.2f} | {reopen_s:.2f} | {rebuild_s:.1f} |")


def run() -> str:
    """Run the benchmark and return the Markdown table (also printed)."""
    rng = np.random.default_rng(0)
    embedder = MiniLMEmbedder()
    start = time.perf_counter()
    embedder.embed(["load the model"])
    load_s = time.perf_counter() - start
    texts = _sentences(QUERIES, offset=500)
    samples = []
    for text in texts:
        start = time.perf_counter()
        embedder.embed([text])
        samples.append((time.perf_counter() - start) * 1e3)
    lines = [
        f"Cognition retrieval, k={K}, {QUERIES} single-vector queries per base; times in ms as median / p95.",
        "",
        "| items | vectors | index | build s | FAISS search ms | exact flat ms | search_vectors ms | recall@5 "
        "| add 1 ms (max of 5) | write index s | reopen s | rebuild s |",
        "|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [_measure(size, embedder, rng) for size in SIZES]
    lines += [
        "",
        f"MiniLM query embedding (one query per call): {np.median(samples):.1f} / "
        f"{np.percentile(samples, 95):.1f} ms median / p95; first load of the model {load_s:.1f} s.",
    ]
    table = "\n".join(lines)
    print(table)
    return table


if __name__ == "__main__":
    run()
