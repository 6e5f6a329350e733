"""The node database: every evaluated or rejected candidate of a run, in its `run.db` (SQLite, the embedded
default) or its PostgreSQL schema (`knowledge.storage`: one SQL text serves both).

Nodes are append-only; the only field that changes after insert is `visits`, raised in the same transaction
that stores a child, so parent counts can never drift from the children actually stored (UCB1 depends on it).
Each thread keeps one connection (`knowledge.storage.connections`): safe from many threads and processes, and a
process killed mid-write leaves the previous committed state (SQLite's WAL journal, PostgreSQL's transactions).
"""

from __future__ import annotations

import json
import math
import time
from contextlib import AbstractContextManager
from dataclasses import fields
from types import TracebackType
from typing import Any, Protocol

from knowledge.records import NODE_STATUSES, Node, NodeDraft, Provenance
from knowledge.sqlite import DatabaseError, transaction
from knowledge.storage import Location, as_location, connections, describe, prepare, table_columns

SCHEMA_VERSION = "4"

_COLUMNS: tuple[str, ...] = (
    "id", "trial_key", "generation", "parent_ids", "name", "motivation", "program", "edit", "metrics",
    "score", "analysis", "status", "error", "timings", "created_at", "visits", "island", "cognition_ids",
    "novelty_rejections", "insights", "attempts", "notes", "provenance",
)
_JSON_COLUMNS = frozenset({"parent_ids", "metrics", "timings", "cognition_ids", "insights", "attempts", "notes",
                           "provenance"})
_STATUS_LIST = ", ".join(f"'{s}'" for s in NODE_STATUSES)

_META = "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)"
_NODES = f"""
CREATE TABLE IF NOT EXISTS nodes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    trial_key TEXT NOT NULL UNIQUE,
    generation INTEGER NOT NULL,
    parent_ids TEXT NOT NULL,
    name TEXT NOT NULL,
    motivation TEXT NOT NULL,
    program TEXT NOT NULL,
    edit TEXT NOT NULL,
    metrics TEXT NOT NULL,
    score REAL,
    analysis TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ({_STATUS_LIST})),
    error TEXT NOT NULL,
    timings TEXT NOT NULL,
    created_at REAL NOT NULL,
    visits INTEGER NOT NULL DEFAULT 0 CHECK (visits >= 0),
    island INTEGER,
    cognition_ids TEXT NOT NULL DEFAULT '[]',
    novelty_rejections INTEGER NOT NULL DEFAULT 0,
    insights TEXT NOT NULL DEFAULT '[]',
    attempts TEXT NOT NULL DEFAULT '[]',
    notes TEXT NOT NULL DEFAULT '[]',
    provenance TEXT NOT NULL DEFAULT '{{}}'
)
"""
BEST_CLAUSE = "WHERE status = 'ok' AND score IS NOT NULL ORDER BY score DESC, id ASC LIMIT 1"
_INDEXES = """
CREATE INDEX IF NOT EXISTS nodes_score ON nodes(score);
CREATE INDEX IF NOT EXISTS nodes_status ON nodes(status);
CREATE INDEX IF NOT EXISTS nodes_best ON nodes(status, score DESC, id);
"""  # nodes_best answers best() from the index: without it every call sorted all ok rows (10 ms at 10k nodes)


class NodeStore(Protocol):
    """What the loop needs from a node database (`NodeDatabase` serves SQLite and PostgreSQL)."""

    def add(self, draft: NodeDraft) -> Node: ...
    def get(self, node_id: int) -> Node | None: ...
    def get_by_trial_key(self, key: str) -> Node | None: ...
    def nodes(self, status: str | None = None) -> list[Node]: ...
    def nodes_since(self, after_id: int) -> list[Node]: ...
    def best(self) -> Node | None: ...
    def count(self) -> int: ...
    def counts_by_status(self) -> dict[str, int]: ...
    def get_meta(self, key: str) -> str | None: ...
    def set_meta(self, key: str, value: str) -> None: ...
    def close(self) -> None: ...


def _json_default(value: Any) -> Any:
    """Accept numpy scalars/arrays (exactly, via `tolist`); anything else is a programmer error."""
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"value of type {type(value).__name__} is not JSON-serialisable")


def _dumps(column: str, value: Any) -> str:
    try:
        return json.dumps(value, sort_keys=True, ensure_ascii=False, default=_json_default)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"node field {column!r} cannot be stored as JSON: {exc}") from exc


