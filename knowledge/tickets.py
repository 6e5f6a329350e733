"""Tickets: how asynchronous lanes share one step budget without a barrier.

Each lane asks for a ticket before it plans a trial; tickets are numbered 1, 2, 3… in the order lanes ask, across
every lane and process writing to the run's database, and the step budget admits the tickets up to it — so no more
trials run than the budget, however the lanes interleave. A ticket belongs to its owner (a lane's n-th step): asked
again after a crash, the owner gets the same number back and re-plans the same trial, whose node is then stored
once (by trial key). A ticket beyond the budget stays with its owner: `resume --steps` raises the budget and the
lane runs it.
"""

from __future__ import annotations

from knowledge.sqlite import transaction
from knowledge.storage import Location, as_location, connections

_TABLE = "CREATE TABLE IF NOT EXISTS tickets (owner TEXT PRIMARY KEY, number INTEGER NOT NULL UNIQUE)"


def lane_owner(lane: int, lane_step: int) -> str:
    return f"lane{lane}:{lane_step}"


class Tickets:
    """The `tickets` table of a run's database (`run.db` or its PostgreSQL schema)."""

    def __init__(self, location: Location) -> None:
        self._connections = connections(as_location(location), what="ticket table")
        with self._connections() as conn:
            conn.execute(_TABLE)

    def take(self, owner: str) -> int:
        """`owner`'s ticket: the one it took before, else the next number (under the run's write lock)."""
        with self._connections() as conn, transaction(conn):
            row = conn.execute("SELECT number FROM tickets WHERE owner = ?", (owner,)).fetchone()
            if row is not None:
                return int(row[0])
            number = int(conn.execute("SELECT COALESCE(MAX(number), 0) + 1 FROM tickets").fetchone()[0])
            conn.execute("INSERT INTO tickets (owner, number) VALUES (?, ?)", (owner, number))
        return number

    def of(self, owner: str) -> int | None:
        """The ticket `owner` took, or None."""
        with self._connections() as conn:
            row = conn.execute("SELECT number FROM tickets WHERE owner = ?", (owner,)).fetchone()
        return None if row is None else int(row[0])

    def taken(self) -> int:
        """How many tickets the lanes have taken (the highest number)."""
        with self._connections() as conn:
            return int(conn.execute("SELECT COALESCE(MAX(number), 0) FROM tickets").fetchone()[0])

    def close(self) -> None:
        self._connections.close()
