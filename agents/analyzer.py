"""Analyzer node: distills the trial's outcome into an analysis and stores the node.

Storing is idempotent on the trial key, so a trial re-run after a crash never duplicates a node. Every outcome —
including unappliable edits, failed proposals and vetoes — becomes a stored node with its status and reason.
"""

from __future__ import annotations

import json
import time

from langgraph.runtime import Runtime

from agents.base import Analysis, Outcome, Proposal
from agents.researcher import one_line
from graph.context import Context
from graph.services import ServiceProvider, Services
from graph.state import TrialOutcome, TrialState
from knowledge.records import Node, NodeDraft
from tools.results import EvalResult


def _outcome_of(node: Node) -> TrialOutcome:
    return TrialOutcome(node.trial_key, node.generation, node.id, node.status, node.score, node.error)


def _with_insights(analysis: Analysis) -> str:
    if not analysis.insights:
        return analysis.text
    return analysis.text + "\n\nInsights:\n" + "\n".join(f"- {i}" for i in analysis.insights)


def _write_node_files(services: Services, key: str, node: Node, result: EvalResult | None) -> None:
    folder = services.node_dir(key)
    (folder / "analysis.md").write_text(node.analysis)
    if result is not None:
        (folder / "stdout.txt").write_text(result.stdout_tail)
        (folder / "stderr.txt").write_text(result.stderr_tail)
    summary = {"id": node.id, "status": node.status, "score": node.score, "metrics": node.metrics,
               "error": node.error, "timings": node.timings}
    (folder / "result.json").write_text(json.dumps(summary, indent=2, sort_keys=True))


def make_analyzer_node(provider: ServiceProvider):
    def analyzer(state: TrialState, runtime: Runtime[Context]) -> dict:
        services = provider(runtime.context)
        spec = state["spec"]
        db = services.db
        stored = db.get_by_trial_key(spec.key)
        if stored is not None:
            return {"outcomes": [_outcome_of(stored)]}

        proposal = state.get("proposal") or Proposal(name="(no proposal)", motivation="", edit="")
        verdict = state.get("verdict")
        result = state.get("result")
        if verdict is not None:
            status, score, metrics, error, stderr = verdict.status, None, {}, verdict.reason, ""
        elif result is not None:
            status, score, metrics = result.status, result.score, result.metrics
            error, stderr = result.error, result.stderr_tail
        else:
            status, score, metrics, error, stderr = "failed", None, {}, "the experiment produced no result", ""

        outcome = Outcome(
            proposal=proposal,
            status=status,
            score=score,
            metrics=metrics,
            error=error,
            stderr_tail=stderr,
            parent=db.get(spec.parent_id) if spec.parent_id is not None else None,
            best=db.get(spec.best_id) if spec.best_id is not None else None,
        )
        started = time.perf_counter()
        try:
            analysis = services.analyzer.analyze(outcome)
        except Exception as exc:  # the node is stored even when its analysis fails
            analysis = Analysis(text=one_line(f"analysis failed: {type(exc).__name__}: {exc}"))
        timings = {**state.get("timings", {}), "analyze_s": time.perf_counter() - started}

        parent_ids = () if spec.parent_id is None else (spec.parent_id, *spec.inspiration_ids)
        node = db.add(
            NodeDraft(
                trial_key=spec.key,
                generation=spec.generation,
                parent_ids=parent_ids,
                name=proposal.name,
                motivation=proposal.motivation,
                program=state.get("program") or "",
                edit="" if spec.parent_id is None else proposal.edit,
                metrics=metrics,
                score=score if status == "ok" else None,
                analysis=_with_insights(analysis),
                status=status,  # type: ignore[arg-type]
                error=error,
                timings=timings,
            )
        )
        _write_node_files(services, spec.key, node, result)
        return {"outcomes": [_outcome_of(node)]}

    return analyzer