def _row_to_node(row: Any) -> Node:
    values = {c: (json.loads(row[c]) if c in _JSON_COLUMNS else row[c]) for c in _COLUMNS}
    values["parent_ids"] = tuple(values["parent_ids"])
    values["cognition_ids"] = tuple(values["cognition_ids"])
    values["insights"] = tuple(values["insights"])
    values["attempts"] = tuple(values["attempts"])
    values["notes"] = tuple(values["notes"])
    values["provenance"] = Provenance.from_dict(values["provenance"])
    return Node(**values)


def _draft_values(draft: NodeDraft) -> dict[str, Any]:
    """Validate a draft and turn it into column values (JSON text for the structured fields)."""
    if draft.status not in NODE_STATUSES:
        raise ValueError(f"unknown node status {draft.status!r}; valid: {', '.join(NODE_STATUSES)}")
    score = draft.score
    if score is not None:
        score = float(score)
        if not math.isfinite(score):
            raise ValueError(f"node {draft.trial_key!r} has a non-finite score ({score}); store None instead")
    values = {f.name: getattr(draft, f.name) for f in fields(NodeDraft)}
    values["score"] = score
    values["parent_ids"] = [int(p) for p in draft.parent_ids]
    values["cognition_ids"] = [int(i) for i in draft.cognition_ids]
    values["insights"] = [str(i) for i in draft.insights]
    values["attempts"] = [dict(a) for a in draft.attempts]
    values["notes"] = [str(n) for n in draft.notes]
    values["provenance"] = draft.provenance.to_dict()
    for column in _JSON_COLUMNS:
        values[column] = _dumps(column, values[column])
    return values


