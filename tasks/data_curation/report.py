"""The data_curation figures of the run report: F1 per page category of the best node against the initial program.

The evaluator scores every page against its gold article text and reports the macro F1 of each category
(`f1_<category>` on the search split, `heldout_f1_<category>` on the held-out split; `f1` and `heldout_f1` over
all pages). A strategy can win on news and lose on blogs; these bars show where.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from graph.report.task_figures import finite

if TYPE_CHECKING:
    from graph.report.task_figures import TaskRun
    from knowledge.records import Node

SPLITS = (("", "search split (the fitness)"), ("heldout_", "held-out split (never scored)"))
ALL_PAGES = "all pages"


def figures(run: TaskRun) -> list[go.Figure]:
    """Grouped bars of F1 per category, one panel per split ([] when neither node has per-category F1)."""
    shown = run.compared()
    categories = sorted({key[len("f1_"):] for _, node in shown for key in node.metrics
                         if key.startswith("f1_") and finite(node.metrics[key]) is not None})
    if not categories:
        return []
    groups = [ALL_PAGES, *categories]
    figure = make_subplots(rows=1, cols=2, shared_yaxes=True, subplot_titles=[title for _, title in SPLITS])
    for colour, (label, node) in zip(("#d62728", "#7f7f7f"), shown, strict=False):
        for col, (prefix, _) in enumerate(SPLITS, start=1):
            values = [f1_of(node, prefix, group) for group in groups]
            figure.add_trace(go.Bar(x=groups, y=values, name=label, legendgroup=label, showlegend=col == 1,
                                    marker={"color": colour}, meta=[node.id, prefix or "search"],
                                    hovertemplate=f"{label}<br>%{{x}}: F1 %{{y:.4f}}<extra></extra>"),
                             row=1, col=col)
    figure.update_yaxes(title="token F1 against the gold text (macro over pages)", range=[0, 1], row=1, col=1)
    figure.update_layout(title="F1 per page category: best node vs initial program", barmode="group", height=460)
    return [figure]


def f1_of(node: Node, prefix: str, group: str) -> float | None:
    """A node's F1 on one split for a category (or all pages); None when it was not measured."""
    key = f"{prefix}f1" if group == ALL_PAGES else f"{prefix}f1_{group}"
    return finite(node.metrics.get(key))

