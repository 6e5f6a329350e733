"""The report's parts on real stored runs: task length, lineage layout, sampler figures, versions, the summary."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from agents.models.ledger import CallLedger, CallRecord
from graph.progress import LoopProgress, summary_lines
from graph.report.figures import cost_over_time, islands, map_elites_grid
from graph.report.lineage import layout
from graph.report.page import embed_json
from graph.report.report import build_report, run_version
from graph.report.run_data import load_run
from graph.report.task_length import task_length
from graph.runner import run_status
from knowledge.database import NodeDatabase
from knowledge.records import NodeDraft, Provenance
from tests.support.cli import asi
from tests.support.nodes import make_node

PROGRAM = "import math\n# EVOLVE-BLOCK-START\nX = 1.0\n\nY = 2\n# EVOLVE-BLOCK-END\nprint(X)\n"


def test_task_length_reads_times_region_programs_metrics_and_logs(tmp_path: Path) -> None:
    nodes = [replace(make_node(1, 1.0, program=PROGRAM, metrics={"combined_score": 1.0, "x": 2, "ok": True,
                                                                   "construction": {"points": [[0, 0]]}}),
                     timings={"eval_s": 2.0}),
             replace(make_node(2, None, status="failed", program=PROGRAM), timings={"eval_s": 4.0}),
             replace(make_node(3, 3.0, program=PROGRAM + "#\n", metrics={"combined_score": 3.0}),
                     timings={"eval_s": 6.0}),
             make_node(4, None, status="unappliable", program=PROGRAM)]  # never ran: no time, still a program
    for node, size in zip(nodes[:3], (10, 30, 50), strict=True):
        folder = tmp_path / "nodes" / node.trial_key
        folder.mkdir(parents=True)
        (folder / "stdout.txt").write_text("x" * size)
    length = task_length(nodes, PROGRAM, tmp_path, cpus=2.0, gpus=1.0)
    assert (length.evaluations, length.eval_s_median, length.eval_s_total) == (3, 4.0, 12.0)
    assert (length.cpu_core_s_per_eval, length.gpu_s_per_eval) == (8.0, 4.0)
    assert (length.evolved_lines, length.evolved_chars) == (2, len("X = 1.0\n\nY = 2\n"))
    assert (length.distinct_programs, length.programs_seen) == (2, 4)
    assert length.metrics_per_eval == 1.5  # numbers only: a boolean or a structured metric is no metric here
    assert length.log_bytes_per_eval == 30
    assert [axis for axis, _ in length.lines()] == ["execution cost", "search-space openness", "feedback complexity"]
    empty = task_length([], PROGRAM)
    assert (empty.evaluations, empty.eval_s_median, empty.metrics_per_eval) == (0, None, None)


def test_lineage_layout_puts_parents_over_their_children_without_recursion() -> None:
    nodes = [make_node(1, 1.0), make_node(2, 1.0, parents=(1,)), make_node(3, 1.0, parents=(1,)),
             make_node(4, 1.0, parents=(2, 3)), make_node(5, 1.0, parents=(99,))]  # 99 not stored: its own root
    where = layout(nodes)
    assert where[4] == (0.0, 2) and where[3] == (1.0, 1) and where[2] == (0.0, 1)
    assert where[1] == (0.5, 0) and where[5] == (2.0, 0)
    chain = [make_node(1, 1.0)] + [make_node(i, 1.0, parents=(i - 1,)) for i in range(2, 5001)]
    assert layout(chain)[5000] == (0.0, 4999)  # a chain deeper than Python's recursion limit


def test_embedded_json_cannot_close_its_script_element() -> None:
    text = embed_json({"name": "</script><script>alert(1)</script>", "x": float("nan"), "y": [float("inf")]})
    assert "<" not in text and ">" not in text
    assert json.loads(text) == {"name": "</script><script>alert(1)</script>", "x": "nan", "y": ["inf"]}


@pytest.mark.parametrize("sampler", ["map_elites", "islands"])
def test_sampler_figures_of_a_real_run(tiny_task: Path, tmp_path: Path, sampler: str) -> None:
    run_dir = tmp_path / "run"
    proc = asi("run", str(tiny_task), "--steps", "6", "--sampler", sampler, "--run-dir", str(run_dir),
               "--no-cognition")
    assert proc.returncode == 0, proc.stderr
    data = load_run(run_dir)
    if sampler == "map_elites":
        fig = map_elites_grid(data)
        cells = [v for row in fig.data[0].z for v in row if v is not None]
        ids = {v for row in fig.data[0].customdata for v in row if v is not None}
        assert cells and max(cells) == data.best.score and data.best.id in ids
        assert islands(data) is None
    else:
        fig = islands(data)
        assert sum(len(t.x) for t in fig.data) == sum(1 for n in data.nodes if n.island is not None) > 0
        assert map_elites_grid(data) is None
    page, version = build_report(run_dir)
    assert version == run_version(run_dir) and f'"{sampler.replace("_", "-")}' in page


def test_the_version_moves_with_every_stored_node_and_call(tmp_path: Path) -> None:
    db = NodeDatabase(tmp_path / "run.db")
    before = run_version(tmp_path)
    db.add(NodeDraft(trial_key="g0000.0", generation=0, parent_ids=(), name="a", motivation="", program="x\n",
                     edit="", metrics={}, score=1.0, analysis="", status="ok"))
    after_node = run_version(tmp_path)
    CallLedger(tmp_path / "run.db").record(CallRecord("researcher", "k", "h", 0, "m", "p", "r", "stop", 1, 2, 0.5, 0.1))
    assert len({before, after_node, run_version(tmp_path)}) == 3


def test_progress_shows_cost_and_the_summary_says_what_the_run_came_to(tiny_task: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    assert asi("run", str(tiny_task), "--steps", "3", "--run-dir", str(run_dir), "--no-cognition").returncode == 0
    ledger = CallLedger(run_dir / "run.db")
    ledger.record(CallRecord("researcher", "k", "h", 0, "m", "p", "r", "stop", 100, 20, 0.25, 0.1))
    with LoopProgress(run_dir, 3) as progress:
        progress({"steps": 3})
        assert progress.progress.tasks[0].fields["cost"] == "  cost $0.2500"
        ledger.record(CallRecord("analyzer", "k", "h", 0, "m", "p", "r", "stop", 10, 5, 0.5, 0.1))
        progress({"steps": 3})  # only the new row is read, and added
        assert progress.progress.tasks[0].fields["cost"] == "  cost $0.7500"
    cost = cost_over_time(load_run(run_dir))  # the report's cost figure: cumulative dollars and tokens
    assert [list(t.y) for t in cost.data] == [[0.25, 0.75], [120, 135]]
    status = run_status(run_dir, details=True)
    lines = summary_lines(status, {"stop_reason": "step budget reached (3 steps)"}, run_dir)
    assert lines[0] == "stopped: step budget reached (3 steps)"
    assert lines[2].startswith("nodes 4: ok ")
    assert any(line.startswith("design sources: ") for line in lines)
    assert any(line.startswith("execution cost: 4 evaluations") for line in lines)
    assert "model calls 2, tokens 135, cost $0.7500" in lines
    assert lines[-1] == f"see it: asi-evolve report {run_dir}"
    stored = NodeDatabase(run_dir / "run.db").nodes()
    assert stored[0].provenance == Provenance("baseline", declared_by="initial program")
    assert {n.provenance.source for n in stored[1:]} <= {"novel", "experience"}