class NodeDatabase:
    """Node store at a location: a SQLite file path (WAL mode) or a PostgreSQL URL naming the run's schema.
    It creates the tables if missing."""

    def __init__(self, location: Location) -> None:
        if str(location) in ("", ":memory:"):
            raise ValueError("the node store needs a file path (an in-memory database would vanish per call)")
        self.path = as_location(location)
        self.label = describe(self.path)
        self._connections = connections(self.path)
        self._initialise()

    # -- connection plumbing -------------------------------------------------------------------------------

    def _connect(self) -> AbstractContextManager[Any]:
        return self._connections()

    _transaction = staticmethod(transaction)

    def _initialise(self) -> None:
        with self._connect() as conn:
            prepare(conn, self.label)  # a garbage file fails here or earlier
            with self._transaction(conn):
                self._create_schema(conn)

    def _create_schema(self, conn: Any) -> None:
        """Create missing tables, upgrade an older schema in place; refuse a file whose tables are not ours."""
        conn.execute(_META)
        row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        if row is not None and row["value"] == "2":
            self._upgrade_from_2(conn)
        elif row is not None and row["value"] == "3":
            conn.execute("ALTER TABLE nodes ADD COLUMN provenance TEXT NOT NULL DEFAULT '{}'")
            conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (SCHEMA_VERSION,))
        conn.execute(_NODES)
        columns = tuple(table_columns(conn, "nodes"))
        if set(columns) != set(_COLUMNS):
            raise DatabaseError(f"{self.label} has a 'nodes' table that is not ours (columns {columns})")
        for statement in filter(str.strip, _INDEXES.split(";")):
            conn.execute(statement)
        row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        if row is None:
            conn.execute("INSERT INTO meta(key, value) VALUES ('schema_version', ?)", (SCHEMA_VERSION,))
        elif row["value"] != SCHEMA_VERSION:
            raise DatabaseError(
                f"{self.label} has schema version {row['value']}; this code reads version {SCHEMA_VERSION}"
            )

    @staticmethod
    def _upgrade_from_2(conn: Any) -> None:
        """Version 3 added the `notes` column and the `duplicate` status (a CHECK constraint), version 4 the
        `provenance` column: the table is rebuilt with every row copied, inside the caller's transaction, so a
        crash leaves version 2 intact."""
        old = [c for c in _COLUMNS if c not in ("notes", "provenance")]
        conn.execute("ALTER TABLE nodes RENAME TO nodes_v2")
        conn.execute(_NODES)
        conn.execute(f"INSERT INTO nodes ({', '.join(old)}) SELECT {', '.join(old)} FROM nodes_v2")
        conn.execute("DROP TABLE nodes_v2")
        conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (SCHEMA_VERSION,))

    # -- writes --------------------------------------------------------------------------------------------

    def add(self, draft: NodeDraft) -> Node:
        """Store a node once per trial_key; a repeat returns the stored node and changes nothing.

        Raises ValueError for an invalid draft (unknown status, non-finite score, unknown parent id).
        """
        values = _draft_values(draft)
        values["created_at"] = time.time()
        names = list(values)
        sql = f"INSERT INTO nodes ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})"
        with self._connect() as conn:
            with self._transaction(conn):
                existing = self._fetch_one(conn, "WHERE trial_key = ?", (draft.trial_key,))
                if existing is not None:
                    return existing
                parents = sorted(set(draft.parent_ids))
                if parents:
                    marks = ", ".join("?" * len(parents))
                    rows = conn.execute(f"SELECT id FROM nodes WHERE id IN ({marks})", parents)
                    found = {r[0] for r in rows}
                    missing = [p for p in parents if p not in found]
                    if missing:
                        raise ValueError(f"node {draft.trial_key!r} names unknown parent ids {missing}")
                node_id = conn.execute(f"{sql} RETURNING id", [values[n] for n in names]).fetchone()[0]
                if draft.parent_ids:
                    conn.execute("UPDATE nodes SET visits = visits + 1 WHERE id = ?", (draft.parent_ids[0],))
                stored = self._fetch_one(conn, "WHERE id = ?", (node_id,))
        if stored is None:
            raise DatabaseError(f"database {self.label}: node {draft.trial_key!r} vanished right after insert")
        return stored

    def set_meta(self, key: str, value: str) -> None:
        """Record one run-level fact (seed, task name, ...); overwrites the previous value of `key`."""
        with self._connect() as conn, self._transaction(conn):
            conn.execute(
                "INSERT INTO meta(key, value) VALUES (?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    # -- reads ---------------------------------------------------------------------------------------------

    @staticmethod
    def _fetch_one(conn: Any, where: str, params: tuple[Any, ...]) -> Node | None:
        row = conn.execute(f"SELECT {', '.join(_COLUMNS)} FROM nodes {where}", params).fetchone()
        return None if row is None else _row_to_node(row)

    def _select(self, where: str = "", params: tuple[Any, ...] = ()) -> list[Node]:
        with self._connect() as conn:
            rows = conn.execute(f"SELECT {', '.join(_COLUMNS)} FROM nodes {where}", params).fetchall()
        return [_row_to_node(r) for r in rows]

    def get(self, node_id: int) -> Node | None:
        found = self._select("WHERE id = ?", (node_id,))
        return found[0] if found else None

    def get_by_trial_key(self, key: str) -> Node | None:
        found = self._select("WHERE trial_key = ?", (key,))
        return found[0] if found else None

    def nodes(self, status: str | None = None) -> list[Node]:
        """All nodes (or those with one status), oldest first."""
        if status is None:
            return self._select("ORDER BY id")
        if status not in NODE_STATUSES:
            raise ValueError(f"unknown node status {status!r}; valid: {', '.join(NODE_STATUSES)}")
        return self._select("WHERE status = ? ORDER BY id", (status,))

    def nodes_since(self, after_id: int) -> list[Node]:
        """Nodes with id > after_id, oldest first: how samplers catch up incrementally."""
        return self._select("WHERE id > ? ORDER BY id", (after_id,))

    def statuses_since(self, after_id: int) -> list[tuple[int, str]]:
        """(id, status) of the nodes with id > after_id, oldest first: a live tally that reads only what is new."""
        with self._connect() as conn:
            return [(int(i), str(s)) for i, s in conn.execute(
                "SELECT id, status FROM nodes WHERE id > ? ORDER BY id", (after_id,))]

    def best(self) -> Node | None:
        """Highest-scoring ok node; among equal scores the oldest one."""
        found = self._select(BEST_CLAUSE)
        return found[0] if found else None

    def count(self) -> int:
        with self._connect() as conn:
            return int(conn.execute("SELECT COUNT(*) FROM nodes").fetchone()[0])

    def counts_by_status(self) -> dict[str, int]:
        """Count per status, every known status present (0 when none), in NODE_STATUSES order."""
        with self._connect() as conn:
            rows = conn.execute("SELECT status, COUNT(*) FROM nodes GROUP BY status").fetchall()
        found = {r[0]: int(r[1]) for r in rows}
        return {s: found.get(s, 0) for s in NODE_STATUSES}

    def get_meta(self, key: str) -> str | None:
        with self._connect() as conn:
            row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    # -- lifecycle -----------------------------------------------------------------------------------------

    def close(self) -> None:
        """Close every thread's connection; the store cannot be used afterwards."""
        self._connections.close()

    def __enter__(self) -> NodeDatabase:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
