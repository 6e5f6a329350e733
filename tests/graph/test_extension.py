"""A user inserts their own node into every trial without editing the package: a reviewer that can veto."""

from __future__ import annotations

from pathlib import Path

import pytest
from langgraph.checkpoint.memory import InMemorySaver

from graph.builder import make_builder
from graph.checkpoint import thread_config
from graph.context import Context
from graph.state import TrialState, Verdict
from graph.trial import ExtraNode
from knowledge.database import SQLiteDatabase
from tests.graph.fakes import StepResearcher, provider_with


def test_reviewer_node_vetoes_proposals_before_any_experiment(tiny_task: Path, tmp_path: Path) -> None:
    reviewed: list[str] = []

    def reviewer(state: TrialState) -> dict:
        proposal = state["proposal"]
        reviewed.append(proposal.name)
        if proposal.name.endswith("2.5"):
            return {"verdict": Verdict("vetoed", "reviewer: x = 2.5 was tried in a previous study")}
        return {}

    builder = make_builder(
        provider_with(researcher=StepResearcher(step=0.5)),
        extra_nodes=[ExtraNode("reviewer", reviewer, after="researcher")],
    )
    graph = builder.compile(checkpointer=InMemorySaver())
    assert "reviewer" in graph.get_graph(xray=True).to_json()["nodes"].__repr__()
    context = Context(task=str(tiny_task), run_dir=str(tmp_path / "run"), sampler="greedy")
    graph.invoke({"max_steps": 5}, thread_config(100), context=context)

    nodes = SQLiteDatabase(tmp_path / "run" / "run.db").nodes()
    vetoed = [n for n in nodes if n.status == "vetoed"]
    # x: 1.0 -> 1.5 -> 2.0 -> 2.5 is vetoed; greedy keeps extending x = 2.0, so every later proposal is vetoed too
    assert reviewed == ["initial program", "x to 1.5", "x to 2.0", "x to 2.5", "x to 2.5", "x to 2.5"]
    assert len(vetoed) == 3
    assert all(v.error.startswith("reviewer:") for v in vetoed)
    # a vetoed proposal never reached the sandbox: no program file, no result metrics
    for node in vetoed:
        assert node.metrics == {} and node.score is None
        assert not (tmp_path / "run" / "nodes" / node.trial_key / "program.py").exists()
    assert max(n.score for n in nodes if n.status == "ok") == pytest.approx(-1.0)


def test_nodes_after_engineer_and_analyzer_see_results(tiny_task: Path, tmp_path: Path) -> None:
    scores: list[float | None] = []
    stored: list[int] = []

    def audit(state: TrialState) -> dict:
        scores.append(state["result"].score if state.get("result") else None)
        return {}

    def notify(state: TrialState) -> dict:
        stored.append(state["outcomes"][-1].node_id)
        return {}

    builder = make_builder(
        provider_with(researcher=StepResearcher(step=1.0)),
        extra_nodes=[ExtraNode("audit", audit, after="engineer"), ExtraNode("notify", notify, after="analyzer")],
    )
    context = Context(task=str(tiny_task), run_dir=str(tmp_path / "run"), sampler="greedy")
    builder.compile(checkpointer=InMemorySaver()).invoke({"max_steps": 2}, thread_config(), context=context)
    assert scores == [-4.0, -1.0, 0.0]
    assert stored == [1, 2, 3]


def test_extra_node_name_clash_is_refused() -> None:
    with pytest.raises(ValueError, match="already used"):
        make_builder(extra_nodes=[ExtraNode("engineer", lambda s: {})])
