"""The call ledger: every model call of a run (success or failure) as a row of `llm_calls` in the run's SQLite file.

Why in the run database: the cost budget, the cost report and replay all read the same rows, and copying a run
directory copies its model history. Same conventions as `knowledge.database`: WAL journal, one short-lived
connection per call (safe from parallel trials), and this module creates only its own table.

A row holds the full prompt and the full response — never an API key: keys live only in the environment and in
the HTTP client, and prompts are built from task and node text.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

from knowledge.storage import Location, as_location, connections, describe, prepare, table_columns

if TYPE_CHECKING:
    from langchain_core.messages import BaseMessage

_TABLE = """
CREATE TABLE IF NOT EXISTS llm_calls (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    role TEXT NOT NULL,
    key TEXT NOT NULL,
    prompt_hash TEXT NOT NULL,
    occurrence INTEGER NOT NULL,
    model TEXT NOT NULL,
    prompt TEXT NOT NULL,
    response TEXT NOT NULL,
    finish_reason TEXT NOT NULL,
    input_tokens INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    cost REAL NOT NULL,
    latency_s REAL NOT NULL,
    error TEXT NOT NULL,
    created_at REAL NOT NULL,
    candidate TEXT NOT NULL DEFAULT ''
)
"""
_INDEX = "CREATE INDEX IF NOT EXISTS llm_calls_lookup ON llm_calls(role, key, prompt_hash, occurrence)"
_CANDIDATE_INDEX = "CREATE INDEX IF NOT EXISTS llm_calls_candidate ON llm_calls(candidate)"


class LedgerError(RuntimeError):
    """The ledger's database file cannot be used."""


@dataclass(frozen=True)
class CallRecord:
    """One model call attempt. `error` is '' for a success; a failed attempt has no response.

    `candidate` is the trial whose candidate the call served ('' when none): every call of one candidate goes to
    the model that made its first reply.
    """

    role: str
    key: str
    prompt_hash: str
    occurrence: int
    model: str
    prompt: str
    response: str
    finish_reason: str
    input_tokens: int
    output_tokens: int
    cost: float
    latency_s: float
    error: str = ""
    id: int = 0
    created_at: float = 0.0
    candidate: str = ""


_COLUMNS = tuple(f.name for f in fields(CallRecord))
_INSERTED = tuple(c for c in _COLUMNS if c != "id")


def serialize_messages(messages: Sequence[BaseMessage]) -> str:
    """The prompt as canonical JSON: what is stored and what `prompt_hash` hashes."""
    return json.dumps(
        [{"type": m.type, "content": m.content} for m in messages], sort_keys=True, ensure_ascii=False
    )


def prompt_hash(messages: Sequence[BaseMessage]) -> str:
    return hashlib.sha256(serialize_messages(messages).encode()).hexdigest()


class CallLedger:
    """The `llm_calls` table of one run database (`run.db`, or the run's PostgreSQL schema)."""

    def __init__(self, db_path: Location) -> None:
        self.path = as_location(db_path)
        self._connections = connections(self.path, LedgerError, "call ledger")
        with self._connect() as conn:
            prepare(conn, describe(self.path))
            conn.execute(_TABLE)
            conn.execute(_INDEX)
            found = set(table_columns(conn, "llm_calls"))
            if found == set(_COLUMNS) - {"candidate"}:  # a ledger written before calls knew their candidate
                conn.execute("ALTER TABLE llm_calls ADD COLUMN candidate TEXT NOT NULL DEFAULT ''")
                found.add("candidate")
            conn.execute(_CANDIDATE_INDEX)
            if found != set(_COLUMNS):
                raise LedgerError(f"{describe(self.path)} has an 'llm_calls' table that is not ours "
                                  f"(columns {sorted(found)})")

    def __repr__(self) -> str:
        return f"CallLedger({describe(self.path)!r})"

    def _connect(self):
        return self._connections()

    def record(self, record: CallRecord) -> CallRecord:
        """Append one attempt; returns it with its id and time."""
        values: dict[str, Any] = {c: getattr(record, c) for c in _INSERTED}
        values["created_at"] = record.created_at or time.time()
        names = ", ".join(_INSERTED)
        marks = ", ".join("?" for _ in _INSERTED)
        with self._connect() as conn:
            row_id = int(conn.execute(f"INSERT INTO llm_calls ({names}) VALUES ({marks}) RETURNING id",
                                      tuple(values.values())).fetchone()[0])
        return CallRecord(**{**values, "id": row_id})

    def totals(self) -> tuple[float, int]:
        """(total cost in $, total tokens) over every attempt recorded, failed ones included."""
        with self._connect() as conn:
            row = conn.execute(
                "SELECT COALESCE(SUM(cost), 0), COALESCE(SUM(input_tokens + output_tokens), 0) FROM llm_calls"
            ).fetchone()
        return float(row[0]), int(row[1])

    def totals_since(self, after_id: int) -> tuple[float, int, int]:
        """(cost in $, tokens, last id) of the attempts recorded after `after_id`: a live total that reads only
        what is new."""
        with self._connect() as conn:
            row = conn.execute(
                "SELECT COALESCE(SUM(cost), 0), COALESCE(SUM(input_tokens + output_tokens), 0), COALESCE(MAX(id), ?)"
                " FROM llm_calls WHERE id > ?", (after_id, after_id)
            ).fetchone()
        return float(row[0]), int(row[1]), int(row[2])

    def lookup(self, role: str, key: str, prompt_hash: str, occurrence: int) -> CallRecord | None:
        """The successful call recorded for this (role, key, prompt, occurrence), if any (replay)."""
        with self._connect() as conn:
            row = conn.execute(
                f"SELECT {', '.join(_COLUMNS)} FROM llm_calls WHERE role = ? AND key = ? AND prompt_hash = ?"
                " AND occurrence = ? AND error = '' ORDER BY id LIMIT 1",
                (role, key, prompt_hash, occurrence),
            ).fetchone()
        return None if row is None else CallRecord(**dict(row))

    def rows(self, role: str | None = None) -> list[CallRecord]:
        """All recorded attempts (or one role's), oldest first."""
        where, params = ("WHERE role = ?", (role,)) if role is not None else ("", ())
        with self._connect() as conn:
            found = conn.execute(f"SELECT {', '.join(_COLUMNS)} FROM llm_calls {where} ORDER BY id", params)
            return [CallRecord(**dict(r)) for r in found.fetchall()]

    def for_candidate(self, candidate: str) -> list[CallRecord]:
        """Every attempt made for one candidate (all roles), oldest first."""
        with self._connect() as conn:
            found = conn.execute(
                f"SELECT {', '.join(_COLUMNS)} FROM llm_calls WHERE candidate = ? ORDER BY id", (candidate,)
            )
            return [CallRecord(**dict(r)) for r in found.fetchall()]
