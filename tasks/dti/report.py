"""The dti figures of the run report: ranking and binding scores on both splits, and the Pareto front.

The evaluator scores each model on DeepDTA's test fold (`ci`, `auroc`, ...) and on the cold-drug split, whose
test drugs never appear in training (`cold_drug_ci`, `cold_drug_auroc`, ...). The task optimises both
(task.yaml `objectives`); the front shows which trade-offs the run found.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import plotly.graph_objects as go

from graph.report.task_figures import finite

if TYPE_CHECKING:
    from graph.report.task_figures import TaskRun
    from knowledge.records import Node

BARS = (("ci", "CI, standard"), ("cold_drug_ci", "CI, cold drug"), ("auroc", "AUROC, standard"),
        ("cold_drug_auroc", "AUROC, cold drug"))
DEFAULT_OBJECTIVES = (("ci", "max"), ("cold_drug_ci", "max"))


def figures(run: TaskRun) -> list[go.Figure]:
    """Bars of CI and AUROC for the best node vs the initial program; the ok nodes over the objectives."""
    made = []
    shown = run.compared()
    if shown:
        made.append(scores_figure(shown))
    front = front_figure(run)
    if front is not None:
        made.append(front)
    return made


def scores_figure(shown: list[tuple[str, Node]]) -> go.Figure:
    """Grouped bars: concordance index and AUROC (binding: pKd >= 7) on the standard and cold-drug splits."""
    figure = go.Figure()
    lowest = 0.4  # the axis starts near chance (0.5), lower only when a bar is
    for colour, (label, node) in zip(("#d62728", "#7f7f7f"), shown, strict=False):
        values = [finite(node.metrics.get(k)) for k, _ in BARS]
        lowest = min([lowest, *(v - 0.05 for v in values if v is not None)])
        figure.add_trace(go.Bar(x=[title for _, title in BARS], y=values, name=label, marker={"color": colour},
                                meta=node.id, hovertemplate=f"{label}<br>%{{x}} %{{y:.4f}}<extra></extra>"))
    figure.update_yaxes(title="score (0.5: chance)", range=[max(lowest, 0.0), 1])
    figure.update_layout(title="CI and AUROC on both splits: best node vs initial program", barmode="group",
                         height=440)
    return figure


def objectives_of(run: TaskRun) -> list[tuple[str, str]]:
    """The task's objectives as (metric, goal), CI on the two splits when it declares fewer than two."""
    declared = [(o.name, o.goal) for o in run.task.objectives]
    return declared if len(declared) >= 2 else list(DEFAULT_OBJECTIVES)


def pareto_front(values: dict[int, tuple[float, ...]], goals: list[str]) -> list[int]:
    """Ids whose objective values no other node dominates (at least as good in all, better in one)."""
    signs = [1.0 if goal == "max" else -1.0 for goal in goals]
    scaled = {i: [s * v for s, v in zip(signs, vec, strict=True)] for i, vec in values.items()}

    def dominated(a: list[float]) -> bool:
        return any(all(x >= y for x, y in zip(b, a, strict=True)) and b != a for b in scaled.values())

    return [i for i, vec in scaled.items() if not dominated(vec)]


def front_figure(run: TaskRun) -> go.Figure | None:
    """The ok nodes on the first two objectives, the front (over all objectives) marked and joined."""
    objectives = objectives_of(run)
    names, goals = [n for n, _ in objectives], [g for _, g in objectives]
    values = {}
    for node in run.ok_nodes():
        vector = tuple(finite(node.metrics.get(name)) for name in names)
        if None not in vector:
            values[node.id] = vector
    if not values:
        return None
    front = pareto_front(values, goals)
    rest = [i for i in values if i not in front]
    figure = go.Figure()
    figure.add_trace(go.Scatter(x=[values[i][0] for i in rest], y=[values[i][1] for i in rest], mode="markers",
                                name="dominated", text=[f"node {i}" for i in rest], marker={"color": "#aaaaaa"}))
    ordered = sorted(front, key=lambda i: values[i][:2])
    figure.add_trace(go.Scatter(x=[values[i][0] for i in ordered], y=[values[i][1] for i in ordered],
                                mode="lines+markers", name="Pareto front", text=[f"node {i}" for i in ordered],
                                marker={"size": 10, "color": "#d62728"}, meta=ordered))
    figure.update_xaxes(title=f"{names[0]} ({goals[0]})")
    figure.update_yaxes(title=f"{names[1]} ({goals[1]})")
    objective_text = ", ".join(f"{n} ({g})" for n, g in objectives)
    figure.update_layout(title=f"Pareto front of the scored nodes over {objective_text}", height=480)
    return figure
