"""Each task's own figures (`report.py` hooks, `graph.report.task_figures`), drawn from real run directories.

The construction tasks' nodes carry what their evaluators really returned for the shipped initial program (run
through the real evaluation path); the training tasks' nodes carry metrics under the keys their evaluators write
(the data_curation and dti ones computed by the evaluators' own scoring code) and, for linear_attention, the
training.log its launcher writes. No training runs here.
"""

from __future__ import annotations

import importlib.util
import itertools
import json
import math
import sys
import textwrap
from fractions import Fraction
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from agents.models.prompting import format_metrics, judge_metrics, render_node
from graph.context import Context
from graph.report.task_figures import TaskRun, load_task_run, task_figures
from knowledge.database import NodeDatabase
from knowledge.records import NodeDraft
from tasks.registry import BUILTIN_DIR, load_task
from tools.deepspeed_launch import PROGRESS_PREFIX, parse_progress
from tools.evaluation import evaluate_program
from tools.results import EvalResult

INITIAL = "g0000.0"


def _load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"figures_test_{path.parent.name}_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def _draft(key: str, metrics: dict[str, Any], status: str = "ok", parents: tuple[int, ...] = ()) -> NodeDraft:
    score = metrics.get("combined_score") if status == "ok" else None
    return NodeDraft(trial_key=key, generation=int(key[1:5]), parent_ids=parents, name=key, motivation="",
                     program="", edit="", metrics=metrics, score=score, analysis="", status=status,
                     error="" if status == "ok" else str(metrics.get("error", status)))


def _from_result(key: str, result: EvalResult, parents: tuple[int, ...] = ()) -> NodeDraft:
    assert result.status == "ok", result.error
    return _draft(key, result.metrics, parents=parents)


def _run(run_dir: Path, task_name: str, drafts: list[NodeDraft], config: str | None = None) -> TaskRun:
    """A run directory holding these nodes, read back as the report reads it."""
    run_dir.mkdir(parents=True, exist_ok=True)
    task = load_task(task_name, config)
    with NodeDatabase(run_dir / "run.db") as db:
        for draft in drafts:
            db.add(draft)
        nodes, best = tuple(db.nodes()), db.best()
    return TaskRun(task=task, nodes=nodes, best=best, run_dir=run_dir, params=dict(task.params))


def _figures(run: TaskRun) -> list:
    made, notes = task_figures(run)
    assert notes == []
    assert all(f.layout.title.text for f in made)
    return made


def _trace(figure, name_start: str):
    return next(t for t in figure.data if (t.name or "").startswith(name_start))


# --- the construction tasks: real evaluations of the shipped initial programs ------------------------------

GRID_26 = """import numpy as np
def run_packing(n):
    r = (1.0 / 12) * (1 - 1e-6)
    centers = [[(2 * (i % 6) + 1) / 12, (2 * (i // 6) + 1) / 12] for i in range(n)]
    return np.array(centers), np.full(n, r)
"""


@pytest.mark.parametrize("task_name", ["circle_packing", "circle_packing_32"])
def test_the_best_packing_is_drawn_to_scale_with_its_verified_radii(task_name: str, tmp_path: Path) -> None:
    task = load_task(task_name)
    drafts = []
    if task_name == "circle_packing":  # a worse first node: the figure must draw the best, not the first
        grid = tmp_path / "grid.py"
        grid.write_text(GRID_26)
        drafts.append(_from_result(INITIAL, evaluate_program(task, grid)))
    result = evaluate_program(task, task.initial_program)
    drafts.append(_from_result("g0001.0" if drafts else INITIAL, result, parents=(1,) if drafts else ()))
    drafts.append(_draft("g0001.1", {"valid": False, "combined_score": 0.0, "error": "overlap"}, "invalid", (1,)))
    run = _run(tmp_path / "run", task_name, drafts)
    [figure] = _figures(run)

    n = task.params["n"]
    centers, radii = (_load(task.initial_program).run_packing(n))
    packing = result.metrics["construction"]
    assert packing == {"centers": centers.tolist(), "radii": radii.tolist()}  # what was checked, exactly
    circles = [s for s in figure.layout.shapes if s.type == "circle"]
    assert len(circles) == n == len(radii)
    for shape, (x, y), r in zip(circles, packing["centers"], packing["radii"], strict=True):
        assert ((shape.x0 + shape.x1) / 2, (shape.y0 + shape.y1) / 2) == pytest.approx((x, y), abs=1e-12)
        assert (shape.x1 - shape.x0) / 2 == pytest.approx(r, abs=1e-12)
    assert figure.layout.yaxis.scaleanchor == "x" and figure.layout.yaxis.scaleratio == 1
    assert f"{math.fsum(radii.tolist()):.6f}" in figure.layout.title.text
    assert f"node {run.best.id}" in figure.layout.title.text and run.best.trial_key != "g0001.1"


