"""Verified results: a node re-evaluated under a larger configuration or more seeds, kept beside its exploration
result (never over it), as rows of `verifications` in the run's database.

Why apart from `nodes`: a node's exploration score is what the search saw and acted on; what survives scale is
a second opinion, which may be asked for again with another configuration.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from typing import Any

from knowledge.sqlite import DatabaseError
from knowledge.storage import Location, as_location, connect, describe, table_columns

_TABLE = """
CREATE TABLE IF NOT EXISTS verifications (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    node_id INTEGER NOT NULL,
    config TEXT NOT NULL,
    seeds INTEGER NOT NULL,
    status TEXT NOT NULL,
    score REAL,
    score_std REAL,
    scores TEXT NOT NULL,
    metrics TEXT NOT NULL,
    error TEXT NOT NULL,
    created_at REAL NOT NULL
)
"""


@dataclass(frozen=True)
class Verification:
    """One node verified under `config` with `seeds` evaluations: `score` is their mean (None unless all are
    ok), `metrics` the mean of each numeric metric, `scores` each evaluation's score."""

    node_id: int
    config: str
    seeds: int
    status: str
    score: float | None
    score_std: float | None
    scores: list[float | None]
    metrics: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    created_at: float = 0.0
    id: int = 0


def summarise(node_id: int, config: str, results: list[Any]) -> Verification:
    """Fold several `EvalResult`s of one node into its verification."""
    scores = [r.score if r.status == "ok" else None for r in results]
    failed = next((r for r in results if r.status != "ok"), None)
    numbers: dict[str, list[float]] = {}
    for r in results:
        for key, value in r.metrics.items():
            if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
                numbers.setdefault(key, []).append(float(value))
    metrics = {k: sum(v) / len(v) for k, v in numbers.items() if len(v) == len(results)}
    if failed is not None:
        return Verification(node_id, config, len(results), failed.status, None, None, scores, metrics,
                            failed.error or failed.status)
    mean = sum(scores) / len(scores)  # type: ignore[arg-type]
    std = math.sqrt(sum((s - mean) ** 2 for s in scores) / len(scores))  # type: ignore[operator]
    return Verification(node_id, config, len(results), "ok", mean, std, scores, metrics)


class VerificationStore:
    """The `verifications` table of one run database."""

    def __init__(self, db_path: Location) -> None:
        self.path = as_location(db_path)
        with connect(self.path) as conn:
            conn.execute(_TABLE)
            found = set(table_columns(conn, "verifications"))
        expected = {"id", "node_id", "config", "seeds", "status", "score", "score_std", "scores", "metrics", "error",
                    "created_at"}
        if found != expected:
            raise DatabaseError(f"{describe(self.path)} has a 'verifications' table that is not ours")

    def add(self, record: Verification) -> Verification:
        values = (record.node_id, record.config, record.seeds, record.status, record.score, record.score_std,
                  json.dumps(record.scores), json.dumps(record.metrics), record.error, record.created_at or time.time())
        with connect(self.path) as conn:
            row_id = conn.execute(
                "INSERT INTO verifications (node_id, config, seeds, status, score, score_std, scores, metrics, "
                "error, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id", values).fetchone()[0]
        return Verification(**{**record.__dict__, "id": int(row_id), "created_at": values[-1]})

    def all(self) -> list[Verification]:
        """Every verification, oldest first."""
        with connect(self.path) as conn:
            rows = conn.execute("SELECT * FROM verifications ORDER BY id").fetchall()
        return [Verification(node_id=r["node_id"], config=r["config"], seeds=r["seeds"], status=r["status"],
                             score=r["score"], score_std=r["score_std"], scores=json.loads(r["scores"]),
                             metrics=json.loads(r["metrics"]), error=r["error"], created_at=r["created_at"],
                             id=r["id"]) for r in rows]

    def latest(self) -> dict[int, Verification]:
        """The newest verification of each node."""
        return {v.node_id: v for v in self.all()}
