"""Analyzer node: distills the trial's outcome into an analysis (`analyze`) and stores the node (`record`).

`analyze` runs fully in parallel across a generation's trials (the judge's rating, the analysis); `record` takes
the trial's turn in slot order and does what must not depend on which trial finished first: blending the judge's
rating against the run's best, storing the node, writing its files and insights, rewarding its model.

Storing is idempotent on the trial key, so a trial re-run after a crash never duplicates a node. Every outcome —
including unappliable edits, failed proposals and vetoes — becomes a stored node with its status and reason.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

from langgraph.runtime import Runtime

from agents.models.errors import one_line
from agents.models.prompting import scalar_metrics
from agents.strategies.protocols import Analysis, Outcome, Proposal
from graph.context import Context
from graph.services import ServiceProvider, Services
from graph.state import TrialOutcome, TrialState
from knowledge.records import Node, NodeDraft, Provenance
from tools.results import EvalResult


def _outcome_of(node: Node) -> TrialOutcome:
    return TrialOutcome(node.trial_key, node.generation, node.id, node.status, node.score, node.error)


def raw_log(outcome: Outcome, stdout: str) -> Analysis:
    """What the Researcher reads when the Analyzer is switched off (ablation): the raw facts and logs."""
    metrics = json.dumps(scalar_metrics(outcome.metrics), sort_keys=True)  # prompts show scalars only
    parts = [f"status {outcome.status}, score {outcome.score}", f"metrics: {metrics}"]
    if outcome.error:
        parts.append(f"error: {outcome.error}")
    if stdout.strip():
        parts.append("stdout:\n" + stdout.rstrip())
    if outcome.stderr_tail.strip():
        parts.append("stderr:\n" + outcome.stderr_tail.rstrip())
    return Analysis(text="\n".join(parts))


def blend_judge(services: Services, rating: float, score: float, metrics: dict, parent: Node | None):
    """Blend the judge's normalised rating into the metric score: (score, metrics).

    The rating is mapped onto the range the run's scores span (parent to best, this node included), so the judge
    moves a score by at most `weight` times that range. Called in the trial's store turn: the best node it sees
    does not depend on which parallel trial finished first.
    """
    best = services.db.best()
    scores = [score] + [n.score for n in (parent, best) if n is not None and n.score is not None]
    blended = services.judge.blend(score, rating, (min(scores), max(scores)))  # type: ignore[union-attr]
    return blended, {**metrics, "metric_score": score, "judge_score": rating}


def write_back(services: Services, node: Node) -> None:
    """The node's insights become cognition items (origin analyzer) of the run's base and, when shared, of the
    task's standing base; near-duplicates are skipped."""
    if services.cognition is None or not node.insights:
        return
    tags, threshold = ("insight", services.task.name), services.context.dedup_threshold
    for insight in node.insights:
        services.cognition.add(insight, source=f"node {node.id}", tags=tags, origin="analyzer", node_id=node.id,
                               dedup_threshold=threshold)
        if services.shared is not None:
            services.shared.add(insight, source=f"{services.run_dir.name} node {node.id}", tags=tags,
                                origin="analyzer", dedup_threshold=threshold)


def _write_node_files(services: Services, key: str, node: Node, result: EvalResult | None) -> None:
    folder = services.node_dir(key)
    (folder / "analysis.md").write_text(node.analysis)
    if result is not None:
        (folder / "stdout.txt").write_text(result.stdout_tail)
        (folder / "stderr.txt").write_text(result.stderr_tail)
    summary = {"id": node.id, "status": node.status, "score": node.score, "metrics": node.metrics,
               "error": node.error, "timings": node.timings}
    (folder / "result.json").write_text(json.dumps(summary, indent=2, sort_keys=True))


@dataclass(frozen=True)
class Report:
    """What `analyze` found: the outcome as measured, the judge's rating (None: no judge) and the analysis."""

    outcome: Outcome
    analysis: Analysis
    rating: float | None
    notes: tuple[str, ...]
    timings: dict[str, float]