def test_the_best_point_set_marks_its_closest_and_farthest_pair(tmp_path: Path) -> None:
    task = load_task("min_distance_ratio")
    result = evaluate_program(task, task.initial_program)
    run = _run(tmp_path / "run", "min_distance_ratio", [_from_result(INITIAL, result)])
    [figure] = _figures(run)

    shipped = _load(task.initial_program).run_points(16).tolist()
    construction = result.metrics["construction"]
    assert construction["points"] == shipped
    exact = [(Fraction(x), Fraction(y)) for x, y in shipped]
    d2 = {(i, j): (exact[i][0] - exact[j][0]) ** 2 + (exact[i][1] - exact[j][1]) ** 2
          for i, j in itertools.combinations(range(16), 2)}
    closest, farthest = tuple(construction["closest_pair"]), tuple(construction["farthest_pair"])
    assert d2[closest] == min(d2.values()) and d2[farthest] == max(d2.values())
    assert float(d2[farthest] / d2[closest]) == result.metrics["ratio_squared"]
    for name, (i, j) in (("closest pair", closest), ("farthest pair", farthest)):
        segment = _trace(figure, name)
        assert list(zip(segment.x, segment.y, strict=True)) == [tuple(shipped[i]), tuple(shipped[j])]
    assert len(_trace(figure, "points").x) == 16
    assert figure.layout.yaxis.scaleanchor == "x"


def test_the_best_heilbronn_layout_draws_its_smallest_triangle(tmp_path: Path) -> None:
    task = load_task("heilbronn_triangle")
    result = evaluate_program(task, task.initial_program)
    run = _run(tmp_path / "run", "heilbronn_triangle", [_from_result(INITIAL, result)])
    [figure] = _figures(run)

    construction = result.metrics["construction"]
    shipped = _load(task.initial_program).run_points(11).tolist()
    assert construction["points"] == shipped and construction["triangle"] == [[0, 0], [2, 0], [1, 1]]
    triangle = _trace(figure, "smallest triangle")
    corners = list(zip(triangle.x, triangle.y, strict=True))
    (ax, ay), (bx, by), (cx, cy) = ([Fraction(v) for v in corner] for corner in corners[:3])
    area = abs((bx - ax) * (cy - ay) - (cx - ax) * (by - ay)) / 2
    assert corners[0] == corners[3] and float(area) == result.metrics["min_area"]  # the container's area is 1
    assert [tuple(shipped[i]) for i in construction["smallest_triangle"]] == corners[:3]
    assert list(zip(_trace(figure, "container").x, _trace(figure, "container").y, strict=True))[:3] == \
        [(0, 0), (2, 0), (1, 1)]


def test_constructions_stay_out_of_prompts(tmp_path: Path) -> None:
    task = load_task("circle_packing")
    result = evaluate_program(task, task.initial_program)
    run = _run(tmp_path / "run", "circle_packing", [_from_result(INITIAL, result)])
    node = run.nodes[0]
    assert "construction" in node.metrics  # stored with the node for the report ...
    shown = render_node(node, "Parent") + format_metrics(node.metrics)
    assert "construction" not in shown and "centers" not in shown and "sum_radii=2.26443" in shown  # ... not shown
    samples = [{"url": "u", "original": "o", "cleaned": "c"}]
    assert judge_metrics({**node.metrics, "judge_samples": samples}) == {
        **{k: v for k, v in node.metrics.items() if k != "construction"}, "judge_samples": samples}


# --- the training tasks ---------------------------------------------------------------------------------------


