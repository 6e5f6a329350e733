"""The rl_algorithm figures of the run report: held-out accuracy of every scored node against the GRPO baseline.

The evaluator measures `accuracy` on held-out problems with the weights the training sent back, and the shipped
GRPO program under the same budget as `grpo_accuracy` (cpu config). Where that baseline is not measured (the
gpu config), the initial program, which is GRPO, stands in for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import plotly.graph_objects as go

from graph.report.task_figures import finite

if TYPE_CHECKING:
    from graph.report.task_figures import TaskRun


def figures(run: TaskRun) -> list[go.Figure]:
    """Accuracy by node (step) with the best so far, the GRPO baseline as a line and the best's gain in the title."""
    scored = [(n.id, a) for n in run.ok_nodes() if (a := finite(n.metrics.get("accuracy"))) is not None]
    if not scored:
        return []
    ids = [i for i, _ in scored]
    figure = go.Figure(go.Scatter(x=ids, y=[a for _, a in scored], mode="markers", name="held-out accuracy",
                                  hovertemplate="node %{x}<br>accuracy %{y:.4f}<extra></extra>"))
    running, top = [], float("-inf")
    for _, accuracy in scored:
        top = max(top, accuracy)
        running.append(top)
    figure.add_trace(go.Scatter(x=ids, y=running, mode="lines", line={"shape": "hv", "color": "#2ca02c"},
                                name="best so far"))
    baseline, label = baseline_of(run)
    if baseline is not None:
        figure.add_trace(go.Scatter(x=[min(ids), max(ids)], y=[baseline, baseline], mode="lines", name=label,
                                    line={"dash": "dash", "color": "black"}))
    title = "Held-out accuracy of every scored node"
    best = run.best
    accuracy = finite(best.metrics.get("accuracy")) if best is not None else None
    if best is not None and accuracy is not None:
        figure.add_trace(go.Scatter(x=[best.id], y=[accuracy], mode="markers", name=f"best (node {best.id})",
                                    marker={"symbol": "star", "size": 14, "color": "#d62728"}))
        title += f": best node {best.id} at {accuracy:.4f}"
        gain = finite(best.metrics.get("gain_over_grpo"))
        gain = gain if gain is not None or baseline is None else accuracy - baseline
        if gain is not None:
            title += f", {gain:+.4f} over GRPO"
    figure.update_xaxes(title="node (step)")
    figure.update_yaxes(title="accuracy (held-out problems)")
    figure.update_layout(title=title, height=460)
    return [figure]


def baseline_of(run: TaskRun) -> tuple[float | None, str]:
    """(GRPO's accuracy, its legend label): the evaluator's `grpo_accuracy` (the newest scored node's), else the
    initial program's accuracy; (None, "") when neither is stored."""
    for node in reversed(run.ok_nodes()):
        value = finite(node.metrics.get("grpo_accuracy"))
        if value is not None:
            return value, "GRPO baseline (same budget)"
    initial = run.initial()
    value = finite(initial.metrics.get("accuracy")) if initial is not None and initial.status == "ok" else None
    return value, "initial program (GRPO)" if value is not None else ""
