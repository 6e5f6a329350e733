"""Islands: every island fills up, parents come from the slot's island, and ring migration copies exactly the top
fraction at the right generation, once, keeping ids and lineage, and survives a resume."""

from __future__ import annotations

import json
import random
from collections import Counter

import pytest

from knowledge.records import Node
from knowledge.samplers.islands import IslandSampler
from tests.support.nodes import make_node


def simulate(sampler: IslandSampler, generations: int, k: int, seed: int = 0, first: int = 1) -> list[Node]:
    """The Learner's loop: sample k picks, store one child per pick in the pick's island, observe it."""
    rng = random.Random(seed)
    children: list[Node] = []
    next_id = sampler.observed_upto + 1
    for generation in range(first, first + generations):
        for pick in sampler.sample(k, random.Random(f"{seed}:{generation}"), generation):
            ok = rng.random() < 0.8
            child = make_node(next_id, rng.random() if ok else None, parents=(pick.parent_id,),
                              status="ok" if ok else "failed", island=pick.island, generation=generation)
            sampler.observe(child)
            children.append(child)
            next_id += 1
    return children


def seeded(**params) -> IslandSampler:
    sampler = IslandSampler(**params)
    sampler.observe(make_node(1, 0.5))
    return sampler


@pytest.mark.parametrize("within", ["ucb1", "greedy", "random"])
@pytest.mark.parametrize(("islands", "k"), [(4, 1), (4, 2), (3, 4), (5, 3)])
def test_every_island_receives_children_and_parents_come_from_the_slots_island(
    within: str, islands: int, k: int
) -> None:
    sampler = seeded(islands=islands, within=within, migration_interval=1000)
    children = simulate(sampler, generations=2 * islands, k=k)
    by_island = Counter(c.island for c in children)
    assert set(by_island) == set(range(islands)) and max(by_island.values()) - min(by_island.values()) <= k
    for child in children:
        parent = child.parent_ids[0]
        assert parent == 1 or sampler.home(parent) == child.island  # no migration: own island or the seed
        assert child.id in sampler.members(child.island) or child.status != "ok"  # type: ignore[arg-type]
    assert sampler.home(1) is None and all(1 in sampler.members(i) for i in range(islands))


def test_membership_rules_for_nodes_without_an_island() -> None:
    sampler = IslandSampler(islands=3)
    sampler.observe(make_node(1, 0.1))  # shared seed
    sampler.observe(make_node(2, 0.2, parents=(1,), island=7))  # 7 % 3
    sampler.observe(make_node(3, 0.3, parents=(2,)))  # joins its parent's island
    sampler.observe(make_node(4, 0.4, parents=(1,)))  # child of the shared seed: 4 % 3
    sampler.observe(make_node(5, None, parents=(4,), status="failed"))
    sampler.observe(make_node(6, 0.6, parents=(5,)))  # unscored parents still have a home
    assert [sampler.home(i) for i in range(1, 7)] == [None, 1, 1, 1, 1, 1]
    assert sampler.members(0) == [1] and sampler.members(1) == [1, 2, 3, 4, 6] and sampler.members(2) == [1]


def test_greedy_within_picks_each_islands_best_and_empty_islands_borrow() -> None:
    sampler = seeded(islands=3, within="greedy")
    sampler.observe(make_node(2, 0.9, parents=(1,), island=0))
    sampler.observe(make_node(3, 0.7, parents=(1,), island=1))
    sampler.observe(make_node(4, 0.8, parents=(3,), island=1))
    picks = sampler.sample(3, random.Random(0), 1)  # slots go to islands 0, 1, 2 (1*3 + s) % 3
    assert [(p.parent_id, p.island) for p in picks] == [(2, 0), (4, 1), (1, 2)]
    empty = IslandSampler(islands=2, within="greedy")
    empty.observe(make_node(1, None, status="failed"))
    empty.observe(make_node(2, 0.3, parents=(1,), island=0))
    assert [(p.parent_id, p.island) for p in empty.sample(2, random.Random(0), 1)] == [(2, 0), (2, 1)]


