"""Trial keys, and slot order for the parallel trials of one generation at the two points where order matters.

Why: K trials of a generation run in parallel and finish in any order. Two things must not depend on that
order, or the same seed would give different runs: which of two identical programs is the duplicate (the
`claim` point: a trial claims its program for evaluation), and the ids nodes get (the `store` point: a node is
stored, its insights written back, its model rewarded). A trial passes each point only after every trial of a
lower slot in its generation has passed it, been stored before a restart, or given up (its node raised, or it
paused for a person's approval: a paused trial must never hold the others).
Everything else — proposing, evaluating — stays fully parallel.

Waiting is bounded (`max_wait_s`): a trial that cannot get its turn in that time goes on unordered rather
than hold the run forever.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable

POINTS = ("claim", "store")
_KEY = re.compile(r"^g(\d+)\.(\d+)$")
INITIAL_KEY = "g0000.0"  # the trial evaluating the task's initial program


def trial_key(generation: int, slot: int) -> str:
    """The key of a generation's trial in a slot: `g0003.1`; it names the trial's node folder too."""
    return f"g{generation:04d}.{slot}"


def _slot(key: str) -> tuple[int, int] | None:
    match = _KEY.match(key)
    return (int(match.group(1)), int(match.group(2))) if match else None


class TrialOrder:
    """The turns of one run. `is_stored(key)` tells whether a trial's node is already in the database."""

    def __init__(self, is_stored: Callable[[str], bool], max_wait_s: float = 1800.0, poll_s: float = 0.25) -> None:
        self._is_stored = is_stored
        self.max_wait_s = max_wait_s
        self._poll_s = poll_s
        self._passed: dict[str, set[str]] = {point: set() for point in POINTS}
        self._cond = threading.Condition()

    def wait_turn(self, key: str, point: str) -> bool:
        """Block until every lower slot of `key`'s generation has passed `point`; False if the wait timed out."""
        slot = _slot(key)
        if slot is None or slot[1] == 0:
            return True
        generation, index = slot
        waiting = {f"g{generation:04d}.{i}" for i in range(index)}
        deadline = time.monotonic() + self.max_wait_s
        with self._cond:
            while True:
                waiting -= self._passed[point]
                waiting = {k for k in waiting if not self._is_stored(k)}
                if not waiting:
                    return True
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(min(remaining, self._poll_s))

    def pass_turn(self, key: str, *points: str) -> None:
        """`key` has passed these points (all of them when none is named: the trial is done or gave up)."""
        slot = _slot(key)
        with self._cond:
            for point in points or POINTS:
                passed = self._passed[point]
                passed.add(key)
                if slot is not None:  # forget generations that are long over
                    passed -= {k for k in passed if (_slot(k) or slot)[0] < slot[0] - 1}
            self._cond.notify_all()
