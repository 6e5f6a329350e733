"""The loop driven by a model served over the OpenAI API by a real local HTTP server."""

from __future__ import annotations

import re
from pathlib import Path

from langchain_core.language_models.fake_chat_models import FakeMessagesListChatModel
from langchain_core.messages import AIMessage
from langgraph.checkpoint.memory import InMemorySaver

from agents.models.client import LLMClient
from agents.models.ledger import CallLedger
from agents.models.specs import ModelSpec
from agents.strategies.analyzer_llm import LLMAnalyzer
from agents.strategies.researcher_llm import LLMResearcher
from graph.builder import make_builder
from graph.checkpoint import thread_config
from graph.context import Context
from knowledge.database import NodeDatabase
from tests.support.fakes import provider_with
from tests.support.model_replies import prompt_of, tiny_task_model
from tests.support.openai_server import FakeOpenAIServer


def run(task: Path, run_dir: Path, steps: int, url: str, **ctx) -> dict:
    context = Context(**{"task": str(task), "run_dir": str(run_dir), "sampler": "greedy", "cognition": False,
                         "models": ("fake-model",), "base_urls": (url,), **ctx})
    graph = make_builder().compile(checkpointer=InMemorySaver())
    return graph.invoke({"max_steps": steps}, thread_config(100), context=context)


def test_model_researcher_and_analyzer_drive_the_loop(tiny_task: Path, tmp_path: Path) -> None:
    with FakeOpenAIServer(reply_fn=tiny_task_model) as server:
        state = run(tiny_task, tmp_path / "run", 3, server.base_url)
    nodes = NodeDatabase(tmp_path / "run" / "run.db").nodes()
    assert [n.metrics.get("x") for n in nodes] == [1.0, 1.5, 2.0, 2.5]
    assert state["best_score"] == -0.25
    assert all(n.insights == ("X closer to 3 scores higher",) for n in nodes[1:])
    roles = [r.role for r in CallLedger(tmp_path / "run" / "run.db").rows()]
    assert roles.count("researcher") == 3 and roles.count("analyzer") == 4
    # the model says it builds on its parent: recorded as experience, citing the parent node it was shown
    assert nodes[0].provenance.source == "baseline"
    assert [(n.provenance.source, n.provenance.node_ids) for n in nodes[1:]] == [
        ("experience", (n.parent_ids[0],)) for n in nodes[1:]]


def test_a_model_citing_a_lesson_it_was_shown_makes_a_cognition_node(tiny_task: Path, tmp_path: Path,
                                                                        hash_embedder: str) -> None:
    (tiny_task / "knowledge").mkdir()
    (tiny_task / "knowledge" / "notes.md").write_text("# Where the peak is\n\nThe score peaks at X = 3.\n")

    def model(body: dict) -> str:
        reply, shown = tiny_task_model(body), re.search(r"^- \[C(\d+)\] ", prompt_of(body), re.M)
        return reply.replace("SOURCES: parent", f"SOURCES: [C{shown.group(1)}] and C999") if shown else reply

    with FakeOpenAIServer(reply_fn=model) as server:
        run(tiny_task, tmp_path / "run", 2, server.base_url, cognition=True, embedder=hash_embedder,
            retrieval_threshold=-1.0)
    evolved = NodeDatabase(tmp_path / "run" / "run.db").nodes()[1:]
    assert len(evolved) == 2
    for node in evolved:  # the item cited is one the Learner retrieved for it; the unseen C999 is dropped, said
        assert node.provenance.source == "cognition" and node.provenance.cognition_ids
        assert set(node.provenance.cognition_ids) <= set(node.cognition_ids)
        assert "sources: cited cognition item(s) [999] it was not shown (ignored)" in node.notes


