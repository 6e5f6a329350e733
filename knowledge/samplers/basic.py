"""The single-pool samplers: greedy (exploit), random (explore) and UCB1 (both, by counted visits)."""

from __future__ import annotations

import random
from typing import Any

from knowledge.records import Node
from knowledge.samplers.base import BaseSampler, Pick, check_exploration


class GreedySampler(BaseSampler):
    """Always the best node (ties: lowest id): pure exploitation, the baseline every other sampler should beat."""

    name = "greedy"

    def _sample(self, k: int, rng: random.Random, generation: int) -> list[Pick]:
        best = self._pool.best()
        assert best is not None  # sample() only calls with a non-empty pool
        return [Pick(best)] * k


class RandomSampler(BaseSampler):
    """Uniform over scored nodes, with replacement: pure exploration, ignores scores."""

    name = "random"

    def _sample(self, k: int, rng: random.Random, generation: int) -> list[Pick]:
        return [Pick(self._pool.random_id(rng)) for _ in range(k)]


class UCB1Sampler(BaseSampler):
    """UCB1 over scored nodes as arms: normalised score plus a bonus that shrinks as a node gets children.

    priority_i = q_i + c * sqrt(ln(1 + N) / (1 + n_i)); q_i the min-max normalised score (0.5 when all scores
    are equal), n_i the observed children whose first parent is node i (any status: a crash is a visit too),
    N their sum. Within one call each pick adds a virtual visit, so the k parents of a parallel generation spread.
    """

    name = "ucb1"

    def __init__(self, exploration: float = 1.0) -> None:
        super().__init__()
        self.exploration = check_exploration("ucb1", exploration)

    def params(self) -> dict[str, Any]:
        return {"exploration": self.exploration}

    def visits(self, node_id: int) -> int:
        """Observed children of a scored node (KeyError for an id that is not a scored node)."""
        return self._pool.visits_of(node_id)

    def priorities(self) -> dict[int, float]:
        """Current UCB1 priority of every arm by id (for inspection and tests; `sample` does this vectorised)."""
        prio = self._pool.ucb_priorities(self.exploration)
        return {int(i): float(p) for i, p in zip(self._pool.ids, prio, strict=True)}

    def _observe(self, node: Node) -> None:
        if node.parent_ids:
            self._pool.visit(node.parent_ids[0])

    def _sample(self, k: int, rng: random.Random, generation: int) -> list[Pick]:
        return [Pick(i) for i in self._pool.ucb(k, self.exploration, rng)]
