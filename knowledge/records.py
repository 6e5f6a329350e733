"""Frozen records for the node database: one `Node` per evaluated (or rejected) candidate."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Literal

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


@dataclass(frozen=True)
class Node(NodeDraft):
    """A stored node. `visits` counts how often it was sampled as a parent of a stored child."""

    id: int = 0
    created_at: float = field(default_factory=time.time)
    visits: int = 0
