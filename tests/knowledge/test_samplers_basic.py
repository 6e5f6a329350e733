"""Greedy, random and UCB1 on observed nodes; UCB1 counts real visits; the numpy arm table ranks like a sort."""

from __future__ import annotations

import random
from collections import Counter

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from knowledge.samplers.basic import GreedySampler, RandomSampler, UCB1Sampler
from knowledge.samplers.table import ArmTable
from tests.support.nodes import make_node


def deterministic(examples: int) -> settings:
    return settings(max_examples=examples, deadline=None, derandomize=True, database=None)


scores = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)
tie_prone = st.sampled_from([-1.0, 0.0, 0.5, 2.0])


def arms_with_children(sampler: UCB1Sampler, arm_scores: list[float], visits: list[int]) -> UCB1Sampler:
    """Arms 1..n, then `visits[i]` children of arm i+1 (failed ones: a crashed child is still a visit)."""
    for i, score in enumerate(arm_scores):
        sampler.observe(make_node(i + 1, score))
    next_id = len(arm_scores) + 1
    for i, count in enumerate(visits):
        for _ in range(count):
            sampler.observe(make_node(next_id, None, parents=(i + 1,), status="failed"))
            next_id += 1
    return sampler


@deterministic(100)
@given(values=st.lists(st.one_of(scores, tie_prone), min_size=1, max_size=12), k=st.integers(1, 5),
       seed=st.integers(0, 2**32))
def test_greedy_returns_the_max_with_lowest_id_on_ties(values: list[float], k: int, seed: int) -> None:
    sampler = GreedySampler()
    for i, score in enumerate(values):
        sampler.observe(make_node(i + 1, score))
    top = max(values)
    expected = min(i + 1 for i, v in enumerate(values) if v == top)
    assert [p.parent_id for p in sampler.sample(k, random.Random(seed), 1)] == [expected] * k


def test_random_sampler_covers_all_scored_nodes_only() -> None:
    sampler = RandomSampler()
    for i in range(1, 6):
        sampler.observe(make_node(i, float(i)))
    sampler.observe(make_node(6, None, parents=(1,), status="invalid"))
    picks = Counter(p.parent_id for p in sampler.sample(300, random.Random(3), 1))
    assert set(picks) == {1, 2, 3, 4, 5} and min(picks.values()) > 30


def test_ucb1_counts_observed_children_of_the_first_parent_any_status() -> None:
    sampler = UCB1Sampler()
    sampler.observe(make_node(1, 0.1))
    sampler.observe(make_node(2, 0.2, parents=(1,)))
    sampler.observe(make_node(3, None, parents=(1, 2), status="timeout"))  # only the first parent is visited
    sampler.observe(make_node(4, None, parents=(2,), status="unappliable"))
    sampler.observe(make_node(5, 0.3, parents=(4,)))  # child of an unscored node: no arm to count it on
    assert (sampler.visits(1), sampler.visits(2), sampler.visits(5)) == (2, 1, 0)
    with pytest.raises(KeyError):
        sampler.visits(4)
    assert sampler.state_dict()["pool"]["visits"] == [2, 1, 0]


@deterministic(100)
@given(visits=st.lists(st.integers(0, 30), min_size=2, max_size=8, unique=True), score=scores,
       seed=st.integers(0, 2**32))
def test_ucb1_tries_the_least_visited_of_equal_scores_first(visits: list[int], score: float, seed: int) -> None:
    sampler = arms_with_children(UCB1Sampler(), [score] * len(visits), visits)
    [pick] = sampler.sample(1, random.Random(seed), 1)
    assert sampler.visits(pick.parent_id) == min(visits)


@deterministic(60)
@given(arm_scores=st.lists(st.one_of(scores, tie_prone), min_size=1, max_size=8),
       visits=st.lists(st.integers(0, 6), min_size=8, max_size=8), which=st.integers(0, 7), more=st.integers(1, 5))
def test_ucb1_priority_falls_as_own_visits_rise_and_others_gain(
    arm_scores: list[float], visits: list[int], which: int, more: int
) -> None:
    n = len(arm_scores)
    visits = visits[:n]
    assume(sum(visits) >= 2)  # the bonus sqrt(ln(1+N)/(1+n)) falls with n once ln(1+N) > 1
    i = which % n
    sampler = arms_with_children(UCB1Sampler(), arm_scores, visits)
    before = sampler.priorities()
    next_id = sampler.observed_upto + 1
    for j in range(more):
        sampler.observe(make_node(next_id + j, None, parents=(i + 1,), status="failed"))
    after = sampler.priorities()
    assert after[i + 1] < before[i + 1]
    assert all(after[j] > before[j] for j in before if j != i + 1)


