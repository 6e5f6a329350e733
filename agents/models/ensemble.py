"""Choosing a model of the ensemble: UCB1 on score improvement per dollar.

Why per dollar: a cheap model that improves half as often as an expensive one ten times its price is the better
buy. Rewards arrive after evaluation (possibly from parallel trials), so exploration counts *selections* (a model
handed to K trials at once is not chosen K times blindly), while the value estimate counts *rewards*.
"""

from __future__ import annotations

import math
import random
import threading
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass
class _Arm:
    selections: int = 0
    rewards: int = 0
    improvement: float = 0.0
    cost: float = 0.0


class EnsembleBandit:
    """UCB1 over models; thread-safe.

    The value of a model is its mean improvement divided by its mean cost per rewarded call (at least
    `cost_floor` $, so free local models compare by improvement alone), normalised by the largest absolute value
    among rewarded models to [-1, 1]; a model without rewards yet counts as the best (optimism). Its UCB is that
    value plus `exploration * sqrt(ln(total selections) / its selections)`; never-selected models go first.
    Ties break with `random.Random(seed)`.
    """

    def __init__(
        self, names: Sequence[str], *, seed: int = 0, exploration: float = 0.5, cost_floor: float = 1e-6
    ) -> None:
        if not names:
            raise ValueError("an ensemble needs at least one model")
        self.names = tuple(names)
        self.exploration = exploration
        self.cost_floor = cost_floor
        self._arms = {name: _Arm() for name in self.names}
        self._rng = random.Random(seed)
        self._lock = threading.Lock()

    def _values(self) -> dict[str, float]:
        raw = {
            name: (arm.improvement / arm.rewards) / max(arm.cost / arm.rewards, self.cost_floor)
            for name, arm in self._arms.items()
            if arm.rewards
        }
        scale = max((abs(v) for v in raw.values()), default=0.0) or 1.0
        return {name: raw[name] / scale if name in raw else 1.0 for name in self.names}

    def choose(self) -> str:
        """The model for the next call (its selection is counted)."""
        with self._lock:
            untried = [name for name in self.names if self._arms[name].selections == 0]
            if untried:
                name = untried[0]
            else:
                total = sum(arm.selections for arm in self._arms.values())
                values = self._values()
                ucb = {
                    n: values[n] + self.exploration * math.sqrt(math.log(total) / self._arms[n].selections)
                    for n in self.names
                }
                top = max(ucb.values())
                name = self._rng.choice([n for n in self.names if ucb[n] >= top - 1e-12])
            self._arms[name].selections += 1
            return name

    def reward(self, name: str, improvement: float, cost: float) -> None:
        """Credit a model with the improvement one of its proposals brought and what that call cost."""
        if name not in self._arms:
            raise ValueError(f"unknown model {name!r} (ensemble: {', '.join(self.names)})")
        if not (math.isfinite(improvement) and math.isfinite(cost)) or cost < 0:
            raise ValueError(f"reward needs a finite improvement and a cost >= 0, got {improvement}, {cost}")
        with self._lock:
            arm = self._arms[name]
            arm.rewards += 1
            arm.improvement += improvement
            arm.cost += cost

    def snapshot(self) -> dict[str, dict[str, float]]:
        """Per model: selections, rewards, total improvement, total cost (for reports)."""
        with self._lock:
            return {n: dict(vars(a)) for n, a in self._arms.items()}
