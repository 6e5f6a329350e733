"""`asi-evolve report`: one run as one self-contained HTML page.

What it shows: a summary, the best score over evaluations (with the task's known record), every node by step and
status, the lineage tree, model cost and tokens over time, the MAP-Elites grid and island populations when the
run used them, where the design ideas came from (all nodes and the best ones), the task length (Ltask), the
task's own figures, and a page per node (#node-<id>: motivation, diff against its parent, metrics, analysis, the
cognition items it used).
"""

from __future__ import annotations

import html
import sqlite3
from collections import Counter
from pathlib import Path
from typing import Any

import plotly.graph_objects as go

from graph.report import figures
from graph.report.lineage import lineage
from graph.report.nodes_json import items_json, nodes_json
from graph.report.page import figure_divs, figure_json, render_page, section, table
from graph.report.run_data import RunData, load_run
from graph.report.task_figures import TaskRun, task_figures
from graph.report.task_length import of_run
from graph.runner import run_database
from knowledge.provenance import COUNTED, run_attribution
from knowledge.storage import connect, exists, has_table, is_postgres


def run_version(run_dir: Path | str) -> str:
    """What changes when the run stores something new (nodes, model calls and verifications are append-only):
    the live view compares it. One read-only query per table, cheap enough to ask every few seconds."""
    location = run_database(Path(run_dir))
    if not exists(location):
        return "no database"
    if is_postgres(location):
        with connect(location) as conn:
            return _version(conn)
    conn = sqlite3.connect(f"file:{location}?mode=ro", uri=True)
    try:
        return _version(conn)
    finally:
        conn.close()


def _version(conn) -> str:
    parts = [str(tuple(conn.execute(f"SELECT COUNT(*), COALESCE(MAX(id), 0) FROM {t}").fetchone()))
             for t in ("nodes", "llm_calls", "verifications") if has_table(conn, t)]
    return "|".join(parts)


def _fmt(score: float | None) -> str:
    return "-" if score is None else f"{score:.10g}"


def summary_rows(data: RunData) -> list[tuple[str, str]]:
    best, initial = data.best, data.initial
    counts = Counter(n.status for n in data.nodes)
    context = data.context
    rows = [
        ("task", data.task_name + (f" (config {context.config})" if context.config else "")),
        ("run", str(data.run_dir)),
        ("nodes", f"{len(data.nodes)}: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))),
        ("best", f"{_fmt(best.score)} (node {best.id}: {best.name})" if best else "-"),
        ("initial", _fmt(initial.score if initial else None)),
    ]
    reference, label = data.reference
    if reference is not None:
        rows.append(("reference", f"{reference:.10g} ({label})"))
    researcher = ", ".join(context.models) if context.models else "offline researcher (code mutations)"
    rows += [("sampler", data.sampler or "-"), ("workers", str(context.workers)), ("researcher", researcher),
             ("seed", str(context.seed))]
    if data.calls:
        tokens = sum(c.input_tokens + c.output_tokens for c in data.calls)
        rows.append(("model calls", f"{len(data.calls)}, {tokens:,} tokens, ${sum(c.cost for c in data.calls):.4f}"))
    for node_id, record in sorted(data.verified.items()):
        if record.score is not None:
            rows.append(("verified", f"node {node_id}: {record.score:.6g} ± {record.score_std:.3g} "
                                     f"over {record.seeds} seeds"))
    if data.sandbox:
        rows.append(("sandbox", data.sandbox))
    return rows


def attribution_rows(data: RunData) -> list[tuple[str, ...]]:
    shares = run_attribution(data.nodes)
    rows = []
    for group in ("all", "best"):
        found = shares[group]
        rows.append((f"{group} ({found.total})", *(f"{found.shares[s]:.0%} ({found.counts.get(s, 0)})"
                                                     for s in COUNTED)))
    return rows


def run_figures(data: RunData) -> list[tuple[str, go.Figure]]:
    made = [("best-curve", figures.best_curve(data)), ("scores-by-step", figures.scores_by_step(data)),
            ("lineage", lineage(data.nodes)), ("cost", figures.cost_over_time(data)),
            ("map-elites", figures.map_elites_grid(data)), ("islands", figures.islands(data)),
            ("design-sources", figures.attribution(data))]
    return [(fid, fig) for fid, fig in made if fig is not None]


def build_report(run_dir: Path | str, live: dict[str, Any] | None = None) -> tuple[str, str]:
    """(HTML page, version) of a run; `live` turns on the page's polling (the live view's settings)."""
    data = load_run(run_dir)
    drawn = run_figures(data)
    own, notes = ([], []) if data.task is None else task_figures(TaskRun(
        task=data.task, nodes=data.nodes, best=data.best, run_dir=data.run_dir, params=dict(data.task.params)))
    task_drawn = [(f"task-{i}", fig) for i, fig in enumerate(own)]
    length = of_run(data.nodes, data.run_dir, data.task)
    notes = [*data.notes, *notes]
    sections = [
        section("Summary", table(summary_rows(data)) + "".join(f'<p class="note">{html.escape(n)}</p>' for n in notes)),
        section("Search", figure_divs(drawn[:2]) + figure_divs(drawn[2:3], wide=True), "search"),
        section("Cost, archive and design sources", figure_divs(drawn[3:]) + "<h3>Design sources</h3>"
                + table(attribution_rows(data), ("nodes", *COUNTED))
                + '<p class="muted">As each Researcher declared it when proposing: a model cites the cognition '
                  "items and nodes it was shown, the offline researcher names its mutation. Best: the top tenth "
                  "of scored nodes (at least 5).</p>", "overview"),
        section("Task length (Ltask)", table(length.lines()), "task-length"),
    ]
    if task_drawn:
        sections.append(section(f"{data.task_name}: the task's own figures", figure_divs(task_drawn), "task"))
    sections.append('<section id="node-page" hidden></section>')
    sections.append(section("Nodes", '<input id="node-filter" placeholder="filter: id, status, source, name">'
                            '<table id="node-table"><thead><tr><th>node</th><th>trial</th><th>status</th>'
                            "<th>score</th><th>source</th><th>name</th></tr></thead><tbody></tbody></table>",
                            "nodes"))
    version = run_version(data.run_dir)
    payload = {
        "nodes": nodes_json(data), "items": items_json(data), "version": version, "live": live,
        "figures": [{"id": fid, "figure": figure_json(fig)} for fid, fig in drawn + task_drawn],
        "status_colours": figures.STATUS_COLOURS,
    }
    best = data.best
    subtitle = f"{len(data.nodes)} nodes · best {_fmt(best.score) if best else '-'} · {data.run_dir}"
    return render_page(f"ASI-Evolve run: {data.task_name} — {data.label}", subtitle, sections, payload), version


def write_report(run_dir: Path | str, out: Path | None = None) -> Path:
    """Write the report next to the run (`report.html`) or to `out`; returns where it went."""
    target = Path(out) if out is not None else Path(run_dir) / "report.html"
    page, _ = build_report(run_dir)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(target)  # a reader never sees half a page
    return target