def test_a_crash_is_repaired_by_the_model_and_every_attempt_recorded(tiny_task: Path, tmp_path: Path) -> None:
    with FakeOpenAIServer(reply_fn=lambda body: tiny_task_model(body, crash_first=True)) as server:
        run(tiny_task, tmp_path / "run", 1, server.base_url, repair_rounds=1)
    node = NodeDatabase(tmp_path / "run" / "run.db").nodes()[1]
    assert node.status == "ok" and node.metrics["x"] == 2.0
    assert len(node.attempts) == 1
    assert node.attempts[0]["status"] == "failed" and "ZeroDivisionError" in node.attempts[0]["error"]
    assert "X = 1 / 0" in node.attempts[0]["program"] and node.attempts[0]["repair"] == "undo the division"
    assert (tmp_path / "run" / "nodes" / node.trial_key / "attempt0.py").read_text() == node.attempts[0]["program"]


def test_without_repair_rounds_the_crash_is_stored_as_failed(tiny_task: Path, tmp_path: Path) -> None:
    with FakeOpenAIServer(reply_fn=lambda body: tiny_task_model(body, crash_first=True)) as server:
        run(tiny_task, tmp_path / "run", 1, server.base_url, repair_rounds=0)
    node = NodeDatabase(tmp_path / "run" / "run.db").nodes()[1]
    assert node.status == "failed" and "ZeroDivisionError" in node.error and node.attempts == ()


def test_cost_budget_stops_new_proposals_with_a_clear_reason(tiny_task: Path, tmp_path: Path) -> None:
    (tiny_task / "task.yaml").write_text(
        (tiny_task / "task.yaml").read_text() + "prices:\n  fake-model: {in: 1000.0, out: 1000.0}\n"
    )
    with FakeOpenAIServer(reply_fn=tiny_task_model) as server:
        state = run(tiny_task, tmp_path / "run", 50, server.base_url, max_cost=0.5)
    ledger = CallLedger(tmp_path / "run" / "run.db")
    cost, _ = ledger.totals()
    assert state["stop_reason"].startswith("model budget spent") and cost >= 0.5
    assert state["steps"] < 50
    rows = ledger.rows()
    assert abs(sum(r.cost for r in rows) - cost) < 1e-12
    assert all(abs(r.cost - (r.input_tokens + r.output_tokens) * 1000.0 / 1e6) < 1e-12 for r in rows)


def test_judge_rating_is_blended_into_the_score_and_a_failed_judge_is_neutral(tiny_task: Path, tmp_path: Path) -> None:
    with FakeOpenAIServer(reply_fn=tiny_task_model) as server:
        run(tiny_task, tmp_path / "run", 2, server.base_url, judge_weight=0.5)
    nodes = NodeDatabase(tmp_path / "run" / "run.db").nodes()
    # the initial node: nothing to compare with, so the blend maps onto (score, score) and changes nothing
    assert nodes[0].score == nodes[0].metrics["metric_score"] == -4.0
    first = nodes[1]  # metric -2.25, range (parent -4.0 .. -2.25), rating (8-1)/9: 0.5*m + 0.5*(lo + r*(hi-lo))
    rating = 7 / 9
    assert first.metrics["judge_score"] == rating
    assert abs(first.score - (0.5 * -2.25 + 0.5 * (-4.0 + rating * 1.75))) < 1e-12

    def no_judge(body: dict) -> str:
        reply = tiny_task_model(body)
        return "I would rather not rate this." if reply.startswith("SCORE:") else reply

    with FakeOpenAIServer(reply_fn=no_judge) as server:
        run(tiny_task, tmp_path / "neutral", 1, server.base_url, judge_weight=0.5)
    node = NodeDatabase(tmp_path / "neutral" / "run.db").nodes()[1]
    assert "judge_score" not in node.metrics and node.score == node.metrics["metric_score"] == -2.25
    assert node.notes == ("judge failed, metric score kept: ProposalError: the judge's reply has no score "
                          "(expected 'SCORE: <number>')",)


