"""Asynchronous lanes: several LangGraph threads of one run, each running one trial at a time, sharing its database.

Why: a generation of K parallel trials waits for its slowest one before the next is planned, so with evaluation
times varying 10x most slots idle most of the time. A lane plans its next trial as soon as its last one is stored;
lanes meet only in the database (the nodes every lane's sampler sees, the tickets that share the step budget, see
`knowledge.tickets`), so the graph of each lane stays the plain explicit loop and each is checkpointed on its own
thread (`run` for lane 0, as a one-lane run, `lane-1`, `lane-2`... for the others).

A lane that raises is resumed from its own checkpoint, without touching the others; one that keeps failing is
given up after `RESTARTS` tries, and the run reports why when the others are done.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from graph.checkpoint import THREAD_ID

RESTARTS = 2
log = logging.getLogger("asi_evolve")

LaneDriver = Callable[[int], dict[str, Any]]
"""Drive a lane to its end: from its checkpoint when it has one, else from its input."""


def lane_thread_id(lane: int) -> str:
    return THREAD_ID if lane == 0 else f"lane-{lane}"


class LaneFailure(RuntimeError):
    """A lane failed more often than it is restarted; the message says which and why."""


def drive_lanes(lanes: int, drive: LaneDriver) -> dict[str, Any]:
    """Run lanes 0..lanes-1 at once, each in its own thread, until every one has ended; returns lane 0's final
    state. A lane that raises is driven again from its checkpoint (the other lanes go on meanwhile)."""
    results: dict[int, dict[str, Any]] = {}
    errors: dict[int, BaseException] = {}

    def run(lane: int) -> None:
        for attempt in range(RESTARTS + 1):
            try:
                results[lane] = drive(lane)
                return
            except Exception as exc:  # a lane's crash must not end the others: it resumes from its checkpoint
                errors[lane] = exc
                log.warning("lane %d failed (%s: %s); %s", lane, type(exc).__name__, exc,
                            "resuming it from its checkpoint" if attempt < RESTARTS else "giving it up")

    threads = [threading.Thread(target=run, args=(lane,), name=f"asi-evolve-lane-{lane}", daemon=True)
               for lane in range(lanes)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    failed = sorted(lane for lane in errors if lane not in results)
    if failed:
        lane = failed[0]
        exc = errors[lane]
        raise LaneFailure(f"lane {lane} failed {RESTARTS + 1} times, last: {type(exc).__name__}: {exc}") from exc
    return results[0]
