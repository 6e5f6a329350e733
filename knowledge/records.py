"""Frozen records for the node database: one `Node` per evaluated (or rejected) candidate."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Literal

SOURCES: tuple[str, ...] = ("cognition", "experience", "novel")  # where a design idea can come from


@dataclass(frozen=True)
class Provenance:
    """Where a node's design idea came from, recorded by the Researcher when it proposed it (never guessed later).

    Attributes:
        source: "cognition" (it builds on a cognition item it was shown), "experience" (on a node it was shown:
            the parent's or an inspiration's result and analysis), "novel" (on neither), "baseline" (the task's
            initial program), "undeclared" (a model that did not say), "unrecorded" (stored before provenance
            was recorded). A proposal citing both a cognition item and a node counts as "cognition".
        cognition_ids: the cognition items it cites (only items it was shown).
        node_ids: the nodes it cites (only its parent and inspirations).
        declared_by: who said so: "model" or the offline mutation kind ("offline crossover", ...).
    """

    source: str = "unrecorded"
    cognition_ids: tuple[int, ...] = ()
    node_ids: tuple[int, ...] = ()
    declared_by: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "cognition_ids": list(self.cognition_ids), "node_ids": list(self.node_ids),
                "declared_by": self.declared_by}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Provenance:
        data = data or {}
        return cls(source=str(data.get("source", "unrecorded")),
                   cognition_ids=tuple(int(i) for i in data.get("cognition_ids", ())),
                   node_ids=tuple(int(i) for i in data.get("node_ids", ())),
                   declared_by=str(data.get("declared_by", "")))


NodeStatus = Literal["ok", "failed", "timeout", "invalid", "unappliable", "vetoed", "duplicate"]
NODE_STATUSES: tuple[str, ...] = ("ok", "failed", "timeout", "invalid", "unappliable", "vetoed", "duplicate")


@dataclass(frozen=True)
class NodeDraft:
    """A node before it is stored. `trial_key` makes storing idempotent across crash/resume.

    Attributes:
        trial_key: unique key of the trial that produced it (e.g. "g0003.1"); storing twice is a no-op.
        generation: loop generation (0 = the initial program).
        parent_ids: ids of the parents; the first one is the sampled parent whose visit count rises.
        name, motivation: what the Researcher said it is and why.
        program: full program text that was (or would have been) evaluated.
        edit: the edit text applied to the parent ('' for the initial program).
        metrics: evaluator metrics (JSON-able).
        score: `combined_score` for status "ok", else None.
        analysis: the Analyzer's report.
        status: ok / failed / timeout / invalid / unappliable / vetoed / duplicate (a program the run already
            evaluated, stored without running it again).
        error: one-line reason when status is not ok.
        timings: seconds per phase, e.g. {"propose_s": .., "eval_s": ..}.
        island: the island the node belongs to (island sampler), else None.
        cognition_ids: ids of the cognition items retrieved into its Researcher prompt (provenance).
        novelty_rejections: proposals sent back to the Researcher as too similar to existing nodes.
        insights: reusable lessons the Analyzer distilled (they also go to the cognition base).
        attempts: earlier runs of this trial that the Engineer repaired: [{"status", "error", "program"}, ...].
        notes: what happened on the way that is worth knowing but is no error: a name the reply did not give, a
            judge call that failed, an extra node that raised after the node was stored.
        provenance: where the design idea came from, as the Researcher declared it (see `Provenance`).
    """

    trial_key: str
    generation: int
    parent_ids: tuple[int, ...]
    name: str
    motivation: str
    program: str
    edit: str
    metrics: dict[str, Any]
    score: float | None
    analysis: str
    status: NodeStatus
    error: str = ""
    timings: dict[str, float] = field(default_factory=dict)
    island: int | None = None
    cognition_ids: tuple[int, ...] = ()
    novelty_rejections: int = 0
    insights: tuple[str, ...] = ()
    attempts: tuple[dict[str, Any], ...] = ()
    notes: tuple[str, ...] = ()
    provenance: Provenance = field(default_factory=Provenance)


@dataclass(frozen=True)
class Node(NodeDraft):
    """A stored node. `visits` counts how often it was sampled as a parent of a stored child."""

    id: int = 0
    created_at: float = field(default_factory=time.time)
    visits: int = 0
