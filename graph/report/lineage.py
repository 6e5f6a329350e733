"""The lineage tree: every node under the parent it was derived from, coloured by score.

Layout: a tidy tree computed without recursion (a run can chain thousands of nodes): leaves take consecutive
columns in id order, a parent sits over the middle of its children, depth grows downwards. Solid edges join a
node to its parent; dotted ones to the other nodes its idea came from (its recorded provenance), so a crossover
shows both of its sources.
"""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go

from graph.report.figures import figure, hover
from knowledge.records import Node


def layout(nodes: Sequence[Node]) -> dict[int, tuple[float, int]]:
    """Node id -> (column, depth). A node whose parent is not stored starts a tree of its own."""
    known = {n.id for n in nodes}
    children: dict[int, list[int]] = {n.id: [] for n in nodes}
    roots = []
    for node in sorted(nodes, key=lambda n: n.id):
        parent = node.parent_ids[0] if node.parent_ids else None
        if parent in known and parent != node.id:
            children[parent].append(node.id)  # type: ignore[index]
        else:
            roots.append(node.id)
    where: dict[int, tuple[float, int]] = {}
    column = 0.0
    for root in roots:
        stack: list[tuple[int, int, bool]] = [(root, 0, False)]
        while stack:
            node_id, depth, expanded = stack.pop()
            kids = children[node_id]
            if not kids:
                where[node_id] = (column, depth)
                column += 1
            elif expanded:
                where[node_id] = ((where[kids[0]][0] + where[kids[-1]][0]) / 2, depth)
            else:
                stack.append((node_id, depth, True))
                stack.extend((kid, depth + 1, False) for kid in reversed(kids))
    return where


def _segments(pairs: list[tuple[tuple[float, int], tuple[float, int]]]) -> tuple[list, list]:
    xs: list[float | None] = []
    ys: list[float | None] = []
    for (x0, y0), (x1, y1) in pairs:
        xs += [x0, x1, None]
        ys += [y0, y1, None]
    return xs, ys


def lineage(nodes: Sequence[Node]) -> go.Figure:
    """The tree as a figure; click a node to open its page."""
    where = layout(nodes)
    fig = figure("Lineage (parent → child; dotted: other sources of the idea)", height=520,
                 xaxis={"visible": False},
                 yaxis={"title": "generations from the root", "autorange": "reversed", "dtick": 1})
    tree = [(where[n.parent_ids[0]], where[n.id]) for n in nodes if n.parent_ids and n.parent_ids[0] in where
            and n.parent_ids[0] != n.id]
    ideas = [(where[source], where[n.id]) for n in nodes for source in n.provenance.node_ids
             if source in where and (not n.parent_ids or source != n.parent_ids[0])]
    xs, ys = _segments(tree)
    fig.add_scatter(x=xs, y=ys, mode="lines", line={"color": "#cbd5e1", "width": 1}, hoverinfo="skip",
                    name="parent", showlegend=False)
    if ideas:
        xs, ys = _segments(ideas)
        fig.add_scatter(x=xs, y=ys, mode="lines", line={"color": "#7c3aed", "width": 1, "dash": "dot"},
                        hoverinfo="skip", name="idea from")
    scored = [n for n in nodes if n.score is not None]
    other = [n for n in nodes if n.score is None]
    fig.add_scatter(x=[where[n.id][0] for n in scored], y=[where[n.id][1] for n in scored], mode="markers",
                    name="scored", customdata=[n.id for n in scored], text=[hover(n) for n in scored],
                    hovertemplate="%{text}<extra></extra>",
                    marker={"size": 9, "color": [n.score for n in scored], "colorscale": "Viridis",
                            "showscale": True, "colorbar": {"title": "score"}, "line": {"width": 0.5}})
    fig.add_scatter(x=[where[n.id][0] for n in other], y=[where[n.id][1] for n in other], mode="markers",
                    name="no score", customdata=[n.id for n in other], text=[hover(n) for n in other],
                    hovertemplate="%{text}<extra></extra>", marker={"size": 7, "color": "#9ca3af", "symbol": "x"})
    return fig
