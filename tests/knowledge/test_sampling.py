"""Every sampler, through the protocol: real picks, deterministic per seed, exact resume from saved JSON state."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from knowledge.database import NodeDatabase
from knowledge.records import Node, NodeDraft
from knowledge.samplers.base import Pick, Sampler
from knowledge.samplers.registry import SAMPLERS, make_sampler
from tests.support.nodes import make_node

PARAMS: dict[str, dict[str, Any]] = {
    "map_elites": {"features": ["program_length", "edit_distance", "metric:a"], "bins": [4, 3, 5]},
    "islands": {"islands": 3, "migration_interval": 2, "migration_fraction": 0.3},
    "pareto": {"objectives": [{"name": "a", "goal": "max"}, {"name": "b", "goal": "min"}]},
}
CURIOUS = {"features": ["metric:a"], "bins": 6, "selection": "curiosity"}
VARIANTS = [(name, PARAMS.get(name, {})) for name in sorted(SAMPLERS)] + [
    ("map_elites", CURIOUS), ("islands", {"islands": 2, "within": "random"}),
    ("islands", {"islands": 5, "within": "greedy", "migration_interval": 1}),
]


def deterministic(examples: int) -> settings:
    return settings(max_examples=examples, deadline=None, derandomize=True, database=None)


def synthetic_run(count: int, seed: int) -> list[Node]:
    """A realistic node sequence: a seed program, children of earlier nodes, ~20% failures, metrics a/b
    (sometimes missing), islands set on most children, multi-line programs of varying length, tied scores,
    three nodes per generation."""
    rng = random.Random(seed)
    nodes = [make_node(1, 0.5, metrics={"a": 0.5, "b": 0.5}, program="x = 1\ny = 2\n")]
    for node_id in range(2, count + 1):
        parent = nodes[rng.randrange(len(nodes))]
        status = "ok" if rng.random() < 0.8 else rng.choice(["failed", "timeout", "invalid"])
        metrics = {} if rng.random() < 0.1 else {"a": rng.randint(0, 6) / 2, "b": rng.randint(0, 6) / 3}
        lines = parent.program.splitlines()
        lines.insert(rng.randrange(len(lines) + 1), f"v{rng.randrange(9)} = {rng.randrange(99)}")
        nodes.append(make_node(
            node_id, round(rng.random(), 1), parents=(parent.id,), status=status,
            island=None if rng.random() < 0.2 else rng.randrange(5), metrics=metrics, program="\n".join(lines),
            generation=(node_id - 2) // 3 + 1,
        ))
    return nodes


def build(name: str, params: dict[str, Any] | None = None) -> Sampler:
    return make_sampler(name, **(PARAMS.get(name, {}) if params is None else params))


def fed(name: str, params: dict[str, Any], nodes: list[Node]) -> Sampler:
    sampler = build(name, params)
    for node in nodes:
        sampler.observe(node)
    return sampler


def restored(sampler: Sampler, params: dict[str, Any]) -> Sampler:
    """A fresh sampler loaded from the original's state after a JSON round trip (what a resumed run does)."""
    copy = build(sampler.name, params)
    copy.load_state_dict(json.loads(json.dumps(sampler.state_dict(), allow_nan=False)))
    return copy


def scored_ids(nodes: list[Node]) -> set[int]:
    return {n.id for n in nodes if n.status == "ok" and n.score is not None}


variants = st.sampled_from(VARIANTS)


@deterministic(60)
@given(variant=variants, count=st.integers(1, 40), k=st.integers(0, 9), generation=st.integers(1, 30),
       seed=st.integers(0, 2**32))
def test_every_sampler_picks_k_scored_nodes_deterministically(
    variant: tuple[str, dict[str, Any]], count: int, k: int, generation: int, seed: int
) -> None:
    name, params = variant
    nodes = synthetic_run(count, seed % 1000)
    sampler = fed(name, params, nodes)
    assert sampler.observed_upto == count
    twin = fed(name, params, nodes)
    picks = sampler.sample(k, random.Random(seed), generation)
    assert len(picks) == k and all(isinstance(p, Pick) for p in picks)
    assert {p.parent_id for p in picks} <= scored_ids(nodes)
    assert twin.sample(k, random.Random(seed), generation) == picks
    assert sampler.sample(k, random.Random(seed), generation) == picks  # a re-run Learner plans the same trials
    islands = params.get("islands", 4)
    expected = [(generation * k + s) % islands for s in range(k)] if name == "islands" else [None] * k
    assert [p.island for p in picks] == expected


