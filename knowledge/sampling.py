"""Parent samplers: which stored nodes the next trials start from.

Strategies share the `Sampler` protocol and live in the `SAMPLERS` registry; adding one is a class plus one
registry line. All randomness comes from the `rng` argument so a run's `--seed` fixes every choice.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from knowledge.records import Node


class Sampler(Protocol):
    """Picks `k` parents (repeats allowed) from the scored nodes the caller passes; [] when there are none."""

    name: str

    def sample(self, nodes: Sequence[Node], k: int, rng: random.Random) -> list[Node]: ...


def _check_k(k: int) -> None:
    if k < 0:
        raise ValueError(f"number of parents to sample must be >= 0, got {k}")


def _score(node: Node) -> float:
    """Score of a node a sampler ranks; an unscored node here means the caller passed the wrong list."""
    if node.score is None:
        raise ValueError(f"node {node.id} has no score; samplers rank scored nodes only (use store.scored())")
    return node.score


def _best(nodes: Sequence[Node]) -> Node:
    """Highest score, ties broken by the lowest id (the oldest node), like the database's best()."""
    return max(nodes, key=lambda n: (_score(n), -n.id))


@dataclass(frozen=True)
class GreedySampler:
    """Always the best node: pure exploitation, the baseline every other sampler should beat."""

    name = "greedy"

    def sample(self, nodes: Sequence[Node], k: int, rng: random.Random) -> list[Node]:
        _check_k(k)
        if not nodes or k == 0:
            return []
        best = _best(nodes)
        return [best] * k


@dataclass(frozen=True)
class RandomSampler:
    """Uniform choice with replacement: pure exploration, ignores scores."""

    name = "random"

    def sample(self, nodes: Sequence[Node], k: int, rng: random.Random) -> list[Node]:
        _check_k(k)
        if not nodes:
            return []
        return [rng.choice(nodes) for _ in range(k)]


@dataclass(frozen=True)
class UCB1Sampler:
    """UCB1 over nodes as arms: normalised score plus a bonus that shrinks as a node is visited.

    priority_i = q_i + c * sqrt(ln(1 + N) / (1 + n_i)), q_i the min-max normalised score (0.5 when all
    scores are equal), n_i the node's stored visits, N their sum. Within one call each pick adds a virtual
    visit to its arm, so the k parents of one parallel generation spread instead of piling on one node.
    """

    exploration: float = 1.0
    name = "ucb1"

    def __post_init__(self) -> None:
        if not math.isfinite(self.exploration) or self.exploration < 0:
            raise ValueError(f"ucb1 exploration must be a finite number >= 0, got {self.exploration}")

    def priorities(self, nodes: Sequence[Node], extra_visits: Sequence[int] | None = None) -> list[float]:
        """UCB1 priority of each node; `extra_visits[i]` counts picks not yet stored in node i's visits."""
        extra = list(extra_visits) if extra_visits is not None else [0] * len(nodes)
        if len(extra) != len(nodes):
            raise ValueError(f"extra_visits has {len(extra)} entries for {len(nodes)} nodes")
        scores = [_score(n) for n in nodes]
        low, high = (min(scores), max(scores)) if scores else (0.0, 0.0)
        visits = [n.visits + e for n, e in zip(nodes, extra, strict=True)]
        log_total = math.log(1 + sum(visits))
        result = []
        for score, n_i in zip(scores, visits, strict=True):
            q = 0.5 if high == low else (score - low) / (high - low)
            result.append(q + self.exploration * math.sqrt(log_total / (1 + n_i)))
        return result

    def sample(self, nodes: Sequence[Node], k: int, rng: random.Random) -> list[Node]:
        _check_k(k)
        if not nodes:
            return []
        extra = [0] * len(nodes)
        picks: list[Node] = []
        for _ in range(k):
            prio = self.priorities(nodes, extra)
            top = max(prio)
            tied = [i for i, p in enumerate(prio) if math.isclose(p, top, rel_tol=1e-12, abs_tol=1e-12)]
            chosen = rng.choice(tied)
            extra[chosen] += 1
            picks.append(nodes[chosen])
        return picks


SAMPLERS: dict[str, Callable[..., Sampler]] = {
    "greedy": GreedySampler,
    "random": RandomSampler,
    "ucb1": UCB1Sampler,
}


def make_sampler(name: str, **params: object) -> Sampler:
    """Build a registered sampler; an unknown name or parameter is a one-line ValueError."""
    factory = SAMPLERS.get(name)
    if factory is None:
        raise ValueError(f"unknown sampler {name!r}; valid: {', '.join(sorted(SAMPLERS))}")
    try:
        return factory(**params)
    except TypeError as exc:
        raise ValueError(f"bad parameters for sampler {name!r}: {exc}") from exc


def select_inspirations(nodes: Sequence[Node], parent: Node, m: int, rng: random.Random) -> list[Node]:
    """Up to `m` context nodes besides the parent: the best other node first, then random others.

    Nodes are distinct by id (a node listed twice counts once); unscored nodes rank below every scored one.
    """
    if m <= 0:
        return []
    others: dict[int, Node] = {}
    for node in nodes:
        if node.id != parent.id and node.id not in others:
            others[node.id] = node
    if not others:
        return []
    pool = list(others.values())
    best = max(pool, key=lambda n: (n.score is not None, n.score or 0.0, -n.id))
    rest = [n for n in pool if n.id != best.id]
    return [best, *rng.sample(rest, min(m - 1, len(rest)))]
