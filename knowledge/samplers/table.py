"""`ArmTable`: the scored nodes of one pool as growable numpy columns, so picking stays O(n) vector work.

Every sampler keeps one for the whole run (inspirations, fallbacks); UCB1 ranks its rows, the island sampler keeps
one per island. Rows stay in insertion order, which `state()` preserves, so a restored table ranks and draws
exactly like the one that was saved.
"""

from __future__ import annotations

import math
import random
from typing import Any

import numpy as np

_START_CAPACITY = 64
_TIE_TOLERANCE = 1e-12


class ArmTable:
    """Rows of (node id, score, visits); `visits` counts observed children of that node within this pool."""

    def __init__(self) -> None:
        self._ids = np.zeros(_START_CAPACITY, dtype=np.int64)
        self._scores = np.zeros(_START_CAPACITY, dtype=np.float64)
        self._visits = np.zeros(_START_CAPACITY, dtype=np.int64)
        self._inv_root = np.zeros(_START_CAPACITY, dtype=np.float64)  # 1/sqrt(1+visits), ready for UCB1
        self._size = 0
        self._row: dict[int, int] = {}
        self._present = np.zeros(_START_CAPACITY, dtype=bool)  # indexed by node id: vectorised membership
        self._total_visits = 0
        self._best_row = -1

    def __len__(self) -> int:
        return self._size

    def __contains__(self, node_id: object) -> bool:
        return node_id in self._row

    @property
    def ids(self) -> np.ndarray:
        return self._ids[: self._size]

    @property
    def scores(self) -> np.ndarray:
        return self._scores[: self._size]

    @property
    def total_visits(self) -> int:
        return self._total_visits

    def visits_of(self, node_id: int) -> int:
        return int(self._visits[self._row[node_id]])

    # -- writes --------------------------------------------------------------------------------------------

    def add(self, node_id: int, score: float) -> bool:
        """Append a row (visits 0); False when the id is already here."""
        if node_id in self._row:
            return False
        if node_id < 0:
            raise ValueError(f"node ids are >= 0, got {node_id}")
        if self._size == len(self._ids):
            self._grow()
        row = self._size
        self._ids[row], self._scores[row], self._visits[row], self._inv_root[row] = node_id, score, 0, 1.0
        self._row[node_id] = row
        if node_id >= len(self._present):
            self._mark_present(np.array([node_id]))
        self._present[node_id] = True
        self._size += 1
        if self._best_row < 0 or self._beats(row, self._best_row):
            self._best_row = row
        return True

    def add_many(self, ids: np.ndarray, scores: np.ndarray) -> int:
        """Append rows (distinct ids) not yet here, in the given order, like repeated `add`; returns how many."""
        known = ids < len(self._present)
        known[known] = self._present[ids[known]]
        ids, scores = ids[~known], scores[~known]
        count, start = len(ids), self._size
        if count == 0:
            return 0
        while start + count > len(self._ids):
            self._grow()
        end = start + count
        self._ids[start:end], self._scores[start:end] = ids, scores
        self._visits[start:end], self._inv_root[start:end] = 0, 1.0
        self._row.update(zip(ids.tolist(), range(start, end), strict=True))
        self._mark_present(ids)
        self._size = end
        best = start + _best_row(ids, scores)
        if self._best_row < 0 or self._beats(best, self._best_row):
            self._best_row = best
        return count

    def visit(self, node_id: int) -> bool:
        """Count one child of `node_id`; False when it is not in this table."""
        row = self._row.get(node_id)
        if row is None:
            return False
        self._visits[row] += 1
        self._inv_root[row : row + 1] = 1.0 / np.sqrt(1.0 + self._visits[row : row + 1])
        self._total_visits += 1
        return True

    def _mark_present(self, ids: np.ndarray) -> None:
        top = int(ids.max())
        if top >= len(self._present):
            grown = np.zeros(max(top + 1, 2 * len(self._present)), dtype=bool)
            grown[: len(self._present)] = self._present
            self._present = grown
        self._present[ids] = True

    def _grow(self) -> None:
        capacity = 2 * len(self._ids)
        for attr in ("_ids", "_scores", "_visits", "_inv_root"):
            old = getattr(self, attr)
            new = np.zeros(capacity, dtype=old.dtype)
            new[: self._size] = old[: self._size]
            setattr(self, attr, new)

    def _beats(self, a: int, b: int) -> bool:
        """Row a ranks above row b: higher score, then the lower id (the older node)."""
        sa, sb = self._scores[a], self._scores[b]
        return bool(sa > sb or (sa == sb and self._ids[a] < self._ids[b]))

    # -- picks ---------------------------------------------------------------------------------------------

    def best(self) -> int | None:
        return None if self._best_row < 0 else int(self._ids[self._best_row])

    def random_id(self, rng: random.Random) -> int:
        return int(self._ids[rng.randrange(self._size)])

    def top(self, count: int, ranked: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """The `count` best rows as (ids, scores) by score, ties to the lower id; O(n).

        ranked: best first; otherwise in row order (cheaper, still deterministic).
        """
        n = self._size
        count = min(count, n)
        if count <= 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64)
        ids, scores = self.ids, self.scores
        threshold = np.partition(scores, n - count)[n - count]  # the count-th largest score
        above = np.flatnonzero(scores > threshold)
        at = np.flatnonzero(scores == threshold)
        at = at[np.argsort(ids[at], kind="stable")][: count - len(above)]
        rows = np.concatenate([above, at])
        rows = rows[np.lexsort((ids[rows], -scores[rows]))] if ranked else np.sort(rows)
        return ids[rows].copy(), scores[rows].copy()

    def best_other(self, exclude: set[int]) -> int | None:
        """Best id not in `exclude` (ties: lowest id); None when every row is excluded."""
        best = self.best()
        if best is None or best not in exclude:
            return best
        rows = [self._row[i] for i in exclude if i in self._row]
        if len(rows) >= self._size:
            return None
        scores = self.scores.copy()
        scores[rows] = -np.inf
        tied = np.flatnonzero(scores == scores.max())
        return int(self.ids[tied].min())

    def random_others(self, count: int, exclude: set[int], rng: random.Random) -> list[int]:
        """Up to `count` distinct random ids not in `exclude`."""
        present = sum(1 for i in exclude if i in self._row)
        if count <= 0 or self._size - present <= 0:
            return []
        rows = rng.sample(range(self._size), min(self._size, count + present))
        chosen = [int(self._ids[r]) for r in rows]
        return [i for i in chosen if i not in exclude][:count]

    def inspirations(self, parent_id: int, m: int, rng: random.Random) -> list[int]:
        """Up to m ids other than the parent: the best other first, then random others."""
        if m <= 0:
            return []
        best = self.best_other({parent_id})
        if best is None:
            return []
        return [best, *self.random_others(m - 1, {parent_id, best}, rng)]

    def ucb(self, k: int, exploration: float, rng: random.Random) -> list[int]:
        """k ids by UCB1: q + c*sqrt(ln(1+N)/(1+n)); each pick adds a virtual visit so parallel picks spread."""
        n = self._size
        if n == 0 or k <= 0:
            return []
        q = self._normalised_scores()
        inv_root = self._inv_root[:n].copy() if k > 1 else self._inv_root[:n]
        extra: dict[int, int] = {}
        total = self._total_visits
        picks: list[int] = []
        for _ in range(k):
            prio = inv_root * (exploration * math.sqrt(math.log1p(total)))
            prio += q
            top = prio[int(prio.argmax())]
            tied = np.flatnonzero(prio >= top - _TIE_TOLERANCE * max(1.0, abs(float(top))))
            row = int(tied[rng.randrange(len(tied))])
            picks.append(int(self._ids[row]))
            extra[row] = extra.get(row, 0) + 1
            total += 1
            if k > 1:
                inv_root[row] = 1.0 / math.sqrt(1.0 + float(self._visits[row]) + extra[row])
        return picks

    def ucb_priorities(self, exploration: float) -> np.ndarray:
        """UCB1 priority of every row, without virtual visits (what the first pick of `ucb` ranks)."""
        prio = self._inv_root[: self._size] * (exploration * math.sqrt(math.log1p(self._total_visits)))
        prio += self._normalised_scores()
        return prio

    def _normalised_scores(self) -> np.ndarray:
        """Min-max normalised scores; 0.5 everywhere when all scores are equal."""
        scores = self.scores
        low, high = scores.min(), scores.max()
        return (scores - low) * (1.0 / (high - low)) if high > low else np.full(self._size, 0.5)

    # -- persistence ---------------------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        return {"ids": self.ids.tolist(), "scores": self.scores.tolist(), "visits": self._visits[: self._size].tolist()}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> ArmTable:
        ids, scores, visits = state["ids"], state["scores"], state["visits"]
        if not len(ids) == len(scores) == len(visits):
            raise ValueError(f"arm table columns differ in length ({len(ids)}, {len(scores)}, {len(visits)})")
        table = cls()
        capacity = max(_START_CAPACITY, 1 << max(0, len(ids) - 1).bit_length())
        n = len(ids)
        table._ids = np.zeros(capacity, dtype=np.int64)
        table._scores = np.zeros(capacity, dtype=np.float64)
        table._visits = np.zeros(capacity, dtype=np.int64)
        table._inv_root = np.zeros(capacity, dtype=np.float64)
        table._ids[:n] = np.asarray(ids, dtype=np.int64)
        table._scores[:n] = np.asarray(scores, dtype=np.float64)
        table._visits[:n] = np.asarray(visits, dtype=np.int64)
        table._inv_root[:n] = 1.0 / np.sqrt(1.0 + table._visits[:n])
        table._size = n
        table._row = {int(i): r for r, i in enumerate(table._ids[:n])}
        if len(table._row) != n:
            raise ValueError("arm table lists an id twice")
        if n:
            if int(table.ids.min()) < 0:
                raise ValueError("arm table lists a negative id")
            table._mark_present(table.ids)
        table._total_visits = int(table._visits[:n].sum())
        table._best_row = _best_row(table.ids, table.scores) if n else -1
        return table


def _best_row(ids: np.ndarray, scores: np.ndarray) -> int:
    tied = np.flatnonzero(scores == scores.max())
    return int(tied[int(ids[tied].argmin())])