@pytest.mark.parametrize(("name", "params"), VARIANTS)
def test_samplers_return_nothing_until_a_scored_node_is_observed(name: str, params: dict[str, Any]) -> None:
    sampler = build(name, params)
    assert sampler.sample(3, random.Random(0), 1) == [] and sampler.observed_upto == 0
    assert sampler.inspirations(1, 3, random.Random(0)) == []
    sampler.observe(make_node(1, None, status="failed", metrics={"a": 1.0, "b": 1.0}))
    sampler.observe(make_node(2, None, parents=(1,), status="timeout"))
    assert sampler.sample(3, random.Random(0), 1) == [] and sampler.observed_upto == 2
    sampler.observe(make_node(3, 1.0, parents=(1,), metrics={"a": 1.0, "b": 2.0}))
    assert [p.parent_id for p in sampler.sample(2, random.Random(0), 1)] == [3, 3]
    assert sampler.sample(0, random.Random(0), 1) == []
    with pytest.raises(ValueError, match=">= 0"):
        sampler.sample(-1, random.Random(0), 1)


@pytest.mark.parametrize(("name", "params"), VARIANTS)
def test_observe_takes_each_id_once(name: str, params: dict[str, Any]) -> None:
    nodes = synthetic_run(30, 4)
    once = fed(name, params, nodes)
    twice = fed(name, params, nodes + nodes[5:20])  # a replayed batch (e.g. nodes_since after a crash) is ignored
    assert twice.state_dict() == once.state_dict()


@deterministic(80)
@given(variant=variants, count=st.integers(1, 30), parent_pos=st.integers(0, 29), m=st.integers(0, 12),
       seed=st.integers(0, 2**32))
def test_inspirations_are_distinct_other_scored_nodes_best_first(
    variant: tuple[str, dict[str, Any]], count: int, parent_pos: int, m: int, seed: int
) -> None:
    name, params = variant
    nodes = synthetic_run(count, seed % 1000)
    sampler = fed(name, params, nodes)
    scored = [n for n in nodes if n.id in scored_ids(nodes)]
    if not scored:
        return
    parent = scored[parent_pos % len(scored)]
    chosen = sampler.inspirations(parent.id, m, random.Random(seed))
    others = [n for n in scored if n.id != parent.id]
    assert len(chosen) == min(m, len(others))
    assert parent.id not in chosen and len(set(chosen)) == len(chosen) and set(chosen) <= scored_ids(nodes)
    assert sampler.inspirations(parent.id, m, random.Random(seed)) == chosen
    if chosen and name != "islands":
        top = max(n.score for n in others)  # type: ignore[type-var]
        assert chosen[0] == min(n.id for n in others if n.score == top)


@deterministic(40)
@given(variant=variants, count=st.integers(2, 60), split=st.integers(0, 60), seed=st.integers(0, 2**32))
def test_resume_from_json_state_continues_exactly(
    variant: tuple[str, dict[str, Any]], count: int, split: int, seed: int
) -> None:
    """Saved mid-run, restored into a fresh instance: equal state, equal picks, and it keeps tracking a sampler that
    never stopped, through further observations and (for islands) migrations."""
    name, params = variant
    nodes = synthetic_run(count, seed % 1000)
    cut = split % count
    original = fed(name, params, nodes[:cut])
    for generation in (1, 2):
        original.sample(3, random.Random(seed + generation), generation)
    resumed = restored(original, params)
    assert resumed.state_dict() == original.state_dict()
    assert resumed.observed_upto == original.observed_upto
    for generation in (3, 4):
        rng_seed = seed + generation
        assert resumed.sample(4, random.Random(rng_seed), generation) == original.sample(
            4, random.Random(rng_seed), generation
        )
    for node in nodes:  # the Learner replays nodes_since(observed_upto); the earlier ones are skipped
        original.observe(node)
        resumed.observe(node)
    assert resumed.state_dict() == original.state_dict()
    for generation in (5, 6, 7):
        picks = original.sample(3, random.Random(generation), generation)
        assert resumed.sample(3, random.Random(generation), generation) == picks
        for pick in picks:
            assert resumed.inspirations(pick.parent_id, 3, random.Random(1)) == original.inspirations(
                pick.parent_id, 3, random.Random(1)
            )
    assert restored(resumed, params).state_dict() == original.state_dict()


