"""LLMAnalyzer, LLMJudge and LLMRepairer through the real client and a real local server."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from agents.models.client import LLMClient
from agents.models.errors import ProposalError
from agents.models.ledger import CallLedger
from agents.models.specs import ModelSpec
from agents.strategies.analyzer_llm import LLMAnalyzer
from agents.strategies.analyzer_offline import OfflineAnalyzer
from agents.strategies.judge_llm import LLMJudge
from agents.strategies.protocols import Analysis, Outcome, Proposal
from agents.strategies.repair_llm import LLMRepairer
from knowledge.records import Node
from tests.support.openai_server import FakeOpenAIServer, Reply, server_error, truncated
from tests.support.tiny_task import TINY_PROGRAM
from tools.edits import apply_edits

PARENT = Node(
    trial_key="g1.0", generation=1, parent_ids=(), name="baseline", motivation="", program=TINY_PROGRAM, edit="",
    metrics={"combined_score": -4.0}, score=-4.0, analysis="", status="ok", id=3,
)
PROPOSAL = Proposal("x to 2.5", "closer to 3", "<<<<<<< SEARCH\nX = 1.0\n=======\nX = 2.5\n>>>>>>> REPLACE\n")
OUTCOME = Outcome(PROPOSAL, "ok", -0.25, {"combined_score": -0.25, "x": 2.5}, parent=PARENT, best=PARENT)
CRASHED = TINY_PROGRAM.replace("    return X", "    return X / 0")
TRACEBACK = (
    'Traceback (most recent call last):\n  File "program.py", line 8, in value\nZeroDivisionError: division by zero'
)


@pytest.fixture
def client_for(tmp_path: Path):
    def make(server: FakeOpenAIServer, **kwargs) -> LLMClient:
        spec = ModelSpec("fake-model", base_url=server.base_url, max_retries=kwargs.pop("max_retries", 1))
        return LLMClient([spec], CallLedger(tmp_path / "run.db"), retry_wait_s=0.01, **kwargs)

    return make


def test_the_analyzer_reads_analysis_and_insights(client_for) -> None:
    reply = "ANALYSIS:\nMoving X to 2.5 cut the error 16-fold.\nINSIGHTS:\n- X near 3 scores best\n"
    with FakeOpenAIServer([reply]) as server:
        analysis = LLMAnalyzer(client_for(server)).analyze(replace(OUTCOME, trial_key="g2.0"))
        [request] = server.chat_requests()
    assert analysis == Analysis("Moving X to 2.5 cut the error 16-fold.", ("X near 3 scores best",))
    prompt = request.prompt_text()
    for expected in ("x to 2.5", "closer to 3", "X = 2.5", "Status: ok", "Score: -0.25", "x=2.5", "baseline (node 3)"):
        assert expected in prompt


@pytest.mark.parametrize(
    ("script", "reason"),
    [
        (["   "], "holds no analysis text"),
        ([truncated("ANALYSIS:\nMoving X")], "truncated"),
        ([server_error(), server_error()], "HTTP 500"),
    ],
    ids=["garbled", "truncated", "server-down"],
)
def test_a_failed_analysis_falls_back_to_the_offline_report(client_for, script: list, reason: str) -> None:
    with FakeOpenAIServer(script) as server:
        analysis = LLMAnalyzer(client_for(server)).analyze(OUTCOME)
    offline = OfflineAnalyzer().analyze(OUTCOME)
    assert analysis.text.startswith(offline.text) and analysis.insights == offline.insights
    assert "model analysis unavailable" in analysis.text and reason in analysis.text


def test_the_judge_rates_and_blends_on_the_metric_scale(client_for) -> None:
    with FakeOpenAIServer(["SCORE: 8\nREASON: clean and close to optimal"]) as server:
        judge = LLMJudge(client_for(server), scale=(1, 10), weight=0.3)
        rating, _ = judge.rate(TINY_PROGRAM, {"combined_score": -0.25}, "Move X towards 3.", key="g2.0")
        prompt = server.chat_requests()[0].prompt_text()
    assert rating == pytest.approx(7 / 9)
    assert "Move X towards 3." in prompt and "from 1 to 10" in prompt and '"combined_score": -0.25' in prompt
    # the rating maps onto the run's score range (-4 .. -0.25), then weighs 30%
    expected = 0.7 * -0.25 + 0.3 * (-4.0 + (7 / 9) * 3.75)
    assert judge.blend(-0.25, rating, reference=(-4.0, -0.25)) == pytest.approx(expected)
    assert judge.blend(-0.25, 1.0, reference=(-4.0, -0.25)) == -0.25  # a perfect rating at the best: unchanged
    assert judge.blend(-0.25, rating, reference=(-0.25, -0.25)) == -0.25  # one scored node: no-op


@pytest.mark.parametrize("script", [["SCORE: 42"], ["no idea"], [server_error(), server_error()]])
def test_a_failed_judge_is_neutral(client_for, script: list) -> None:
    with FakeOpenAIServer(script) as server:
        judge = LLMJudge(client_for(server))
        rating, reason = judge.rate(TINY_PROGRAM, {}, "task", key="k")
    assert rating is None and reason and "\n" not in reason
    assert judge.blend(-0.25, rating, reference=(-4.0, 0.0)) == -0.25


def test_repair_sees_the_traceback_and_returns_an_appliable_fix(client_for) -> None:
    fix = (
        "NAME: no division\nMOTIVATION: dividing by zero crashed value()\nEDITS:\n"
        "<<<<<<< SEARCH\n    return X / 0\n=======\n    return X\n>>>>>>> REPLACE\n"
    )
    with FakeOpenAIServer([fix]) as server:
        proposal = LLMRepairer(client_for(server)).repair(CRASHED, "failed: exit code 1", TRACEBACK, key="g2.0")
        prompt = server.chat_requests()[0].prompt_text()
    assert "ZeroDivisionError: division by zero" in prompt and "return X / 0" in prompt and "exit code 1" in prompt
    assert proposal.mode == "diff" and apply_edits(CRASHED, proposal.edit) == TINY_PROGRAM


def test_repair_may_rewrite_and_refuses_a_fix_that_does_not_apply(client_for) -> None:
    rewrite = f"NAME: fixed\nMOTIVATION: no zero division\nPROGRAM:\n```python\n{TINY_PROGRAM}```\n"
    wrong = "NAME: f\nMOTIVATION: m\n<<<<<<< SEARCH\n    return X / 2\n=======\n    return X\n>>>>>>> REPLACE\n"
    with FakeOpenAIServer([rewrite, wrong, Reply("NAME: f\nMOTIVATION: m\n")]) as server:
        repairer = LLMRepairer(client_for(server))
        proposal = repairer.repair(CRASHED, "failed", TRACEBACK, key="a")
        with pytest.raises(ProposalError, match="repair edit does not apply: SEARCH block 1 not found"):
            repairer.repair(CRASHED, "failed", TRACEBACK, key="b")
        with pytest.raises(ProposalError, match="unusable: no SEARCH/REPLACE block and no ```python block"):
            repairer.repair(CRASHED, "failed", TRACEBACK, key="c")
    assert (proposal.mode, proposal.edit) == ("rewrite", TINY_PROGRAM)