def make_analyzer_node(provider: ServiceProvider):
    def analyzer(state: TrialState, runtime: Runtime[Context]) -> dict:
        services = provider(runtime.context)
        spec = state["spec"]
        try:
            stored = services.db.get_by_trial_key(spec.key)
            if stored is not None:  # a re-run after a crash: finish what the first run may not have
                write_back(services, stored)
                return {"outcomes": [_outcome_of(stored)]}
            node = record(services, state, analyze(services, state))
            return {"outcomes": [_outcome_of(node)]}
        finally:
            if services.order is not None:
                services.order.pass_turn(spec.key)

    return analyzer


def analyze(services: Services, state: TrialState) -> Report:
    """Read the trial's outcome, have the judge rate a scored program, and write the analysis (fully parallel)."""
    spec = state["spec"]
    db = services.db
    proposal = state.get("proposal") or Proposal(name="(no proposal)", motivation="", edit="",
                                                 provenance=Provenance("none", declared_by="no proposal"))
    verdict = state.get("verdict")
    result = state.get("result")
    if verdict is not None:
        status, score, metrics, error, stderr = verdict.status, None, {}, verdict.reason, ""
    elif result is not None:
        status, score, metrics = result.status, result.score, result.metrics
        error, stderr = result.error, result.stderr_tail
    else:
        status, score, metrics, error, stderr = "failed", None, {}, "the experiment produced no result", ""

    notes = [*proposal.notes, *(state.get("notes") or ())]
    rating = None
    if status == "ok" and score is not None and services.judge is not None:
        rating, reason = services.judge.rate(state.get("program") or "", metrics, services.task.description,
                                             key=f"{spec.key}:judge", candidate=spec.key)
        if rating is None:
            metrics = {**metrics, "metric_score": score}
            notes.append(one_line(f"judge failed, metric score kept: {reason}"))
    outcome = Outcome(
        proposal=proposal,
        status=status,
        score=score,
        metrics=metrics,
        error=error,
        stderr_tail=stderr,
        parent=db.get(spec.parent_id) if spec.parent_id is not None else None,
        best=db.get(spec.best_id) if spec.best_id is not None else None,
        trial_key=spec.key,
    )
    started = time.perf_counter()
    if not services.context.use_analyzer:
        analysis = raw_log(outcome, result.stdout_tail if result else "")
    else:
        try:
            analysis = services.analyzer.analyze(outcome)
        except Exception as exc:  # the node is stored even when its analysis fails
            analysis = Analysis(text=one_line(f"analysis failed: {type(exc).__name__}: {exc}"))
    timings = {**state.get("timings", {}), "analyze_s": time.perf_counter() - started}
    return Report(outcome, analysis, rating, tuple(notes), timings)


def record(services: Services, state: TrialState, report: Report) -> Node:
    """Store the node in slot order (so ids follow the trial keys): blend the judge's rating into its score, write
    its files, give its insights to the cognition base, and reward the model that proposed it."""
    spec, outcome = state["spec"], report.outcome
    proposal, parent, score, metrics = outcome.proposal, outcome.parent, outcome.score, outcome.metrics
    if services.order is not None:
        services.order.wait_turn(spec.key, "store")
    if report.rating is not None and score is not None:
        score, metrics = blend_judge(services, report.rating, score, metrics, parent)
    node = services.db.add(
        NodeDraft(
            trial_key=spec.key,
            generation=spec.generation,
            parent_ids=() if spec.parent_id is None else (spec.parent_id, *spec.inspiration_ids),
            name=proposal.name,
            motivation=proposal.motivation,
            program=state.get("program") or "",
            edit="" if spec.parent_id is None else proposal.edit,
            metrics=metrics,
            score=score if outcome.status == "ok" else None,
            analysis=report.analysis.text,
            status=outcome.status,  # type: ignore[arg-type]
            error=outcome.error,
            timings=report.timings,
            island=spec.island,
            cognition_ids=spec.cognition_ids,
            novelty_rejections=state.get("novelty_rejections", 0),
            insights=tuple(report.analysis.insights),
            attempts=tuple(state.get("attempts") or ()),
            notes=report.notes,
            provenance=proposal.provenance,
        )
    )
    _write_node_files(services, spec.key, node, state.get("result"))
    write_back(services, node)
    if services.llm is not None and parent is not None and parent.score is not None:
        gain = max(0.0, (node.score if node.score is not None else parent.score) - parent.score)
        services.llm.reward_candidate(spec.key, gain)
    return node