def test_a_model_answering_in_tags_drives_the_loop_like_one_answering_in_labels(tiny_task: Path,
                                                                                tmp_path: Path) -> None:
    """The original ASI-Evolve reply format (<name>, <motivation>, then SEARCH/REPLACE; <analysis>) just works."""
    with FakeOpenAIServer(reply_fn=lambda body: tiny_task_model(body, style="tags")) as server:
        state = run(tiny_task, tmp_path / "run", 6, server.base_url)
    nodes = NodeDatabase(tmp_path / "run" / "run.db").nodes()
    assert [n.status for n in nodes] == ["ok"] * 6 + ["duplicate"] and state["best_score"] == 0.0
    # x reached 3 at step 4 and 3.5 at step 5; greedy then extends x = 3 again, and the model answers 3.5 again:
    # an identical program is sent back, then stored as a duplicate without being run
    assert nodes[6].error == f"not run: the program is identical to node {nodes[5].id}'s" and nodes[6].metrics == {}
    assert nodes[6].novelty_rejections == 2
    assert nodes[1].name == "set X to 1.5" and nodes[1].motivation.startswith("The score peaks")
    assert nodes[1].analysis == "Moving X towards 3 changes the score as expected." and nodes[1].notes == ()


def test_a_model_giving_only_blocks_gets_derived_names_said_on_the_node(tiny_task: Path, tmp_path: Path) -> None:
    (tiny_task / "task.yaml").write_text(
        (tiny_task / "task.yaml").read_text() + "researcher_options: {p_diff: 1.0, p_rewrite: 0.0, p_crossover: 0.0}\n"
    )
    with FakeOpenAIServer(reply_fn=lambda body: tiny_task_model(body, style="bare")) as server:
        run(tiny_task, tmp_path / "run", 2, server.base_url)
    nodes = NodeDatabase(tmp_path / "run" / "run.db").nodes()
    assert [n.status for n in nodes] == ["ok"] * 3
    assert nodes[1].name == "edit: X = 1.5" and nodes[1].motivation == "(the model gave no motivation)"
    assert nodes[1].notes == ("the reply gave no motivation", "name derived from the edit (the reply gave no name)")


def test_mode_weights_from_task_yaml_reach_the_model_researcher(tiny_task: Path, tmp_path: Path) -> None:
    (tiny_task / "task.yaml").write_text(
        (tiny_task / "task.yaml").read_text() + "researcher_options: {p_diff: 0.0, p_rewrite: 1.0, p_crossover: 0.0}\n"
    )
    with FakeOpenAIServer(reply_fn=tiny_task_model) as server:
        run(tiny_task, tmp_path / "run", 2, server.base_url)
        prompts = [r.prompt_text() for r in server.requests if r.path.endswith("/chat/completions")]
    research = [p for p in prompts if "NAME:" in p]
    assert len(research) == 2 and all("PROGRAM:\n```python" in p for p in research)  # rewrites only
    nodes = NodeDatabase(tmp_path / "run" / "run.db").nodes()
    assert [n.metrics["x"] for n in nodes] == [1.0, 1.5, 2.0]


def test_nodes_with_a_langchain_fake_chat_model_injected(tiny_task: Path, tmp_path: Path) -> None:
    """Node-level: the model strategies are injected through the provider with a LangChain fake chat model."""
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    analysis = AIMessage("ANALYSIS:\nThe baseline scores -4.\nINSIGHTS:\n- X is far from 3\n")
    proposal = AIMessage("NAME: X to 2\nMOTIVATION:\nCloser to 3.\nEDITS:\n"
                         "<<<<<<< SEARCH\nX = 1.0\n=======\nX = 2.0\n>>>>>>> REPLACE\n")
    fake = FakeMessagesListChatModel(responses=[analysis, proposal, analysis])
    client = LLMClient([ModelSpec("fake")], CallLedger(run_dir / "run.db"), models=[fake])
    researcher = LLMResearcher(client, p_diff=1.0, p_rewrite=0.0, p_crossover=0.0)
    provider = provider_with(researcher=researcher, analyzer=LLMAnalyzer(client))
    context = Context(task=str(tiny_task), run_dir=str(run_dir), sampler="greedy", cognition=False)
    graph = make_builder(provider).compile(checkpointer=InMemorySaver())
    graph.invoke({"max_steps": 1}, thread_config(), context=context)
    nodes = NodeDatabase(run_dir / "run.db").nodes()
    assert [n.metrics["x"] for n in nodes] == [1.0, 2.0]
    assert nodes[1].name == "X to 2" and nodes[1].insights == ("X is far from 3",)
    assert [r.role for r in CallLedger(run_dir / "run.db").rows()] == ["analyzer", "researcher", "analyzer"]
