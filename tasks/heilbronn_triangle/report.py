"""The Heilbronn-triangle figures of the run report: the best layout with its smallest triangle drawn.

What is drawn is the evaluator's `construction` metric: the points exactly as its rational arithmetic checked
them, the container, and the triple that arithmetic found to span the smallest triangle.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import plotly.graph_objects as go

from graph.report.task_figures import finite, numbered_points, points
from tools.construction import CONSTRUCTION

if TYPE_CHECKING:
    from graph.report.task_figures import TaskRun


def figures(run: TaskRun) -> list[go.Figure]:
    """The best node's layout ([] when no scored node holds a verified one)."""
    best = run.best
    layout = read_layout(best.metrics.get(CONSTRUCTION)) if best is not None else None
    if best is None or layout is None:
        return []
    coords, container, triple = layout
    area = finite(best.metrics.get("min_area"))
    title = f"Best layout (node {best.id}): {len(coords)} points"
    if area is not None:
        title += f", smallest triangle area {area:.6g} (the container's is 1)"
    if run.task.reference_score is not None:
        title += f"<br><sup>{run.task.reference_label or 'reference'}: {run.task.reference_score:g}</sup>"
    return [layout_figure(coords, container, triple, title)]


def read_layout(value: Any) -> tuple[list[tuple[float, float]], list[tuple[float, float]], tuple[int, ...]] | None:
    """(points, container vertices, smallest triple) of a stored construction, None when it is not one."""
    if not isinstance(value, dict):
        return None
    coords, container = points(value.get("points")), points(value.get("triangle"))
    triple = value.get("smallest_triangle")
    if not coords or not container or len(container) != 3 or not isinstance(triple, list) or len(triple) != 3:
        return None
    if not all(isinstance(i, int) and not isinstance(i, bool) and 0 <= i < len(coords) for i in triple):
        return None
    return coords, container, tuple(triple)


def layout_figure(coords: list[tuple[float, float]], container: list[tuple[float, float]], triple: tuple[int, ...],
                  title: str) -> go.Figure:
    """The container, the smallest triangle filled, the points numbered; one unit on x as long as one on y."""
    figure = go.Figure()
    corners = [*container, container[0]]
    figure.add_trace(go.Scatter(x=[x for x, _ in corners], y=[y for _, y in corners], mode="lines",
                                name="container", line={"color": "black", "width": 1}, hoverinfo="skip"))
    vertices = [coords[i] for i in (*triple, triple[0])]
    figure.add_trace(go.Scatter(
        x=[x for x, _ in vertices], y=[y for _, y in vertices], mode="lines", fill="toself",
        name=f"smallest triangle: points {', '.join(map(str, triple))}", line={"color": "#d62728", "width": 2},
        fillcolor="rgba(214, 39, 40, 0.3)", hoverinfo="skip"))
    return numbered_points(figure, coords, title, height=480)
