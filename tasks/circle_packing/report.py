"""The circle-packing figures of the run report: the best packing, drawn to scale in the unit square.

What is drawn is the evaluator's `construction` metric: the centres and radii exactly as its rational checks
passed them, never what the program printed. The variant circle_packing_32 uses these figures too.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import plotly.graph_objects as go
from plotly.colors import sample_colorscale

from graph.report.task_figures import finite, points
from tools.construction import CONSTRUCTION

if TYPE_CHECKING:
    from graph.report.task_figures import TaskRun


def figures(run: TaskRun) -> list[go.Figure]:
    """The best node's packing ([] when no scored node holds a verified one, e.g. a run from before they were
    kept)."""
    best = run.best
    packing = read_packing(best.metrics.get(CONSTRUCTION)) if best is not None else None
    if best is None or packing is None:
        return []
    centers, radii = packing
    title = f"Best packing (node {best.id}): {len(radii)} circles, sum of radii {math.fsum(radii):.6f}"
    if run.task.reference_score is not None:
        title += f"<br><sup>{run.task.reference_label or 'reference'}: {run.task.reference_score:.6f}</sup>"
    return [packing_figure(centers, radii, title)]


def read_packing(value: Any) -> tuple[list[tuple[float, float]], list[float]] | None:
    """(centres, radii) of a stored construction, None when it is not one."""
    if not isinstance(value, dict) or not isinstance(value.get("radii"), list):
        return None
    centers = points(value.get("centers"))
    radii = [finite(r) for r in value["radii"]]
    if centers is None or not radii or len(radii) != len(centers) or any(r is None for r in radii):
        return None
    return centers, [float(r) for r in radii if r is not None]


def packing_figure(centers: list[tuple[float, float]], radii: list[float], title: str) -> go.Figure:
    """Circles as shapes in the unit square (one unit on x is one unit on y), coloured by radius; hovering a
    centre shows its circle's numbers."""
    low, high = min(radii), max(radii)
    shades = sample_colorscale("Viridis", [(r - low) / (high - low) if high > low else 0.5 for r in radii])
    figure = go.Figure()
    figure.add_shape(type="rect", x0=0, y0=0, x1=1, y1=1, line={"color": "black", "width": 1})
    for (x, y), r, shade in zip(centers, radii, shades, strict=True):
        figure.add_shape(type="circle", x0=x - r, y0=y - r, x1=x + r, y1=y + r, fillcolor=shade, opacity=0.6,
                         line={"color": "black", "width": 0.5})
    figure.add_trace(go.Scatter(
        x=[x for x, _ in centers], y=[y for _, y in centers], mode="markers", name="centres",
        marker={"size": 3, "color": "black"}, customdata=[[i, r] for i, r in enumerate(radii)],
        hovertemplate="circle %{customdata[0]}<br>centre (%{x:.6f}, %{y:.6f})<br>radius %{customdata[1]:.6f}"
                      "<extra></extra>"))
    figure.update_xaxes(range=[-0.02, 1.02], constrain="domain", title="x")
    figure.update_yaxes(range=[-0.02, 1.02], scaleanchor="x", scaleratio=1, constrain="domain", title="y")
    figure.update_layout(title=title, showlegend=False, height=640)
    return figure
