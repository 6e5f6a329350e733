"""The record an experiment returns, shared by the launcher tools and the Engineer."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

EvalStatus = Literal["ok", "failed", "timeout", "invalid"]


@dataclass(frozen=True)
class EvalResult:
    """Outcome of evaluating one program.

    Attributes:
        status: ok (valid, scored), failed (crash/exception), timeout (killed at the wall-clock limit),
            invalid (ran, but the evaluator rejected the result or no finite `combined_score`).
        score: `combined_score` when status is ok, else None.
        metrics: every metric the evaluator returned (JSON-able).
        error: one-line reason when status is not ok.
        stdout_tail / stderr_tail: the captured output, tail kept when capped.
        duration_s: wall-clock seconds of the evaluation.
        stage: 1 when the cascade stopped after `evaluate_stage1`, else 2.
        notes: what happened to the experiment itself that the node should keep (a lost Ray worker, retried).
    """

    status: EvalStatus
    score: float | None
    metrics: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    stdout_tail: str = ""
    stderr_tail: str = ""
    duration_s: float = 0.0
    stage: int = 2
    notes: tuple[str, ...] = ()

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> EvalResult:
        values = json.loads(text)
        values["notes"] = tuple(values.get("notes", ()))
        return cls(**values)
