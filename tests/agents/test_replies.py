"""Model replies in the renderings models actually use, read through the real client and a real local server.

Each style below is what some model family answers when asked for NAME / MOTIVATION / SEARCH-REPLACE: the
original ASI-Evolve tags, Markdown headings, bold labels, JSON, bare blocks, a unified diff, one fenced program,
a reasoning model's <think> preamble. Every one must become a proposal that applies to the parent.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from agents.models.client import LLMClient
from agents.models.errors import EditProblem, ProposalError
from agents.models.ledger import CallLedger
from agents.models.replies import parse_analysis, parse_judge_score, parse_proposal
from agents.models.specs import ModelSpec
from agents.strategies.analyzer_llm import LLMAnalyzer
from agents.strategies.judge_llm import LLMJudge
from agents.strategies.protocols import Analysis, Outcome, Proposal, ResearchContext
from agents.strategies.researcher_llm import LLMResearcher
from knowledge.records import Node
from tests.support.openai_server import FakeOpenAIServer
from tests.support.tiny_task import TINY_PROGRAM
from tools.edits import apply_edits, check_harness

PARENT = Node(
    trial_key="g1.0", generation=1, parent_ids=(), name="baseline", motivation="the initial program",
    program=TINY_PROGRAM, edit="", metrics={"combined_score": -4.0, "x": 1.0}, score=-4.0,
    analysis="X=1 is 2 away from the optimum.", status="ok", id=7,
)
SR = "<<<<<<< SEARCH\nX = 1.0\n=======\nX = 2.5\n>>>>>>> REPLACE\n"
WHY = "The score peaks at X = 3 and X is below it."
REWRITTEN = TINY_PROGRAM.replace("X = 1.0", "X = 2.5")
UNIFIED = (
    "--- a/program.py\n+++ b/program.py\n@@ -2,4 +2,4 @@\n # EVOLVE-BLOCK-START\n-X = 1.0\n+X = 2.5\n Y = 2\n \n"
)

# style -> (reply, expected name, expected motivation, notes the parser must add)
STYLES: dict[str, tuple[str, str, str, tuple[str, ...]]] = {
    "labels": (f"NAME: move X up\nMOTIVATION:\n{WHY}\nEDITS:\n{SR}", "move X up", WHY, ()),
    "asi-evolve tags": (f"<name>move X up</name>\n<motivation>{WHY}</motivation>\n\n{SR}", "move X up", WHY, ()),
    "markdown headings": (
        f"## Name\nmove X up\n\n## Motivation\n{WHY}\n\n## Edits\n```diff\n{SR}```\n", "move X up", WHY, ()
    ),
    "bold labels": (f"**Name:** move X up\n\n**Motivation:** {WHY}\n\n```python\n{SR}```", "move X up", WHY, ()),
    "bulleted bold": (f"- **Name**: move X up\n- **Rationale**: {WHY}\n\n{SR}", "move X up", WHY, ()),
    "heading as name": (
        f"# Move X up\n\n{WHY}\n\n{SR}", "Move X up", WHY,
        ("motivation taken from the reply's free text (the reply had no motivation section)",
         "name taken from the reply's first heading"),
    ),
    "json with blocks": (
        json.dumps({"name": "move X up", "motivation": WHY, "edits": [{"search": "X = 1.0", "replace": "X = 2.5"}]}),
        "move X up", WHY, (),
    ),
    "fenced json": (
        "Here is my proposal:\n```json\n" + json.dumps({"title": "move X up", "reasoning": WHY, "diff": SR}) + "\n```",
        "move X up", WHY, (),
    ),
    "bare blocks": (SR, "edit: X = 2.5", "(the model gave no motivation)",
                    ("the reply gave no motivation", "name derived from the edit (the reply gave no name)")),
    "prose then blocks": (
        f"{WHY} So I raise it.\n\n{SR}", "The score peaks at X = 3 and X is below it.", f"{WHY} So I raise it.",
        ("motivation taken from the reply's free text (the reply had no motivation section)",
         "name derived from the motivation (the reply gave no name)"),
    ),
    "unified diff": (f"Name: move X up\nMotivation: {WHY}\n```diff\n{UNIFIED}```\n", "move X up", WHY, ()),
    "one fenced program": (
        f"NAME: move X up\nMOTIVATION: {WHY}\n```python\n{REWRITTEN}```\n", "move X up", WHY, ()
    ),
    "asi-evolve code tag": (
        f"<name>move X up</name><motivation>{WHY}</motivation>\n<code>\n{REWRITTEN}</code>", "move X up", WHY, ()
    ),
    "thinking model": (
        "<think>\nMaybe NAME: wrong idea\n<<<<<<< SEARCH\nY = 2\n=======\nY = 3\n>>>>>>> REPLACE\n</think>\n"
        f"NAME: move X up\nMOTIVATION: {WHY}\n{SR}", "move X up", WHY, (),
    ),
}


def candidate(proposal: Proposal) -> str:
    program = proposal.edit if proposal.mode == "rewrite" else apply_edits(TINY_PROGRAM, proposal.edit)
    assert check_harness(TINY_PROGRAM, program) is None
    return program


@pytest.fixture
def client(tmp_path: Path):
    def make(server: FakeOpenAIServer) -> LLMClient:
        spec = ModelSpec("fake-model", base_url=server.base_url, max_retries=0)
        return LLMClient([spec], CallLedger(tmp_path / "run.db"), retry_wait_s=0.01)

    return make


@pytest.mark.parametrize("style", list(STYLES))
def test_every_style_becomes_a_proposal_that_applies(client, style: str) -> None:
    reply, name, motivation, notes = STYLES[style]
    with FakeOpenAIServer([reply]) as server:
        researcher = LLMResearcher(client(server), p_diff=1.0, p_rewrite=0.0, p_crossover=0.0)
        proposal = researcher.propose(ResearchContext("tiny", "Move X towards 3.", PARENT, seed="0:g2.0"))
        assert len(server.chat_requests()) == 1, "no retry needed"
    assert (proposal.name, proposal.motivation, proposal.notes) == (name, motivation, notes)
    assert "X = 2.5" in candidate(proposal)


def test_a_rewrite_request_answered_with_blocks_is_used_as_a_diff() -> None:
    proposal = parse_proposal(f"NAME: n\nMOTIVATION: m\n{SR}", "rewrite", parent=TINY_PROGRAM)
    assert proposal.mode == "diff" and "X = 2.5" in candidate(proposal)


def test_a_fragment_is_not_taken_for_the_whole_program() -> None:
    with pytest.raises(EditProblem, match="not the whole program"):
        parse_proposal("NAME: n\nMOTIVATION: m\n```python\nX = 2.5\n```\n", "diff", parent=TINY_PROGRAM)


def test_html_inside_the_program_is_not_read_as_tags() -> None:
    program = TINY_PROGRAM.replace("Y = 2", 'Y = "<title>not the name</title>"')
    proposal = parse_proposal(f"NAME: keep title\nMOTIVATION: m\n```python\n{program}```\n", "rewrite")
    assert proposal.name == "keep title" and proposal.edit == program


def test_a_long_name_is_shortened_and_said_so() -> None:
    proposal = parse_proposal(f"NAME: {'very ' * 60}long\nMOTIVATION: m\n{SR}", "diff")
    assert len(proposal.name) <= 120 and proposal.name.endswith("…")
    assert proposal.notes == ("name shortened from 304 characters",)


@pytest.mark.parametrize(
    ("reply", "error", "message"),
    [
        ("", ProposalError, "empty"),
        ("NAME: x\nMOTIVATION: y\nEDITS: none\n", EditProblem, "no SEARCH/REPLACE block found"),
        ("NAME: x\n<<<<<<< SEARCH\na\n=======\nb\n", EditProblem, "no '>>>>>>> REPLACE'"),
        ("NAME: x\n```python\nX = 1\n", EditProblem, "never closed"),
        ('{"name": "x", "edits": [{"search": 1}]}', EditProblem, "string 'search' and 'replace'"),
    ],
)
def test_replies_without_a_usable_edit_fail_in_one_line(reply: str, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message) as caught:
        parse_proposal(reply, "diff", parent=TINY_PROGRAM)
    assert "\n" not in str(caught.value)


OUTCOME = Outcome(Proposal("x to 2.5", "closer to 3", SR), "ok", -0.25, {"combined_score": -0.25}, parent=PARENT)
ANALYSES = {
    "labels": "ANALYSIS:\nX moved closer to 3.\nINSIGHTS:\n- X near 3 scores best\n- none\n",
    "asi-evolve tag": "<analysis>X moved closer to 3.</analysis>\n<insights>\n- X near 3 scores best\n</insights>",
    "headings": "## Analysis\nX moved closer to 3.\n\n## Lessons learned\n1. X near 3 scores best\n",
    "json": json.dumps({"analysis": "X moved closer to 3.", "insights": ["X near 3 scores best"]}),
    "free text": "X moved closer to 3.\n\n**Key takeaways:**\n* X near 3 scores best\n",
}


@pytest.mark.parametrize("style", list(ANALYSES))
def test_every_analysis_style_is_read(client, style: str) -> None:
    with FakeOpenAIServer([ANALYSES[style]]) as server:
        analysis = LLMAnalyzer(client(server)).analyze(replace(OUTCOME, trial_key="g2.0"))
    assert analysis == Analysis("X moved closer to 3.", ("X near 3 scores best",))


JUDGED = {
    "SCORE: 8\nREASON: sound.": 8,
    "**Rating:** 8/10 — a sound approach.": 8,
    "<score>8</score><reason>sound</reason>": 8,
    '{"score": 8, "reason": "sound"}': 8,
    "I would rate this program 8 out of 10.": 8,
    "8": 8,
    "Score: 4/5": 8.2,  # 80% of the way from 1 to 10
    "Score: 80%": 8.2,
}


@pytest.mark.parametrize("reply", list(JUDGED))
def test_every_judge_style_is_read(client, reply: str) -> None:
    with FakeOpenAIServer([reply]) as server:
        rating, reason = LLMJudge(client(server), (1, 10), 0.5).rate(TINY_PROGRAM, {"x": 2.5}, "Move X.", key="k")
    assert reason == "" and rating == pytest.approx((JUDGED[reply] - 1) / 9)


def test_a_judge_without_a_score_fails_with_a_reason() -> None:
    with pytest.raises(ProposalError, match="no score"):
        parse_judge_score("I would give it a seven.", 1, 10)
    with pytest.raises(ProposalError, match="outside its scale"):
        parse_judge_score("SCORE: 11", 1, 10)


def test_an_empty_analysis_is_an_error() -> None:
    with pytest.raises(ProposalError, match="holds no analysis text"):
        parse_analysis("ANALYSIS:\n\nINSIGHTS:\n- a\n")
