"""The loop graph: START --> tally --> (Learner --Send x K--> trial subgraph --> tally | END).

Two compiles (DESIGN rule 1): `graph` has no checkpointer and is what `langgraph dev` serves; `compile_graph`
adds a SQLite (or PostgreSQL) checkpointer for the CLI and Python users, so a run resumes after a crash. Studio's
graph saves each trial's steps as a subgraph so they can be inspected there; a run's graph saves the loop's steps
only (a trial cut short is re-run whole on resume, see `graph.trial.build_trial`), unless the run has `approve`: a
trial paused for a person must resume at its question (`graph.runner`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from agents.learner import make_learner_node
from graph.budget import LoopInput
from graph.checkpoint import open_checkpointer
from graph.context import Context
from graph.routing import make_tally_node, route_after_tally
from graph.services import ServiceProvider
from graph.state import LoopOutput, LoopState, TrialInput
from graph.trial import ExtraNode, build_trial
from graph.wiring import CachedProvider


def make_builder(provider: ServiceProvider | None = None, extra_nodes: Sequence[ExtraNode] = (),
                 trial_checkpoints: bool = False) -> StateGraph:
    """Build the (uncompiled) loop graph. `provider` opens services per run; `extra_nodes` extend every trial;
    `trial_checkpoints` saves each trial's steps too (see `graph.trial.build_trial`)."""
    provider = provider or CachedProvider()
    b = StateGraph(LoopState, context_schema=Context, input_schema=LoopInput, output_schema=LoopOutput)
    b.add_node("learner", make_learner_node(provider))
    # the trial's input schema names what a Send carries, so a checkpointer that only admits the graph's own
    # types (strict msgpack, as `langgraph dev` runs) reads a pending trial's TrialSpec back as one
    b.add_node("trial", build_trial(provider, extra_nodes, trial_checkpoints), input_schema=TrialInput)
    b.add_node("tally", make_tally_node(provider))
    b.add_edge(START, "tally")
    b.add_edge("trial", "tally")
    b.add_conditional_edges("tally", route_after_tally, ["learner", END])
    return b


def compile_graph(run_dir: str | Path, builder: StateGraph | None = None, db: str = "") -> CompiledStateGraph:
    """Compile with the run's checkpointer: `run_dir/checkpoints.db`, or the run's PostgreSQL schema (`db`)."""
    return (builder or make_builder()).compile(checkpointer=open_checkpointer(Path(run_dir), db))


class StudioGraph(CompiledStateGraph):
    """The compiled graph `langgraph dev` serves. It keeps the strict-msgpack allowlist of the state's types
    across `copy`, which the server calls on every run: LangGraph 1.2's copy drops it, and the server then read
    the loop's records back from its checkpoints as plain dicts, so a thread could not be continued or resumed."""

    def copy(self, update: dict | None = None) -> StudioGraph:
        clone = super().copy(update)
        clone._serde_allowlist = self._serde_allowlist
        return clone


builder = make_builder(trial_checkpoints=True)  # Studio shows every trial's steps
graph = builder.compile()
graph.__class__ = StudioGraph
graph.name = "asi-evolve"
