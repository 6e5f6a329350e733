"""Asynchronous lanes: several checkpointed threads share one run's database and its step budget exactly; a lane
that fails is resumed from its own checkpoint while the others go on; `resume --steps` extends every lane."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import pytest

from graph.budget import Budget
from graph.builder import make_builder
from graph.checkpoint import open_checkpointer, thread_config
from graph.context import Context
from graph.lanes import lane_thread_id
from graph.runner import RunError, resume_run, start_run
from graph.services import Services
from graph.trial_order import INITIAL_KEY
from graph.wiring import open_services
from knowledge.database import DatabaseError, NodeDatabase
from knowledge.tickets import Tickets


def lanes_context(task: Path, run_dir: Path, lanes: int = 3, **changes) -> Context:
    return Context(task=str(task), run_dir=str(run_dir), lanes=lanes, seed=5, cognition=False, **changes)


def check_nodes(run_dir: Path, steps: int) -> list:
    nodes = NodeDatabase(run_dir / "run.db").nodes()
    keys = [n.trial_key for n in nodes]
    assert len(nodes) == steps + 1 and len(set(keys)) == len(keys)  # exactly the budget, nothing twice
    assert sorted(n.generation for n in nodes) == list(range(steps + 1))  # tickets 1..steps, the initial 0
    for node in nodes:
        assert node.visits == sum(1 for n in nodes if n.parent_ids[:1] == (node.id,))
    return nodes


def lane_states(run_dir: Path, lanes: int) -> list[dict]:
    saver = open_checkpointer(run_dir)
    graph = make_builder().compile(checkpointer=saver)
    return [graph.get_state(thread_config(thread_id=lane_thread_id(i))).values for i in range(lanes)]


def test_lanes_share_the_step_budget_exactly(tiny_task: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    start_run(lanes_context(tiny_task, run_dir), Budget(max_steps=10))
    check_nodes(run_dir, 10)
    states = lane_states(run_dir, 3)
    assert all(s["stop_reason"].startswith("step budget reached") for s in states)
    assert sum(s.get("lane_step", 0) for s in states) >= 10  # every lane planned trials of its own
    assert all(s.get("lane_step", 0) >= 1 for s in states[1:])
    assert Tickets(run_dir / "run.db").taken() >= 10


def test_resume_with_steps_extends_every_lane(tiny_task: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    start_run(lanes_context(tiny_task, run_dir), Budget(max_steps=6))
    resume_run(run_dir, 5)
    check_nodes(run_dir, 11)
    assert resume_run(run_dir)["stop_reason"].startswith("step budget reached")  # nothing left to do
    check_nodes(run_dir, 11)


class FlakyStore:
    """The run's node store, failing one write as a dropped database connection would."""

    def __init__(self, db: NodeDatabase) -> None:
        self._db, self.failed = db, False

    def add(self, draft):
        if not self.failed and draft.trial_key != INITIAL_KEY:
            self.failed = True
            raise DatabaseError("database run.db: connection lost")
        return self._db.add(draft)

    def __getattr__(self, name: str):
        return getattr(self._db, name)


def test_a_lane_that_fails_is_resumed_and_the_others_go_on(
        tiny_task: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    stores: list[FlakyStore] = []

    def provide(context) -> Services:
        ctx = Context.coerce(context)
        if not stores:
            services = open_services(ctx)
            stores.append(FlakyStore(services.db))
            provide.services = replace(services, db=stores[0])
        return provide.services

    run_dir = tmp_path / "run"
    with caplog.at_level(logging.WARNING, logger="asi_evolve"):
        start_run(lanes_context(tiny_task, run_dir), Budget(max_steps=9), builder=make_builder(provide))
    assert stores[0].failed
    failures = [r.getMessage() for r in caplog.records if "failed" in r.getMessage()]
    assert len(failures) == 1 and "resuming it from its checkpoint" in failures[0]  # one lane, once
    check_nodes(run_dir, 9)


def test_lanes_refuse_workers_and_approval(tiny_task: Path, tmp_path: Path) -> None:
    for change in ({"workers": 2}, {"approve": True}):
        with pytest.raises(RunError, match="use --lanes or --workers"):
            start_run(lanes_context(tiny_task, tmp_path / "x", **change), Budget(max_steps=2))
    assert not (tmp_path / "x").exists()