def test_ucb1_within_counts_visits_per_island() -> None:
    sampler = seeded(islands=2, within="ucb1")
    for child_id in range(2, 6):  # four children of the seed, all in island 0
        sampler.observe(make_node(child_id, None, parents=(1,), status="failed", island=0))
    tables = sampler.state_dict()["tables"]
    assert tables[0]["visits"] == [4] and tables[1]["visits"] == [0]


def test_migration_copies_exactly_the_top_fraction_into_the_next_island_once_per_interval() -> None:
    sampler = seeded(islands=3, migration_interval=4, migration_fraction=0.25, within="greedy")
    scores = {0: [0.1, 0.9, 0.3, 0.7, 0.2, 0.8, 0.6], 1: [0.4, 0.45], 2: [0.05]}
    node_id = 2
    for island, values in scores.items():
        for score in values:
            sampler.observe(make_node(node_id, score, parents=(1,), island=island))
            node_id += 1
    before = [sampler.members(i) for i in range(3)]  # island 0: seed + ids 2..8; island 1: 9, 10; island 2: 11
    for generation in (1, 2, 3):
        sampler.sample(2, random.Random(generation), generation)
        assert [sampler.members(i) for i in range(3)] == before and sampler.migrations == 0
    sampler.sample(2, random.Random(4), 4)
    # island 0: 8 members -> top 2 (ids 3: 0.9, 7: 0.8); island 1: 3 members -> top 1 (the seed, 0.5, already
    # everywhere); island 2: 2 members -> top 1 (the seed); all chosen from the snapshot before any copy
    assert sampler.members(1) == before[1] + [3, 7]
    assert sampler.members(2) == before[2] and sampler.members(0) == before[0]
    assert sampler.migrations == 1 and sampler.last_migration == 4
    assert sampler.home(3) == 0 and sampler.home(7) == 0  # migrants keep their home and lineage
    after = sampler.state_dict()
    sampler.sample(2, random.Random(9), 4)
    sampler.sample(2, random.Random(9), 7)
    assert sampler.state_dict() == after  # once per generation, and not before the next interval
    sampler.sample(1, random.Random(9), 8)
    assert sampler.members(2) == before[2] + [3] and sampler.migrations == 2  # 3 is now island 1's best


def test_late_generation_migrates_once_and_restarts_the_interval() -> None:
    sampler = seeded(islands=2, migration_interval=3)
    sampler.sample(1, random.Random(0), 10)
    assert sampler.migrations == 1 and sampler.last_migration == 10
    sampler.sample(1, random.Random(0), 12)
    assert sampler.migrations == 1
    sampler.sample(1, random.Random(0), 13)
    assert sampler.migrations == 2


def test_migrants_and_memberships_survive_a_resume() -> None:
    params = {"islands": 3, "migration_interval": 2, "migration_fraction": 0.5}
    sampler = seeded(**params)
    simulate(sampler, generations=9, k=2, seed=4)
    assert sampler.migrations == 4
    migrants = [m for i in range(3) for m in sampler.members(i) if m != 1 and sampler.home(m) != i]
    assert migrants
    resumed = IslandSampler(**params)
    resumed.load_state_dict(json.loads(json.dumps(sampler.state_dict())))
    assert [resumed.members(i) for i in range(3)] == [sampler.members(i) for i in range(3)]
    assert (resumed.migrations, resumed.last_migration) == (4, 8)  # generations 2, 4, 6, 8
    children = simulate(sampler, generations=5, k=3, seed=5, first=10)
    assert simulate(resumed, generations=5, k=3, seed=5, first=10) == children
    assert resumed.state_dict() == sampler.state_dict()


def test_inspirations_prefer_the_parents_island_then_top_up_from_all() -> None:
    sampler = IslandSampler(islands=2)
    sampler.observe(make_node(1, 0.1))
    for node_id, (score, island) in enumerate([(0.2, 0), (0.3, 0), (0.99, 1), (0.98, 1), (0.97, 1)], start=2):
        sampler.observe(make_node(node_id, score, parents=(1,), island=island))
    chosen = sampler.inspirations(2, 5, random.Random(0))
    assert chosen[0] == 3  # island 0's best other than the parent, although island 1 holds better nodes
    assert set(chosen[:2]) == {1, 3} and set(chosen) == {1, 3, 4, 5, 6}
    assert sampler.inspirations(1, 2, random.Random(0))[0] == 4  # the shared seed draws from every island
