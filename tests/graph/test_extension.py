"""A user inserts their own node into every trial without editing the package: a reviewer that can veto."""

from __future__ import annotations

from pathlib import Path

import pytest
from langgraph.checkpoint.memory import InMemorySaver

from agents.strategies.protocols import Proposal
from graph.builder import make_builder
from graph.checkpoint import thread_config
from graph.context import Context
from graph.state import TrialState, Verdict
from graph.trial import ExtraNode
from knowledge.database import NodeDatabase
from tests.support.fakes import ScriptedResearcher, StepResearcher, provider_with


def test_reviewer_node_vetoes_proposals_before_any_experiment(
    tiny_task: Path, tmp_path: Path, hash_embedder: str
) -> None:
    reviewed: list[str] = []

    def reviewer(state: TrialState) -> dict:
        proposal = state["proposal"]
        reviewed.append(proposal.name)
        if proposal.name.endswith("2.5"):
            return {"verdict": Verdict("vetoed", "reviewer: x = 2.5 was tried in a previous study")}
        return {}

    extra = [ExtraNode("reviewer", reviewer, after="researcher")]
    provider = provider_with(researcher=StepResearcher(step=0.5))
    shown = make_builder(provider, extra, trial_checkpoints=True).compile(checkpointer=InMemorySaver())
    assert "reviewer" in repr(shown.get_graph(xray=True).to_json()["nodes"])  # what Studio draws
    graph = make_builder(provider, extra_nodes=extra).compile(checkpointer=InMemorySaver())
    context = Context(task=str(tiny_task), run_dir=str(tmp_path / "run"), sampler="greedy", embedder=hash_embedder)
    graph.invoke({"max_steps": 5}, thread_config(100), context=context)

    nodes = NodeDatabase(tmp_path / "run" / "run.db").nodes()
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


def test_nodes_after_engineer_and_analyzer_see_results(tiny_task: Path, tmp_path: Path, hash_embedder: str) -> None:
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
    context = Context(task=str(tiny_task), run_dir=str(tmp_path / "run"), sampler="greedy", embedder=hash_embedder)
    builder.compile(checkpointer=InMemorySaver()).invoke({"max_steps": 2}, thread_config(), context=context)
    assert scores == [-4.0, -1.0, 0.0]
    assert stored == [1, 2, 3]


def test_extra_node_name_clash_is_refused() -> None:
    with pytest.raises(ValueError, match="already used"):
        make_builder(extra_nodes=[ExtraNode("engineer", lambda s: {})])


def test_a_user_node_sees_a_defined_state_when_the_researcher_failed(tiny_task: Path, tmp_path: Path) -> None:
    seen: list[tuple] = []

    def careless_reviewer(state: TrialState) -> dict:  # assumes a proposal, as a first draft would
        seen.append((state["proposal"] is None, state["verdict"] is None, state["result"]))
        if "swap" in state["proposal"].name:
            return {"verdict": Verdict("vetoed", "no swaps")}
        return {}

    script = [RuntimeError("model down"), Proposal("x to 2", "m", "<<<<<<< SEARCH\nX = 1.0\n=======\nX = 2.0\n"
                                                                   ">>>>>>> REPLACE\n")]
    builder = make_builder(provider_with(researcher=ScriptedResearcher(script)),
                           extra_nodes=[ExtraNode("reviewer", careless_reviewer, after="researcher")])
    context = Context(task=str(tiny_task), run_dir=str(tmp_path / "run"), sampler="greedy", cognition=False)
    state = builder.compile(checkpointer=InMemorySaver()).invoke({"max_steps": 2}, thread_config(), context=context)
    assert state["steps"] == 2
    assert seen[1] == (True, False, None)  # the failed step: no proposal, a verdict, no result — all defined
    failed, ok = NodeDatabase(tmp_path / "run" / "run.db").nodes()[1:]
    assert failed.status == "failed" and failed.error == "proposal failed: RuntimeError: model down"
    assert failed.notes == ("extra node reviewer raised AttributeError: 'NoneType' object has no attribute 'name'",)
    assert ok.status == "ok" and ok.metrics["x"] == 2.0


def test_a_user_node_that_raises_makes_a_failed_node_not_a_crash(tiny_task: Path, tmp_path: Path) -> None:
    def strict(state: TrialState) -> dict:
        if state["proposal"].name != "initial program":
            raise ValueError("policy service unreachable")
        return {}

    def broken_notifier(state: TrialState) -> dict:
        raise RuntimeError("webhook down")

    builder = make_builder(
        provider_with(researcher=StepResearcher(step=0.5)),
        extra_nodes=[ExtraNode("policy", strict, after="researcher"),
                     ExtraNode("notify", broken_notifier, after="analyzer")],
    )
    context = Context(task=str(tiny_task), run_dir=str(tmp_path / "run"), sampler="greedy", cognition=False)
    state = builder.compile(checkpointer=InMemorySaver()).invoke({"max_steps": 2}, thread_config(), context=context)
    assert state["steps"] == 2
    nodes = NodeDatabase(tmp_path / "run" / "run.db").nodes()
    assert [n.status for n in nodes] == ["ok", "failed", "failed"]
    assert nodes[1].error == "extra node policy raised ValueError: policy service unreachable"
    log = (tmp_path / "run" / "nodes" / nodes[0].trial_key / "extra_nodes.log").read_text()
    assert log == "extra node notify raised RuntimeError: webhook down\n"
