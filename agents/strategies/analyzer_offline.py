"""Offline Analyzer: a factual report of an outcome — score deltas, failure class, the stderr tail.

Why: without a model the loop still needs analyses the next Researcher (and a human) can read; this one states
only facts it can compute.
"""

from __future__ import annotations

from agents.strategies.protocols import Analysis, Outcome


class OfflineAnalyzer:
    """Writes a factual report of an outcome and, when the candidate beat its parent, one reusable insight."""

    def analyze(self, outcome: Outcome) -> Analysis:
        proposal = outcome.proposal
        score = "n/a" if outcome.score is None else f"{outcome.score:.6g}"
        report = [f"{proposal.name}: status {outcome.status}, score {score}"]
        deltas = [
            f"{outcome.score - ref.score:+.6g} vs {label} (node {ref.id})"
            for label, ref in (("parent", outcome.parent), ("best", outcome.best))
            if outcome.score is not None and ref is not None and ref.score is not None
        ]
        if deltas:
            report.append(", ".join(deltas))
        metrics = [
            f"{key}={value:.6g}" for key, value in sorted(outcome.metrics.items())
            if key != "combined_score" and isinstance(value, int | float) and not isinstance(value, bool)
        ]
        if metrics:
            report.append("metrics: " + ", ".join(metrics))
        if outcome.status != "ok":
            report.append(f"failure: {outcome.status}" + (f": {outcome.error}" if outcome.error else ""))
            tail = [line for line in outcome.stderr_tail.splitlines() if line.strip()][-5:]
            if tail:
                report.append("stderr (last lines):")
                report.extend("  " + line for line in tail)
        insights: tuple[str, ...] = ()
        parent = outcome.parent
        scored = outcome.status == "ok" and outcome.score is not None
        if scored and parent is not None and parent.score is not None and outcome.score > parent.score:
            motivation = proposal.motivation.strip().rstrip(".")
            what = f"{proposal.name}: {motivation};" if motivation else proposal.name
            gain = outcome.score - parent.score
            insights = (f"{what} improved score by {gain:.6g} over node {parent.id}",)
        return Analysis(text="\n".join(report), insights=insights)
