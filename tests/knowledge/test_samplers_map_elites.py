"""MAP-Elites: the archive follows its rules exactly (checked against a model), the grid is really sampled, ranges
adapt, and curiosity moves sampling towards cells whose elites have productive children."""

from __future__ import annotations

import math
import random
from collections import Counter
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from knowledge.samplers.map_elites import MapElitesSampler
from tests.support.nodes import make_node


def deterministic(examples: int) -> settings:
    return settings(max_examples=examples, deadline=None, derandomize=True, database=None)


def point(node_id: int, x: float | None, y: float | None, score: float | None, **kw: Any):
    metrics = {k: v for k, v in (("x", x), ("y", y)) if v is not None}
    return make_node(node_id, score, metrics=metrics, **kw)


def grid(bins: int | list[int] = 4, selection: str = "uniform") -> MapElitesSampler:
    return MapElitesSampler(features=["metric:x", "metric:y"], bins=bins, selection=selection)


def model_cell(values: tuple[float, ...], ranges: list[tuple[float, float]], bins: list[int]) -> tuple[int, ...]:
    cell = []
    for v, (lo, hi), b in zip(values, ranges, bins, strict=True):
        cell.append(0 if hi == lo else min(b - 1, int((v - lo) / (hi - lo) * b)))
    return tuple(cell)


values = st.one_of(st.sampled_from([0.0, 0.25, 0.5, 1.0, -3.0, 7.5]), st.floats(-100, 100, allow_nan=False))
entries = st.tuples(
    st.one_of(st.none(), values), values, st.sampled_from([0.0, 1.0, 2.0, 3.0]), st.booleans()
)


@deterministic(120)
@given(items=st.lists(entries, min_size=1, max_size=40), bins=st.sampled_from([1, 2, 3, [2, 5]]))
def test_archive_matches_a_model_of_the_rules(items: list[tuple[Any, float, float, bool]], bins: Any) -> None:
    """Per step: ranges widen to the values seen; the archive becomes the best per cell (score, then lower id) of
    the previous elites plus the new node under the new ranges. That is: one elite per cell, replaced only by a
    strictly better node, re-binning keeps the per-cell best, displaced elites drop out."""
    sampler = grid(bins)
    bin_list = bins if isinstance(bins, list) else [bins, bins]
    elites: dict[int, tuple[tuple[float, float], float]] = {}  # id -> (values, score)
    seen: list[tuple[float, float]] = []
    for node_id, (x, y, score, ok) in enumerate(items, start=1):
        sampler.observe(point(node_id, x, y, score, status="ok" if ok else "failed"))
        if x is None or not ok:
            continue
        seen.append((x, y))
        ranges = [(min(v[d] for v in seen), max(v[d] for v in seen)) for d in range(2)]
        best: dict[tuple[int, ...], tuple[float, int]] = {}
        for elite_id, (vals, elite_score) in [*elites.items(), (node_id, ((x, y), score))]:
            cell = model_cell(vals, ranges, bin_list)
            if cell not in best or (elite_score, -elite_id) > (best[cell][0], -best[cell][1]):
                best[cell] = (elite_score, elite_id)
        kept = {elite_id for _, elite_id in best.values()}
        elites = {i: v for i, v in [*elites.items(), (node_id, ((x, y), score))] if i in kept}
        assert sampler.ranges() == ranges
        assert sampler.archive() == {cell: elite_id for cell, (_, elite_id) in sorted(best.items())}
    assert len(sampler.archive()) <= math.prod(bin_list)


def test_a_worse_or_equal_node_never_replaces_an_elite_a_better_one_does() -> None:
    sampler = grid(bins=2)
    sampler.observe(point(1, 0.0, 0.0, 1.0))
    sampler.observe(point(2, 1.0, 1.0, 1.0))  # fixes the ranges to [0, 1]
    sampler.observe(point(3, 0.1, 0.2, 5.0))
    assert sampler.archive() == {(0, 0): 3, (1, 1): 2}
    sampler.observe(point(4, 0.2, 0.1, 4.0, parents=(3,)))
    sampler.observe(point(5, 0.3, 0.3, 5.0, parents=(3,)))
    assert sampler.archive()[(0, 0)] == 3
    sampler.observe(point(6, 0.4, 0.4, 5.5, parents=(3,)))
    assert sampler.archive() == {(0, 0): 6, (1, 1): 2}
    assert sampler.state_dict()["pool"]["ids"] == [1, 2, 3, 4, 5, 6]  # displaced elites stay known as nodes


