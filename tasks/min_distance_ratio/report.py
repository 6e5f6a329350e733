"""The min-distance-ratio figures of the run report: the best point set with its closest and farthest pair.

What is drawn is the evaluator's `construction` metric: the points exactly as its rational arithmetic checked
them, and the two pairs that arithmetic found to be the closest and the farthest.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import plotly.graph_objects as go

from graph.report.task_figures import finite, numbered_points, points
from tools.construction import CONSTRUCTION

if TYPE_CHECKING:
    from graph.report.task_figures import TaskRun

PAIRS = (("closest_pair", "closest pair (min distance)", "#d62728"),
         ("farthest_pair", "farthest pair (max distance)", "#1f77b4"))


def figures(run: TaskRun) -> list[go.Figure]:
    """The best node's point set ([] when no scored node holds a verified one)."""
    best = run.best
    layout = read_layout(best.metrics.get(CONSTRUCTION)) if best is not None else None
    if best is None or layout is None:
        return []
    coords, pairs = layout
    ratio2 = finite(best.metrics.get("ratio_squared"))
    title = f"Best point set (node {best.id}): {len(coords)} points"
    if ratio2 is not None:
        title += f", (max/min distance)² = {ratio2:.9f}"
    record = finite(best.metrics.get("record_ratio_squared"))
    if record is not None:
        title += f"<br><sup>record (max/min distance)² {record:.9f}</sup>"
    return [point_set_figure(coords, pairs, title)]


def read_layout(value: Any) -> tuple[list[tuple[float, float]], dict[str, tuple[int, int]]] | None:
    """(points, {pair name: (i, j)}) of a stored construction, None when it is not one."""
    if not isinstance(value, dict):
        return None
    coords = points(value.get("points"))
    if not coords:
        return None
    pairs = {}
    for key, _, _ in PAIRS:
        pair = value.get(key)
        if not (isinstance(pair, list) and len(pair) == 2 and all(_index(i, len(coords)) for i in pair)):
            return None
        pairs[key] = (int(pair[0]), int(pair[1]))
    return coords, pairs


def _index(value: Any, count: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < count


def point_set_figure(coords: list[tuple[float, float]], pairs: dict[str, tuple[int, int]], title: str) -> go.Figure:
    """The points, the two pairs as segments, one unit on x as long as one unit on y (distances read true)."""
    figure = go.Figure()
    for key, label, colour in PAIRS:
        i, j = pairs[key]
        (x0, y0), (x1, y1) = coords[i], coords[j]
        distance = ((x1 - x0) ** 2 + (y1 - y0) ** 2) ** 0.5
        figure.add_trace(go.Scatter(x=[x0, x1], y=[y0, y1], mode="lines", name=f"{label}: points {i}, {j}",
                                    line={"color": colour, "width": 3}, hovertemplate=f"distance {distance:.9g}"
                                                                                      "<extra></extra>"))
    return numbered_points(figure, coords, title, height=640)
