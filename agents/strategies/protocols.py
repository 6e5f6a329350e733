"""Interfaces of the Researcher and Analyzer strategies, and the records they exchange.

The graph nodes call these protocols; the offline implementations live in `agents.strategies.researcher_offline` and
`agents.strategies.analyzer_offline`, model-driven ones plug in through the same protocols.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from knowledge.records import Node, Provenance


@dataclass(frozen=True)
class Proposal:
    """What a Researcher proposes: a named, motivated edit of the parent program.

    `edit` holds SEARCH/REPLACE blocks when `mode == "diff"`, or the whole new program when `mode == "rewrite"`.
    `notes` say what the reader of a model's reply had to supply itself (a derived name, a missing motivation).
    `program` is what the edit yields from the parent when the strategy applied it already (checking it applies),
    so the Engineer does not apply it a second time; '' when it did not. `provenance` is where the idea came
    from, as the strategy declares it (the node stores it; the report's design-source shares count it).
    """

    name: str
    motivation: str
    edit: str
    mode: Literal["diff", "rewrite"] = "diff"
    notes: tuple[str, ...] = ()
    program: str = ""
    provenance: Provenance = field(default_factory=lambda: Provenance("undeclared"))


@dataclass(frozen=True)
class ResearchContext:
    """Everything a Researcher may read to design one candidate.

    `insights` are the retrieved cognition items (priors and distilled lessons), `insight_ids` their ids in the
    same order (what a proposal may cite as its source); `feedback` says why earlier
    proposals of this trial were sent back (e.g. too similar to an existing node); `trial_key` names the
    candidate being designed (a model ensemble keeps one model per candidate).
    """

    task_name: str
    task_description: str
    parent: Node
    inspirations: tuple[Node, ...] = ()
    insights: tuple[str, ...] = ()
    seed: str = "0"
    feedback: tuple[str, ...] = ()
    trial_key: str = ""
    insight_ids: tuple[int, ...] = ()


class Researcher(Protocol):
    def propose(self, ctx: ResearchContext) -> Proposal: ...


@dataclass(frozen=True)
class Outcome:
    """What happened to one candidate, as the Analyzer sees it."""

    proposal: Proposal
    status: str
    score: float | None
    metrics: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    stderr_tail: str = ""
    parent: Node | None = None
    best: Node | None = None
    trial_key: str = ""


@dataclass(frozen=True)
class Analysis:
    """The Analyzer's report and the reusable insights it distilled."""

    text: str
    insights: tuple[str, ...] = ()


class Analyzer(Protocol):
    def analyze(self, outcome: Outcome) -> Analysis: ...
