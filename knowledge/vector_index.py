"""The cognition base's FAISS index: a rebuildable cache of the embeddings stored in `run.db`.

It lives apart from the cognition base because it knows nothing of SQLite or items, only ids and unit vectors.
Search is exact (flat inner product) up to `FLAT_MAX_ITEMS` items and HNSW above, where a flat scan costs more
than ~5 ms per query on two cores (measured by bench/bench_retrieval.py). A stamp file beside the index records
what it holds, so `load` rejects a file that is stale, torn by a crash, or built by another embedder.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import faiss
import numpy as np

FLAT_MAX_ITEMS = 10_000  # exact search up to here (~1 ms/query); flat at 20k: p95 ~7 ms on a busy 2-core box
HNSW_M, HNSW_EF_CONSTRUCTION, HNSW_EF_SEARCH = 32, 40, 128


class VectorIndex:
    """FAISS inner-product index over unit vectors (so scores are cosines), mapped to item ids."""

    def __init__(self, index: Any, max_id: int) -> None:
        self.index, self.max_id = index, max_id
        self._inner = faiss.downcast_index(index.index)

    @property
    def count(self) -> int:
        return int(self.index.ntotal)

    @property
    def dim(self) -> int:
        return int(self.index.d)

    @property
    def kind(self) -> str:
        return "hnsw" if isinstance(self._inner, faiss.IndexHNSWFlat) else "flat"

    @classmethod
    def build(cls, ids: np.ndarray, vectors: np.ndarray) -> VectorIndex:
        """Flat (exact) up to FLAT_MAX_ITEMS vectors, HNSW for more."""
        dim = int(vectors.shape[1])
        if len(ids) <= FLAT_MAX_ITEMS:
            inner = faiss.IndexFlatIP(dim)
        else:
            inner = faiss.IndexHNSWFlat(dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
            inner.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        index = faiss.IndexIDMap(inner)
        index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), ids.astype(np.int64))
        return cls(index, int(ids.max()))

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        if self.count + len(ids) > FLAT_MAX_ITEMS and self.kind == "flat":
            old = self._inner.reconstruct_n(0, self.count)  # outgrew exact search: move everything to HNSW
            grown = VectorIndex.build(
                np.concatenate([faiss.vector_to_array(self.index.id_map), ids]), np.concatenate([old, vectors])
            )
            self.index, self._inner = grown.index, grown._inner
        else:
            self.index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), ids.astype(np.int64))
        self.max_id = max(self.max_id, int(ids.max()))

    def search(self, vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Scores and ids of the k best items per query row (-1 ids where fewer exist).

        Fewer than 20 queries run on the calling thread alone: an OpenMP team for one query costs more than it
        saves, and on a busy two-core machine waiting for the second thread added milliseconds (the setting is
        per calling thread and restored afterwards).
        """
        if self.kind == "hnsw":
            self._inner.hnsw.efSearch = max(HNSW_EF_SEARCH, k)
        threads = faiss.omp_get_max_threads()
        if len(vectors) < 20:
            faiss.omp_set_num_threads(1)
        try:
            return self.index.search(np.ascontiguousarray(vectors, dtype=np.float32), k)
        finally:
            faiss.omp_set_num_threads(threads)

    @staticmethod
    def stamp_path(path: Path) -> Path:
        return path.with_name(path.name + ".stamp.json")

    def save(self, path: Path, embedder: str) -> None:
        """Write index, then stamp, each atomically; a crash between them leaves a mismatch `load` rejects."""
        stamp = {"count": self.count, "max_id": self.max_id, "embedder": embedder, "dim": self.dim}
        faiss.write_index(self.index, str(path) + ".tmp")
        os.replace(str(path) + ".tmp", path)
        self.stamp_path(path).with_suffix(".tmp").write_text(json.dumps(stamp))
        os.replace(self.stamp_path(path).with_suffix(".tmp"), self.stamp_path(path))

    @classmethod
    def load(cls, path: Path, embedder: str) -> VectorIndex | None:
        """The persisted index, or None when missing, unreadable, another embedder's, or not what its stamp says."""
        try:
            stamp = json.loads(cls.stamp_path(path).read_text())
            index = faiss.read_index(str(path))
            ids = faiss.vector_to_array(index.id_map)
        except (OSError, ValueError, RuntimeError, AttributeError):
            return None
        found = {"count": int(index.ntotal), "max_id": int(ids.max()) if len(ids) else 0, "embedder": embedder,
                 "dim": int(index.d)}
        return cls(index, found["max_id"]) if stamp == found and len(ids) else None

    @classmethod
    def remove_files(cls, path: Path) -> None:
        path.unlink(missing_ok=True)
        cls.stamp_path(path).unlink(missing_ok=True)
