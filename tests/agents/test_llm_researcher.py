"""LLMResearcher through the real client and a real local server: diffs, the retry ladder, failures, replay."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from agents.models.client import LLMClient
from agents.models.errors import BudgetExceeded, ProposalError
from agents.models.ledger import CallLedger
from agents.models.specs import ModelSpec
from agents.strategies.protocols import Proposal, ResearchContext
from agents.strategies.researcher_llm import LLMResearcher
from knowledge.records import Node
from tests.support.openai_server import FakeOpenAIServer, Reply, garbage, rate_limited, truncated
from tests.support.proposals import GOOD, OUTSIDE, PARENT, diff_reply
from tests.support.tiny_task import TINY_PROGRAM
from tools.edits import apply_edits, check_harness

INSPIRATION = Node(
    trial_key="g2.0", generation=2, parent_ids=(7,), name="x at 2", motivation="closer to 3",
    program=TINY_PROGRAM.replace("X = 1.0", "X = 2.0  # inspired"), edit="", metrics={"combined_score": -1.0},
    score=-1.0, analysis="better", status="ok", id=8,
)


def build_candidate(parent: str, proposal: Proposal) -> str:
    """What the Engineer does with a proposal: apply, keep the harness, compile."""
    program = proposal.edit if proposal.mode == "rewrite" else apply_edits(parent, proposal.edit)
    assert check_harness(parent, program) is None
    compile(program, "program.py", "exec")
    return program


def rewrite_reply(program: str, name: str = "rewrite") -> str:
    return f"NAME: {name}\nMOTIVATION:\nStart over.\nPROGRAM:\n```python\n{program}```\n"


def ctx(seed: str = "s:g2.1", inspirations: tuple[Node, ...] = (), insights: tuple[str, ...] = ()):
    return ResearchContext("tiny", "Move X towards 3.", PARENT, inspirations, insights, seed)


@pytest.fixture
def client_for(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("ASI_EVOLVE_API_KEY", raising=False)

    def make(server: FakeOpenAIServer, db: str = "run.db", **kwargs) -> LLMClient:
        spec = ModelSpec("fake-model", base_url=server.base_url, max_retries=kwargs.pop("max_retries", 2))
        return LLMClient([spec], CallLedger(tmp_path / db), retry_wait_s=0.01, **kwargs)

    return make


def diff_only(client: LLMClient, **kwargs) -> LLMResearcher:
    return LLMResearcher(client, p_diff=1.0, p_rewrite=0.0, p_crossover=0.0, **kwargs)


def mixed(client: LLMClient) -> LLMResearcher:
    return LLMResearcher(client, p_diff=0.5, p_rewrite=0.3, p_crossover=0.2)


def test_a_good_diff_is_proposed_and_applies(client_for) -> None:
    with FakeOpenAIServer([GOOD]) as server:
        proposal = diff_only(client_for(server)).propose(ctx(insights=("small steps in X helped",)))
        [request] = server.chat_requests()
    assert (proposal.name, proposal.mode, proposal.motivation) == ("move X up", "diff", "The optimum is at 3.")
    assert "X = 2.5" in build_candidate(PARENT.program, proposal)
    prompt = request.prompt_text()
    for expected in ("Move X towards 3.", TINY_PROGRAM.rstrip(), "X=1 is 2 away", "score -4", "x=1",
                     "small steps in X helped", "<<<<<<< SEARCH"):
        assert expected in prompt


def test_feedback_from_sent_back_proposals_is_in_the_prompt(client_for) -> None:
    with FakeOpenAIServer([GOOD, GOOD]) as server:
        researcher = diff_only(client_for(server))
        researcher.propose(ctx())
        researcher.propose(replace(ctx(), feedback=("proposal 'move X up' was sent back: too similar to node 7",)))
        plain, sent_back = (r.prompt_text() for r in server.chat_requests())
    assert "Sent back" not in plain
    assert "## Sent back" in sent_back and "too similar to node 7" in sent_back


def test_a_diff_with_wrong_indentation_is_reindented(client_for) -> None:
    reply = diff_reply("        return X", "        return X + 1.0")
    with FakeOpenAIServer([reply]) as server:
        proposal = diff_only(client_for(server)).propose(ctx())
    assert "\n    return X + 1.0\n" in apply_edits(PARENT.program, proposal.edit)


def test_an_edit_outside_the_block_is_sent_back_once_then_a_rewrite_is_asked(client_for) -> None:
    program = TINY_PROGRAM.replace("X = 1.0", "X = 3.0")
    replies = [OUTSIDE, diff_reply("X = 9.9", "X = 3.0"), rewrite_reply(program, "set X to 3")]
    with FakeOpenAIServer(replies) as server:
        proposal = diff_only(client_for(server)).propose(ctx())
        first, retry, fallback = server.chat_requests()
    assert "matches only the fixed harness" not in first.prompt_text()
    retry_turns = retry.body["messages"]
    assert [m["role"] for m in retry_turns] == ["user", "assistant", "user"]
    assert retry_turns[1]["content"] == OUTSIDE
    assert "matches only the fixed harness outside the EVOLVE-BLOCK" in retry_turns[2]["content"]
    assert "failed twice" in fallback.prompt_text() and "not found in the EVOLVE-BLOCK" in fallback.prompt_text()
    assert (proposal.mode, proposal.name, proposal.edit) == ("rewrite", "set X to 3", program)
    assert build_candidate(PARENT.program, proposal) == program


def test_a_corrected_diff_on_retry_is_used(client_for) -> None:
    with FakeOpenAIServer([OUTSIDE, GOOD]) as server:
        proposal = diff_only(client_for(server)).propose(ctx())
        assert len(server.chat_requests()) == 2
    assert proposal.mode == "diff" and "X = 2.5" in apply_edits(PARENT.program, proposal.edit)


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        (garbage(), "unreadable reply"),
        (truncated(GOOD[:60]), "truncated at its token limit"),
        ("", "reply is empty"),
    ],
    ids=["not-json", "truncated", "empty"],
)
def test_unusable_replies_are_proposal_errors(client_for, reply: str | Reply, reason: str) -> None:
    with FakeOpenAIServer([reply]) as server:
        with pytest.raises(ProposalError, match=reason) as caught:
            diff_only(client_for(server)).propose(ctx())
        assert len(server.chat_requests()) == 1
    assert "\n" not in str(caught.value)


def test_prose_without_any_edit_climbs_the_retry_ladder_then_fails(client_for) -> None:
    prose = "I think you should make X bigger."
    with FakeOpenAIServer([prose, prose, prose]) as server:
        with pytest.raises(ProposalError, match="no ```python block holding the whole program"):
            diff_only(client_for(server)).propose(ctx())
        requests = server.chat_requests()
    assert len(requests) == 3
    assert "no SEARCH/REPLACE block found" in requests[1].prompt_text()  # the retry says why
    assert "Reply with the whole program" in requests[2].prompt_text()


def test_a_truncated_rewrite_is_never_used(client_for) -> None:
    cut = rewrite_reply(TINY_PROGRAM)[:-30]
    with FakeOpenAIServer([truncated(cut)]) as server:
        researcher = LLMResearcher(client_for(server), p_diff=0.0, p_rewrite=1.0, p_crossover=0.0)
        with pytest.raises(ProposalError, match="finish_reason=length"):
            researcher.propose(ctx())


def test_rewrite_and_crossover_modes(client_for) -> None:
    program = TINY_PROGRAM.replace("X = 1.0", "X = 2.9")
    with FakeOpenAIServer([rewrite_reply(program), GOOD]) as server:
        client = client_for(server)
        rewrite = LLMResearcher(client, p_diff=0.0, p_rewrite=1.0, p_crossover=0.0).propose(ctx())
        crossover = LLMResearcher(client, p_diff=1e-9, p_rewrite=0.0, p_crossover=1.0)
        cross = crossover.propose(ctx(inspirations=(INSPIRATION,)))
        rewrite_prompt, cross_prompt = (r.prompt_text() for r in server.chat_requests())
    assert (rewrite.mode, rewrite.edit) == ("rewrite", program) and "PROGRAM:" in rewrite_prompt
    assert cross.mode == "diff" and "Programs to combine" in cross_prompt and "X = 2.0  # inspired" in cross_prompt


def test_mode_choice_is_seeded_and_crossover_needs_an_inspiration(client_for) -> None:
    with FakeOpenAIServer([]) as server:
        researcher = LLMResearcher(client_for(server))
    seeds = [f"0:g{i}.0" for i in range(200)]
    plain = [researcher.choose_mode(ctx(s)) for s in seeds]
    assert plain == [researcher.choose_mode(ctx(s)) for s in seeds] and "crossover" not in plain
    mixed = [researcher.choose_mode(ctx(s, (INSPIRATION,))) for s in seeds]
    assert {"diff", "rewrite", "crossover"} == set(mixed) and mixed.count("diff") > 100


def test_inspirations_that_do_not_fit_are_dropped_whole_and_announced(client_for) -> None:
    with FakeOpenAIServer([]) as server:
        client = client_for(server)
    other = Node(**{**vars(INSPIRATION), "id": 9, "name": "second"})
    both = ctx(inspirations=(INSPIRATION, other))
    full = diff_only(client).render("researcher_diff", both)
    capped = diff_only(client, max_prompt_chars=len(full) - 1).render("researcher_diff", both)
    assert len(capped) < len(full) and "left out" not in full
    assert "1 of 2 inspiration programs were left out" in capped
    assert "Inspiration 1: x at 2" in capped and "second" not in capped and TINY_PROGRAM.rstrip() in capped
    tiny = diff_only(client, max_prompt_chars=10).render("researcher_diff", both)
    assert "2 of 2 inspiration programs were left out" in tiny and TINY_PROGRAM.rstrip() in tiny


def test_replay_reproduces_the_same_proposals_without_a_server(client_for, tmp_path: Path) -> None:
    diffs = iter([rate_limited(), GOOD, OUTSIDE, diff_reply("Y = 2", "Y = 3", "tweak Y")] + [GOOD, OUTSIDE] * 10)
    rewrites = iter(rewrite_reply(TINY_PROGRAM.replace("Y = 2", f"Y = {i}"), f"Y={i}") for i in range(10))

    def reply_fn(body: dict) -> str | Reply:
        wants_program = "PROGRAM:" in body["messages"][-1]["content"]
        return next(rewrites) if wants_program else next(diffs)

    contexts = [ctx(f"0:g3.{i}", (INSPIRATION,)) for i in range(8)]
    with FakeOpenAIServer(reply_fn=reply_fn) as server:
        recorded = [mixed(client_for(server)).propose(c) for c in contexts]
        spec = ModelSpec("fake-model", base_url=server.base_url)
    assert len({p.edit for p in recorded}) >= 3 and {p.mode for p in recorded} == {"diff", "rewrite"}
    replay = LLMClient([spec], CallLedger(tmp_path / "replay.db"), replay_from=CallLedger(tmp_path / "run.db"))
    assert [mixed(replay).propose(c) for c in contexts] == recorded
    with pytest.raises(ProposalError, match="replay: no recorded researcher call"):
        mixed(replay).propose(ctx("0:g9.9"))


def test_a_spent_budget_stops_the_researcher(client_for) -> None:
    with FakeOpenAIServer([Reply(GOOD, prompt_tokens=10, completion_tokens=10)]) as server:
        researcher = diff_only(client_for(server, max_tokens=15))
        researcher.propose(ctx())
        with pytest.raises(BudgetExceeded):
            researcher.propose(ctx("other"))
