"""Where a run's tables live: `run.db` in the run directory (SQLite, the embedded default) or a PostgreSQL schema.

A *location* is a path (SQLite) or a `postgresql://…?schema=NAME` URL. The stores (nodes, cognition items, model
calls, fingerprints, verifications) open their connections through `connections` and ask the few questions whose
SQL differs between the two here; everything else they write once for both.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from knowledge.sqlite import Connections, DatabaseError

Location = Path | str
DB_FILE = "run.db"


def is_postgres(location: object) -> bool:
    return isinstance(location, str) and location.startswith(("postgresql://", "postgres://"))


def as_location(location: Location) -> Location:
    """A URL stays a URL; anything else is a SQLite file path."""
    return location if is_postgres(location) else Path(location)


def run_location(run_dir: Path | str, db: str = "") -> Location:
    """Where a run's tables live: `run.db` in its directory, or (`db` a PostgreSQL URL) a schema of that database
    — the URL's `?schema=` or one named after the run directory."""
    if not db:
        return Path(run_dir) / DB_FILE
    if not is_postgres(db):
        raise ValueError(f"--db must be a PostgreSQL URL (postgresql://USER@HOST:PORT/DATABASE), got {db!r}")
    from knowledge.postgres import split_url, with_schema

    if split_url(db)[1] is not None:
        return db
    name = re.sub(r"[^a-z0-9_]", "_", Path(run_dir).resolve().name.lower()) or "run"
    return with_schema(db, f"run_{name}"[:63])


def describe(location: Location) -> str:
    """How messages name the location (a URL without its password)."""
    if is_postgres(location):
        from knowledge.postgres import safe_url

        return safe_url(str(location))
    return str(location)


def connections(location: Location, error: Callable[[str], Exception] = DatabaseError,
                what: str = "database") -> Connections:
    """Per-thread connections to `location`; a missing directory for a SQLite file is one clear error."""
    if is_postgres(location):
        from knowledge.postgres import PgConnections

        return PgConnections(str(location), error, what)
    path = Path(location)
    if not path.parent.is_dir():
        raise error(f"cannot open {what} {path}: its directory does not exist")
    return Connections(path, error, what)


@contextmanager
def connect(location: Location, error: Callable[[str], Exception] = DatabaseError,
            what: str = "database") -> Iterator[Any]:
    """One connection for a few statements, closed afterwards (for stores used now and then)."""
    pool = connections(location, error, what)
    try:
        with pool() as conn:
            yield conn
    finally:
        pool.close()


def prepare(conn: Any, label: str) -> None:
    """Per-database setup before any table is touched: SQLite's WAL journal (garbage fails here)."""
    if isinstance(conn, _sqlite_connection()):
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise DatabaseError(f"database {label} refused WAL journal mode (got {mode!r})")


def table_columns(conn: Any, table: str) -> list[str]:
    """Column names of `table` in order (empty when the table does not exist)."""
    if not re.fullmatch(r"[a-z_]+", table):
        raise ValueError(f"not a table name: {table!r}")
    if isinstance(conn, _sqlite_connection()):
        return [str(r[1]) for r in conn.execute(f"PRAGMA table_info({table})")]
    rows = conn.execute("SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() "
                        "AND table_name = ? ORDER BY ordinal_position", (table,))
    return [str(r[0]) for r in rows]


def has_table(conn: Any, table: str) -> bool:
    return bool(table_columns(conn, table))


def exists(location: Location) -> bool:
    """Whether a run's database is there to read (a file; a schema holding the node table)."""
    if not is_postgres(location):
        return Path(location).is_file()
    import psycopg

    from knowledge.postgres import connect_kwargs

    try:
        with psycopg.connect(**connect_kwargs(str(location))) as conn:
            found = conn.execute("SELECT 1 FROM information_schema.tables WHERE table_schema = current_schema() "
                                 "AND table_name = 'nodes'").fetchone()
    except psycopg.Error as exc:
        from knowledge.sqlite import one_line

        raise DatabaseError(f"database {describe(location)}: {one_line(exc)}") from None
    return found is not None


def _sqlite_connection() -> type:
    import sqlite3

    return sqlite3.Connection