def test_widening_rebins_elites_keeping_the_best_per_cell() -> None:
    sampler = grid(bins=2)
    for node_id, (x, score) in enumerate([(0.0, 1.0), (10.0, 1.0), (2.0, 5.0), (6.0, 3.0)], start=1):
        sampler.observe(point(node_id, x, 0.0, score))
    assert sampler.archive() == {(0, 0): 3, (1, 0): 4}  # 2 (x=10) lost cell 1 to the better 4 (x=6)
    sampler.observe(point(5, None, None, None, status="failed", parents=(3,)))
    assert (sampler.weight((0, 0)), sampler.weight((1, 0))) == (0.5, 1.0)
    sampler.observe(point(6, 20.0, 0.0, 0.5))  # range [0, 20]: x=2 and x=6 now share cell 0
    assert sampler.ranges() == [(0.0, 20.0), (0.0, 0.0)]
    assert sampler.archive() == {(0, 0): 3, (1, 0): 6}  # 4 lost to the better 3 and left; 6 took the empty cell
    sampler.observe(point(7, -20.0, 0.0, 0.2))  # range [-20, 20]: 3 (x=2) moves to cell 1 and beats 6 there
    assert sampler.archive() == {(0, 0): 7, (1, 0): 3}
    assert (sampler.weight((0, 0)), sampler.weight((1, 0))) == (1.0, 0.5)  # the curiosity weight moved with 3


def test_features_program_length_edit_distance_and_missing_metrics() -> None:
    sampler = MapElitesSampler(features=["program_length", "edit_distance", "metric:m"], bins=[2, 2, 2])
    reference = "a = 1\nb = 2\nc = 3\nd = 4\n"
    sampler.observe(make_node(1, 1.0, program=reference, metrics={"m": 0}))
    assert sampler.describe(make_node(9, 1.0, program=reference, metrics={"m": 2})) == (len(reference), 0.0, 2.0)
    half = "a = 1\nb = 2\nx = 0\ny = 0\n"
    assert sampler.describe(make_node(9, 1.0, program=half, metrics={"m": 2.5}))[1] == 0.5  # type: ignore[index]
    assert sampler.describe(make_node(9, 1.0, program="z = 9", metrics={"m": 1}))[1] == 1.0  # type: ignore[index]
    for missing in ({}, {"m": True}, {"m": "3"}, {"m": float("inf")}, {"m": float("nan")}):
        assert sampler.describe(make_node(9, 1.0, program=half, metrics=missing)) is None
    sampler.observe(make_node(2, 9.0, program=half, metrics={}, parents=(1,)))
    assert sampler.archive() == {(0, 0, 0): 1} and sampler.observed_upto == 2
    assert sampler.weight((0, 0, 0)) == 0.5  # the child without the metric did not enter: its parent's cell lost
    assert sampler.inspirations(1, 2, random.Random(0)) == [2]  # still a scored node of the run


def test_no_grid_yet_falls_back_to_the_best_node() -> None:
    sampler = grid()
    sampler.observe(point(1, None, 1.0, 2.0))
    sampler.observe(point(2, None, 1.0, 3.0))
    assert sampler.archive() == {} and [p.parent_id for p in sampler.sample(2, random.Random(0), 1)] == [2, 2]


def test_uniform_selection_samples_every_occupied_cell() -> None:
    sampler = grid(bins=5)
    rng = random.Random(1)
    for node_id in range(1, 200):
        sampler.observe(point(node_id, rng.random(), rng.random(), rng.random()))
    archive = sampler.archive()
    picks = Counter(p.parent_id for p in sampler.sample(4000, random.Random(2), 1))
    assert set(picks) == set(archive.values()) and len(archive) > 15
    assert max(picks.values()) < 3 * min(picks.values())  # uniform over cells, not over nodes or scores


def test_curiosity_weights_follow_children_and_shift_sampling() -> None:
    def run(selection: str) -> tuple[MapElitesSampler, Counter[int]]:
        sampler = grid(bins=10, selection=selection)
        sampler.observe(point(1, 0.0, 0.0, 1.0))
        sampler.observe(point(2, 1.0, 1.0, 1.0))
        for i in range(3, 9):  # six children of elite 1, each opening a new cell
            sampler.observe(point(i, i / 10, 0.0, 0.1, parents=(1,)))
        for i in range(9, 13):  # four children of elite 2 that crashed
            sampler.observe(point(i, None, None, None, status="failed", parents=(2,)))
        return sampler, Counter(p.parent_id for p in sampler.sample(3000, random.Random(5), 1))

    curious, picks = run("curiosity")
    assert curious.weight((0, 0)) == 7.0 and curious.weight((9, 9)) == 0.1  # 1 + 6; 1 - 4*0.5 floored at 0.1
    assert curious.weight((3, 0)) == 1.0
    assert picks[1] > 3 * sum(picks[i] for i in range(3, 9)) / 6 > 3 * picks[2] > 0
    uniform, even = run("uniform")
    assert uniform.state_dict()["elites"] == curious.state_dict()["elites"]  # same archive and weights
    assert 0.7 < even[1] / even[2] < 1.4


def test_a_child_replacing_its_parent_credits_the_cell() -> None:
    sampler = grid(bins=2, selection="curiosity")
    sampler.observe(point(1, 0.0, 0.0, 1.0))
    sampler.observe(point(2, 1.0, 1.0, 1.0))
    sampler.observe(point(3, 0.1, 0.1, 2.0, parents=(1,)))
    assert sampler.archive()[(0, 0)] == 3 and sampler.weight((0, 0)) == 2.0
    sampler.observe(point(4, 0.1, 0.1, 1.5, parents=(3,)))
    assert sampler.weight((0, 0)) == 1.5
