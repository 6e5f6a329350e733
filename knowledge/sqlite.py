"""SQLite plumbing shared by everything stored in a run's `run.db` (nodes, cognition items, model calls…).

One short-lived connection per call: safe from many threads and processes, and a process killed mid-write
leaves the last committed state (WAL journal). Errors become one-line exceptions naming the file.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


class DatabaseError(RuntimeError):
    """The database file cannot be used (not ours, unreadable, locked too long, closed)."""


@contextmanager
def connect(path: Path, error: Callable[[str], Exception] = DatabaseError, what: str = "database"
            ) -> Iterator[sqlite3.Connection]:
    """A fresh autocommit connection with a 30 s busy timeout; sqlite errors are re-raised as `error`."""
    conn: sqlite3.Connection | None = None
    try:
        conn = sqlite3.connect(path, timeout=30.0, isolation_level=None)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA busy_timeout = 30000")
        conn.execute("PRAGMA synchronous = NORMAL")
        yield conn
    except sqlite3.Error as exc:
        raise error(f"{what} {path}: {exc}") from exc
    finally:
        if conn is not None:
            conn.close()


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """BEGIN IMMEDIATE takes the write lock up front: concurrent writers queue instead of deadlocking."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        if conn.in_transaction:  # sqlite may already have rolled back (e.g. disk full)
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
