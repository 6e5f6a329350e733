"""Island model: separate sub-populations that evolve apart and exchange their best nodes along a ring.

Membership: a node with `island` set joins that island (modulo the island count); a parentless node without one
(the initial program) is a shared seed, a member of every island; any other node without one joins its parent's
home island (the child of a shared node: island id % islands). Migration copies ids, never nodes: a migrant is a
new member of the next island, its lineage untouched; memberships are part of the saved state.
"""

from __future__ import annotations

import random
from typing import Any

from knowledge.records import Node
from knowledge.samplers.base import BaseSampler, Pick, check_exploration, is_scored
from knowledge.samplers.table import ArmTable

WITHIN = ("ucb1", "greedy", "random")
SHARED = -1  # home island of a shared seed


class IslandSampler(BaseSampler):
    """Round-robin over islands, a parent within each by `within`; ring migration every `migration_interval`.

    Slot s of generation g (k slots) goes to island (g*k + s) % islands, so every island receives children.
    On the first sample() with generation >= last migration + interval, the top `migration_fraction` (at least one)
    scored members of island i are copied into island (i+1) % islands, all islands from the same snapshot.
    Observing a node whose `generation` is that far past the last migration does the same first: a sampler
    restored from an older state (or rebuilt from the database) replays the migrations it missed, exactly where
    they happened, because the loop's nodes of generation g are stored after sample(g).
    """

    name = "islands"

    def __init__(
        self,
        islands: int = 4,
        migration_interval: int = 10,
        migration_fraction: float = 0.1,
        within: str = "ucb1",
        exploration: float = 1.0,
    ) -> None:
        super().__init__()
        if not isinstance(islands, int) or islands < 1:
            raise ValueError(f"islands must be an int >= 1, got {islands!r}")
        if not isinstance(migration_interval, int) or migration_interval < 1:
            raise ValueError(f"islands migration_interval must be an int >= 1, got {migration_interval!r}")
        fraction = float(migration_fraction)
        if not 0.0 < fraction <= 1.0:
            raise ValueError(f"islands migration_fraction must be in (0, 1], got {migration_fraction!r}")
        if within not in WITHIN:
            raise ValueError(f"unknown islands within rule {within!r}; valid: {', '.join(WITHIN)}")
        self.islands = islands
        self.migration_interval = migration_interval
        self.migration_fraction = fraction
        self.within = within
        self.exploration = check_exploration("islands", exploration)
        self._tables = [ArmTable() for _ in range(islands)]
        self._home: dict[int, int] = {}  # every observed node id -> island (SHARED for a seed)
        self.last_migration = 0
        self.migrations = 0  # migration rounds so far

    def params(self) -> dict[str, Any]:
        return {
            "islands": self.islands,
            "migration_interval": self.migration_interval,
            "migration_fraction": self.migration_fraction,
            "within": self.within,
            "exploration": self.exploration,
        }

    # -- inspection ----------------------------------------------------------------------------------------

    def members(self, island: int) -> list[int]:
        """Scored member ids of an island, in the order they joined (seed, own nodes, migrants)."""
        return [int(i) for i in self._tables[island].ids]

    def home(self, node_id: int) -> int | None:
        """The island a node was born in; None for a shared seed; KeyError for an unobserved id."""
        island = self._home[node_id]
        return None if island == SHARED else island

    # -- observing -----------------------------------------------------------------------------------------

    def _observe(self, node: Node) -> None:
        if node.generation >= self.last_migration + self.migration_interval:
            self._migrate_at(node.generation)  # replay: the sample() that migrated ran before this state was saved
        if node.island is not None:
            island = node.island % self.islands
        elif not node.parent_ids:
            island = SHARED
        else:
            parent_home = self._home.get(node.parent_ids[0], SHARED)
            island = parent_home if parent_home != SHARED else node.id % self.islands
        self._home[node.id] = island
        if is_scored(node):
            for table in self._tables if island == SHARED else [self._tables[island]]:
                table.add(node.id, float(node.score))  # type: ignore[arg-type]
        if node.parent_ids and island != SHARED:
            self._tables[island].visit(node.parent_ids[0])

    # -- sampling ------------------------------------------------------------------------------------------

    def migrate(self) -> int:
        """One ring migration round from a snapshot of all islands; returns how many memberships were added."""
        chosen = []
        for table in self._tables:
            count = max(1, int(self.migration_fraction * len(table))) if len(table) else 0
            chosen.append(table.top(count, ranked=False))
        added = 0
        for source, picks in enumerate(chosen):
            added += self._tables[(source + 1) % self.islands].add_many(*picks)
        self.migrations += 1
        return added

    def _migrate_at(self, generation: int) -> None:
        self.migrate()
        self.last_migration = generation

    def _sample(self, k: int, rng: random.Random, generation: int) -> list[Pick]:
        if generation >= self.last_migration + self.migration_interval:
            self._migrate_at(generation)
        slots: dict[int, int] = {}
        order = [(generation * k + slot) % self.islands for slot in range(k)]
        for island in order:
            slots[island] = slots.get(island, 0) + 1
        chosen: dict[int, list[int]] = {}
        for island, count in slots.items():
            table = self._tables[island] if len(self._tables[island]) else self._pool  # an empty island borrows
            chosen[island] = self._pick(table, count, rng)
        return [Pick(chosen[island].pop(0), island) for island in order]

    def _pick(self, table: ArmTable, count: int, rng: random.Random) -> list[int]:
        if self.within == "ucb1":
            return table.ucb(count, self.exploration, rng)
        if self.within == "greedy":
            return [table.best()] * count  # type: ignore[list-item]
        return [table.random_id(rng) for _ in range(count)]

    def inspirations(self, parent_id: int, m: int, rng: random.Random) -> list[int]:
        """Like every sampler's, but from the parent's home island first, topped up from all scored nodes."""
        island = self._home.get(parent_id, SHARED)
        if island == SHARED:
            return self._pool.inspirations(parent_id, m, rng)
        chosen = self._tables[island].inspirations(parent_id, m, rng)
        if not chosen:
            return self._pool.inspirations(parent_id, m, rng)
        return chosen + self._pool.random_others(m - len(chosen), {parent_id, *chosen}, rng)

    # -- persistence ---------------------------------------------------------------------------------------

    def _extra_state(self) -> dict[str, Any]:
        return {
            "last_migration": self.last_migration,
            "migrations": self.migrations,
            "home_ids": list(self._home),
            "home_islands": list(self._home.values()),
            "tables": [t.state() for t in self._tables],
        }

    def _load_extra(self, state: dict[str, Any]) -> None:
        self.last_migration = int(state["last_migration"])
        self.migrations = int(state["migrations"])
        ids, islands = state["home_ids"], state["home_islands"]
        if len(ids) != len(islands) or len(state["tables"]) != self.islands:
            raise ValueError("island memberships do not match the island count")
        self._home = {int(i): int(s) for i, s in zip(ids, islands, strict=True)}
        self._tables = [ArmTable.from_state(t) for t in state["tables"]]

