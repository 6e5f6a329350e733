"""The report, comparison and live view of real offline runs, opened in headless Chromium; the export round trip.

The runs are made by the CLI as a user makes them (circle packing, offline researcher, two workers). The pages
must load without a console error, hold the runs' data points, open a node's page on a click, keep hostile node
text as text, and the live view must redraw when a node arrives.
"""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import pytest

from graph.report.export import read_export
from graph.report.serve import make_server
from graph.report.task_length import RAN
from knowledge.database import NodeDatabase
from knowledge.records import NodeDraft, Provenance
from tests.support.browser import browser, watched_page
from tests.support.cli import asi

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("runs")
    made = []
    for name, extra in (("ucb1-seed0", ["--seed", "0"]), ("greedy-seed1", ["--seed", "1", "--sampler", "greedy"])):
        proc = asi("run", "circle_packing", "--steps", "8", "--workers", "2", "--run-dir", name, *extra, cwd=root)
        assert proc.returncode == 0, proc.stderr
        made.append(root / name)
    return made[0], made[1]


@pytest.fixture(scope="module")
def chromium():
    with browser() as opened:
        yield opened


def open_page(chromium, url: str):
    page, problems = watched_page(chromium)
    page.goto(url)
    page.wait_for_function("document.querySelectorAll('.js-plotly-plot').length >= 3")
    return page, problems


def test_the_report_of_a_real_run_renders_its_data_in_a_browser(runs, chromium, tmp_path: Path) -> None:
    run_dir = runs[0]
    proc = asi("report", run_dir.name, "--out", str(tmp_path / "report.html"), cwd=run_dir.parent)  # as typed
    assert proc.returncode == 0, proc.stderr
    nodes = NodeDatabase(run_dir / "run.db").nodes()
    page, problems = open_page(chromium, (tmp_path / "report.html").as_uri())
    plotted = page.evaluate("""() => Object.fromEntries([...document.querySelectorAll('.js-plotly-plot')]
        .map(d => [d.id, d.data.map(t => (t.customdata || []).filter(v => v !== null).length)]))""")
    ran = [n for n in nodes if n.status in RAN]
    assert plotted["best-curve"][0] == len(ran)  # the best-so-far line has a point per evaluation
    assert sum(plotted["scores-by-step"]) == len(nodes)  # every node, each status its own trace
    assert sum(plotted["lineage"]) == len(nodes)
    assert "design-sources" in plotted and "task-0" in plotted  # circle packing draws its construction
    rows = page.locator("#node-table tbody tr")
    assert rows.count() == len(nodes)
    best = max((n for n in nodes if n.score is not None), key=lambda n: n.score)
    assert page.evaluate("document.getElementById('best-curve').data[0].y.at(-1)") == pytest.approx(best.score)

    point = page.locator("#lineage .scatterlayer .trace:last-child .point, #lineage .scatterlayer .point").last
    point.click(force=True)  # a real click on a plotted node opens that node's page
    page.wait_for_function("!document.getElementById('node-page').hidden")
    heading = page.locator("#node-page h2").inner_text()
    assert heading.startswith("Node ")
    page.evaluate(f"location.hash = 'node-{best.id}'")
    page.wait_for_function(f"document.querySelector('#node-page h2').textContent.startsWith('Node {best.id} ')")
    text = page.locator("#node-page").inner_text()
    assert best.motivation.split()[0] in text and "Diff against its parent" in text and "combined_score" in text
    page.screenshot(path=str(tmp_path / "report.png"))
    assert problems.all() == []
    shot_to = os.environ.get("ASI_EVOLVE_SCREENSHOT_TO")  # how docs/report.png is made
    if shot_to:
        shot, _ = watched_page(chromium, width=1280, height=900)
        shot.goto((tmp_path / "report.html").as_uri())
        shot.wait_for_function("document.querySelectorAll('.js-plotly-plot').length >= 3")
        shot.wait_for_timeout(500)
        shot.screenshot(path=shot_to, full_page=True, clip={"x": 0, "y": 0, "width": 1280, "height": 1420})


def test_hostile_node_text_stays_text(runs, chromium, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    shutil.copytree(runs[0], run_dir)
    db = NodeDatabase(run_dir / "run.db")
    first = db.nodes()[0]
    evil = "<img src=x onerror=alert(1)></script><script>alert(2)</script>"
    node = db.add(NodeDraft(trial_key="g0099.0", generation=99, parent_ids=(first.id,), name=evil, motivation=evil,
                            program=first.program + f"# {evil}\n", edit="", metrics={"combined_score": 1.0,
                            "note": evil, "inf": float("inf")}, score=1.0, analysis=evil, status="ok",
                            error="", provenance=Provenance("novel", declared_by="model")))
    assert asi("report", str(run_dir)).returncode == 0
    page, problems = open_page(chromium, (run_dir / "report.html").as_uri())
    page.evaluate(f"location.hash = 'node-{node.id}'")
    page.wait_for_function("!document.getElementById('node-page').hidden")
    assert evil in page.locator("#node-page h2").inner_text()
    assert problems.all() == []


def test_compare_draws_both_runs(runs, chromium, tmp_path: Path) -> None:
    out = tmp_path / "compare.html"
    proc = asi("compare", str(runs[0]), str(runs[1]), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    page, problems = open_page(chromium, out.as_uri())
    names = page.evaluate("document.getElementById('compare-best').data.map(t => t.name)")
    assert names == ["ucb1-seed0", "greedy-seed1"]
    counts = page.evaluate("document.getElementById('compare-outcomes').data.map(t => t.y.reduce((a, b) => a + b))")
    assert sum(counts) == sum(len(NodeDatabase(r / "run.db").nodes()) for r in runs)
    assert problems.all() == []
    assert asi("compare", str(runs[0])).returncode == 2  # one run is not a comparison: one line, exit 2


def test_the_live_view_redraws_when_a_node_arrives(runs, chromium, tmp_path: Path) -> None:
    run_dir = tmp_path / "live"
    shutil.copytree(runs[0], run_dir)
    server = make_server(run_dir, "127.0.0.1", 0, poll_ms=200)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/"
        page, problems = open_page(chromium, url)
        before = page.locator("#node-table tbody tr").count()
        db = NodeDatabase(run_dir / "run.db")
        parent = db.best()
        db.add(NodeDraft(trial_key="g0100.0", generation=100, parent_ids=(parent.id,), name="arrived while watched",
                         motivation="live", program=parent.program, edit="", metrics={"combined_score": 9.0},
                         score=9.0, analysis="", status="ok"))
        page.wait_for_function(f"document.querySelectorAll('#node-table tbody tr').length === {before + 1}",
                               timeout=15_000)
        page.wait_for_function("document.querySelectorAll('.js-plotly-plot').length >= 3")
        assert page.evaluate("document.getElementById('best-curve').data[0].y.at(-1)") == 9.0
        assert problems.all() == []
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_export_round_trips_every_node(runs, tmp_path: Path, fmt: str) -> None:
    out = tmp_path / f"nodes.{fmt}"
    proc = asi("export", str(runs[0]), "--format", fmt, "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    nodes = NodeDatabase(runs[0] / "run.db").nodes()
    assert read_export(out) == nodes and len(nodes) == 9
    assert any(n.provenance.source != "unrecorded" for n in nodes)
