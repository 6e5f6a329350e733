"""Learner: decides what the next generation tries — K parents from the database plus inspirations for each.

The first call evaluates the initial program (trial `g0000.0`); later calls sample parents with the run's sampler.
Randomness comes from a generator seeded by (seed, generation), so a re-executed Learner after a crash plans the
very same trials.
"""

from __future__ import annotations

import random
import time
from typing import Literal

from langgraph.graph import END
from langgraph.runtime import Runtime
from langgraph.types import Command, Send

from graph.context import Context
from graph.routing import stop_reason
from graph.services import ServiceProvider
from graph.state import LoopState, TrialSpec
from knowledge.sampling import select_inspirations

INITIAL_KEY = "g0000.0"


def trial_key(generation: int, slot: int) -> str:
    return f"g{generation:04d}.{slot}"


def make_learner_node(provider: ServiceProvider):
    def learner(state: LoopState, runtime: Runtime[Context]) -> Command[Literal["trial", "__end__"]]:
        services = provider(runtime.context)
        ctx = services.context
        db = services.db
        update: dict = {"stop_reason": None}
        if state.get("max_steps") is None:
            update["max_steps"] = services.task.steps
        if state.get("started_at") is None:
            update["started_at"] = time.time()
        if state.get("target_score") is None and services.task.target_score is not None:
            update["target_score"] = services.task.target_score

        if db.get_by_trial_key(INITIAL_KEY) is None:
            spec = TrialSpec(key=INITIAL_KEY, generation=0, parent_id=None)
            return Command(update={**update, "generation": 0}, goto=[Send("trial", {"spec": spec})])

        merged = {**state, **update}
        reason = stop_reason(merged, services)
        if reason:
            return Command(update={**update, "stop_reason": reason}, goto=END)

        generation = state.get("generation", 0) + 1
        remaining = merged["max_steps"] - merged.get("steps", 0)
        k = max(1, min(ctx.workers, remaining))
        rng = random.Random(f"{ctx.seed}:learner:{generation}")
        scored = db.scored()
        best = db.best()
        parents = services.sampler.sample(scored, k, rng)
        sends = []
        for slot, parent in enumerate(parents):
            inspirations = select_inspirations(scored, parent, ctx.inspirations, rng)
            spec = TrialSpec(
                key=trial_key(generation, slot),
                generation=generation,
                parent_id=parent.id,
                inspiration_ids=tuple(n.id for n in inspirations),
                best_id=best.id if best else None,
            )
            sends.append(Send("trial", {"spec": spec}))
        return Command(update={**update, "generation": generation}, goto=sends)

    return learner
