"""The report's run figures (plotly): best score over evaluations, every node by step and status, model cost, the
MAP-Elites grid, island populations and design-source shares.

Every text that reaches a figure from a node (names, errors) is HTML-escaped first: plotly renders hover text as
markup, and a node's name is whatever a model or a candidate made it. Points carry their node id in `customdata`,
which the page uses to open that node's page on a click.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

import plotly.graph_objects as go

from graph.report.run_data import RunData
from graph.report.task_length import RAN
from knowledge.provenance import COUNTED, run_attribution
from knowledge.records import Node
from knowledge.samplers.map_elites import MapElitesSampler

STATUS_COLOURS = {"ok": "#2563eb", "failed": "#dc2626", "timeout": "#ea580c", "invalid": "#a855f7",
                  "unappliable": "#78716c", "vetoed": "#0d9488", "duplicate": "#94a3b8"}
SOURCE_COLOURS = {"cognition": "#7c3aed", "experience": "#059669", "novel": "#f59e0b", "undeclared": "#9ca3af"}
LAYOUT = {"template": "plotly_white", "height": 380, "margin": {"l": 60, "r": 20, "t": 50, "b": 50},
          "legend": {"orientation": "h", "y": -0.2}}


def text(value: object, limit: int = 120) -> str:
    """Node text made safe and short for a hover label."""
    value = " ".join(str(value).split())
    return html.escape(value if len(value) <= limit else value[: limit - 1] + "…")


def hover(node: Node) -> str:
    score = "-" if node.score is None else f"{node.score:.6g}"
    lines = [f"node {node.id} ({node.trial_key}) · {node.status}", f"score {score}", text(node.name)]
    if node.error:
        lines.append(text(node.error))
    return "<br>".join(lines)


def figure(title: str, **layout: object) -> go.Figure:
    return go.Figure(layout={**LAYOUT, "title": {"text": title}, **layout})


def best_so_far(nodes: Sequence[Node]) -> tuple[list[int], list[float], list[int]]:
    """(evaluation number, best score after it, node id) for each evaluation once one scored: the nodes whose
    experiment ran, in the order they were stored."""
    best, xs, ys, ids = None, [], [], []
    for index, node in enumerate((n for n in nodes if n.status in RAN), 1):
        if node.status == "ok" and node.score is not None and (best is None or node.score > best):
            best = node.score
        if best is not None:
            xs.append(index)
            ys.append(best)
            ids.append(node.id)
    return xs, ys, ids


def best_curve(data: RunData) -> go.Figure:
    """Best score after each evaluation, each evaluation's own score, and the task's known record."""
    fig = figure("Best score over evaluations", xaxis_title="evaluation", yaxis_title="score")
    ran = [n for n in data.nodes if n.status in RAN]
    xs, ys, ids = best_so_far(data.nodes)
    fig.add_scatter(x=xs, y=ys, mode="lines", line={"shape": "hv", "width": 2}, name="best so far",
                    customdata=ids, hovertemplate="evaluation %{x}<br>best %{y:.6g}<extra></extra>")
    scored = [(i, n) for i, n in enumerate(ran, 1) if n.score is not None]
    fig.add_scatter(x=[i for i, _ in scored], y=[n.score for _, n in scored], mode="markers", name="evaluation",
                    marker={"size": 5, "opacity": 0.35}, customdata=[n.id for _, n in scored],
                    text=[hover(n) for _, n in scored], hovertemplate="%{text}<extra></extra>")
    reference, label = data.reference
    if reference is not None:
        fig.add_hline(y=reference, line_dash="dash", line_color="#16a34a",
                      annotation_text=text(f"{label}: {reference:.6g}"), annotation_position="bottom right")
    return fig


def scores_by_step(data: RunData) -> go.Figure:
    """Every node at its step, coloured by status; nodes without a score sit on a band under the lowest score."""
    fig = figure("Every node by step and status", xaxis_title="step (node id)", yaxis_title="score")
    scores = [n.score for n in data.nodes if n.score is not None]
    low, high = (min(scores), max(scores)) if scores else (0.0, 1.0)
    floor = low - 0.08 * ((high - low) or 1.0)
    for status, colour in STATUS_COLOURS.items():
        nodes = [n for n in data.nodes if n.status == status]
        if not nodes:
            continue
        fig.add_scatter(x=[n.id for n in nodes], y=[n.score if n.score is not None else floor for n in nodes],
                        mode="markers", name=f"{status} ({len(nodes)})", customdata=[n.id for n in nodes],
                        marker={"color": colour, "size": 7, "symbol": "circle" if status == "ok" else "x"},
                        text=[hover(n) for n in nodes], hovertemplate="%{text}<extra></extra>")
    return fig


def cost_over_time(data: RunData) -> go.Figure | None:
    """Cumulative model cost and tokens against minutes since the run's first node; None for a run without calls."""
    if not data.calls:
        return None
    start = min([c.created_at for c in data.calls] + [n.created_at for n in data.nodes[:1]])
    fig = figure("Model cost and tokens over time", xaxis_title="minutes since start", yaxis_title="cost ($)",
                 yaxis2={"title": "tokens", "overlaying": "y", "side": "right"})
    minutes, cost, tokens, total_cost, total_tokens = [], [], [], 0.0, 0
    for call in data.calls:
        total_cost += call.cost
        total_tokens += call.input_tokens + call.output_tokens
        minutes.append((call.created_at - start) / 60)
        cost.append(total_cost)
        tokens.append(total_tokens)
    fig.add_scatter(x=minutes, y=cost, mode="lines", name="cost ($)", line={"shape": "hv"})
    fig.add_scatter(x=minutes, y=tokens, mode="lines", name="tokens", yaxis="y2", line={"shape": "hv", "dash": "dot"})
    return fig


