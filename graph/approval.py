"""Human in the loop: with `approve` set, each evolved candidate waits for a person before its experiment runs.

The trial's `approval` node sits between the Engineer (the candidate is built, checked and claimed) and the launch
tool node. It raises a LangGraph interrupt whose value shows what would run (trial, parent, proposal name and
motivation, program and its diff against the parent); the answer approves it, replaces its program (checked like
any proposal's: harness unchanged, compiles) or skips it, which stores it as a `vetoed` node. An edit that fails
the check is asked about again with the reason, so a bad answer never costs the trial.

Why the node is `guarded` (`graph.trial`): a trial paused here gives up its turns in slot order, so the other
trials of its generation are never left waiting for it and all of a generation's questions surface together. A
generation a person answered may therefore store its nodes out of slot order; runs nobody edits keep theirs.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any, Literal

from langchain_core.messages import AIMessage
from langgraph.runtime import Runtime
from langgraph.types import interrupt

from agents.engineer import CandidateError, build_candidate, launch
from agents.strategies.protocols import Proposal
from graph.context import Context
from graph.services import ServiceProvider, Services
from graph.state import TrialState, Verdict

KIND = "approval"
SKIPPED = "skipped at approval"
ANSWERS = ("'approve', 'skip', {'action': 'skip', 'reason': '...'} or {'action': 'edit', 'program': '<the whole "
           "program>'}")
Action = Literal["approve", "edit", "skip"]
ALIASES: dict[str, Action] = {"a": "approve", "approve": "approve", "e": "edit", "edit": "edit", "s": "skip",
                               "skip": "skip"}


@dataclass(frozen=True)
class Answer:
    """A person's answer to an approval request: approve it, run `program` instead (edit), or skip it."""

    action: Action
    program: str = ""
    reason: str = ""

    @classmethod
    def read(cls, value: Any) -> Answer:
        """Read a resume value: 'approve' / 'skip' (or a, s), or a dict with `action` and `program` / `reason`."""
        if isinstance(value, str):
            value = {"action": value}
        if not isinstance(value, dict):
            raise ValueError(f"an answer is {ANSWERS}, not {type(value).__name__}")
        action = ALIASES.get(str(value.get("action", "")).strip().lower())
        if action is None:
            raise ValueError(f"unknown action {value.get('action')!r}: answer {ANSWERS}")
        program = value.get("program") or ""
        if action == "edit" and not (isinstance(program, str) and program.strip()):
            raise ValueError("an edit needs the whole new program in 'program'")
        return cls(action, program if action == "edit" else "", str(value.get("reason") or "").strip())

    def to_value(self) -> dict[str, str]:
        """The resume value that carries this answer (plain data, as checkpoints and Studio want it)."""
        value = {"action": self.action}
        if self.program:
            value["program"] = self.program
        if self.reason:
            value["reason"] = self.reason
        return value


def unified_diff(before: str, after: str, parent_id: int | None) -> str:
    """The candidate against its parent's program, as `diff -u` shows it."""
    label = f"node {parent_id}" if parent_id is not None else "initial program"
    lines = difflib.unified_diff(before.splitlines(keepends=True), after.splitlines(keepends=True),
                                 fromfile=label, tofile="candidate")
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def request(state: TrialState, base: str, program: str, error: str = "") -> dict[str, Any]:
    """The interrupt's value: everything a person needs to decide (plain data)."""
    spec, proposal = state["spec"], state.get("proposal") or Proposal("(no proposal)", "", "")
    value: dict[str, Any] = {
        "kind": KIND, "trial": spec.key, "generation": spec.generation, "parent_id": spec.parent_id,
        "name": proposal.name, "motivation": proposal.motivation, "diff": unified_diff(base, program, spec.parent_id),
        "program": program, "answers": ANSWERS,
    }
    if error:
        value["error"] = error
    return value


def checked_edit(base: str, program: str) -> str:
    """An edited program, built and checked exactly like a proposal's whole program; `CandidateError` says why not."""
    return build_candidate(base, Proposal(name="edited at approval", motivation="", edit=program, mode="rewrite"))


def needs_approval(state: TrialState, context: Context) -> bool:
    """Whether the Engineer's pending launch waits for a person: the first launch of an evolved candidate, with
    `approve` on. The initial program's evaluation and model repairs of an approved candidate are not asked."""
    return context.approve and state["spec"].parent_id is not None and not state.get("attempts")


def _base_program(services: Services, state: TrialState) -> str:
    parent_id = state["spec"].parent_id
    if parent_id is None:
        return services.task.initial_program.read_text()
    parent = services.db.get(parent_id)
    return parent.program if parent is not None else ""


def make_approval_node(provider: ServiceProvider):
    def approval(state: TrialState, runtime: Runtime[Context]) -> dict:
        services = provider(runtime.context)
        base, program = _base_program(services, state), state.get("program") or ""
        error = ""
        while True:  # each pass is one more interrupt of this node; a resumed node replays the earlier answers
            try:
                answer = Answer.read(interrupt(request(state, base, program, error)))
                if answer.action != "edit":
                    break
                edited = checked_edit(base, answer.program)
            except (ValueError, CandidateError) as exc:  # CandidateError is a ValueError: both re-ask
                error = f"answer refused: {exc}"
                continue
            return replace_program(services, state, edited)
        if answer.action == "skip":
            reason = SKIPPED + (f": {answer.reason}" if answer.reason else "")
            return {"verdict": Verdict("vetoed", reason)}
        return {}

    return approval


def replace_program(services: Services, state: TrialState, program: str) -> dict:
    """Run `program` instead: rewrite the candidate file and replace the pending launch (same message id)."""
    key = state["spec"].key
    pending: AIMessage = state["messages"][-1]
    message = launch(services, key, program, attempt=0).model_copy(update={"id": pending.id})
    note = "approval: a person edited the program before it ran (the edit field is the Researcher's proposal)"
    return {"program": program, "messages": [message], "notes": [*(state.get("notes") or []), note]}


def route_approval(state: TrialState) -> Literal["launch", "skip"]:
    """After the approval: launch, or (skipped) go on to the Analyzer, which stores the vetoed node."""
    return "skip" if state.get("verdict") is not None else "launch"
