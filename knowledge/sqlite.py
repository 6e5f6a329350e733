"""SQLite plumbing shared by everything stored in a run's `run.db` (nodes, cognition items, model calls…).

Stores keep one long-lived autocommit connection per thread (`Connections`): opening one costs more than most
queries a run makes. Connections are never shared between threads or across a fork, writes take the write lock
up front (`transaction`), and a process killed mid-write leaves the last committed state (WAL journal). Errors
become one-line exceptions naming the file.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


class DatabaseError(RuntimeError):
    """The database file cannot be used (not ours, unreadable, locked too long, closed)."""


@contextmanager
def connect(path: Path, error: Callable[[str], Exception] = DatabaseError, what: str = "database"
            ) -> Iterator[sqlite3.Connection]:
    """A fresh autocommit connection with a 30 s busy timeout; sqlite errors are re-raised as `error`."""
    conn: sqlite3.Connection | None = None
    try:
        conn = _open(path)
        yield conn
    except sqlite3.Error as exc:
        raise error(f"{what} {path}: {exc}") from exc
    finally:
        if conn is not None:
            conn.close()


def _open(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=30.0, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA busy_timeout = 30000")
    conn.execute("PRAGMA synchronous = NORMAL")
    return conn


class Connections:
    """One autocommit connection per thread to one database file, opened on first use and kept.

    `with connections() as conn:` hands the calling thread its connection; an sqlite error is re-raised as
    `error` and the connection it happened on is dropped (the next call opens a fresh one). A forked child
    opens its own. `close()` closes every thread's connection; using the object afterwards raises `error`.
    """

    errors: tuple[type[Exception], ...] = (sqlite3.Error,)  # what the driver raises

    def __init__(self, path: Path, error: Callable[[str], Exception] = DatabaseError, what: str = "database"
                 ) -> None:
        self.path, self._error, self._what = Path(path), error, what
        self.label = str(self.path)  # how messages name the database
        self._local = threading.local()
        self._lock = threading.Lock()
        self._open: list[tuple[threading.Thread, Any]] = []
        self._closed = False

    @contextmanager
    def __call__(self) -> Iterator[sqlite3.Connection]:
        if self._closed:
            raise self._error(f"{self._what} {self.label} is closed")
        held = getattr(self._local, "held", None)
        try:
            if held is None or held[0] != os.getpid():
                conn = self._open_one()
                with self._lock:  # connections of threads that ended are closed here, not left to pile up
                    ended = [c for t, c in self._open if not t.is_alive()]
                    self._open = [(t, c) for t, c in self._open if t.is_alive()]
                    self._open.append((threading.current_thread(), conn))
                for old in ended:
                    old.close()
                held = self._local.held = (os.getpid(), conn)
            yield held[1]
        except self.errors as exc:
            self._drop()
            raise self._error(f"{self._what} {self.label}: {one_line(exc)}") from exc

    def _open_one(self) -> Any:
        return _open(self.path)

    def _drop(self) -> None:
        held = getattr(self._local, "held", None)
        self._local.held = None
        if held is not None and held[0] == os.getpid():
            with self._lock:
                self._open = [(t, c) for t, c in self._open if c is not held[1]]
            held[1].close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            conns, self._open = self._open, []
        for _, conn in conns:
            try:
                conn.close()
            except self.errors:
                pass


def one_line(exc: BaseException) -> str:
    """A driver's message on one line (PostgreSQL's span several)."""
    return " ".join(str(exc).split()) or type(exc).__name__


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