@pytest.mark.parametrize("exploration", [0.5, 1.0, 2.0])
def test_ucb1_simulated_run_visits_every_arm_and_favours_the_best(exploration: float) -> None:
    arm_scores = [0.1, 0.9, 0.3, 0.7, 0.5]
    sampler = arms_with_children(UCB1Sampler(exploration=exploration), arm_scores, [])
    rng = random.Random(7)
    next_id = len(arm_scores) + 1
    for generation in range(1, 301):
        [pick] = sampler.sample(1, rng, generation)
        sampler.observe(make_node(next_id, None, parents=(pick.parent_id,), status="failed"))
        next_id += 1
    visits = {score: sampler.visits(i + 1) for i, score in enumerate(arm_scores)}
    assert sum(visits.values()) == 300 and all(v > 0 for v in visits.values())
    ordered = [visits[s] for s in sorted(arm_scores)]
    assert ordered == sorted(ordered) and ordered[-1] > ordered[0]  # better arms never get fewer visits


@deterministic(50)
@given(n=st.integers(2, 8), seed=st.integers(0, 2**32))
def test_ucb1_spreads_k_draws_of_one_call_across_equal_arms(n: int, seed: int) -> None:
    sampler = arms_with_children(UCB1Sampler(), [1.0] * n, [])
    picks = sampler.sample(n, random.Random(seed), 1)
    assert sorted(p.parent_id for p in picks) == list(range(1, n + 1))
    assert sampler.state_dict()["pool"]["visits"] == [0] * n  # virtual visits are not stored


def test_ucb1_spreads_k_draws_even_when_scores_differ_and_exploration_zero_is_greedy() -> None:
    arm_scores = [0.0, 0.5, 0.9, 1.0]
    picks = arms_with_children(UCB1Sampler(1.0), arm_scores, []).sample(8, random.Random(0), 1)
    counts = Counter(p.parent_id for p in picks)
    assert len(counts) >= 3 and counts.most_common(1)[0][0] == 4
    greedy_like = arms_with_children(UCB1Sampler(0.0), arm_scores, [0, 0, 0, 9]).sample(8, random.Random(0), 1)
    assert {p.parent_id for p in greedy_like} == {4}


# -- the numpy table under every sampler ---------------------------------------------------------------------

rows = st.lists(st.tuples(st.integers(1, 60), tie_prone), min_size=0, max_size=40, unique_by=lambda r: r[0])


@deterministic(100)
@given(rows=rows, count=st.integers(0, 45), exclude=st.sets(st.integers(1, 60), max_size=4))
def test_arm_table_top_and_best_other_match_a_sort(
    rows: list[tuple[int, float]], count: int, exclude: set[int]
) -> None:
    table = ArmTable()
    for node_id, score in rows:  # insertion order is not id order (islands add migrants late)
        assert table.add(node_id, score)
    assert not rows or not table.add(rows[0][0], 9.0)
    ranked = sorted(rows, key=lambda r: (-r[1], r[0]))
    ids, top_scores = table.top(count)
    assert list(zip(ids.tolist(), top_scores.tolist(), strict=True)) == ranked[:count]
    in_rows, _ = table.top(count, ranked=False)  # what migration copies: the same set, in insertion order
    assert in_rows.tolist() == [r[0] for r in rows if r in ranked[:count]]
    assert table.best() == (ranked[0][0] if ranked else None)
    allowed = [r for r in ranked if r[0] not in exclude]
    assert table.best_other(exclude) == (allowed[0][0] if allowed else None)


def test_arm_table_grows_and_restores_exactly() -> None:
    table = ArmTable()
    rng = np.random.default_rng(0)
    for node_id in range(1, 1001):
        table.add(node_id, float(rng.random()))
        table.visit(int(rng.integers(1, node_id + 1)))
    copy = ArmTable.from_state(table.state())
    assert copy.state() == table.state() and copy.best() == table.best() and copy.total_visits == 1000
    assert copy.ucb(5, 1.0, random.Random(1)) == table.ucb(5, 1.0, random.Random(1))
    assert np.array_equal(copy.ucb_priorities(1.0), table.ucb_priorities(1.0))
