"""The cognition base: human priors and analyzer insights, retrieved by meaning into every research round.

Items live in the run's database (`run.db` or its PostgreSQL schema, table `cognition_items`) together with
their embedding, so the FAISS index beside it (knowledge/vector_index.py) is only a cache: missing, unreadable or
stale, it is rebuilt from the table without re-embedding anything.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast

import numpy as np

from knowledge.embeddings import Embedder
from knowledge.sqlite import DatabaseError, transaction
from knowledge.storage import Location, as_location, connect, connections, describe, has_table, is_postgres, prepare
from knowledge.vector_index import VectorIndex

Origin = Literal["prior", "analyzer"]
ORIGINS: tuple[str, ...] = ("prior", "analyzer")

_TABLE = """
CREATE TABLE IF NOT EXISTS cognition_items (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    content TEXT NOT NULL,
    source TEXT NOT NULL,
    tags TEXT NOT NULL,
    origin TEXT NOT NULL CHECK (origin IN ('prior', 'analyzer')),
    node_id INTEGER,
    created_at REAL NOT NULL,
    content_hash TEXT NOT NULL,
    embedder TEXT NOT NULL,
    dim INTEGER NOT NULL,
    embedding BLOB NOT NULL,
    UNIQUE (source, content_hash)
)
"""
_ITEM_COLUMNS = "id, content, source, tags, origin, node_id, created_at"
_INSERT = (
    "INSERT INTO cognition_items (content, source, tags, origin, node_id, created_at, content_hash,"
    " embedder, dim, embedding) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING id"
)


@dataclass(frozen=True)
class CognitionDraft:
    """An item before it is stored (what ingest and the analyzer produce)."""

    content: str
    source: str
    tags: tuple[str, ...] = ()
    origin: str = "prior"
    node_id: int | None = None


@dataclass(frozen=True)
class CognitionItem:
    """A stored item. `node_id` names the node whose analysis produced it (analyzer items)."""

    id: int
    content: str
    source: str
    tags: tuple[str, ...]
    origin: Origin
    node_id: int | None
    created_at: float


@dataclass(frozen=True)
class Retrieved:
    """A search hit; `score` is the cosine similarity between query and item."""

    item: CognitionItem
    score: float


def _content_hash(content: str) -> str:
    return hashlib.sha256(content.encode("utf-8")).hexdigest()


def _validated(draft: CognitionDraft) -> CognitionDraft:
    """Strip content and source, check origin; exact duplicates are judged on the stripped text."""
    content, source = draft.content.strip(), draft.source.strip()
    if not content:
        raise ValueError(f"cognition item from {draft.source!r} has empty content")
    if not source:
        raise ValueError("cognition item needs a non-empty source")
    if draft.origin not in ORIGINS:
        raise ValueError(f"unknown cognition origin {draft.origin!r}; valid: {', '.join(ORIGINS)}")
    node_id = None if draft.node_id is None else int(draft.node_id)
    return CognitionDraft(content, source, tuple(str(t) for t in draft.tags), draft.origin, node_id)


def _row_to_item(row: Any) -> CognitionItem:
    return CognitionItem(
        id=int(row["id"]), content=row["content"], source=row["source"], tags=tuple(json.loads(row["tags"])),
        origin=row["origin"], node_id=row["node_id"], created_at=float(row["created_at"]),
    )


class CognitionBase:
    """Items in `db_path` (shared with the node database), a FAISS cache at `index_path`, one embedder.

    Thread-safe: one lock guards the in-memory index; each thread keeps its own database connection. Items
    are never deleted, so ids only grow: before each search the index appends rows that other instances or
    processes stored (it compares the table's largest id with its own).
    """

    def __init__(self, db_path: Location, index_path: Path, embedder: Embedder) -> None:
        self.db_path, self.index_path, self.embedder = as_location(db_path), Path(index_path), embedder
        self.label = describe(self.db_path)
        if not self.index_path.parent.is_dir():
            raise DatabaseError(f"cannot open cognition base at {self.index_path}: its directory does not exist")
        self._lock = threading.RLock()
        self._connections = connections(self.db_path, what="cognition base")
        self._index: VectorIndex | None = None
        self._unsaved = 0  # items in the in-memory index but not in the file
        with self._connect() as conn:
            prepare(conn, self.label)
            conn.execute(_TABLE)
            row = conn.execute("SELECT embedder, dim FROM cognition_items ORDER BY id LIMIT 1").fetchone()
        if row is not None and row[0] != embedder.name:
            raise ValueError(
                f"cognition base {self.label} holds {row[0]!r} embeddings (dim {row[1]}); "
                f"embedder {embedder.name!r} cannot search or extend it"
            )
        with self._lock:
            self._open_index()

    def _connect(self):
        return self._connections()

    # -- the index cache (callers hold the lock) -----------------------------------------------------------

    def _open_index(self) -> None:
        """Use the persisted index if it holds a prefix of this table, catch up, persist what changed."""
        index = VectorIndex.load(self.index_path, self.embedder.name)
        if index is not None:
            with self._connect() as conn:
                total, newer = (int(v) for v in conn.execute(
                    "SELECT (SELECT COUNT(*) FROM cognition_items),"
                    " (SELECT COUNT(*) FROM cognition_items WHERE id > ?)", (index.max_id,)
                ).fetchone())
            if total - newer != index.count:  # not built from this table (or the table changed under it)
                index = None
        self._index = index
        if self._sync() or index is None:
            self._persist()

    def _sync(self, conn: Any = None) -> bool:
        """Append rows stored since the index was built; True when the index changed."""
        if conn is None:
            with self._connect() as fresh:
                return self._sync(fresh)
        max_id = int(conn.execute("SELECT COALESCE(MAX(id), 0) FROM cognition_items").fetchone()[0])
        known = self._index.max_id if self._index is not None else 0
        if max_id == known:
            return False
        if max_id < known:
            self._index, known = None, 0
        ids, vectors = self._vectors_since(conn, known)
        if self._index is None:
            self._index = VectorIndex.build(ids, vectors) if len(ids) else None
        elif len(ids):
            self._index.add(ids, vectors)
        self._unsaved += len(ids)
        return True

    @staticmethod
    def _vectors_since(conn: Any, after_id: int) -> tuple[np.ndarray, np.ndarray]:
        """Ids and stored embeddings of rows with id > after_id, in id order (no re-embedding)."""
        rows = conn.execute(
            "SELECT id, dim, embedding FROM cognition_items WHERE id > ? ORDER BY id", (after_id,)
        ).fetchall()
        if not rows:
            return np.zeros(0, dtype=np.int64), np.zeros((0, 0), dtype=np.float32)
        vectors = np.frombuffer(b"".join(r[2] for r in rows), dtype="<f4").reshape(len(rows), int(rows[0][1]))
        return np.array([r[0] for r in rows], dtype=np.int64), vectors.astype(np.float32)

    def _persist(self, lazily: bool = False) -> None:
        """Write the index cache. `lazily`: only once 1% of the items are unsaved, because rewriting a 100k-item
        HNSW file (~0.5 s) per added insight is waste when reopening appends the missing rows cheaply."""
        if lazily and self._index is not None and self._unsaved * 100 < self._index.count:
            return
        self._unsaved = 0
        if self._index is None:
            VectorIndex.remove_files(self.index_path)
        else:
            self._index.save(self.index_path, self.embedder.name)

    def rebuild_index(self) -> None:
        """Rebuild the FAISS index from the stored embeddings and persist it."""
        with self._lock:
            self._index = None
            self._sync()
            self._persist()

    # -- writes --------------------------------------------------------------------------------------------

    def add(
        self, content: str, *, source: str, tags: Sequence[str] = (), origin: str = "prior",
        node_id: int | None = None, dedup_threshold: float | None = None,
    ) -> CognitionItem | None:
        """Store one item; None when skipped as an exact duplicate (same source and content, always) or, with
        `dedup_threshold`, as a near-duplicate (cosine >= threshold to a stored item)."""
        added = self.add_many([CognitionDraft(content, source, tuple(tags), origin, node_id)], dedup_threshold)
        return added[0] if added else None

    def add_many(
        self, entries: Sequence[CognitionDraft], dedup_threshold: float | None = None
    ) -> list[CognitionItem]:
        """Store many items with one batched embedding call; returns the items actually added, in order."""
        drafts: dict[tuple[str, str], CognitionDraft] = {}
        for draft in map(_validated, entries):
            drafts.setdefault((draft.source, _content_hash(draft.content)), draft)
        hashes = sorted({h for _, h in drafts})
        with self._connect() as conn:
            for start in range(0, len(hashes), 500):
                chunk = hashes[start : start + 500]
                marks = ",".join("?" * len(chunk))
                for row in conn.execute(
                    f"SELECT source, content_hash FROM cognition_items WHERE content_hash IN ({marks})", chunk
                ):
                    drafts.pop((row[0], row[1]), None)  # exact duplicates never reach the embedder
        fresh = list(drafts.values())
        if not fresh:
            return []
        return self._add_embedded(fresh, self.embedder.embed([d.content for d in fresh]), dedup_threshold)

    def _add_embedded(
        self, drafts: Sequence[CognitionDraft], vectors: np.ndarray, dedup_threshold: float | None
    ) -> list[CognitionItem]:
        """Insert drafts with their unit vectors: one transaction, one index update, a (lazy) persist.

        The bulk path for callers holding vectors already (the benchmark inserts 100k synthetic ones here).
        """
        drafts = [_validated(d) for d in drafts]
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[0] != len(drafts):
            raise ValueError(f"{len(drafts)} cognition drafts but embeddings of shape {vectors.shape}")
        with self._lock:
            self._sync()
            self._check_dim(vectors.shape[1])
            keep = np.flatnonzero(self._novel(vectors, dedup_threshold))
            items, stored = self._insert([drafts[i] for i in keep], vectors[keep])
            if items:
                ids = np.array([item.id for item in items], dtype=np.int64)
                if self._index is None:
                    self._index = VectorIndex.build(ids, stored)
                else:
                    self._index.add(ids, stored)
                self._unsaved += len(ids)
                self._persist(lazily=True)
        return items

    def _novel(self, vectors: np.ndarray, threshold: float | None) -> np.ndarray:
        """Mask of vectors below `threshold` cosine to every stored item and to every earlier one kept."""
        keep = np.ones(len(vectors), dtype=bool)
        if threshold is None:
            return keep
        if self._index is not None:
            keep = self._index.search(vectors, 1)[0][:, 0] < threshold
        for i in range(len(vectors)):
            earlier = vectors[:i][keep[:i]]
            if keep[i] and len(earlier) and float(np.max(earlier @ vectors[i])) >= threshold:
                keep[i] = False
        return keep

    def _insert(self, drafts: list[CognitionDraft], vectors: np.ndarray) -> tuple[list[CognitionItem], np.ndarray]:
        """Insert in one transaction, checking the vector space inside it so two writers cannot mix spaces."""
        name, dim, now = self.embedder.name, int(vectors.shape[1]), time.time()
        items, rows = [], []
        with self._connect() as conn, transaction(conn):
            row = conn.execute("SELECT embedder, dim FROM cognition_items ORDER BY id LIMIT 1").fetchone()
            if row is not None and (row[0], int(row[1])) != (name, dim):
                raise ValueError(
                    f"cognition base {self.label} holds {row[0]!r} embeddings of dim {row[1]}; "
                    f"refusing {dim}-d vectors from embedder {name!r}"
                )
            for i, (draft, vector) in enumerate(zip(drafts, vectors, strict=True)):
                stored = conn.execute(_INSERT, (
                    draft.content, draft.source, json.dumps(list(draft.tags)), draft.origin, draft.node_id,
                    now, _content_hash(draft.content), name, dim, vector.astype("<f4").tobytes(),
                )).fetchone()
                if stored is not None:  # None: a concurrent writer stored the same item first
                    origin = cast(Origin, draft.origin)
                    items.append(CognitionItem(int(stored[0]), draft.content, draft.source,
                                               draft.tags, origin, draft.node_id, now))
                    rows.append(i)
        return items, vectors[rows]

    # -- reads ---------------------------------------------------------------------------------------------

    def _check_dim(self, dim: int) -> None:
        if self._index is not None and dim != self._index.dim:
            raise ValueError(
                f"embedder {self.embedder.name!r} gave {dim}-d vectors but cognition base {self.label} "
                f"holds {self._index.dim}-d ones"
            )

    def search(self, query: str, k: int = 5, threshold: float = 0.0) -> list[Retrieved]:
        """The k items most similar to `query` with cosine >= threshold, best first."""
        return self.search_many([query], k, threshold)

    def search_many(self, queries: Sequence[str], k: int, threshold: float) -> list[Retrieved]:
        """Top-k per query, merged (an item found by several queries keeps its best score), best first."""
        if k < 0:
            raise ValueError(f"cognition search needs k >= 0, got {k}")
        with self._lock:
            self._sync()
            empty = self._index is None
        if empty or k == 0 or not queries:
            return []  # no embedding call: querying an empty base costs nothing
        return self.search_vectors(self.embedder.embed(list(queries)), k, threshold)

    def search_vectors(self, vectors: np.ndarray, k: int, threshold: float) -> list[Retrieved]:
        """`search_many` for precomputed unit query vectors (rows) from this base's embedder."""
        if k < 0:
            raise ValueError(f"cognition search needs k >= 0, got {k}")
        vectors = np.atleast_2d(np.asarray(vectors, dtype=np.float32))
        with self._connect() as conn:  # one connection for the freshness check and the items
            best = self._search_ids(conn, vectors, k, threshold)
            order = sorted(best.items(), key=lambda pair: (-pair[1], pair[0]))
            found = self._fetch(conn, [i for i, _ in order])
        return [Retrieved(found[i], score) for i, score in order if i in found]

    def _search_ids(self, conn: Any, vectors: np.ndarray, k: int, threshold: float) -> dict[int, float]:
        """Best score per item id over all query rows, hits below `threshold` dropped."""
        with self._lock:
            self._sync(conn)
            if self._index is None or k == 0 or not len(vectors):
                return {}
            self._check_dim(vectors.shape[1])
            scores, ids = self._index.search(vectors, k)
        best: dict[int, float] = {}
        for score, item_id in zip(np.clip(scores, -1.0, 1.0).ravel().tolist(), ids.ravel().tolist(), strict=True):
            if item_id >= 0 and score >= threshold and score > best.get(item_id, -2.0):
                best[item_id] = score
        return best

    @staticmethod
    def _fetch(conn: Any, ids: Sequence[int]) -> dict[int, CognitionItem]:
        found: dict[int, CognitionItem] = {}
        for start in range(0, len(ids), 500):
            chunk = [int(i) for i in ids[start : start + 500]]
            sql = f"SELECT {_ITEM_COLUMNS} FROM cognition_items WHERE id IN ({','.join('?' * len(chunk))})"
            found.update((item.id, item) for item in map(_row_to_item, conn.execute(sql, chunk)))
        return found

    def get(self, ids: Sequence[int]) -> list[CognitionItem]:
        """Items in the order of `ids`; ids not in this base are left out (compare lengths to notice)."""
        with self._connect() as conn:
            found = self._fetch(conn, ids)
        return [found[int(i)] for i in ids if int(i) in found]

    def items(self, origin: str | None = None) -> list[CognitionItem]:
        """All items (or those of one origin), oldest first."""
        if origin is not None and origin not in ORIGINS:
            raise ValueError(f"unknown cognition origin {origin!r}; valid: {', '.join(ORIGINS)}")
        where, params = ("WHERE origin = ?", (origin,)) if origin else ("", ())
        with self._connect() as conn:
            rows = conn.execute(f"SELECT {_ITEM_COLUMNS} FROM cognition_items {where} ORDER BY id", params)
            return [_row_to_item(r) for r in rows]

    def count(self) -> int:
        with self._connect() as conn:
            return int(conn.execute("SELECT COUNT(*) FROM cognition_items").fetchone()[0])


def read_items(db_path: Location, ids: Sequence[int] | None = None) -> dict[int, CognitionItem]:
    """Items of the base in `db_path` by id (all, or those of `ids`), read without an embedder or an index (and,
    from a SQLite file, read-only): what a report shows of the items a node used. A database without the table
    holds none."""
    if is_postgres(db_path):
        with connect(db_path, what="cognition base") as conn:
            return _read_items(conn, ids)
    conn = sqlite3.connect(f"file:{Path(db_path)}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        return _read_items(conn, ids)
    finally:
        conn.close()


def _read_items(conn: Any, ids: Sequence[int] | None) -> dict[int, CognitionItem]:
    if not has_table(conn, "cognition_items"):
        return {}
    if ids is None:
        return {item.id: item for item in map(_row_to_item, conn.execute(
            f"SELECT {_ITEM_COLUMNS} FROM cognition_items ORDER BY id"))}
    return CognitionBase._fetch(conn, sorted(set(ids)))
