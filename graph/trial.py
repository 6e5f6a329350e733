"""The trial subgraph: Researcher -> Engineer <-> launch (tool node) -> Analyzer, with room for user nodes.

The Engineer sends a proposal back to the Researcher when it repeats an existing node (novelty check), at most
`novelty_retries` times per trial.

User nodes (`ExtraNode`) are spliced in after the Researcher, after the Engineer (before the Analyzer) or after
the Analyzer. A node after the Researcher may veto a proposal by returning `{"verdict": Verdict("vetoed", why)}`:
the Engineer then launches nothing and the Analyzer stores the vetoed node with its reason.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.prebuilt import ToolNode

from agents.analyzer import make_analyzer_node
from agents.engineer import make_engineer_node, pending_launch, sent_back
from agents.researcher import make_researcher_node
from graph.context import Context
from graph.services import ServiceProvider
from graph.state import TrialInput, TrialOutput, TrialState
from tools.launchers import make_launch_tools

Position = Literal["researcher", "engineer", "analyzer"]
CORE_NODES = ("researcher", "engineer", "launch", "analyzer")


@dataclass(frozen=True)
class ExtraNode:
    """A user node inserted into every trial, right after the built-in node named by `after`.

    `fn(state: TrialState) -> dict` (optionally also taking `runtime`) returns a partial state update.
    """

    name: str
    fn: Callable
    after: Position = "researcher"


def build_trial(provider: ServiceProvider, extra_nodes: Sequence[ExtraNode] = ()) -> CompiledStateGraph:
    names = [n.name for n in extra_nodes]
    clash = set(names) & set(CORE_NODES) or {n for n in names if names.count(n) > 1}
    if clash:
        raise ValueError(f"extra node name(s) already used: {', '.join(sorted(clash))}")

    g = StateGraph(TrialState, context_schema=Context, input_schema=TrialInput, output_schema=TrialOutput)
    g.add_node("researcher", make_researcher_node(provider))
    g.add_node("engineer", make_engineer_node(provider))
    g.add_node("launch", ToolNode(make_launch_tools(provider), name="launch"))
    g.add_node("analyzer", make_analyzer_node(provider))
    for extra in extra_nodes:
        g.add_node(extra.name, extra.fn)

    def chain(after: Position) -> list[str]:
        return [after, *(e.name for e in extra_nodes if e.after == after)]

    def link(nodes: list[str], last_target: str) -> None:
        for a, b in zip(nodes, nodes[1:] + [last_target], strict=True):
            g.add_edge(a, b)

    g.add_edge(START, "researcher")
    link(chain("researcher"), "engineer")
    after_engineer = chain("engineer")
    first_after_engineer = after_engineer[1] if len(after_engineer) > 1 else "analyzer"

    def route_engineer(state: TrialState) -> str:
        if sent_back(state):
            return "researcher"
        return "launch" if pending_launch(state) else first_after_engineer

    g.add_conditional_edges("engineer", route_engineer, ["launch", "researcher", first_after_engineer])
    g.add_edge("launch", "engineer")
    if len(after_engineer) > 1:
        link(after_engineer[1:], "analyzer")
    link(chain("analyzer"), END)
    return g.compile()