def map_elites_grid(data: RunData) -> go.Figure | None:
    """The archive a MAP-Elites run ended with (the sampler replayed over the stored nodes, as a resume does):
    the best score per cell of its first two features."""
    if data.sampler != "map_elites":
        return None
    sampler = MapElitesSampler(**data.sampler_params)
    for node in data.nodes:
        sampler.observe(node)
    archive = sampler.archive()
    by_id = {n.id: n for n in data.nodes}
    names = list(sampler.features) + ["(single cell)"]
    rows, cols = (sampler.bins[1] if len(sampler.bins) > 1 else 1), sampler.bins[0]
    z: list[list[float | None]] = [[None] * cols for _ in range(rows)]
    ids: list[list[int | None]] = [[None] * cols for _ in range(rows)]
    for cell, node_id in archive.items():
        x, y = cell[0], (cell[1] if len(cell) > 1 else 0)
        current = z[y][x]
        score = by_id[node_id].score
        if score is not None and (current is None or score > current):  # more than 2 features: the best shown
            z[y][x], ids[y][x] = score, node_id
    fig = figure(f"MAP-Elites archive ({len(archive)} cells occupied)", xaxis_title=f"{names[0]} bin",
                 yaxis_title=f"{names[1]} bin")
    fig.add_heatmap(z=z, customdata=ids, colorscale="Viridis", colorbar={"title": "score"},
                    hovertemplate="bin (%{x}, %{y})<br>best %{z:.6g}<br>node %{customdata}<extra></extra>")
    return fig


def islands(data: RunData) -> go.Figure | None:
    """Island populations as the run went on (nodes stored per island, cumulative), when islands were used."""
    members = [n for n in data.nodes if n.island is not None]
    if not members:
        return None
    fig = figure("Island populations", xaxis_title="step (node id)", yaxis_title="nodes on the island")
    for island in sorted({n.island for n in members}):  # type: ignore[type-var]
        own = [n for n in members if n.island == island]
        best = max((n.score for n in own if n.score is not None), default=None)
        label = f"island {island}" + ("" if best is None else f" (best {best:.4g})")
        fig.add_scatter(x=[n.id for n in own], y=list(range(1, len(own) + 1)), mode="lines", name=label,
                        line={"shape": "hv"})
    return fig


def attribution(data: RunData) -> go.Figure:
    """Where the design ideas came from: shares over every evolved node and over the best ones."""
    shares = run_attribution(data.nodes)
    fig = figure("Design sources", yaxis_title="share of nodes", barmode="group", yaxis_tickformat=".0%")
    groups = [f"all nodes ({shares['all'].total})", f"best nodes ({shares['best'].total})"]
    for source in COUNTED:
        fig.add_bar(x=groups, y=[shares["all"].shares[source], shares["best"].shares[source]], name=source,
                    marker_color=SOURCE_COLOURS[source])
    return fig
