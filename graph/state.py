"""Typed state of the loop graph and of the trial subgraph.

State stays small: ids, the current candidate and the last result. History lives in the node database, so the
checkpoint written per step does not grow with the run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from langchain_core.messages import AnyMessage
from langgraph.graph.message import add_messages
from typing_extensions import TypedDict  # pydantic (Studio's schemas) needs it on Python < 3.12

from agents.strategies.protocols import Proposal
from graph.budget import LoopInput
from tools.results import EvalResult


@dataclass(frozen=True)
class TrialSpec:
    """One trial the Learner hands to the trial subgraph. `parent_id` None means: evaluate the initial program."""

    key: str
    generation: int
    parent_id: int | None
    inspiration_ids: tuple[int, ...] = ()
    best_id: int | None = None
    island: int | None = None
    cognition_ids: tuple[int, ...] = ()


@dataclass(frozen=True)
class TrialOutcome:
    """What one trial left behind: the stored node and how it went."""

    key: str
    generation: int
    node_id: int
    status: str
    score: float | None
    error: str = ""


@dataclass(frozen=True)
class Verdict:
    """A trial stopped before its experiment ran (unappliable edit, failed proposal, veto) and why."""

    status: str
    reason: str


def latest_generation(old: list[TrialOutcome] | None, new: list[TrialOutcome] | None) -> list[TrialOutcome]:
    """Reducer that keeps only outcomes of the newest generation, so the list never grows across generations."""
    merged = [*(old or []), *(new or [])]
    if not merged:
        return []
    newest = max(o.generation for o in merged)
    seen: dict[str, TrialOutcome] = {}
    for outcome in merged:
        if outcome.generation == newest:
            seen[outcome.key] = outcome
    return sorted(seen.values(), key=lambda o: o.key)


def merge_dicts(old: dict[str, Any] | None, new: dict[str, Any] | None) -> dict[str, Any]:
    return {**(old or {}), **(new or {})}


class LoopOutput(TypedDict, total=False):
    """What an invocation returns: how far the run got, its best node and why it stopped."""

    max_steps: int
    steps: int
    generation: int
    best_node_id: int | None
    best_score: float | None
    last: TrialOutcome | None
    stop_reason: str | None


class LoopState(LoopInput, LoopOutput, total=False):
    """State of the outer loop: the budget, counters, the best node and the last generation's outcomes."""

    started_at: float
    steps_before: int  # steps counted when the Learner planned the current generation
    lane_step: int  # an asynchronous lane's own count of the trials it planned (its tickets' owners)
    outcomes: Annotated[list[TrialOutcome], latest_generation]


class TrialState(TypedDict, total=False):
    """State of one trial (Researcher -> Engineer <-> launch tools -> Analyzer)."""

    spec: TrialSpec
    proposal: Proposal | None
    program: str | None
    verdict: Verdict | None
    messages: Annotated[list[AnyMessage], add_messages]
    result: EvalResult | None
    timings: Annotated[dict[str, float], merge_dicts]
    novelty_rejections: int
    feedback: list[str]
    sent_back: bool
    attempts: list[dict[str, Any]]
    notes: list[str]
    outcomes: Annotated[list[TrialOutcome], latest_generation]


TRIAL_DEFAULTS: dict[str, Any] = {
    "proposal": None, "program": None, "verdict": None, "messages": [], "result": None, "timings": {},
    "novelty_rejections": 0, "feedback": [], "sent_back": False, "attempts": [], "notes": [], "outcomes": [],
}


class TrialInput(TypedDict):
    spec: TrialSpec


class TrialOutput(TypedDict):
    outcomes: Annotated[list[TrialOutcome], latest_generation]
