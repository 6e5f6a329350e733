"""Novelty check: is a proposal a repeat of something the run already tried?

Two tests: an identical program (always a repeat: evaluating it again would only spend budget), checked against
every stored node and every program a trial of the running generation has claimed for evaluation; and, when a
threshold is set, a motivation whose embedding is at least that similar to a stored node's. Fingerprints live in
the run database (`node_fingerprints`), so a resumed run remembers them; claims live only until the claiming
trial's node is stored.
"""

from __future__ import annotations

import hashlib
import threading

import numpy as np

from knowledge.embeddings import Embedder
from knowledge.records import Node
from knowledge.sqlite import transaction
from knowledge.storage import Location, as_location, connections

_TABLE = """
CREATE TABLE IF NOT EXISTS node_fingerprints (
    node_id INTEGER PRIMARY KEY,
    program_sha TEXT NOT NULL,
    vector BLOB
)
"""


def program_sha(program: str) -> str:
    return hashlib.sha256(program.encode()).hexdigest()


class NoveltyIndex:
    """Program hashes and motivation embeddings of stored nodes, checked before a candidate is run."""

    def __init__(self, db_path: Location, embedder: Embedder | None = None) -> None:
        self.db_path = as_location(db_path)
        self.embedder = embedder
        self._lock = threading.Lock()
        self._connections = connections(self.db_path)
        with self._connections() as conn:
            conn.execute(_TABLE)
            rows = conn.execute("SELECT node_id, program_sha, vector FROM node_fingerprints ORDER BY node_id")
            self._shas: dict[str, int] = {}
            self._claims: dict[str, str] = {}  # program sha -> trial key, for programs not stored yet
            self._seen: set[int] = set()
            self._ids: list[int] = []
            vectors: list[np.ndarray] = []
            for node_id, sha, blob in rows:
                self._seen.add(node_id)
                self._shas.setdefault(sha, node_id)
                if blob is not None:
                    self._ids.append(node_id)
                    vectors.append(np.frombuffer(blob, dtype=np.float32))
        self._vectors = np.vstack(vectors) if vectors else None
        self.observed_upto = max(self._seen, default=0)

    def observe(self, nodes: list[Node]) -> None:
        """Remember these stored nodes (idempotent; nodes without a program are skipped)."""
        with self._lock:
            fresh = [n for n in nodes if n.program and n.id > 0 and n.id not in self._seen]
        if not fresh:
            return
        vectors = self.embedder.embed([n.motivation for n in fresh]) if self.embedder else None
        with self._lock:
            with self._connections() as conn, transaction(conn):
                for i, node in enumerate(fresh):
                    blob = None if vectors is None else vectors[i].astype(np.float32).tobytes()
                    conn.execute(
                        "INSERT INTO node_fingerprints(node_id, program_sha, vector) VALUES (?, ?, ?) "
                        "ON CONFLICT DO NOTHING",
                        (node.id, program_sha(node.program), blob),
                    )
            for i, node in enumerate(fresh):
                if node.id in self._seen:
                    continue
                self._seen.add(node.id)
                self._shas.setdefault(program_sha(node.program), node.id)
                self._claims.pop(program_sha(node.program), None)
                if vectors is not None:
                    self._ids.append(node.id)
                    row = vectors[i : i + 1].astype(np.float32)
                    self._vectors = row if self._vectors is None else np.vstack([self._vectors, row])
            self.observed_upto = max(self.observed_upto, max(n.id for n in fresh))

    def twin(self, program: str, claimant: str = "") -> str | None:
        """Why this program is a repeat — a stored node's, or claimed by another trial — or None."""
        sha = program_sha(program)
        with self._lock:
            stored = self._shas.get(sha)
            claimed = self._claims.get(sha)
        if stored is not None:
            return f"the program is identical to node {stored}'s"
        if claimed is not None and claimed != claimant:
            return f"the program is identical to trial {claimed}'s, being evaluated"
        return None

    def claim(self, program: str, claimant: str) -> None:
        """`claimant` evaluates this program: other trials proposing it are told it is a repeat."""
        with self._lock:
            self._claims.setdefault(program_sha(program), claimant)

    def similar(self, motivation: str, threshold: float) -> str | None:
        """Why this motivation repeats a stored node's (cosine >= threshold), or None."""
        with self._lock:
            if threshold <= 0 or self.embedder is None or self._vectors is None:
                return None
            vectors = self._vectors
            ids = list(self._ids)
        query = self.embedder.embed([motivation])[0]
        sims = vectors @ query
        best = int(np.argmax(sims))
        if sims[best] >= threshold:
            return f"the motivation is {sims[best]:.3f} similar to node {ids[best]}'s (threshold {threshold:g})"
        return None
