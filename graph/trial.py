"""The trial subgraph: Researcher -> Engineer <-> launch (tool node) -> Analyzer, with room for user nodes.

With the context's `approve` on, an evolved candidate's first launch passes through the `approval` node
(`graph.approval`): a LangGraph interrupt that waits for a person to approve, edit or skip it.

The launch tools (`graph.launch_tools`: `run_program`, `train_with_deepspeed`, ...) are LangChain tools executed
by LangGraph's tool node, so every launch shows in Studio with its arguments.

The Engineer sends a proposal back to the Researcher when it repeats an existing node (novelty check), at most
`novelty_retries` times per trial.

User nodes (`ExtraNode`) are spliced in after the Researcher, after the Engineer (before the Analyzer) or after
the Analyzer. A node after the Researcher may veto a proposal by returning `{"verdict": Verdict("vetoed", why)}`:
the Engineer then launches nothing and the Analyzer stores the vetoed node with its reason. A user node sees every
trial field on every path (`None` where a step produced nothing: no proposal after a failed Researcher, no result
after a veto). One that raises makes the trial a failed node with the reason; after the Analyzer (the node is
stored) its error is added to the node folder's `extra_nodes.log`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from langgraph.errors import GraphBubbleUp
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.prebuilt import ToolNode
from langgraph.runtime import Runtime

from agents.analyzer import make_analyzer_node
from agents.engineer import make_engineer_node, pending_launch, sent_back
from agents.models.errors import one_line
from agents.researcher import make_researcher_node
from graph.approval import make_approval_node, needs_approval, route_approval
from graph.context import Context
from graph.launch_tools import make_launch_tools
from graph.services import ServiceProvider
from graph.state import TRIAL_DEFAULTS, TrialInput, TrialOutput, TrialState, Verdict

Position = Literal["researcher", "engineer", "analyzer"]
CORE_NODES = ("researcher", "engineer", "approval", "launch", "analyzer")


@dataclass(frozen=True)
class ExtraNode:
    """A user node inserted into every trial, right after the built-in node named by `after`.

    `fn(state: TrialState) -> dict` (optionally also taking `runtime`) returns a partial state update.
    """

    name: str
    fn: Callable
    after: Position = "researcher"


def guarded(provider: ServiceProvider, fn: Callable) -> Callable:
    """A core node that, when it raises (a bug, not an outcome) or pauses (an interrupt), first gives up the
    trial's turns in slot order, so the generation's other trials are not left waiting for it."""

    def node(state: TrialState, runtime: Runtime[Context]) -> dict:
        try:
            return fn(state, runtime)
        except BaseException:
            order = provider(runtime.context).order
            if order is not None:
                order.pass_turn(state["spec"].key)
            raise

    node.__name__ = getattr(fn, "__name__", "node")
    return node


def user_node(provider: ServiceProvider, extra: ExtraNode) -> Callable:
    """An extra node that sees the full trial state and whose failure is an outcome, not a crash of the run."""
    wants_runtime = "runtime" in inspect.signature(extra.fn).parameters

    def node(state: TrialState, runtime: Runtime[Context]) -> dict:
        view = {**TRIAL_DEFAULTS, **state}
        try:
            return (extra.fn(view, runtime=runtime) if wants_runtime else extra.fn(view)) or {}
        except GraphBubbleUp:  # the node asked a person (`interrupt`): pause, without holding the others' turns
            order = provider(runtime.context).order
            if order is not None:
                order.pass_turn(state["spec"].key)
            raise
        except Exception as exc:
            reason = one_line(f"extra node {extra.name} raised {type(exc).__name__}: {exc}")
            if extra.after != "analyzer":
                if state.get("verdict") is not None:  # the trial had already ended: keep why, note this
                    return {"notes": [*(state.get("notes") or []), reason]}
                return {"verdict": Verdict("failed", reason)}
            folder = provider(runtime.context).node_dir(state["spec"].key)
            with (folder / "extra_nodes.log").open("a") as log:
                log.write(reason + "\n")
            return {}

    node.__name__ = extra.name
    return node


def build_trial(provider: ServiceProvider, extra_nodes: Sequence[ExtraNode] = (),
                checkpoints: bool = False) -> CompiledStateGraph:
    """The trial subgraph. Without `checkpoints` (the default) it saves no checkpoints of its own: a trial that a
    crash interrupts is re-run whole from the loop's last checkpoint, which is lossless (its model calls replay
    from the call ledger, a stored node is found by its trial key) and saves two thirds of the checkpoint writes.
    With `checkpoints` its steps are saved and shown as a subgraph (Studio, `get_graph(xray=True)`, interrupts
    inside a trial)."""
    names = [n.name for n in extra_nodes]
    clash = set(names) & set(CORE_NODES) or {n for n in names if names.count(n) > 1}
    if clash:
        raise ValueError(f"extra node name(s) already used: {', '.join(sorted(clash))}")

    g = StateGraph(TrialState, context_schema=Context, input_schema=TrialInput, output_schema=TrialOutput)
    g.add_node("researcher", guarded(provider, make_researcher_node(provider)))
    g.add_node("engineer", guarded(provider, make_engineer_node(provider)))
    g.add_node("approval", guarded(provider, make_approval_node(provider)))
    # a launcher that raises is a failed experiment with the reason (an error tool message), never a crash
    g.add_node("launch", ToolNode(make_launch_tools(provider), name="launch", handle_tool_errors=True))
    g.add_node("analyzer", guarded(provider, make_analyzer_node(provider)))
    for extra in extra_nodes:
        g.add_node(extra.name, user_node(provider, extra))

    def chain(after: Position) -> list[str]:
        return [after, *(e.name for e in extra_nodes if e.after == after)]

    def link(nodes: list[str], last_target: str) -> None:
        for a, b in zip(nodes, nodes[1:] + [last_target], strict=True):
            g.add_edge(a, b)

    g.add_edge(START, "researcher")
    link(chain("researcher"), "engineer")
    after_engineer = chain("engineer")
    first_after_engineer = after_engineer[1] if len(after_engineer) > 1 else "analyzer"

    def route_engineer(state: TrialState, runtime: Runtime[Context]) -> str:
        if sent_back(state):
            return "researcher"
        if not pending_launch(state):
            return first_after_engineer
        return "approval" if needs_approval(state, Context.coerce(runtime.context)) else "launch"

    g.add_conditional_edges("engineer", route_engineer, ["launch", "approval", "researcher", first_after_engineer])
    g.add_conditional_edges("approval", route_approval, {"launch": "launch", "skip": first_after_engineer})
    g.add_edge("launch", "engineer")
    if len(after_engineer) > 1:
        link(after_engineer[1:], "analyzer")
    link(chain("analyzer"), END)
    return g.compile(checkpointer=None if checkpoints else False)
