"""LLM judge: a model's rating of a program, blended into the measured score.

Why blend on the metric's own scale: the evaluator's `combined_score` can be any range (a sum of radii near 2.6,
a negative loss, a throughput in tokens/s). The judge's rating is normalised to [0, 1] and mapped onto a reference
range the caller gives — typically (worst, best) score among the run's scored nodes — so a weight of 0.3 moves
the score by at most 30% of that range. A failed judge is NEUTRAL: the metric score is returned unchanged,
never pulled towards zero.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from langchain_core.messages import HumanMessage

from agents.models.client import LLMClient
from agents.models.prompting import PromptTemplates, fence, judge_metrics
from agents.models.replies import parse_judge_score

ROLE = "judge"


class LLMJudge:
    """Rates programs on `scale` and blends the rating with the metric score with weight `weight`."""

    def __init__(
        self,
        client: LLMClient,
        scale: tuple[float, float] = (1, 10),
        weight: float = 0.3,
        *,
        templates: PromptTemplates | None = None,
    ) -> None:
        low, high = scale
        if not high > low:
            raise ValueError(f"judge scale must be (low, high) with high > low, got {scale}")
        if not 0.0 <= weight <= 1.0:
            raise ValueError(f"judge weight must be within [0, 1], got {weight}")
        self.client = client
        self.scale = (float(low), float(high))
        self.weight = float(weight)
        self.templates = templates or PromptTemplates()

    def rate(
        self, program: str, metrics: Mapping[str, Any], task_description: str, key: str, candidate: str = ""
    ) -> tuple[float | None, str]:
        """(normalised rating, '') or (None, one-line reason it failed)."""
        low, high = self.scale
        prompt = self.templates.render(
            "judge",
            task_description=task_description.strip(),
            program=fence(program),
            metrics=json.dumps(judge_metrics(metrics), sort_keys=True, default=str),
            low=f"{low:g}",
            high=f"{high:g}",
        )
        try:
            reply = self.client.complete(ROLE, [HumanMessage(prompt)], key=key, candidate=candidate or None)
            if reply.truncated:
                raise ValueError("the judge's reply was truncated (finish_reason=length)")
            return parse_judge_score(reply.text, low, high), ""
        except Exception as exc:  # a judge failure must not fail (or zero) the candidate
            return None, " ".join(f"{type(exc).__name__}: {exc}".split())

    def blend(self, metric_score: float, judge_score: float | None, reference: tuple[float, float]) -> float:
        """(1 - weight) * metric + weight * (lo + judge * (hi - lo)), with (lo, hi) = `reference`.

        `judge_score` is the normalised rating from `judge`; `reference` is the score range the rating maps onto,
        e.g. (worst, best) scored node so far (with one scored node, (score, score) makes the blend a no-op).
        A None judge score, or a non-finite metric, returns `metric_score` unchanged.
        """
        if judge_score is None or not math.isfinite(metric_score):
            return metric_score
        lo, hi = reference
        if not (math.isfinite(lo) and math.isfinite(hi)) or hi < lo:
            raise ValueError(f"blend reference must be a finite (low, high) range, got {reference}")
        judged = lo + min(max(judge_score, 0.0), 1.0) * (hi - lo)
        return (1.0 - self.weight) * metric_score + self.weight * judged
