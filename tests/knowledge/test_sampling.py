"""Samplers pick real parents, deterministically per seed; UCB1 explores by visit counts, exploits scores."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import replace

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from knowledge.records import Node
from knowledge.sampling import (
    SAMPLERS,
    GreedySampler,
    RandomSampler,
    Sampler,
    UCB1Sampler,
    make_sampler,
    select_inspirations,
)


def node(node_id: int, score: float | None, visits: int = 0) -> Node:
    return Node(
        trial_key=f"k{node_id}", generation=0, parent_ids=(), name=f"n{node_id}", motivation="", program="",
        edit="", metrics={}, score=score, analysis="", status="ok", id=node_id, created_at=0.0, visits=visits,
    )


scores = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)
node_lists = st.lists(st.tuples(scores, st.integers(0, 50)), min_size=1, max_size=12).map(
    lambda items: [node(i + 1, s, v) for i, (s, v) in enumerate(items)]
)
sampler_names = st.sampled_from(sorted(SAMPLERS))


@settings(max_examples=150, deadline=None, derandomize=True, database=None)
@given(nodes=node_lists, k=st.integers(0, 20), name=sampler_names, seed=st.integers(0, 2**32))
def test_every_sampler_returns_k_input_nodes_deterministically(
    nodes: list[Node], k: int, name: str, seed: int
) -> None:
    sampler = make_sampler(name)
    first = sampler.sample(nodes, k, random.Random(seed))
    assert len(first) == k
    assert all(any(p is n for n in nodes) for p in first)
    assert sampler.sample(nodes, k, random.Random(seed)) == first
    assert sampler.sample([], k, random.Random(seed)) == []


@settings(max_examples=100, deadline=None, derandomize=True, database=None)
@given(nodes=node_lists, k=st.integers(1, 5), seed=st.integers(0, 2**32))
def test_greedy_returns_the_max_with_lowest_id_on_ties(nodes: list[Node], k: int, seed: int) -> None:
    top = max(n.score for n in nodes)
    expected = min(n.id for n in nodes if n.score == top)
    picks = GreedySampler().sample(nodes, k, random.Random(seed))
    assert [p.id for p in picks] == [expected] * k


def test_random_sampler_covers_all_nodes() -> None:
    nodes = [node(i, float(i)) for i in range(1, 6)]
    picks = RandomSampler().sample(nodes, 200, random.Random(3))
    assert set(Counter(p.id for p in picks)) == {1, 2, 3, 4, 5}


def test_samplers_reject_negative_k_and_unscored_nodes() -> None:
    with pytest.raises(ValueError, match=">= 0"):
        UCB1Sampler().sample([node(1, 1.0)], -1, random.Random(0))
    for sampler in (GreedySampler(), UCB1Sampler()):
        with pytest.raises(ValueError, match="node 2 has no score"):
            sampler.sample([node(1, 1.0), node(2, None)], 1, random.Random(0))


@settings(max_examples=100, deadline=None, derandomize=True, database=None)
@given(
    visits=st.lists(st.integers(0, 100), min_size=2, max_size=10, unique=True),
    score=scores,
    seed=st.integers(0, 2**32),
)
def test_ucb1_tries_the_least_visited_of_equal_scores_first(
    visits: list[int], score: float, seed: int
) -> None:
    nodes = [node(i + 1, score, v) for i, v in enumerate(visits)]
    [pick] = UCB1Sampler().sample(nodes, 1, random.Random(seed))
    assert pick.visits == min(visits)


@settings(max_examples=100, deadline=None, derandomize=True, database=None)
@given(nodes=node_lists, which=st.integers(0, 11), more=st.integers(1, 100))
def test_ucb1_priority_falls_as_visits_rise(nodes: list[Node], which: int, more: int) -> None:
    # UCB1's bonus sqrt(ln(1+N)/(1+n)) falls with n once ln(1+N) > 1, i.e. from N = 2 on
    assume(sum(n.visits for n in nodes) >= 2)
    i = which % len(nodes)
    sampler = UCB1Sampler(exploration=1.0)
    before = sampler.priorities(nodes)
    bumped = [replace(n, visits=n.visits + more) if j == i else n for j, n in enumerate(nodes)]
    after = sampler.priorities(bumped)
    assert after[i] < before[i]
    if len(nodes) > 1:  # the others gain: the total N grew, their own n did not
        assert all(after[j] > before[j] for j in range(len(nodes)) if j != i)


@pytest.mark.parametrize("exploration", [0.5, 1.0, 2.0])
def test_ucb1_simulated_run_visits_every_arm_and_favours_the_best(exploration: float) -> None:
    arms = [node(i + 1, s) for i, s in enumerate([0.1, 0.9, 0.3, 0.7, 0.5])]
    sampler = UCB1Sampler(exploration=exploration)
    rng = random.Random(7)
    for _ in range(300):
        [pick] = sampler.sample(arms, 1, rng)
        arms = [replace(a, visits=a.visits + 1) if a.id == pick.id else a for a in arms]
    visits = {a.score: a.visits for a in arms}
    assert sum(visits.values()) == 300
    assert all(v > 0 for v in visits.values())
    assert visits[0.9] == max(visits.values()) and visits[0.9] > visits[0.1]
    ordered = [visits[s] for s in (0.1, 0.3, 0.5, 0.7, 0.9)]
    assert ordered == sorted(ordered)  # better arms never get fewer visits


@settings(max_examples=50, deadline=None, derandomize=True, database=None)
@given(n=st.integers(2, 8), seed=st.integers(0, 2**32))
def test_ucb1_spreads_k_draws_of_one_call_across_equal_arms(n: int, seed: int) -> None:
    arms = [node(i + 1, 1.0) for i in range(n)]
    picks = UCB1Sampler().sample(arms, n, random.Random(seed))
    assert sorted(p.id for p in picks) == list(range(1, n + 1))


def test_ucb1_spreads_k_draws_even_when_scores_differ() -> None:
    arms = [node(i + 1, s) for i, s in enumerate([0.0, 0.5, 0.9, 1.0])]
    picks = UCB1Sampler(exploration=1.0).sample(arms, 8, random.Random(0))
    counts = Counter(p.id for p in picks)
    assert len(counts) >= 3 and counts.most_common(1)[0][0] == 4
    greedy_like = UCB1Sampler(exploration=0.0).sample(arms, 8, random.Random(0))
    assert {p.id for p in greedy_like} == {4}


def test_make_sampler_builds_registered_samplers_and_names_errors() -> None:
    built: Sampler = make_sampler("ucb1", exploration=2.5)
    assert isinstance(built, UCB1Sampler) and built.exploration == 2.5 and built.name == "ucb1"
    assert {make_sampler(n).name for n in SAMPLERS} == set(SAMPLERS)
    with pytest.raises(ValueError, match="unknown sampler 'mapelites'; valid: greedy, random, ucb1") as info:
        make_sampler("mapelites")
    assert "\n" not in str(info.value)
    with pytest.raises(ValueError, match="bad parameters for sampler 'greedy'"):
        make_sampler("greedy", exploration=1.0)
    with pytest.raises(ValueError, match="exploration must be a finite number >= 0"):
        make_sampler("ucb1", exploration=-1.0)


@settings(max_examples=150, deadline=None, derandomize=True, database=None)
@given(nodes=node_lists, parent_pos=st.integers(0, 11), m=st.integers(0, 15), seed=st.integers(0, 2**32))
def test_select_inspirations_properties(nodes: list[Node], parent_pos: int, m: int, seed: int) -> None:
    parent = nodes[parent_pos % len(nodes)]
    listed = nodes + nodes[:2]  # duplicates in the input must not come out twice
    chosen = select_inspirations(listed, parent, m, random.Random(seed))
    others = [n for n in nodes if n.id != parent.id]
    assert len(chosen) == min(m, len(others))
    assert parent.id not in {c.id for c in chosen}
    assert len({c.id for c in chosen}) == len(chosen)
    if chosen:
        top = max(n.score for n in others)
        assert chosen[0].id == min(n.id for n in others if n.score == top)
    assert select_inspirations(listed, parent, m, random.Random(seed)) == chosen


def test_select_inspirations_ranks_unscored_nodes_last() -> None:
    nodes = [node(1, None), node(2, -5.0), node(3, 2.0)]
    chosen = select_inspirations(nodes, nodes[2], 1, random.Random(0))
    assert [c.id for c in chosen] == [2]
