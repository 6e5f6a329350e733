"""Only the tally decides that the loop stops: it is the graph's entry, and it counts each generation once."""

from __future__ import annotations

from pathlib import Path

from langgraph.checkpoint.memory import InMemorySaver
from langgraph.runtime import Runtime

from graph.builder import make_builder
from graph.checkpoint import thread_config
from graph.context import Context
from graph.routing import make_tally_node
from graph.state import TrialOutcome
from graph.wiring import CachedProvider
from knowledge.database import NodeDatabase


def test_the_graph_enters_at_the_tally_and_only_the_tally_leads_to_the_end() -> None:
    edges = {(e.source, e.target) for e in make_builder().compile().get_graph().edges}
    assert ("__start__", "tally") in edges and ("tally", "__end__") in edges
    # the Learner sends trials, or (a lane with nothing left in the budget, see graph.lanes) hands back to the tally
    assert {target for source, target in edges if source == "learner"} == {"trial", "tally"}
    assert not any(target == "__end__" for source, target in edges if source != "tally")


def test_a_finished_thread_invoked_again_counts_nothing_twice(tiny_task: Path, tmp_path: Path) -> None:
    context = Context(task=str(tiny_task), run_dir=str(tmp_path / "run"), cognition=False)
    graph = make_builder().compile(checkpointer=InMemorySaver())
    first = graph.invoke({"max_steps": 3}, thread_config(), context=context)
    db = NodeDatabase(tmp_path / "run" / "run.db")
    assert (first["steps"], db.count()) == (3, 4)
    again = graph.invoke({"max_steps": 3}, thread_config(), context=context)  # budget already spent
    assert (again["steps"], db.count()) == (3, 4)
    assert again["stop_reason"] == "step budget reached (3 steps)"
    more = graph.invoke({"max_steps": 5}, thread_config(), context=context)
    assert (more["steps"], db.count()) == (5, 6)


def test_a_tally_run_twice_for_one_generation_counts_it_once(tiny_task: Path, tmp_path: Path) -> None:
    provider = CachedProvider()
    context = Context(task=str(tiny_task), run_dir=str(tmp_path / "run"), cognition=False)
    tally = make_tally_node(provider)
    runtime = Runtime(context=context)
    outcomes = [TrialOutcome(f"g0002.{i}", 2, 10 + i, "ok", 1.0) for i in range(2)]
    state = {"generation": 2, "steps_before": 3, "steps": 3, "outcomes": outcomes, "max_steps": 9}
    once = tally(state, runtime)
    twice = tally({**state, **once}, runtime)
    assert once["steps"] == twice["steps"] == 5
    # with no valid node stored yet the loop goes on (the Learner plans the initial program's trial)
    assert once["stop_reason"] is None
    # an invocation that names no budget gets the task's
    assert tally({}, runtime)["max_steps"] == 5
