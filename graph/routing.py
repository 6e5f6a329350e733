"""Where the loop goes next: the tally node counts what happened and alone decides whether the loop stops.

The graph enters at the tally (START -> tally), so a new invocation's budget is checked by the same code as every
generation's: the Learner only plans. Loops count themselves: the budget lives in state, never in LangGraph's
recursion limit. Counting is idempotent — a generation's steps are the steps before it (recorded when the Learner
planned it) plus its outcomes — so a tally that runs again for the same generation counts nothing twice.
"""

from __future__ import annotations

import time
from typing import Literal

from langgraph.graph import END
from langgraph.runtime import Runtime

from agents.models.errors import BudgetExceeded
from graph.budget import INITIAL_INVALID
from graph.context import Context
from graph.services import ServiceProvider, Services
from graph.state import LoopState
from knowledge.tickets import lane_owner


def stop_reason(state: LoopState, services: Services) -> str | None:
    """Why the loop must stop now, or None to go on."""
    if services.db.best() is None:  # one-row query: this runs every generation
        initial = services.db.nodes()  # no valid node at all: only failures are stored, usually just one
        if initial:
            node = initial[0]
            return f"{INITIAL_INVALID} ({node.status}: {node.error}); fix it and run again"
        return None
    steps = state.get("steps", 0)
    max_steps = state.get("max_steps")
    if max_steps is not None and (lane_spent(state, services) if services.tickets is not None else steps >= max_steps):
        return f"step budget reached ({steps} steps)"
    target = state.get("target_score")
    best = state.get("best_score")
    if target is not None and best is not None and best >= target:
        return f"target score reached ({best:.10g} >= {target:.10g})"
    if services.llm is not None:
        try:
            services.llm.check_budget()
        except BudgetExceeded as exc:
            return str(exc)
    max_wall = state.get("max_wall_s")
    started = state.get("started_at")
    if max_wall and started is not None and time.time() - started >= max_wall:
        return f"wall-time budget reached ({max_wall:g} s)"
    return None


def lane_spent(state: LoopState, services: Services) -> bool:
    """Whether an asynchronous lane has no trial left in the budget: the ticket its next step took (before a
    crash) is beyond it, or, none taken, every ticket the budget admits is taken by some lane."""
    assert services.tickets is not None
    own = services.tickets.of(lane_owner(state.get("lane", 0), state.get("lane_step", 0) + 1))
    return own > state["max_steps"] if own is not None else services.tickets.taken() >= state["max_steps"]


def stored_steps(services: Services) -> int:
    """Evolution steps stored by every lane (the initial program's evaluation not counted)."""
    return max(0, services.db.count() - 1)


def budget_defaults(state: LoopState, services: Services) -> dict:
    """What an invocation that names no budget gets (the task's), and its own wall clock when it is new."""
    update: dict = {}
    if state.get("max_steps") is None:
        update["max_steps"] = services.settings.steps
    if state.get("target_score") is None and services.settings.target_score is not None:
        update["target_score"] = services.settings.target_score
    if state.get("started_at") is None or state.get("stop_reason"):  # a new invocation: its own wall clock
        update["started_at"] = time.time()
    return update


def make_tally_node(provider: ServiceProvider):
    def tally(state: LoopState, runtime: Runtime[Context]) -> dict:
        services = provider(runtime.context)
        generation = state.get("generation", 0)
        current = [o for o in state.get("outcomes", []) if o.generation == generation]
        before = state.get("steps_before", state.get("steps", 0))  # checkpoints of earlier versions lack it
        steps = before + len(current) if generation > 0 else state.get("steps", 0)
        if services.tickets is not None:  # lanes: what every lane has stored
            steps = stored_steps(services)
        best = services.db.best()
        update = {
            **budget_defaults(state, services),
            "steps": steps,
            "best_node_id": best.id if best else None,
            "best_score": best.score if best else None,
            "last": current[-1] if current else state.get("last"),
        }
        update["stop_reason"] = stop_reason({**state, **update}, services)
        runtime.stream_writer({"tally": update})  # what a progress display reads (the runner streams only these)
        if update["stop_reason"]:  # the loop ends here: warm evaluation workers are not kept waiting
            close = getattr(services.executor, "close", None)
            if close is not None:
                close()
        return update

    return tally


def route_after_tally(state: LoopState) -> Literal["learner", "__end__"]:
    return END if state.get("stop_reason") else "learner"
