"""Pareto: the incrementally maintained front equals a brute-force non-dominated set; parents come from it, and
sparse (boundary) members win the crowding tournament."""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from knowledge.samplers.pareto import ParetoSampler, crowding_distance
from tasks.spec import Objective
from tests.support.nodes import make_node


def deterministic(examples: int) -> settings:
    return settings(max_examples=examples, deadline=None, derandomize=True, database=None)


def brute_force_front(points: list[tuple[int, list[float]]], goals: list[str]) -> list[int]:
    signed = [(i, [v if g == "max" else -v for v, g in zip(p, goals, strict=True)]) for i, p in points]

    def dominates(a: list[float], b: list[float]) -> bool:
        return all(x >= y for x, y in zip(a, b, strict=True)) and any(x > y for x, y in zip(a, b, strict=True))

    return [i for i, p in signed if not any(dominates(q, p) for _, q in signed)]


values = st.one_of(st.integers(0, 3).map(float), st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False))


@deterministic(150)
@given(
    goals=st.lists(st.sampled_from(["max", "min"]), min_size=1, max_size=3),
    rows=st.lists(st.tuples(st.lists(values, min_size=3, max_size=3), st.sampled_from(["ok", "ok", "ok", "failed"]),
                            st.integers(0, 5)), max_size=40),
)
def test_maintained_front_equals_the_brute_force_non_dominated_set(
    goals: list[str], rows: list[tuple[list[float], str, int]]
) -> None:
    names = ["f0", "f1", "f2"][: len(goals)]
    sampler = ParetoSampler(objectives=[{"name": n, "goal": g} for n, g in zip(names, goals, strict=True)])
    eligible: list[tuple[int, list[float]]] = []
    for node_id, (vals, status, drop) in enumerate(rows, start=1):
        metrics: dict[str, Any] = dict(zip(names, vals, strict=False))
        if drop < len(names):  # a node missing one objective is excluded
            del metrics[names[drop]]
        elif status == "ok":
            eligible.append((node_id, vals[: len(names)]))
        sampler.observe(make_node(node_id, 1.0, status=status, metrics=metrics))
        assert sampler.front() == brute_force_front(eligible, goals)
    ok_ids = [i for i, (_, status, _) in enumerate(rows, start=1) if status == "ok"]
    fallback = set(ok_ids[:1])  # every score is 1.0: the best-scored node is the oldest ok one
    picks = sampler.sample(30, random.Random(len(rows)), 1)
    assert {p.parent_id for p in picks} <= (set(sampler.front()) or fallback)  # front members only
    assert len(picks) == (30 if ok_ids else 0)


def test_duplicates_and_ties_stay_together_on_the_front_and_a_dominator_evicts_them() -> None:
    sampler = ParetoSampler(objectives=[Objective(name="acc"), Objective(name="cost", goal="min")])
    for node_id, (acc, cost) in enumerate([(0.5, 2.0), (0.5, 2.0), (0.7, 3.0), (0.5, 2.5), (0.9, 9.0)], start=1):
        sampler.observe(make_node(node_id, acc, metrics={"acc": acc, "cost": cost}))
    assert sampler.front() == [1, 2, 3, 5]
    sampler.observe(make_node(6, 0.6, metrics={"acc": 0.6, "cost": 1}))  # ints count as numbers
    assert sampler.front() == [3, 5, 6]
    assert sampler.state_dict()["front_values"] == [[0.7, 3.0], [0.9, 9.0], [0.6, 1.0]]  # natural units


def test_crowding_distance_matches_nsga2() -> None:
    front = np.array([[0.0, 4.0], [1.0, 3.0], [3.0, 1.0], [4.0, 0.0]])
    distance = crowding_distance(front)
    assert np.isinf(distance[0]) and np.isinf(distance[3])
    assert distance[1] == 3 / 4 + 3 / 4 and distance[2] == 3 / 4 + 3 / 4
    assert np.isinf(crowding_distance(front[:2])).all()


def test_tournament_prefers_sparse_members() -> None:
    sampler = ParetoSampler(objectives=[{"name": "a"}, {"name": "b"}])
    points = [(0.0, 10.0), (1.0, 9.0), (1.1, 8.9), (1.2, 8.8), (5.0, 5.0), (10.0, 0.0)]
    for node_id, (a, b) in enumerate(points, start=1):
        sampler.observe(make_node(node_id, 1.0, metrics={"a": a, "b": b}))
    assert sampler.front() == [1, 2, 3, 4, 5, 6]
    picks = Counter(p.parent_id for p in sampler.sample(6000, random.Random(0), 1))
    assert set(picks) == {1, 2, 3, 4, 5, 6}
    assert picks[1] > picks[5] > picks[3] and picks[6] > picks[5]  # infinite boundaries, then the lone middle


def test_without_objective_metrics_it_falls_back_to_the_best_node() -> None:
    sampler = ParetoSampler(objectives=[{"name": "a"}])
    sampler.observe(make_node(1, 0.2, metrics={"b": 1.0}))
    sampler.observe(make_node(2, 0.9, metrics={"a": float("nan")}))
    assert sampler.front() == [] and [p.parent_id for p in sampler.sample(2, random.Random(0), 1)] == [2, 2]
