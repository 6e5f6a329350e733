"""Crash repair: the model sees the crashed program and its traceback and proposes a fix.

Why a Proposal: the fix travels the same path as any edit — `agents.engineer.build_candidate(crashed_program,
proposal)` applies and checks it — so a repair can never touch the harness either.
"""

from __future__ import annotations

from dataclasses import replace

from langchain_core.messages import HumanMessage

from agents.models.client import LLMClient, ask
from agents.models.errors import EditProblem, ProposalError
from agents.models.prompting import PromptTemplates, fence
from agents.models.replies import parse_proposal
from agents.strategies.protocols import Proposal
from tools.edits import EditError, apply_edits

ROLE = "repair"


class LLMRepairer:
    """Asks the model to fix a crashed program (SEARCH/REPLACE blocks or the whole program)."""

    def __init__(self, client: LLMClient, *, templates: PromptTemplates | None = None) -> None:
        self.client = client
        self.templates = templates or PromptTemplates()

    def repair(self, program: str, error: str, stderr_tail: str, key: str, candidate: str = "") -> Proposal:
        """A fix of `program`; a diff fix is checked to apply. Raises ProposalError (BudgetExceeded passes)."""
        prompt = self.templates.render(
            "repair",
            program=fence(program),
            error=error.strip() or "(no error message)",
            stderr_tail=fence(stderr_tail, "") if stderr_tail.strip() else "(empty)",
        )
        reply = ask(self.client, ROLE, [HumanMessage(prompt)], key, candidate)
        try:
            proposal = parse_proposal(reply.text, "any", parent=program)
        except EditProblem as exc:
            raise ProposalError(f"repair reply unusable: {exc}") from None
        if proposal.mode == "diff":
            try:
                proposal = replace(proposal, program=apply_edits(program, proposal.edit))
            except EditError as exc:
                raise ProposalError(f"repair edit does not apply: {exc}") from None
        return proposal
