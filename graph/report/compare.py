"""`asi-evolve compare`: several runs in one report — sampler comparisons, the paper's ablations, seeds.

Each run keeps its own label (its directory's name, made unique); the figures overlay the runs on the same axes:
best score over evaluations, outcomes by status, and design-source shares; the tables set their settings, results
and task lengths side by side. Runs of different tasks are allowed but said to be incomparable.
"""

from __future__ import annotations

import html
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import plotly.graph_objects as go

from graph.report.figures import SOURCE_COLOURS, STATUS_COLOURS, best_so_far, figure
from graph.report.page import figure_divs, figure_json, render_page, section, table
from graph.report.run_data import RunData, load_run
from graph.report.task_length import of_run
from knowledge.provenance import COUNTED, run_attribution
from knowledge.records import NODE_STATUSES


def labels(runs: Sequence[RunData]) -> list[str]:
    """Each run's directory name; where two share one, their parent folders tell them apart."""
    names = [r.label for r in runs]
    named = [f"{r.run_dir.parent.name}/{r.label}" if names.count(r.label) > 1 else r.label for r in runs]
    return [f"{n} #{i}" if named.count(n) > 1 else n for i, n in enumerate(named, 1)]


def best_curves(runs: Sequence[RunData], names: list[str]) -> go.Figure:
    fig = figure("Best score over evaluations", xaxis_title="evaluation", yaxis_title="best score")
    for run, name in zip(runs, names, strict=True):
        xs, ys, _ = best_so_far(run.nodes)
        fig.add_scatter(x=xs, y=ys, mode="lines", line={"shape": "hv"}, name=html.escape(name))
    references = {r.reference for r in runs if r.reference[0] is not None}
    if len(references) == 1:
        (value, label), = references
        fig.add_hline(y=value, line_dash="dash", line_color="#16a34a",
                      annotation_text=html.escape(f"{label}: {value:.6g}"))
    return fig


def outcomes(runs: Sequence[RunData], names: list[str]) -> go.Figure:
    fig = figure("Outcomes by status", barmode="stack", yaxis_title="nodes")
    counts = [Counter(n.status for n in r.nodes) for r in runs]
    for status in NODE_STATUSES:
        values = [c.get(status, 0) for c in counts]
        if any(values):
            fig.add_bar(x=[html.escape(n) for n in names], y=values, name=status, marker_color=STATUS_COLOURS[status])
    return fig


def sources(runs: Sequence[RunData], names: list[str]) -> go.Figure:
    fig = figure("Design sources (all evolved nodes)", barmode="stack", yaxis_tickformat=".0%",
                 yaxis_title="share of nodes")
    shares = [run_attribution(r.nodes)["all"].shares for r in runs]
    for source in COUNTED:
        fig.add_bar(x=[html.escape(n) for n in names], y=[s[source] for s in shares], name=source,
                    marker_color=SOURCE_COLOURS[source])
    return fig


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.8g}"


def settings_rows(runs: Sequence[RunData], names: list[str]) -> list[tuple[str, ...]]:
    rows = []
    for run, name in zip(runs, names, strict=True):
        c = run.context
        best, initial = run.best, run.initial
        cost = sum(call.cost for call in run.calls)
        rows.append((name, run.task_name, run.sampler, str(c.seed), str(c.workers),
                     "on" if c.cognition else "off", "on" if c.use_analyzer else "off",
                     ", ".join(c.models) or "offline", str(len(run.nodes)), _fmt(initial.score if initial else None),
                     _fmt(best.score if best else None), f"${cost:.4f}" if run.calls else "-"))
    return rows


def length_rows(runs: Sequence[RunData], names: list[str]) -> list[tuple[str, ...]]:
    rows = []
    for run, name in zip(runs, names, strict=True):
        length = of_run(run.nodes, run.run_dir, run.task)
        rows.append((name, *(text for _, text in length.lines())))
    return rows


def build_comparison(run_dirs: Sequence[Path | str]) -> str:
    runs = [load_run(d) for d in run_dirs]
    names = labels(runs)
    drawn = [("compare-best", best_curves(runs, names)), ("compare-outcomes", outcomes(runs, names)),
             ("compare-sources", sources(runs, names))]
    notes = [note for r in runs for note in r.notes]
    if len({r.task_name for r in runs}) > 1:
        notes.append("these runs are of different tasks: their scores are not comparable")
    sections = [
        section("Runs", table(settings_rows(runs, names), ("run", "task", "sampler", "seed", "workers", "cognition",
                                                           "analyzer", "models", "nodes", "initial", "best", "cost"))
                + "".join(f'<p class="note">{html.escape(n)}</p>' for n in notes)),
        section("Search", figure_divs(drawn)),
        section("Task length (Ltask)", table(length_rows(runs, names), ("run", "execution cost",
                                                                        "search-space openness",
                                                                        "feedback complexity"))),
    ]
    payload = {"nodes": [], "items": {}, "version": "", "live": None, "status_colours": STATUS_COLOURS,
               "figures": [{"id": fid, "figure": figure_json(fig)} for fid, fig in drawn]}
    return render_page(f"ASI-Evolve: {len(runs)} runs compared", " · ".join(names), sections, payload)


def write_comparison(run_dirs: Sequence[Path | str], out: Path) -> Path:
    page = build_comparison(run_dirs)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(out)
    return out
