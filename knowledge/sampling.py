"""Parent samplers: which stored nodes the next trials start from, and which ones inspire them.

Samplers are stateful: they are fed every stored node once, in id order (`observe`; `catch_up` does it from a
node store), keep compact in-memory state (numpy columns, a grid, island memberships, a Pareto front) and save it
as JSON (`state_dict`) so a resumed run continues exactly. All randomness comes from the `rng` argument, so a
run's `--seed` fixes every choice. Adding a strategy is a class in `knowledge/samplers/` plus one registry line.
"""

from __future__ import annotations

import inspect
import random
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from knowledge.records import Node
from knowledge.samplers.base import Pick
from knowledge.samplers.basic import GreedySampler, RandomSampler, UCB1Sampler
from knowledge.samplers.islands import IslandSampler
from knowledge.samplers.map_elites import MapElitesSampler
from knowledge.samplers.pareto import ParetoSampler

__all__ = [
    "SAMPLERS", "GreedySampler", "IslandSampler", "MapElitesSampler", "ParetoSampler", "Pick", "RandomSampler",
    "Sampler", "UCB1Sampler", "catch_up", "make_sampler", "select_inspirations",
]


class Sampler(Protocol):
    """A parent-selection strategy with state fed incrementally by the stored nodes."""

    name: str
    observed_upto: int  # highest node id observed so far (0 initially)

    def observe(self, node: Node) -> None:
        """Take in one stored node of any status; nodes come in id order, ids <= observed_upto are ignored."""
        ...

    def sample(self, k: int, rng: random.Random, generation: int) -> list[Pick]:
        """k picks (repeats allowed); [] before any scored node. Re-running it after restoring the state saved
        before it gives the same picks (its only state change, island migration, is keyed by generation)."""
        ...

    def inspirations(self, parent_id: int, m: int, rng: random.Random) -> list[int]:
        """Up to m other scored node ids: the best other first, then random others; no duplicates."""
        ...

    def state_dict(self) -> dict[str, Any]:
        """Complete JSON-able state."""
        ...

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a state saved by a sampler of the same name and params."""
        ...


SAMPLERS: dict[str, Callable[..., Sampler]] = {
    "greedy": GreedySampler,
    "random": RandomSampler,
    "ucb1": UCB1Sampler,
    "map_elites": MapElitesSampler,
    "islands": IslandSampler,
    "pareto": ParetoSampler,
}


def make_sampler(name: str, **params: Any) -> Sampler:
    """Build a registered sampler; an unknown name, parameter or value is a one-line ValueError."""
    factory = SAMPLERS.get(name)
    if factory is None:
        raise ValueError(f"unknown sampler {name!r}; valid: {', '.join(sorted(SAMPLERS))}")
    valid = list(inspect.signature(factory).parameters)
    unknown = sorted(set(params) - set(valid))
    if unknown:
        raise ValueError(
            f"bad parameters for sampler {name!r}: unknown {', '.join(unknown)}; valid: {', '.join(valid) or 'none'}"
        )
    return factory(**params)


class NodeSource(Protocol):
    def nodes_since(self, after_id: int) -> list[Node]: ...


def catch_up(sampler: Sampler, source: NodeSource) -> int:
    """Feed the sampler every stored node it has not observed yet; returns how many it took in."""
    nodes = source.nodes_since(sampler.observed_upto)
    for node in nodes:
        sampler.observe(node)
    return len(nodes)


def select_inspirations(nodes: Sequence[Node], parent: Node, m: int, rng: random.Random) -> list[Node]:
    """Stateless inspirations from a node list (the pre-sampler-state behaviour the graph used).

    Up to `m` nodes besides the parent: the best other node first, then random others. Nodes are distinct by id
    (a node listed twice counts once); unscored nodes rank below every scored one.
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
