"""The quality-diversity samplers driving the real loop: islands, MAP-Elites and Pareto through the graph."""

from __future__ import annotations

import json
from pathlib import Path

from langgraph.checkpoint.memory import InMemorySaver

from agents.learner import catch_up
from graph.builder import make_builder
from graph.checkpoint import thread_config
from graph.context import Context
from graph.wiring import open_services
from knowledge.database import NodeDatabase
from tests.support.fakes import StepResearcher, provider_with
from tests.support.tiny_task import write_tiny_task


def run(task: Path, run_dir: Path, steps: int, step: float = 0.25, **ctx) -> NodeDatabase:
    context = Context(task=str(task), run_dir=str(run_dir), cognition=False, **ctx)
    graph = make_builder(provider_with(researcher=StepResearcher(step=step))).compile(checkpointer=InMemorySaver())
    graph.invoke({"max_steps": steps}, thread_config(300), context=context)
    return NodeDatabase(run_dir / "run.db")


def saved_sampler(task: Path, run_dir: Path, db: NodeDatabase):
    """A fresh sampler of the run, restored as a resumed Learner restores it: its last save, then every node since."""
    services = open_services(Context(task=str(task), run_dir=str(run_dir), cognition=False))
    catch_up(services)
    return services.sampler


def test_islands_every_island_gets_nodes_and_migrants_survive_a_restart(tmp_path: Path) -> None:
    task = write_tiny_task(tmp_path / "task", sampler="islands",
                           sampler_params="{islands: 3, migration_interval: 2, migration_fraction: 0.5}")
    db = run(task, tmp_path / "run", 9, workers=3)
    nodes = db.nodes()
    assert {n.island for n in nodes[1:]} == {0, 1, 2}
    for node in nodes[1:]:  # a child joins the island it was planned for, next to its parent's lineage
        assert node.parent_ids and node.island is not None
    restarted = saved_sampler(task, tmp_path / "run", db)
    assert restarted.migrations  # migrations happened and are replayed across the restart
    rebuilt = open_services(Context(task=str(task), run_dir=str(tmp_path / "other"), cognition=False)).sampler
    for node in nodes:
        rebuilt.observe(node)
    saved = restarted.state_dict()
    assert json.loads(json.dumps(rebuilt.state_dict())) == json.loads(json.dumps(saved))


def test_map_elites_over_an_evaluator_metric_fills_several_cells(tmp_path: Path) -> None:
    task = write_tiny_task(tmp_path / "task", sampler="map_elites",
                           sampler_params="{features: ['metric:x'], bins: 4}")
    db = run(task, tmp_path / "run", 6, step=0.5)
    sampler = saved_sampler(task, tmp_path / "run", db)
    archive = sampler.archive()
    assert len(archive) >= 3
    assert all(db.get(i).status == "ok" for i in archive.values())


def test_pareto_samples_from_the_front_of_the_declared_objectives(tmp_path: Path) -> None:
    task = write_tiny_task(tmp_path / "task", sampler="pareto",
                           objectives="[{name: x, goal: max}, {name: combined_score, goal: max}]")
    db = run(task, tmp_path / "run", 4, step=0.5)
    sampler = saved_sampler(task, tmp_path / "run", db)
    front = set(sampler.front())
    # x rises to 3 and so does the score: the newest node dominates all earlier ones
    assert front == {max(n.id for n in db.nodes() if n.id <= sampler.observed_upto)}
    parents = {n.parent_ids[0] for n in db.nodes()[1:]}
    assert parents <= {n.id for n in db.nodes()}