def _training_log(folder: Path, losses: dict[str, list[float]], offset: int) -> None:
    """A training.log as the launch tool writes it: each progress line parsed by the trusted launcher, as JSON."""
    folder.mkdir(parents=True, exist_ok=True)
    lines, step = [], 0
    for phase, values in losses.items():
        for loss in values:
            step += offset
            raw = PROGRESS_PREFIX + json.dumps({"phase": phase, "step": step, "steps": 40, "loss": loss,
                                                "tokens_per_s": 1000, "elapsed_s": 0.1})
            lines.append(json.dumps(parse_progress(raw), sort_keys=True))
    garbage = ["not json", "{\"phase\": \"lm\", \"step\": 3}", "[1, 2]", "{\"phase\": 3, \"step\": 1, \"loss\": 1}",
               "{\"phase\": \"lm\", \"step\": true, \"loss\": 1.0}", "[" * 100_000]
    (folder / "training.log").write_text("\n".join(lines[:2] + garbage + lines[2:]) + "\n")


def _linear_attention_metrics(mqar: float, lm_loss: float) -> dict[str, Any]:
    return {"valid": True, "mqar_accuracy": mqar, "mqar_accuracy_long": mqar / 2, "lm_loss": lm_loss,
            "lm_train_loss": lm_loss - 0.1, "mqar_train_loss": 1.0, "parameters": 60_000, "tokens_per_s": 9e4,
            "scaling_exponent": 1.1, "flop_exponent": 1.0, "causal_drift": 0.0, "fla_available": False,
            "fla_used": False, "train_wall_s": 50.0, "mqar_recall": 0.75 * mqar, "combined_score": mqar - lm_loss / 10}


