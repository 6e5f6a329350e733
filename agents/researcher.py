"""Researcher node: turns the trial's parent and inspirations into a `Proposal` through the run's strategy.

The first trial proposes the task's initial program unchanged, so the baseline goes through the same
Engineer/launch/Analyzer path as every candidate. A strategy that raises becomes a failed proposal, stored like
any other outcome.
"""

from __future__ import annotations

import time

from langgraph.runtime import Runtime

from agents.models.errors import BudgetExceeded, one_line
from agents.strategies.protocols import Proposal, ResearchContext
from graph.context import Context
from graph.services import ServiceProvider, Services
from graph.state import TrialState, Verdict
from knowledge.records import Provenance


def research_seed(services: Services, key: str, rejections: int = 0) -> str:
    """The seed (and model-call key) of a trial's proposal; a proposal sent back for novelty gets a new one."""
    return f"{services.context.seed}:{key}" + (f":retry{rejections}" if rejections else "")


def cognition_items(services: Services, ids: tuple[int, ...]) -> tuple[tuple[str, ...], tuple[int, ...]]:
    """The retrieved cognition items as the Researcher reads them (content with its source), and their ids."""
    if not ids or services.cognition is None:
        return (), ()
    items = services.cognition.get(list(ids))
    return tuple(f"{item.content} (source: {item.source})" for item in items), tuple(item.id for item in items)


def make_researcher_node(provider: ServiceProvider):
    def researcher(state: TrialState, runtime: Runtime[Context]) -> dict:
        services = provider(runtime.context)
        spec = state["spec"]
        if services.db.get_by_trial_key(spec.key) is not None:
            return {"verdict": Verdict("stored", "this trial was stored before a restart")}
        started = time.perf_counter()
        if spec.parent_id is None:
            proposal = Proposal(
                name="initial program",
                motivation="The task's initial program, evaluated unchanged as the baseline.",
                edit=services.task.initial_program.read_text(),
                mode="rewrite",
                provenance=Provenance("baseline", declared_by="initial program"),
            )
            return {"proposal": proposal, "timings": {"propose_s": time.perf_counter() - started}}
        db = services.db
        parent = db.get(spec.parent_id)
        if parent is None:
            return {"verdict": Verdict("failed", f"parent node {spec.parent_id} not found in the database")}
        rejections = state.get("novelty_rejections", 0)
        insights, insight_ids = cognition_items(services, spec.cognition_ids)
        ctx = ResearchContext(
            task_name=services.task.name,
            task_description=services.task.description,
            parent=parent,
            inspirations=tuple(n for n in (db.get(i) for i in spec.inspiration_ids) if n is not None),
            insights=insights,
            insight_ids=insight_ids,
            seed=research_seed(services, spec.key, rejections),
            feedback=tuple(state.get("feedback") or ()),
            trial_key=spec.key,
        )
        try:
            proposal = services.researcher.propose(ctx)
        except BudgetExceeded as exc:
            return {"verdict": Verdict("failed", one_line(f"not proposed: {exc}")), "sent_back": False}
        except Exception as exc:  # a strategy failure is an outcome, not a crash of the run
            reason = one_line(f"proposal failed: {type(exc).__name__}: {exc}")
            return {"verdict": Verdict("failed", reason), "sent_back": False,
                    "timings": {"propose_s": time.perf_counter() - started}}
        return {"proposal": proposal, "sent_back": False, "timings": {"propose_s": time.perf_counter() - started}}

    return researcher
