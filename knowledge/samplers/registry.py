"""The registry of parent samplers: adding a strategy is a class in this package plus one line here."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from knowledge.samplers.base import Sampler
from knowledge.samplers.basic import GreedySampler, RandomSampler, UCB1Sampler
from knowledge.samplers.islands import IslandSampler
from knowledge.samplers.map_elites import MapElitesSampler
from knowledge.samplers.pareto import ParetoSampler

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