def simulate_loop(sampler: Sampler, generations: range, k: int, seed: int, first_id: int) -> list[Node]:
    """The Learner's loop: sample k picks for generation g, store one child per pick (in the pick's island,
    carrying g), observe it; ~25% of children fail."""
    rng = random.Random(seed)
    children = []
    for generation in generations:
        for pick in sampler.sample(k, random.Random(f"{seed}:{generation}"), generation):
            ok = rng.random() < 0.75
            child = make_node(
                first_id + len(children), rng.randint(0, 9) / 9 if ok else None, parents=(pick.parent_id,),
                status="ok" if ok else "failed", island=pick.island, generation=generation,
                metrics={"a": rng.randint(0, 5), "b": rng.random()}, program=f"x = {rng.randrange(7)}\ny = 1",
            )
            sampler.observe(child)
            children.append(child)
    return children


@pytest.mark.parametrize(("name", "params"), VARIANTS)
def test_state_is_a_function_of_the_stored_nodes_so_an_old_snapshot_plus_replay_is_exact(
    name: str, params: dict[str, Any]
) -> None:
    """What makes snapshots cheap: a sampler rebuilt by observing the stored nodes alone, or restored from a state
    saved generations ago and then fed the nodes since, equals the sampler that ran the loop (island migrations
    included, which only sample() triggers in the running sampler)."""
    running = build(name, params)
    seed = make_node(1, 0.5, metrics={"a": 1, "b": 0.5}, program="x = 1\ny = 1")
    running.observe(seed)
    nodes = [seed, *simulate_loop(running, range(1, 8), 3, 0, 2)]
    snapshot = json.loads(json.dumps(running.state_dict()))
    nodes += simulate_loop(running, range(8, 30), 4, 1, len(nodes) + 1)
    if name == "islands":
        assert running.migrations >= 2  # type: ignore[attr-defined]
    rebuilt = fed(name, params, nodes)
    assert rebuilt.state_dict() == running.state_dict()
    resumed = build(name, params)
    resumed.load_state_dict(snapshot)
    for node in nodes:
        resumed.observe(node)
    assert resumed.state_dict() == running.state_dict()
    assert resumed.sample(5, random.Random(3), 30) == running.sample(5, random.Random(3), 30)


@pytest.mark.parametrize(("name", "params"), VARIANTS)
def test_state_is_strict_json_and_rejects_foreign_or_corrupt_states(name: str, params: dict[str, Any]) -> None:
    sampler = fed(name, params, synthetic_run(25, 2))
    state = sampler.state_dict()
    json.dumps(state, allow_nan=False)
    other_name = "greedy" if name != "greedy" else "random"
    with pytest.raises(ValueError, match=f"saved sampler state is for '{name}', not '{other_name}'"):
        make_sampler(other_name).load_state_dict(state)
    fresh = build(name, params)
    before = fresh.state_dict()
    with pytest.raises(ValueError, match=f"invalid {name} sampler state") as info:
        fresh.load_state_dict({**state, "pool": {"ids": [1, 2], "scores": [0.5], "visits": [0, 0]}})
    assert "\n" not in str(info.value)
    assert fresh.state_dict() == before  # a failed load leaves the sampler as it was
    with pytest.raises(ValueError, match="invalid .* sampler state: KeyError"):
        fresh.load_state_dict({k: v for k, v in state.items() if k != "observed_upto"})


def test_state_of_other_params_is_refused() -> None:
    state = fed("ucb1", {"exploration": 1.0}, synthetic_run(5, 0)).state_dict()
    with pytest.raises(ValueError, match=r'saved ucb1 state has params \{"exploration": 1.0\}, this sampler has'):
        make_sampler("ucb1", exploration=2.0).load_state_dict(state)


