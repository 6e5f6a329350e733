"""An ensemble picks its model per candidate: retries, rewrites, repairs and analyses stay with that model."""

from __future__ import annotations

from pathlib import Path

from langgraph.checkpoint.memory import InMemorySaver

from agents.models.client import LLMClient
from agents.models.ledger import CallLedger
from agents.models.specs import ModelSpec
from agents.strategies.protocols import ResearchContext
from agents.strategies.researcher_llm import LLMResearcher
from graph.builder import make_builder
from graph.checkpoint import thread_config
from graph.context import Context
from tests.support.model_replies import tiny_task_model
from tests.support.openai_server import FakeOpenAIServer
from tests.support.proposals import GOOD, OUTSIDE, PARENT


def ensemble(server: FakeOpenAIServer, ledger: Path) -> LLMClient:
    specs = [ModelSpec(name, base_url=server.base_url, max_retries=0) for name in ("model-a", "model-b")]
    return LLMClient(specs, CallLedger(ledger), retry_wait_s=0.01)


def test_a_retry_goes_to_the_model_that_made_the_first_reply(tmp_path: Path) -> None:
    with FakeOpenAIServer([OUTSIDE, GOOD, GOOD]) as server:
        client = ensemble(server, tmp_path / "run.db")
        researcher = LLMResearcher(client, p_diff=1.0, p_rewrite=0.0, p_crossover=0.0)
        researcher.propose(ResearchContext("tiny", "t", PARENT, seed="0:g0001.0", trial_key="g0001.0"))
        researcher.propose(ResearchContext("tiny", "t", PARENT, seed="0:g0001.1", trial_key="g0001.1"))
        models = [r.body["model"] for r in server.chat_requests()]
    assert models[0] == models[1], "the retry of a bad edit stays with the model that made it"
    assert models[2] != models[0], "the next candidate is picked anew (the untried model first)"
    assert {k: v["selections"] for k, v in client.bandit.snapshot().items()} == {"model-a": 1, "model-b": 1}
    assert client.reward_candidate("g0001.0", 0.5) == models[0]
    assert client.bandit.snapshot()[models[0]]["rewards"] == 1


def test_a_restarted_client_keeps_the_recorded_model_of_a_candidate(tmp_path: Path) -> None:
    with FakeOpenAIServer([OUTSIDE, GOOD, GOOD]) as server:
        first = ensemble(server, tmp_path / "run.db")
        ctx = ResearchContext("tiny", "t", PARENT, seed="0:g0002.0", trial_key="g0002.0")
        first.complete("researcher", [], key="0:g0002.0", candidate="g0002.0")  # then the process dies
        made_by = server.chat_requests()[0].body["model"]
        again = ensemble(server, tmp_path / "run.db")
        again.bandit.choose()  # a fresh bandit would now prefer the other model
        LLMResearcher(again, p_diff=1.0, p_rewrite=0.0, p_crossover=0.0).propose(ctx)
        assert {r.body["model"] for r in server.chat_requests()} == {made_by}


def test_every_call_of_a_trial_goes_to_one_model_in_the_loop(tiny_task: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    with FakeOpenAIServer(reply_fn=lambda body: tiny_task_model(body, crash_first=True)) as server:
        context = Context(task=str(tiny_task), run_dir=str(run_dir), sampler="greedy", cognition=False,
                          models=("model-a", "model-b"), base_urls=(server.base_url,), repair_rounds=1,
                          judge_weight=0.5)
        make_builder().compile(checkpointer=InMemorySaver()).invoke({"max_steps": 4}, thread_config(), context=context)
    rows = CallLedger(run_dir / "run.db").rows()
    by_candidate: dict[str, set[str]] = {}
    for row in rows:
        by_candidate.setdefault(row.candidate, set()).add(row.model)
    assert set(by_candidate) == {"g0000.0", "g0001.0", "g0002.0", "g0003.0", "g0004.0"}
    assert all(len(models) == 1 for models in by_candidate.values()), by_candidate
    roles = {row.role for row in rows if row.candidate == "g0001.0"}
    assert roles == {"researcher", "repair", "analyzer", "judge"}
