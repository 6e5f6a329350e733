"""What every stateful sampler shares: the `Pick` record, the observe-once gate, the scored pool and persistence.

A sampler is fed every stored node once, in id order (`observe`), and keeps only compact state, so a run with
100k nodes never reloads them. `state_dict()` is plain JSON and complete: `load_state_dict` on a fresh instance
with the same parameters gives a sampler that picks exactly like the one that was saved.
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from knowledge.records import Node
from knowledge.samplers.table import ArmTable


@dataclass(frozen=True)
class Pick:
    """One planned trial: the parent to start from and, for the island sampler, the island the child joins."""

    parent_id: int
    island: int | None = None


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


def is_scored(node: Node) -> bool:
    """A node samplers may pick as a parent: evaluated fine and carrying a score."""
    return node.status == "ok" and node.score is not None


def check_k(k: int) -> None:
    if k < 0:
        raise ValueError(f"number of parents to sample must be >= 0, got {k}")


def check_exploration(name: str, exploration: float) -> float:
    value = float(exploration)
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} exploration must be a finite number >= 0, got {exploration}")
    return value


def _jsonable(value: Any) -> Any:
    """The value as it comes back from a JSON round trip (tuples become lists), for comparing saved params."""
    return json.loads(json.dumps(value))


class BaseSampler:
    """Observe gate + scored pool + persistence; a strategy fills in `_observe`, `_sample` and its own state."""

    name: ClassVar[str] = ""

    def __init__(self) -> None:
        self.observed_upto = 0
        self._pool = ArmTable()

    # -- what a strategy overrides -------------------------------------------------------------------------

    def params(self) -> dict[str, Any]:
        """Constructor parameters (JSON-able); a saved state only loads into a sampler with equal params."""
        return {}

    def _observe(self, node: Node) -> None:
        """Strategy bookkeeping for one new node (the pool already holds it when it is scored)."""

    def _sample(self, k: int, rng: random.Random, generation: int) -> list[Pick]:
        raise NotImplementedError

    def _extra_state(self) -> dict[str, Any]:
        return {}

    def _load_extra(self, state: dict[str, Any]) -> None:
        """Restore strategy state from `state` (the pool and `observed_upto` are already restored)."""

    # -- the protocol --------------------------------------------------------------------------------------

    def observe(self, node: Node) -> None:
        """Take in one stored node (any status); ids at or below `observed_upto` were seen already."""
        if node.id <= self.observed_upto:
            return
        if is_scored(node):
            self._pool.add(node.id, float(node.score))  # type: ignore[arg-type]
        self._observe(node)
        self.observed_upto = node.id

    def sample(self, k: int, rng: random.Random, generation: int) -> list[Pick]:
        """k picks (repeats allowed); [] until a scored node was observed."""
        check_k(k)
        if k == 0 or len(self._pool) == 0:
            return []
        return self._sample(k, rng, generation)

    def inspirations(self, parent_id: int, m: int, rng: random.Random) -> list[int]:
        """Up to m other scored ids: the best other first, then random others, no duplicates."""
        return self._pool.inspirations(parent_id, m, rng)

    def state_dict(self) -> dict[str, Any]:
        return {
            "sampler": self.name,
            "params": _jsonable(self.params()),
            "observed_upto": self.observed_upto,
            "pool": self._pool.state(),
            **self._extra_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Replace this sampler's state; a state saved by another sampler or other params is a ValueError."""
        saved, params = state.get("sampler"), _jsonable(self.params())
        if saved != self.name:
            raise ValueError(f"saved sampler state is for {saved!r}, not {self.name!r}")
        if state.get("params") != params:
            raise ValueError(
                f"saved {self.name} state has params {json.dumps(state.get('params'))}, "
                f"this sampler has {json.dumps(params)}; rebuild it by observing the nodes again"
            )
        fresh = type(self)(**self.params())  # load aside, then swap: a bad state leaves this sampler untouched
        try:
            fresh.observed_upto = int(state["observed_upto"])
            fresh._pool = ArmTable.from_state(state["pool"])
            fresh._load_extra(state)
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise ValueError(f"invalid {self.name} sampler state: {type(exc).__name__}: {exc}") from exc
        self.__dict__.update(fresh.__dict__)