def test_make_sampler_builds_registered_samplers_and_names_errors() -> None:
    built = make_sampler("ucb1", exploration=2.5)
    assert built.name == "ucb1" and built.state_dict()["params"] == {"exploration": 2.5}
    assert {build(n).name for n in SAMPLERS} == set(SAMPLERS)
    valid = "greedy, islands, map_elites, pareto, random, ucb1"
    with pytest.raises(ValueError, match=f"unknown sampler 'mapelites'; valid: {valid}$") as info:
        make_sampler("mapelites")
    assert "\n" not in str(info.value)
    with pytest.raises(ValueError, match="bad parameters for sampler 'greedy': unknown exploration; valid: none"):
        make_sampler("greedy", exploration=1.0)
    with pytest.raises(ValueError, match="unknown bins, islandz; valid: islands, migration_interval, migration_fr"):
        make_sampler("islands", islandz=3, bins=2)
    bad_values = [
        ("ucb1", {"exploration": -1.0}, "ucb1 exploration must be a finite number >= 0"),
        ("ucb1", {"exploration": float("nan")}, "ucb1 exploration must be a finite number >= 0"),
        ("islands", {"islands": 0}, "islands must be an int >= 1"),
        ("islands", {"migration_interval": 0}, "migration_interval must be an int >= 1"),
        ("islands", {"migration_fraction": 0.0}, r"migration_fraction must be in \(0, 1\]"),
        ("islands", {"within": "best"}, "unknown islands within rule 'best'; valid: ucb1, greedy, random"),
        ("map_elites", {"features": []}, "features must be a non-empty list"),
        ("map_elites", {"features": ["size"]}, "unknown map_elites feature 'size'; valid: program_length, edit_dis"),
        ("map_elites", {"features": ["metric:"]}, "unknown map_elites feature 'metric:'"),
        ("map_elites", {"features": ["metric:a", "metric:a"]}, "features repeat a name"),
        ("map_elites", {"bins": 0}, "bins must be an int >= 1 or a list of 2 such ints"),
        ("map_elites", {"bins": [3]}, "bins must be an int >= 1 or a list of 2 such ints"),
        ("map_elites", {"selection": "novelty"}, "unknown map_elites selection 'novelty'; valid: uniform, curiosity"),
        ("pareto", {}, "pareto needs objectives"),
        ("pareto", {"objectives": [{"name": "a", "goal": "up"}]}, "bad pareto objective"),
        ("pareto", {"objectives": [{"name": "a"}, {"name": "a", "goal": "min"}]}, "objectives repeat a metric"),
    ]
    for name, params, message in bad_values:
        with pytest.raises(ValueError, match=message) as info:
            make_sampler(name, **params)
        assert "\n" not in str(info.value)


def feed(sampler: Sampler, db: NodeDatabase) -> int:
    """What the Learner does each generation: show the sampler the nodes stored since it last looked."""
    nodes = db.nodes_since(sampler.observed_upto)
    for node in nodes:
        sampler.observe(node)
    return len(nodes)


def test_a_sampler_takes_in_each_stored_node_once_from_a_real_database(tmp_path) -> None:
    with NodeDatabase(tmp_path / "run.db") as db:
        def add(key: str, parents: tuple[int, ...], score: float | None, status: str = "ok") -> Node:
            return db.add(NodeDraft(
                trial_key=key, generation=0, parent_ids=parents, name=key, motivation="", program=f"x = {key!r}\n",
                edit="", metrics={"a": 1.0}, score=score, analysis="", status=status,  # type: ignore[arg-type]
            ))

        root = add("g0", (), 0.1)
        sampler = make_sampler("ucb1")
        assert feed(sampler, db) == 1 and feed(sampler, db) == 0
        add("g1.0", (root.id,), 0.4)
        add("g1.1", (root.id,), None, status="failed")
        assert feed(sampler, db) == 2 and sampler.observed_upto == 3
        assert sampler.visits(root.id) == db.get(root.id).visits == 2  # type: ignore[attr-defined,union-attr]
        rebuilt = make_sampler("ucb1")
        feed(rebuilt, db)
        assert rebuilt.state_dict() == sampler.state_dict()
