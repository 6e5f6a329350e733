"""Embeddings remembered: what a run embedded (in memory) and what this machine embedded before (on disk).

Why: the Learner queries the cognition base with the analysis of each context node, and the same parents are
sampled again and again; the seed corpus and a task's standing base are the same documents in every run. MiniLM
takes about 20 ms a query on one CPU core and a second for the corpus, every run. `CachedEmbedder` wraps any
embedder: texts it has seen come from a bounded in-memory table, then from an SQLite file shared by the runs of
this machine (keyed by the model's name and the text's hash), and only the rest is embedded, in one batch.

A cached vector is the one the model gave when the text was first embedded; embedding it again in another batch
could differ in the last bits, so a run on a machine that has embedded its texts before reads the same vectors
as the run that embedded them.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from knowledge.embeddings import Embedder
from knowledge.sqlite import Connections, transaction

CACHE_ENV = "ASI_EVOLVE_EMBEDDING_CACHE"  # a file path, or "off"
_TABLE = """CREATE TABLE IF NOT EXISTS embeddings (
    model TEXT NOT NULL, text_sha TEXT NOT NULL, vector BLOB NOT NULL, used_at REAL NOT NULL,
    PRIMARY KEY (model, text_sha)
)"""


def default_cache_path() -> Path | None:
    """`$ASI_EVOLVE_EMBEDDING_CACHE`, else `$XDG_CACHE_HOME/asi-evolve/embeddings.db`; None when set to off."""
    configured = os.environ.get(CACHE_ENV, "").strip()
    if configured.lower() == "off":
        return None
    if configured:
        return Path(configured).expanduser()
    root = os.environ.get("XDG_CACHE_HOME", "").strip() or str(Path.home() / ".cache")
    return Path(root).expanduser() / "asi-evolve" / "embeddings.db"


def cached(inner: Embedder) -> CachedEmbedder:
    """`inner` remembering its texts in this machine's cache file (`default_cache_path`)."""
    return CachedEmbedder(inner, default_cache_path())


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class CachedEmbedder:
    """`inner` with a memory of `capacity` texts and, with `store`, a machine-wide file of at most `max_rows`.

    Thread-safe. The file is trimmed to its most recently used rows when it grows past `max_rows`; a file that
    cannot be opened or written is not fatal (the run embeds as if there were none).
    """

    def __init__(self, inner: Embedder, store: Path | None = None, capacity: int = 8192,
                 max_rows: int = 200_000) -> None:
        self.inner, self.capacity, self.max_rows = inner, capacity, max_rows
        self._memory: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self._store: Connections | None = None
        self._rows = 0  # rows in the file, counted when opened and added to on each write (an upper bound)
        if store is not None:
            try:
                store.parent.mkdir(parents=True, exist_ok=True)
                self._store = Connections(store, what="embedding cache")
                with self._store() as conn:
                    conn.execute("PRAGMA journal_mode = WAL")
                    conn.execute(_TABLE)
                    self._rows = conn.execute("SELECT COUNT(*) FROM embeddings").fetchone()[0]
            except (OSError, RuntimeError):
                self._store = None

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def dim(self) -> int:
        return self.inner.dim

    def __repr__(self) -> str:
        return f"CachedEmbedder({self.inner!r})"

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        texts = list(texts)
        keys = [_sha(t) for t in texts]
        found: dict[str, np.ndarray] = {}
        with self._lock:
            for key in keys:
                if key in self._memory:
                    self._memory.move_to_end(key)
                    found[key] = self._memory[key]
        missing = [k for k in dict.fromkeys(keys) if k not in found]
        if missing:
            found.update(self._read(missing))
        fresh = {k: t for k, t in zip(keys, texts, strict=True) if k not in found}
        if fresh:
            vectors = np.asarray(self.inner.embed(list(fresh.values())), dtype=np.float32)
            new = dict(zip(fresh, vectors, strict=True))
            found.update(new)
            self._write(new)
        self._remember({k: found[k] for k in missing})
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.ascontiguousarray(np.vstack([found[k] for k in keys]), dtype=np.float32)

    def _remember(self, vectors: dict[str, np.ndarray]) -> None:
        with self._lock:
            for key, vector in vectors.items():
                self._memory[key] = vector
                self._memory.move_to_end(key)
            while len(self._memory) > self.capacity:
                self._memory.popitem(last=False)

    def _read(self, keys: list[str]) -> dict[str, np.ndarray]:
        if self._store is None:
            return {}
        found: dict[str, np.ndarray] = {}
        try:
            with self._store() as conn:
                for start in range(0, len(keys), 500):
                    chunk = keys[start:start + 500]
                    marks = ",".join("?" * len(chunk))
                    rows = conn.execute(f"SELECT text_sha, vector FROM embeddings WHERE model = ? AND text_sha IN "
                                        f"({marks})", (self.name, *chunk)).fetchall()
                    for sha, blob in rows:
                        vector = np.frombuffer(blob, dtype=np.float32)
                        if vector.shape == (self.dim,):
                            found[sha] = vector
        except RuntimeError:  # an unreadable cache is no cache
            return {}
        return found

    def _write(self, vectors: dict[str, np.ndarray]) -> None:
        if self._store is None or not vectors:
            return
        now = time.time()
        rows = [(self.name, key, np.asarray(v, dtype=np.float32).tobytes(), now) for key, v in vectors.items()]
        try:
            with self._store() as conn, transaction(conn):
                conn.executemany("INSERT OR REPLACE INTO embeddings (model, text_sha, vector, used_at) "
                                 "VALUES (?, ?, ?, ?)", rows)
                with self._lock:
                    self._rows += len(rows)
                    trim = self._rows > self.max_rows
                if trim:  # keep the most recently embedded ones
                    count = conn.execute("SELECT COUNT(*) FROM embeddings").fetchone()[0]
                    conn.execute("DELETE FROM embeddings WHERE rowid IN (SELECT rowid FROM embeddings "
                                 "ORDER BY used_at LIMIT ?)", (max(0, count - self.max_rows),))
                    with self._lock:
                        self._rows = min(count, self.max_rows)
        except RuntimeError:
            pass
