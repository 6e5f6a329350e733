"""Resume after a crash: without --steps the original budget is finished, with --steps N it is N more steps."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

import pytest

from agents.strategies.protocols import Proposal, ResearchContext
from graph.budget import Budget
from graph.builder import make_builder
from graph.checkpoint import open_checkpointer, thread_config
from graph.context import Context
from graph.runner import resume_run, start_run, stored_steps
from knowledge.database import NodeDatabase
from tests.support.fakes import StepResearcher, provider_with


class Crash(BaseException):
    """Stands for the process dying mid-step (not an Exception: no node may catch it)."""


@dataclass
class CrashingResearcher(StepResearcher):
    crash_at: int = 6  # the proposal (1-based) during which the "process" dies

    def propose(self, ctx: ResearchContext) -> Proposal:
        if len(self.seen) + 1 == self.crash_at:
            raise Crash
        return super().propose(ctx)


def crashed_run(tiny_task: Path, run_dir: Path, max_steps: int, crash_at: int, workers: int = 1) -> Context:
    context = Context(task=str(tiny_task), run_dir=str(run_dir), sampler="greedy", cognition=False, workers=workers)
    builder = make_builder(provider_with(researcher=CrashingResearcher(step=0.01, crash_at=crash_at)))
    with pytest.raises(Crash):
        start_run(context, Budget(max_steps), builder=builder)
    return context


def healthy() -> object:
    return make_builder(provider_with(researcher=StepResearcher(step=0.01)))


def keys(run_dir: Path) -> list[str]:
    return [n.trial_key for n in NodeDatabase(run_dir / "run.db").nodes()]


def test_resume_with_steps_runs_that_many_more_not_the_rest_of_the_budget(tiny_task: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    crashed_run(tiny_task, run_dir, max_steps=400, crash_at=6)
    assert stored_steps(run_dir) == 5  # the sixth step died before its node was stored
    state = resume_run(run_dir, 5, builder=healthy())
    assert stored_steps(run_dir) == 10 and state["steps"] == 10
    assert state["stop_reason"] == "step budget reached (10 steps)"
    assert len(set(keys(run_dir))) == len(keys(run_dir)) == 11


def test_resume_without_steps_finishes_the_original_budget(tiny_task: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    crashed_run(tiny_task, run_dir, max_steps=9, crash_at=6)
    state = resume_run(run_dir, builder=healthy())
    assert stored_steps(run_dir) == 9 and state["stop_reason"] == "step budget reached (9 steps)"
    again = resume_run(run_dir, builder=healthy())  # a finished run has nothing left to do
    assert stored_steps(run_dir) == 9 and again["steps"] == 9


def test_resume_with_steps_after_a_finished_budget(tiny_task: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    context = Context(task=str(tiny_task), run_dir=str(run_dir), sampler="greedy", cognition=False)
    start_run(context, Budget(3), builder=healthy())
    state = resume_run(run_dir, 4, builder=healthy())
    assert stored_steps(run_dir) == 7 and state["steps"] == 7


def test_an_interrupted_generation_is_finished_and_counts(tiny_task: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    crashed_run(tiny_task, run_dir, max_steps=400, crash_at=6, workers=2)
    before = stored_steps(run_dir)
    state = resume_run(run_dir, 4, builder=healthy())
    assert stored_steps(run_dir) == state["steps"] == before + 4
    generations = [int(k[1:5]) for k in keys(run_dir)]
    assert generations == sorted(generations) and max(generations) * 2 >= before + 4


def cut_after_tally(run_dir: Path, steps: int) -> None:
    """Leave the checkpoints as a kill leaves them between saving a tally's writes and saving the checkpoint after
    it (checkpoints are saved in the background): the newest checkpoint is the one the tally of step `steps + 1`
    ran from, with the tally's writes, and nothing later."""
    graph = make_builder(provider_with(researcher=StepResearcher(step=0.01))).compile(
        checkpointer=open_checkpointer(run_dir))
    before = next(s for s in graph.get_state_history(thread_config())
                  if s.next == ("tally",) and s.values.get("steps") == steps)
    newest = before.config["configurable"]["checkpoint_id"]
    with sqlite3.connect(run_dir / "checkpoints.db") as conn:
        conn.execute("DELETE FROM checkpoints WHERE checkpoint_id > ?", (newest,))
        conn.execute("DELETE FROM writes WHERE checkpoint_id > ?", (newest,))
    cut = graph.get_state(thread_config())
    assert cut.next == () and [t.name for t in cut.tasks] == ["tally"]  # what a finished run looks like, nearly


@pytest.mark.parametrize("extra", [None, 2])
def test_a_kill_between_a_tally_and_its_checkpoint_is_resumed(tiny_task: Path, tmp_path: Path,
                                                               extra: int | None) -> None:
    run_dir = tmp_path / "run"
    context = Context(task=str(tiny_task), run_dir=str(run_dir), sampler="greedy", cognition=False)
    start_run(context, Budget(6), builder=healthy())
    cut_after_tally(run_dir, 3)
    state = resume_run(run_dir, extra, builder=healthy())
    want = 6 if extra is None else 6 + extra
    assert state["steps"] == stored_steps(run_dir) == want
    assert len(set(keys(run_dir))) == len(keys(run_dir)) == want + 1
