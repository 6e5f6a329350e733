"""Learner: decides what the next generation tries — K parents, inspirations and cognition items for each.

It only plans: whether the loop goes on at all is the tally's decision (`graph.routing`), taken before every call.
The first call evaluates the initial program (trial `g0000.0`). Later calls catch the sampler up on the nodes
stored since it last looked, sample parents, restore-or-save the sampler's state in the run database (so a
resumed run continues with exactly the same sampler state), and retrieve cognition items relevant to each
trial's context nodes. Randomness comes from a generator seeded by (seed, generation), so a Learner re-executed
after a crash plans the very same trials.

The sampler's state is saved when the nodes it has seen cross a mark (every 64 nodes up to 2,048, then every 1/32
to 1/16 of the nodes so far): a sampler restored from an older state and shown the nodes stored since is exactly
the one that kept running (samplers replay what they missed, `knowledge.samplers.base`), so saving it every
generation only cost time that grew with the run (5.2 ms a generation at 10,000 nodes for UCB1).
"""

from __future__ import annotations

import json
import random
import time
from typing import Literal

from langgraph.runtime import Runtime
from langgraph.types import Command, Send

from graph.context import Context
from graph.services import ServiceProvider, Services
from graph.state import LoopState, TrialSpec
from graph.trial_order import INITIAL_KEY, trial_key
from knowledge.records import Node
from knowledge.tickets import lane_owner


def sampler_meta_key(services: Services) -> str:
    return f"sampler_state:{services.sampler.name}"


def save_mark(node_id: int) -> int:
    """The last save point at or below node_id: multiples of 64 below 2,048, then of 1/16 of the power of two
    at or below (1,024 from 16,384 nodes, 8,192 from 131,072); never decreasing, so each crossing saves once."""
    step = max(64, 1 << max(0, node_id.bit_length() - 5))
    return node_id - node_id % step


def catch_up(services: Services) -> None:
    """Restore the sampler's saved state once, then show it and the novelty index every node stored since, and
    save the sampler's state when that crossed a save mark.

    One read of the new nodes serves both (each ignores what it has already seen).
    """
    sampler, novelty = services.sampler, services.novelty
    if sampler.observed_upto == 0:
        saved = services.db.get_meta(sampler_meta_key(services))
        if saved:
            sampler.load_state_dict(json.loads(saved))
    before = sampler.observed_upto
    fresh = services.db.nodes_since(min(before, novelty.observed_upto))
    for node in fresh:
        if node.id > sampler.observed_upto:
            sampler.observe(node)
    novelty.observe(fresh)
    if save_mark(sampler.observed_upto) > save_mark(before):
        services.db.set_meta(sampler_meta_key(services), json.dumps(sampler.state_dict(), sort_keys=True))


def retrieve(services: Services, context_nodes: list[Node]) -> tuple[int, ...]:
    """Cognition items relevant to the trial's context nodes: queried with each node's analysis (else its
    motivation), top-k and threshold from the run's context, de-duplicated across nodes."""
    ctx = services.context
    if services.cognition is None or ctx.retrieval_k <= 0:
        return ()
    queries = [(n.analysis or n.motivation).strip() for n in context_nodes]
    queries = [q for q in queries if q]
    if not queries:
        return ()
    found = services.cognition.search_many(queries, ctx.retrieval_k, ctx.retrieval_threshold)
    return tuple(r.item.id for r in found)


def wait_for_initial(services: Services, timeout_s: float) -> bool:
    """A lane other than the first waits for the initial program's node (the first lane evaluates it)."""
    deadline = time.monotonic() + timeout_s
    while services.db.get_by_trial_key(INITIAL_KEY) is None:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def make_learner_node(provider: ServiceProvider):
    def learner(state: LoopState, runtime: Runtime[Context]) -> Command[Literal["trial", "tally"]]:
        services = provider(runtime.context)
        ctx = services.context
        db = services.db
        lane = state.get("lane", 0)
        if db.get_by_trial_key(INITIAL_KEY) is None:
            if lane == 0:
                spec = TrialSpec(key=INITIAL_KEY, generation=0, parent_id=None)
                return Command(update={"generation": 0}, goto=[Send("trial", {"spec": spec})])
            wait = services.order.max_wait_s if services.order is not None else 1800.0
            if not wait_for_initial(services, wait):
                return Command(goto="tally")  # the tally decides again (the first lane may have stopped)

        if services.tickets is not None:  # an asynchronous lane: its next trial is numbered by its ticket
            lane_step = state.get("lane_step", 0) + 1
            generation = services.tickets.take(lane_owner(lane, lane_step))
            if generation > state["max_steps"]:
                return Command(goto="tally")  # beyond the budget: the tally stops this lane
            k, update = 1, {"generation": generation, "lane_step": lane_step}
        else:
            generation = state.get("generation", 0) + 1
            steps = state.get("steps", 0)
            k = max(1, min(ctx.workers, state["max_steps"] - steps))
            update = {"generation": generation, "steps_before": steps}
        rng = random.Random(f"{ctx.seed}:learner:{generation}")
        with services.plan_lock:  # lanes share the sampler
            catch_up(services)
            picks = services.sampler.sample(k, rng, generation)
            inspirations = [tuple(services.sampler.inspirations(p.parent_id, ctx.inspirations, rng)) for p in picks]
        best = db.best()
        sends = []
        for slot, (pick, inspiration_ids) in enumerate(zip(picks, inspirations, strict=True)):
            context_nodes = [n for n in (db.get(i) for i in (pick.parent_id, *inspiration_ids)) if n is not None]
            spec = TrialSpec(
                key=trial_key(generation, slot),
                generation=generation,
                parent_id=pick.parent_id,
                inspiration_ids=inspiration_ids,
                best_id=best.id if best else None,
                island=pick.island,
                cognition_ids=retrieve(services, context_nodes),
            )
            sends.append(Send("trial", {"spec": spec}))
        return Command(update=update, goto=sends)

    return learner
