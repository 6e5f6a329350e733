"""The linear-attention figures of the run report: training curves and the held-out scores of every node.

Two sources, trusted differently. The metrics (MQAR accuracy, LM loss) are the evaluator's, computed outside
the jail from predictions on inputs whose answers the training never saw. The loss curves come from the node's
`training.log`: progress the training printed from inside the jail, parsed by the trusted launcher into events
of known numeric fields (`tools.deepspeed_launch.parse_progress`). They are labelled as reported by the
training, and read defensively: a line that is not such an event is skipped.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from graph.report.task_figures import finite
from tools.deepspeed_launch import PROGRESS_PREFIX

if TYPE_CHECKING:
    from graph.report.task_figures import TaskRun
    from knowledge.records import Node

TRAINING_LOG = "training.log"  # written by the launch tool (graph.launch_tools.TRAINING_LOG)
PHASES = (("mqar", "MQAR phase"), ("lm", "LM phase"))
ACCURACIES = (("mqar_accuracy", "MQAR accuracy (training length)"), ("mqar_accuracy_long", "MQAR accuracy (long)"))


def figures(run: TaskRun) -> list[go.Figure]:
    """The loss curves of the best node against the initial program's, and the scores of every scored node."""
    made = []
    curves = loss_figure(run)
    if curves is not None:
        made.append(curves)
    if run.ok_nodes():
        made.append(scores_figure(run))
    return made


def training_curves(path: Path) -> dict[str, list[tuple[float, float]]]:
    """(step, loss) per phase from a training.log, sorted by step ({} when there is no log). A line that is not
    a JSON object with a text `phase` and a finite `step` and `loss` is skipped."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return {}
    curves: dict[str, list[tuple[float, float]]] = {}
    for line in text.splitlines():
        line = line.strip().removeprefix(PROGRESS_PREFIX.strip()).strip()
        try:
            event = json.loads(line)
        except (ValueError, RecursionError):
            continue
        if not isinstance(event, dict) or not isinstance(event.get("phase"), str):
            continue
        step, loss = finite(event.get("step")), finite(event.get("loss"))
        if step is not None and loss is not None:
            curves.setdefault(event["phase"], []).append((step, loss))
    return {phase: sorted(values) for phase, values in curves.items()}


def loss_figure(run: TaskRun) -> go.Figure | None:
    """Training loss by step, one panel per phase, for the best node and the initial program (None: no logs)."""
    figure = make_subplots(rows=1, cols=2, subplot_titles=[title for _, title in PHASES])
    for colour, (label, node) in zip(("#d62728", "#7f7f7f"), run.compared(), strict=False):
        curves = training_curves(run.node_dir(node) / TRAINING_LOG)
        for col, (phase, _) in enumerate(PHASES, start=1):
            values = curves.get(phase, [])
            if values:
                first = not any(trace.legendgroup == label for trace in figure.data)
                figure.add_trace(go.Scatter(
                    x=[s for s, _ in values], y=[v for _, v in values], mode="lines", name=label, legendgroup=label,
                    showlegend=first, meta=[node.id, phase], line={"color": colour}), row=1, col=col)
    if not figure.data:
        return None
    figure.update_xaxes(title="training step")
    figure.update_yaxes(title="loss", row=1, col=1)
    figure.update_layout(title="Training loss as reported by the training: best node vs initial program",
                         height=420)
    return figure


def scores_figure(run: TaskRun) -> go.Figure:
    """MQAR accuracy and held-out LM loss of every scored node, by node (step); the best node starred."""
    nodes = run.ok_nodes()
    figure = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.12,
                           subplot_titles=["MQAR accuracy on held-out sequences", "LM loss on held-out text"])
    for key, label in ACCURACIES:
        _markers(figure, nodes, key, label, row=1)
    _markers(figure, nodes, "lm_loss", "LM loss (held-out)", row=2)
    reference = _reference(run.params, "lm_loss")
    if reference is not None and nodes:
        ids = [n.id for n in nodes]
        figure.add_trace(go.Scatter(x=[min(ids), max(ids)], y=[reference, reference], mode="lines",
                                    name="LM loss of the fitness reference", line={"dash": "dash", "color": "gray"}),
                         row=2, col=1)
    best = run.best
    if best is not None:
        for row, key in ((1, "mqar_accuracy"), (2, "lm_loss")):
            value = finite(best.metrics.get(key))
            if value is not None:
                figure.add_trace(go.Scatter(x=[best.id], y=[value], mode="markers", name=f"best (node {best.id})",
                                            legendgroup="best", showlegend=row == 1,
                                            marker={"symbol": "star", "size": 14, "color": "#d62728"}), row=row, col=1)
    figure.update_xaxes(title="node (step)", row=2, col=1)
    figure.update_yaxes(title="accuracy", range=[0, 1.02], row=1, col=1)
    figure.update_yaxes(title="loss (nats/token)", row=2, col=1)
    figure.update_layout(title="MQAR accuracy and LM loss of every scored node", height=620)
    return figure


def _markers(figure: go.Figure, nodes: list[Node], key: str, label: str, row: int) -> None:
    shown = [(n.id, v) for n in nodes if (v := finite(n.metrics.get(key))) is not None]
    if shown:
        figure.add_trace(go.Scatter(x=[i for i, _ in shown], y=[v for _, v in shown], mode="markers", name=label,
                                    hovertemplate=f"node %{{x}}<br>{label} %{{y:.4f}}<extra></extra>"), row=row, col=1)


def _reference(params: dict[str, Any], metric: str) -> float | None:
    """The reference value the fitness measures a metric against (task.yaml: params.fitness.metrics)."""
    spec: Any = params
    for key in ("fitness", "metrics", metric, "reference"):
        spec = spec.get(key) if isinstance(spec, dict) else None
    return finite(spec)
