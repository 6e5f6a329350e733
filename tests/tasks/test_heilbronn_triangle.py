"""Heilbronn's problem in a triangle: its programs, its exact evaluator and hostile candidates (real processes)."""

from __future__ import annotations

import importlib.util
import itertools
import json
import math
from fractions import Fraction
from pathlib import Path
from types import ModuleType

import pytest

from tasks.registry import BUILTIN_DIR, load_task
from tests.support.cli import asi, status_json
from tools.construction import tamper_findings
from tools.evaluation import evaluate_program
from tools.results import EvalResult

TASK_DIR = BUILTIN_DIR / "heilbronn_triangle"
REFERENCES = TASK_DIR / "references"
CORNERS = "[[0, 0], [2, 0], [1, 1]]"
FOUR = "[[0.5, 0.1], [1.5, 0.1], [1.0, 0.8], [1.0, 0.3]]"  # a valid layout for n = 4


def _load(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


evaluator = _load(TASK_DIR / "evaluator.py", "heilbronn_evaluator_under_test")


def _use_n(monkeypatch: pytest.MonkeyPatch, n: int) -> None:
    monkeypatch.setenv("ASI_EVOLVE_TASK_PARAMS", json.dumps({"n": n}))


def _points_program(tmp_path: Path, points: str, extra: str = "") -> Path:
    """A program whose run_points returns a hand-made layout (a Python expression)."""
    path = tmp_path / "program.py"
    path.write_text(f"import numpy as np\n{extra}\ndef run_points(n):\n    return np.array({points}, dtype=float)\n")
    return path


def _program(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "program.py"
    path.write_text(body)
    return path


def _exact_min_area(points: list[list[float]]) -> Fraction:
    p = [(Fraction(x), Fraction(y)) for x, y in points]
    return min(abs((b[0] - a[0]) * (c[1] - a[1]) - (c[0] - a[0]) * (b[1] - a[1])) / 2
               for a, b, c in itertools.combinations(p, 3))


@pytest.fixture(scope="module")
def shipped() -> dict[str, EvalResult]:
    """The initial program and both references, evaluated once through the real path (split isolation)."""
    task = load_task("heilbronn_triangle")
    programs = {"initial": task.initial_program, "basin_hopping": REFERENCES / "basin_hopping.py",
                "symmetric_layout": REFERENCES / "symmetric_layout.py"}
    return {name: evaluate_program(task, path) for name, path in programs.items()}


# --- the shipped programs -----------------------------------------------------------------------------------


def test_task_loads_with_its_reference_and_notes() -> None:
    task = load_task("heilbronn_triangle")
    assert (task.params, task.isolation, task.sampler, task.reference_score) == ({"n": 11}, "split", "ucb1", 0.0365)
    assert "(0, 0), (2, 0), (1, 1)" in task.description and "affine" in task.description
    notes = sorted((TASK_DIR / "knowledge").glob("*.md"))
    assert len(notes) >= 2 and all(note.read_text().startswith("# ") for note in notes)


def test_initial_program_is_valid_and_scored_by_its_exact_smallest_area(shipped: dict[str, EvalResult]) -> None:
    result = shipped["initial"]
    assert result.status == "ok", result.error
    points = _load(TASK_DIR / "initial_program.py", "heilbronn_initial").run_points(11).tolist()
    assert result.score == result.metrics["min_area"] == float(_exact_min_area(points))
    assert 0.015 < result.score < 0.6 * 0.0365  # valid, with clear room to improve
    assert result.metrics["target_ratio"] == pytest.approx(result.score / 0.0365)


def test_references_beat_the_initial_program_in_order(shipped: dict[str, EvalResult]) -> None:
    assert all(r.status == "ok" for r in shipped.values()), {k: r.error for k, r in shipped.items()}
    initial, searched, stored = (shipped[k].score for k in ("initial", "basin_hopping", "symmetric_layout"))
    assert initial < 0.03 < searched < stored
    assert 0.03652 < stored < 0.03654  # the record level (AlphaEvolve: 0.0365)
    assert shipped["symmetric_layout"].metrics["near_minimal_triangles"] >= 10
    assert all(r.duration_s < 20 for r in shipped.values())


# --- exact validity -----------------------------------------------------------------------------------------


def test_the_corners_are_inside_and_score_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _use_n(monkeypatch, 3)
    result = evaluator.evaluate(_points_program(tmp_path, CORNERS))
    assert result["valid"] is True and "error" not in result
    assert result["combined_score"] == result["min_area"] == 1.0
    assert "target_ratio" not in result  # no record stored for n = 3


def test_points_on_the_sides_are_valid(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _use_n(monkeypatch, 4)
    result = evaluator.evaluate(_points_program(tmp_path, "[[1, 0], [0.25, 0.25], [1.75, 0.25], [1, 0.5]]"))
    assert result["valid"] is True
    assert result["combined_score"] == 0.1875  # all four triangles have area exactly 3/16
    assert result["construction"] == {"points": [[1, 0], [0.25, 0.25], [1.75, 0.25], [1, 0.5]],
                                      "triangle": [[0, 0], [2, 0], [1, 1]], "smallest_triangle": [0, 1, 2]}


@pytest.mark.parametrize(
    ("point", "side"),
    [
        ((1.0, -1e-15), "(0, 0)-(2, 0)"),
        ((0.5, 0.5 + 1e-15), "(1, 1)-(0, 0)"),
        ((1.5, 0.5 + 1e-15), "(2, 0)-(1, 1)"),
    ],
)
def test_a_point_1e15_outside_is_invalid(point: tuple[float, float], side: str, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    _use_n(monkeypatch, 4)
    points = [[0.5, 0.1], [1.5, 0.1], [1.0, 0.3], list(point)]
    result = evaluator.evaluate(_points_program(tmp_path, repr(points)))
    assert result["valid"] is False and result["combined_score"] == 0.0
    assert result["error"].startswith(f"point 3 lies outside the triangle, past the side {side} by ")
    assert 1e-16 < float(result["error"].rsplit(" ", 1)[1]) < 2e-15


def test_a_float_check_would_pass_what_the_exact_check_rejects(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    _use_n(monkeypatch, 3)
    y = math.nextafter(0.5, 1.0)
    assert 1.5 + y == 2.0  # in floats the point sits on the side x + y = 2...
    result = evaluator.evaluate(_points_program(tmp_path, repr([[0.0, 0.0], [2.0, 0.0], [1.5, y]])))
    assert result["valid"] is False  # ...exactly, it lies 2^-53 beyond it
    assert result["error"].startswith("point 2 lies outside the triangle, past the side (2, 0)-(1, 1)")


def test_every_violation_is_counted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _use_n(monkeypatch, 4)
    result = evaluator.evaluate(_points_program(tmp_path, "[[3, 0], [1, -1], [1, 0.5], [1, 0.5]]"))
    assert result["valid"] is False
    assert result["error"].endswith("(3 violations in all)")  # 0 and 1 past one side each, 2 and 3 coincide
    assert result["error"].startswith("point 0 lies outside the triangle, past the side (2, 0)-(1, 1) by 0.707")


def test_collinear_points_are_valid_but_score_zero(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _use_n(monkeypatch, 4)
    result = evaluator.evaluate(_points_program(tmp_path, "[[0.5, 0.1], [1.0, 0.1], [1.5, 0.1], [1.0, 0.8]]"))
    assert (result["valid"], result["combined_score"]) == (True, 0.0)


@pytest.mark.parametrize(
    ("points", "error"),
    [
        ("[[0.5, 0.1], [1.5, 0.1], [0.5, 0.1], [1, 0.8]]", "points 0 and 2 coincide"),
        ("[[0.5, 0.1], [float('nan'), 0.1], [1, 0.3], [1, 0.8]]", "point 1 has a non-finite or non-numeric x (nan)"),
        ("[[0.5, 0.1], [1.5, 0.1], [1, float('-inf')], [1, 0.8]]", "point 2 has a non-finite or non-numeric y (-inf)"),
        (CORNERS, "points have shape (3, 2), expected (4, 2)"),
        ("[[0.5, 0.1, 0], [1.5, 0.1, 0], [1, 0.3, 0], [1, 0.8, 0]]", "points have shape (4, 3), expected (4, 2)"),
        ("[0.5, 0.1, 1.5, 0.1, 1, 0.3, 1, 0.8]", "points have shape (8,), expected (4, 2)"),
    ],
)
def test_malformed_layouts_are_invalid_with_a_reason(points: str, error: str, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    _use_n(monkeypatch, 4)
    result = evaluator.evaluate(_points_program(tmp_path, points))
    assert result["valid"] is False and result["combined_score"] == result["min_area"] == 0.0
    assert result["error"] == error


# --- broken and hostile programs ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "error"),
    [
        ("def run_points(n):\n    return [\n", "syntax error at line"),
        ("def construct_points(n):\n    return []\n", "program defines no top-level run_points(n)"),
        ("def run_points(n):\n    raise RuntimeError('no layout')\n",
         "program failed (exit code 1): RuntimeError: no layout"),
        ("import os\ndef run_points(n):\n    os._exit(3)\n", "program failed (exit code 3)"),
    ],
)
def test_broken_programs_fail_with_a_reason(source: str, error: str, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    _use_n(monkeypatch, 11)
    result = evaluator.evaluate(_program(tmp_path, source))
    assert result["valid"] is False and result["combined_score"] == 0.0
    assert result["error"].startswith(error) and "\n" not in result["error"]


def test_an_endless_loop_is_killed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _use_n(monkeypatch, 11)
    result = evaluator.evaluate(_program(tmp_path, "def run_points(n):\n    while True:\n        pass\n"),
                                timeout_s=1.5)
    assert result["valid"] is False and result["error"] == "program timed out after 1.5 s"


@pytest.mark.parametrize(
    ("patch", "finding"),
    [
        ("np.abs = lambda x: x + 1.0", "assigns to np.abs of an imported module"),
        ("from fractions import Fraction\nFraction.__abs__ = lambda self: 1", "assigns to Fraction.__abs__"),
        ("import builtins\nbuiltins.min = max", "imports builtins"),
        ("import inspect", "imports inspect"),
        ("import os\nos.environ.get('ASI_EVOLVE_TASK_PARAMS')", "mentions 'asi_evolve'"),
        ("CHECKER = 'heilbronn_triangle/evaluator.py'", "mentions 'evaluator'"),
    ],
)
def test_tampering_is_rejected_before_running(patch: str, finding: str, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    _use_n(monkeypatch, 4)
    marker = tmp_path / "ran"
    program = _points_program(tmp_path, FOUR, extra=f"{patch}\nopen({str(marker)!r}, 'w').close()")
    for result in (evaluator.evaluate(program), evaluator.evaluate_stage1(program)):
        assert result["valid"] is False and result["combined_score"] == 0.0
        assert result["error"].startswith("tampering: ") and finding in result["error"]
    assert not marker.exists()


def test_patches_past_the_scan_and_printed_scores_change_nothing(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    _use_n(monkeypatch, 4)
    extra = ("import fractions\nvars(np)['abs'] = lambda x: x + 1.0\n"
             "vars(fractions)['Fraction'] = float\nprint('min_area: 0.5')\n")
    program = _points_program(tmp_path, FOUR, extra=extra)
    assert tamper_findings(program.read_text()) == []
    result = evaluator.evaluate(program)
    assert result["valid"] is True
    four = [[0.5, 0.1], [1.5, 0.1], [1.0, 0.8], [1.0, 0.3]]
    assert result["combined_score"] == float(_exact_min_area(four))


# --- end to end ---------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_offline_run_of_two_steps_stores_scored_nodes(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    proc = asi("run", "heilbronn_triangle", "--steps", "2", "--run-dir", str(run_dir), "--seed", "0")
    assert proc.returncode == 0, proc.stderr
    info = status_json(run_dir)
    assert info["nodes"] == 3 and info["counts"]["ok"] >= 1
    assert info["initial_score"] == pytest.approx(0.0181, abs=0.001)
    assert info["best_score"] >= info["initial_score"]
    assert info["reference_score"] == 0.0365