def test_linear_attention_curves_and_scores(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    drafts = [_draft(INITIAL, _linear_attention_metrics(0.4, 2.6)),
              _draft("g0001.0", _linear_attention_metrics(0.9, 2.2), parents=(1,)),
              _draft("g0001.1", {"valid": False, "combined_score": 0.0, "error": "not causal"}, "invalid", (1,)),
              _draft("g0002.0", _linear_attention_metrics(0.6, 2.4), parents=(2,))]
    _training_log(run_dir / "nodes" / INITIAL, {"mqar": [4.0, 3.5, 3.0], "lm": [4.1, 3.0]}, 5)
    _training_log(run_dir / "nodes" / "g0001.0", {"mqar": [4.0, 2.0, 1.0], "lm": [4.0, 2.5]}, 5)
    run = _run(run_dir, "linear_attention", drafts)
    curves, scores = _figures(run)

    assert "reported by the training" in curves.layout.title.text
    drawn = {(t.meta[0], t.meta[1]): list(t.y) for t in curves.data}
    assert drawn == {(2, "mqar"): [4.0, 2.0, 1.0], (2, "lm"): [4.0, 2.5], (1, "mqar"): [4.0, 3.5, 3.0],
                     (1, "lm"): [4.1, 3.0]}  # every garbage line skipped, nothing else lost
    assert [t.name for t in curves.data if t.showlegend] == ["best (node 2)", "initial program (node 1)"]
    accuracy = _trace(scores, "MQAR accuracy (training")
    assert (list(accuracy.x), list(accuracy.y)) == ([1, 2, 4], [0.4, 0.9, 0.6])  # the ok nodes only
    assert list(_trace(scores, "LM loss (held-out)").y) == [2.6, 2.2, 2.4]
    reference = _trace(scores, "LM loss of the fitness reference")
    assert set(reference.y) == {run.params["fitness"]["metrics"]["lm_loss"]["reference"]}


def _rl_metrics(accuracy: float, grpo: float) -> dict[str, Any]:
    return {"combined_score": accuracy, "accuracy": accuracy, "accuracy_seed0": accuracy, "accuracy_seed1": accuracy,
            "warm_start_accuracy": 0.3, "grpo_accuracy": grpo, "gain_over_grpo": accuracy - grpo,
            "train_reward_first": 0.3, "train_reward_last": 0.5, "valid": True}


def test_rl_accuracy_by_step_against_the_grpo_line(tmp_path: Path) -> None:
    drafts = [_draft(INITIAL, _rl_metrics(0.52, 0.52)), _draft("g0001.0", _rl_metrics(0.61, 0.52), parents=(1,)),
              _draft("g0002.0", {"error": "training diverged"}, "failed", (2,)),
              _draft("g0003.0", _rl_metrics(0.47, 0.52), parents=(2,))]
    [figure] = _figures(_run(tmp_path / "run", "rl_algorithm", drafts))

    assert list(_trace(figure, "held-out accuracy").y) == [0.52, 0.61, 0.47]
    baseline = _trace(figure, "GRPO baseline")
    assert set(baseline.y) == {0.52} and list(baseline.x) == [1, 4]
    assert list(_trace(figure, "best so far").y) == [0.52, 0.61, 0.61]
    assert "best node 2" in figure.layout.title.text and "+0.0900 over GRPO" in figure.layout.title.text


def test_rl_without_a_measured_baseline_compares_with_the_initial_program(tmp_path: Path) -> None:
    bare = [{k: v for k, v in _rl_metrics(a, 0).items() if k not in ("grpo_accuracy", "gain_over_grpo")}
            for a in (0.3, 0.4)]
    run = _run(tmp_path / "run", "rl_algorithm", [_draft(INITIAL, bare[0]), _draft("g0001.0", bare[1], parents=(1,))])
    [figure] = _figures(run)
    assert set(_trace(figure, "initial program (GRPO)").y) == {0.3}
    assert "+0.1000 over GRPO" in figure.layout.title.text


def _scoring(task: str, name: str) -> ModuleType:
    return _load(BUILTIN_DIR / task / f"{name}.py")


def test_data_curation_f1_per_category_best_vs_initial(tmp_path: Path) -> None:
    scoring = _scoring("data_curation", "scoring")
    categories = ["news", "news", "blog", "feature", "non_english"]

    def metrics(f1s: list[float]) -> dict[str, Any]:  # the evaluator's own aggregation of page scores
        pages = [scoring.PageScore(f, f, f, False, 100) for f in f1s]
        out = {**scoring.summarize(pages), **scoring.summarize(pages[:3], "heldout_"),
               **scoring.by_category(pages, categories), **scoring.by_category(pages[:3], categories[:3], "heldout_")}
        return {**out, "combined_score": out["f1"], "valid": True, "judge_samples": [{"url": "u"}]}

    initial, best = metrics([0.5, 0.7, 0.2, 0.6, 0.1]), metrics([0.9, 0.7, 0.6, 0.8, 0.3])
    run = _run(tmp_path / "run", "data_curation", [_draft(INITIAL, initial), _draft("g0001.0", best, parents=(1,))])
    [figure] = _figures(run)

    search = {t.meta[0]: t for t in figure.data if t.meta[1] == "search"}
    assert list(search[2].x) == ["all pages", "blog", "feature", "news", "non_english"]
    assert list(search[2].y) == [best["f1"], best["f1_blog"], best["f1_feature"], best["f1_news"],
                                 best["f1_non_english"]]
    assert search[2].y[3] == pytest.approx(0.8) and search[1].y[3] == pytest.approx(0.6)  # news: mean of its pages
    held = {t.meta[0]: t for t in figure.data if t.meta[1] == "heldout_"}
    assert list(held[1].y) == [initial["heldout_f1"], initial["heldout_f1_blog"], None, initial["heldout_f1_news"],
                               None]  # categories without held-out pages here: no bar


def test_dti_scores_on_both_splits_and_the_pareto_front(tmp_path: Path) -> None:
    affinity = _scoring("dti", "affinity_metrics")
    rng = np.random.default_rng(0)
    y = np.concatenate([np.full(60, 5.0), rng.uniform(5.5, 9.0, 40)])

    def metrics(noise: float, cold_noise: float) -> dict[str, Any]:  # the evaluator's own figures
        out = {**affinity.affinity_metrics(y, y + rng.normal(0, noise, len(y))),
               **affinity.affinity_metrics(y, y + rng.normal(0, cold_noise, len(y)), "cold_drug_")}
        return {**out, "combined_score": out["ci"], "valid": True}

    drafts = [_draft(INITIAL, metrics(2.0, 2.0)), _draft("g0001.0", metrics(0.3, 3.0), parents=(1,)),
              _draft("g0002.0", metrics(1.0, 0.5), parents=(1,)), _draft("g0003.0", metrics(2.5, 2.5), parents=(1,))]
    run = _run(tmp_path / "run", "dti", drafts)
    bars, front = _figures(run)

    by_node = {t.meta: t for t in bars.data}
    assert set(by_node) == {run.best.id, 1} and run.best.id == 2
    for node_id in by_node:
        m = run.nodes[node_id - 1].metrics
        assert list(by_node[node_id].y) == [m["ci"], m["cold_drug_ci"], m["auroc"], m["cold_drug_auroc"]]
    ci = {n.id: (n.metrics["ci"], n.metrics["cold_drug_ci"]) for n in run.nodes}
    dominated = {i for i in ci if any(all(o >= s for o, s in zip(ci[j], ci[i], strict=True)) and ci[j] != ci[i]
                                      for j in ci)}
    assert sorted(_trace(front, "Pareto front").meta) == sorted(set(ci) - dominated) == [2, 3]
    assert [o.name for o in run.task.objectives] == ["ci", "cold_drug_ci"] and "cold_drug_ci" in front.layout.title.text


# --- the hook contract ----------------------------------------------------------------------------------------


def _tiny_run(task_dir: Path, tmp_path: Path, hook: str | None) -> TaskRun:
    if hook is not None:
        (task_dir / "report.py").write_text(textwrap.dedent(hook))
    return _run(tmp_path / "run", str(task_dir), [_draft(INITIAL, {"combined_score": -4.0, "x": 1.0})])


def test_a_task_without_report_py_adds_nothing(tiny_task: Path, tmp_path: Path) -> None:
    assert task_figures(_tiny_run(tiny_task, tmp_path, None)) == ([], [])


def test_a_hook_gets_the_run_and_returns_its_figures(tiny_task: Path, tmp_path: Path) -> None:
    run = _tiny_run(tiny_task, tmp_path, """
        from dataclasses import dataclass
        import plotly.graph_objects as go

        @dataclass
        class Seen:
            x: float

        def figures(run):
            xs = [Seen(n.metrics["x"]).x for n in run.ok_nodes()]
            assert run.node_dir(run.best) == run.run_dir / "nodes" / "g0000.0"
            return [go.Figure(go.Scatter(x=xs, y=[run.best.score]), layout={"title": {"text": run.task.name}})]
        """)
    path = list(sys.path)
    [figure], notes = task_figures(run)
    assert notes == [] and figure.layout.title.text == "tiny" and list(figure.data[0].x) == [1.0]
    assert sys.path == path and not [m for m in sys.modules if m.startswith("asi_evolve_task_report")]


@pytest.mark.parametrize(("hook", "note"), [
    ("def figures(run):\n    raise ValueError('no such metric')\n", "task figures failed: ValueError: no such metric"),
    ("def figures(run):\n    return 'a figure'\n", "returned str, expected a list of plotly Figures"),
    ("def figures(run):\n    return [{'data': []}]\n", "item 0 is a dict, not a plotly Figure"),
    ("import plotly.graph_objects as go\ndef figures(run):\n    return [go.Figure()]\n", "item 0 has no title"),
    ("FIGURES = []\n", "report.py defines no figures(run)"),
    ("def figures(run) -> list:\n    return [\n", "SyntaxError"),
    ("import sys\ndef figures(run):\n    sys.exit(3)\n", "report.py exited (3)"),
])
def test_a_broken_hook_gives_a_note_and_no_figures(hook: str, note: str, tiny_task: Path, tmp_path: Path) -> None:
    made, notes = task_figures(_tiny_run(tiny_task, tmp_path, hook))
    assert made == [] and len(notes) == 1 and note in notes[0] and "\n" not in notes[0]
    assert notes[0].startswith("task figures failed: ")


def test_load_task_run_reads_the_runs_task_variant_params_and_nodes(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    drafts = [_draft(INITIAL, _linear_attention_metrics(0.4, 2.6)),
              _draft("g0001.0", _linear_attention_metrics(0.7, 2.3), parents=(1,))]
    _run(run_dir, "linear_attention", drafts)
    context = Context(task="linear_attention", config="smoke", params=("lm.steps=12",), run_dir=str(run_dir))
    budget = {"max_steps": 1, "max_wall_s": None, "target_score": None}
    (run_dir / "config.json").write_text(json.dumps({"context": context.to_dict(), "budget": budget}))
    run = load_task_run(run_dir)
    assert (run.task.name, run.task.config, run.params["lm"]["steps"]) == ("linear_attention", "smoke", 12)
    assert run.params["mqar"]["steps"] == 30  # the smoke variant's
    assert [n.trial_key for n in run.nodes] == [INITIAL, "g0001.0"] and run.best.trial_key == "g0001.0"
    assert run.node_dir(run.best) == run_dir / "nodes" / "g0001.0"
    assert len(task_figures(run)[0]) == 1  # no training.log: the scores only
