"""Pareto sampling for multi-objective tasks: parents come from the first non-dominated front.

The front is maintained incrementally and exactly: a new point dominated by a front member can never rejoin
(whatever later dominates that member dominates it too), and a new non-dominated point evicts the members it
dominates. So the state is the front alone, usually small, and each observe costs O(front).
"""

from __future__ import annotations

import random
from numbers import Real
from typing import Any

import numpy as np

from knowledge.records import Node
from knowledge.samplers.base import BaseSampler, Pick, is_scored

GOALS = ("max", "min")


def _check_objectives(objectives: Any) -> tuple[tuple[str, str], ...]:
    """Objectives as (name, goal) pairs from dicts or objects with `name`/`goal` (the task's Objective)."""
    if isinstance(objectives, str | bytes) or not objectives:
        raise ValueError(
            "pareto needs objectives: a non-empty list of {name, goal: max|min} (the task's `objectives`)"
        )
    pairs = []
    for item in objectives:
        name = item.get("name") if isinstance(item, dict) else getattr(item, "name", None)
        goal = item.get("goal", "max") if isinstance(item, dict) else getattr(item, "goal", "max")
        if not isinstance(name, str) or not name or goal not in GOALS:
            raise ValueError(f"bad pareto objective {item!r}; expected {{name: <metric>, goal: max|min}}")
        pairs.append((name, str(goal)))
    names = [n for n, _ in pairs]
    if len(set(names)) != len(names):
        raise ValueError(f"pareto objectives repeat a metric: {names}")
    return tuple(pairs)


def crowding_distance(values: np.ndarray) -> np.ndarray:
    """NSGA-II crowding distance of each row of a front; boundary rows of each objective are infinite."""
    count, dims = values.shape
    distance = np.zeros(count)
    if count <= 2:
        return np.full(count, np.inf)
    for d in range(dims):
        order = np.argsort(values[:, d], kind="stable")
        column = values[order, d]
        distance[order[0]] = distance[order[-1]] = np.inf
        span = column[-1] - column[0]
        if span > 0:
            distance[order[1:-1]] += (column[2:] - column[:-2]) / span
    return distance


class ParetoSampler(BaseSampler):
    """Parents from the first front by binary tournament on crowding distance (sparser regions win).

    A node joins the front computation when it is scored and carries every objective as a finite number. Until
    one does, sampling falls back to the best-scored node so the loop never stalls.
    """

    name = "pareto"

    def __init__(self, objectives: Any = ()) -> None:
        super().__init__()
        self.objectives = _check_objectives(objectives)
        self._signs = np.array([1.0 if goal == "max" else -1.0 for _, goal in self.objectives])
        self._front_ids: list[int] = []
        self._front = np.zeros((0, len(self.objectives)))  # maximisation form: min goals negated
        self._crowding: np.ndarray | None = None

    def params(self) -> dict[str, Any]:
        return {"objectives": [{"name": n, "goal": g} for n, g in self.objectives]}

    def front(self) -> list[int]:
        """Ids of the current first front, oldest first."""
        return list(self._front_ids)

    def vector(self, node: Node) -> np.ndarray | None:
        """A node's objective values in maximisation form; None when one is missing or not a finite number."""
        values = []
        for name, _ in self.objectives:
            value = node.metrics.get(name)
            if isinstance(value, bool) or not isinstance(value, Real) or not np.isfinite(value):
                return None
            values.append(float(value))
        return np.array(values) * self._signs

    def _observe(self, node: Node) -> None:
        vector = self.vector(node) if is_scored(node) else None
        if vector is not None:
            self._offer(node.id, vector)

    def _offer(self, node_id: int, vector: np.ndarray) -> bool:
        front = self._front
        if len(front):
            if np.any(np.all(front >= vector, axis=1) & np.any(front > vector, axis=1)):
                return False
            keep = ~(np.all(vector >= front, axis=1) & np.any(vector > front, axis=1))
            if not keep.all():
                front = front[keep]
                self._front_ids = [i for i, k in zip(self._front_ids, keep.tolist(), strict=True) if k]
        self._front = np.vstack([front, vector[None, :]])
        self._front_ids.append(node_id)
        self._crowding = None
        return True

    def _crowding_array(self) -> np.ndarray:
        if self._crowding is None:
            self._crowding = crowding_distance(self._front)
        return self._crowding

    def _sample(self, k: int, rng: random.Random, generation: int) -> list[Pick]:
        if not self._front_ids:
            return [Pick(self._pool.best())] * k  # type: ignore[arg-type]
        distance = self._crowding_array()
        size = len(self._front_ids)
        picks = []
        for _ in range(k):
            a, b = rng.randrange(size), rng.randrange(size)
            picks.append(Pick(self._front_ids[a if distance[a] >= distance[b] else b]))
        return picks

    def _extra_state(self) -> dict[str, Any]:
        return {"front_ids": list(self._front_ids), "front_values": (self._front * self._signs).tolist()}

    def _load_extra(self, state: dict[str, Any]) -> None:
        ids, values = state["front_ids"], state["front_values"]
        if len(ids) != len(values):
            raise ValueError(f"{len(ids)} front ids for {len(values)} front value rows")
        self._front_ids = [int(i) for i in ids]
        front = np.array(values, dtype=np.float64).reshape(len(ids), len(self.objectives))
        self._front = front * self._signs
