"""The min-max distance ratio task: its programs, its exact evaluator and hostile candidates (real processes)."""

from __future__ import annotations

import importlib.util
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
from tools.jail import probe_support
from tools.results import EvalResult

TASK_DIR = BUILTIN_DIR / "min_distance_ratio"
RECORD = 12.889266112
GRID_4X4 = "[[float(i % 4), float(i // 4)] for i in range(16)]"  # squared ratio exactly 18


def _load(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


evaluator = _load(TASK_DIR / "evaluator.py", "min_distance_ratio_evaluator_under_test")


def _use_n(monkeypatch: pytest.MonkeyPatch, n: int) -> None:
    monkeypatch.setenv("ASI_EVOLVE_TASK_PARAMS", json.dumps({"n": n}))


def _points_program(tmp_path: Path, points: str, extra: str = "") -> Path:
    """A program whose run_points returns a hand-made point set (a Python expression)."""
    path = tmp_path / "program.py"
    path.write_text(f"import numpy as np\n{extra}\ndef run_points(n):\n    return np.array({points}, dtype=float)\n")
    return path


def _program(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "program.py"
    path.write_text(body)
    return path


def _exact_ratio2(points: list[list[float]]) -> Fraction:
    exact = [(Fraction(x), Fraction(y)) for x, y in points]
    d2 = [(p[0] - q[0]) ** 2 + (p[1] - q[1]) ** 2 for k, p in enumerate(exact) for q in exact[k + 1:]]
    return max(d2) / min(d2)


@pytest.fixture(scope="module")
def shipped() -> dict[str, EvalResult]:
    """The initial program and the reference, evaluated once through the real path (split isolation)."""
    task = load_task("min_distance_ratio")
    programs = {"initial": task.initial_program, "reference": TASK_DIR / "references" / "slsqp_multistart.py"}
    return {name: evaluate_program(task, path) for name, path in programs.items()}


# --- the shipped programs -----------------------------------------------------------------------------------


def test_task_loads_with_its_reference_and_notes() -> None:
    task = load_task("min_distance_ratio")
    assert (task.params, task.isolation, task.sampler, task.reference_score) == ({"n": 16}, "split", "ucb1", 1.0)
    assert "12.889266112" in task.description and "12.889266112" in task.reference_label
    notes = sorted((TASK_DIR / "knowledge").glob("*.md"))
    assert len(notes) >= 2 and all(note.read_text().startswith("# ") for note in notes)


def test_initial_program_is_valid_and_scored_by_its_exact_ratio(shipped: dict[str, EvalResult]) -> None:
    result = shipped["initial"]
    assert result.status == "ok", result.error
    metrics = result.metrics
    points = _load(TASK_DIR / "initial_program.py", "mdr_initial").run_points(16).tolist()
    exact = _exact_ratio2(points)
    assert metrics["ratio_squared"] == float(exact)
    assert metrics["ratio"] == pytest.approx(math.sqrt(float(exact)))
    assert result.score == metrics["combined_score"] == float(Fraction(RECORD) / exact)
    assert 0.72 < result.score < 0.8  # better than the bare 4 x 4 grid (0.716), far from the record


def test_reference_beats_the_initial_program_and_reaches_the_record(shipped: dict[str, EvalResult]) -> None:
    initial, reference = shipped["initial"], shipped["reference"]
    assert reference.status == "ok", reference.error
    assert reference.score > initial.score
    assert 0.99999 < reference.score < 1.0001
    assert reference.metrics["ratio_squared"] < 12.8893
    assert reference.duration_s < 20


# --- exact validity -----------------------------------------------------------------------------------------


def test_the_grid_scores_exactly_record_over_18(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _use_n(monkeypatch, 16)
    result = evaluator.evaluate(_points_program(tmp_path, GRID_4X4))
    assert result["valid"] is True and "error" not in result
    assert result["ratio_squared"] == 18.0
    assert result["combined_score"] == float(Fraction(RECORD) / 18)
    assert result["record_ratio_squared"] == RECORD


def test_ratio_is_exact_on_the_floats_sent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _use_n(monkeypatch, 3)
    points = [[0.0, 0.0], [1.0, 0.0], [0.5, math.sqrt(3) / 2]]  # as equilateral as floats allow
    result = evaluator.evaluate(_points_program(tmp_path, repr(points)))
    exact = _exact_ratio2(points)
    assert exact != 1 and result["ratio_squared"] == float(exact)
    assert result["combined_score"] == float(1 / exact)  # no record stored for n = 3: 1 / ratio^2
    assert "record_ratio_squared" not in result


def test_a_unit_square_scores_one_half(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _use_n(monkeypatch, 4)
    result = evaluator.evaluate(_points_program(tmp_path, "[[0, 0], [1, 0], [0, 1], [1, 1]]"))
    assert (result["valid"], result["ratio_squared"], result["combined_score"]) == (True, 2.0, 0.5)
    # the points as checked, the first side found as the closest pair and the first diagonal as the farthest
    assert result["construction"] == {"points": [[0, 0], [1, 0], [0, 1], [1, 1]], "closest_pair": [0, 1],
                                      "farthest_pair": [0, 3]}


@pytest.mark.parametrize(
    ("points", "error"),
    [
        ("[[0, 0], [1, 0], [0, 0], [1, 1]]", "points 0 and 2 coincide"),
        ("[[0, 0], [1, 0], [-0.0, 0.0], [1, 1]]", "points 0 and 2 coincide"),
        ("[[0, 0], [float('nan'), 0], [0, 1], [1, 1]]", "point 1 has a non-finite or non-numeric x (nan)"),
        ("[[0, 0], [1, 0], [0, float('inf')], [1, 1]]", "point 2 has a non-finite or non-numeric y (inf)"),
        ("[[0, 0], [1, 0], [0, 1]]", "points have shape (3, 2), expected (4, 2)"),
        ("[[0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 1, 0]]", "points have shape (4, 3), expected (4, 2)"),
        ("[0, 0, 1, 0, 0, 1, 1, 1]", "points have shape (8,), expected (4, 2)"),
        ("[[[0], [0]]] * 4", "points have shape (4, 2, 1), expected (4, 2)"),
    ],
)
def test_malformed_point_sets_are_invalid_with_a_reason(
    points: str, error: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _use_n(monkeypatch, 4)
    result = evaluator.evaluate(_points_program(tmp_path, points))
    assert result["valid"] is False and result["combined_score"] == 0.0
    assert result["error"] == error
    assert "ratio_squared" not in result and "construction" not in result


def test_points_a_float_apart_are_distinct(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _use_n(monkeypatch, 2)
    result = evaluator.evaluate(_points_program(tmp_path, "[[0.5, 0.5], [0.5, 0.5 + 1e-16]]"))
    assert result["valid"] is True and result["ratio_squared"] == 1.0  # two points: always ratio 1


# --- broken and hostile programs ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "error"),
    [
        ("def run_points(n):\n    return (\n", "syntax error at line"),
        ("def construct_points(n):\n    return []\n", "program defines no top-level run_points(n)"),
        ("def run_points(n):\n    return 1 / 0\n",
         "program failed (exit code 1): ZeroDivisionError: division by zero"),
        ("def run_points(n):\n    return [['a', 'b']] * n\n", "program failed (exit code 1): TypeError: points have"),
        ("def run_points(n):\n    return None\n", "program failed (exit code 1): TypeError: points have dtype"),
        ("def run_points(n):\n    return 5.0\n", "points have shape float, expected (16, 2)"),
    ],
)
def test_broken_programs_fail_with_a_reason(source: str, error: str, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    _use_n(monkeypatch, 16)
    result = evaluator.evaluate(_program(tmp_path, source))
    assert result["valid"] is False and result["combined_score"] == 0.0
    assert result["error"].startswith(error) and "\n" not in result["error"]


def test_an_endless_loop_is_killed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _use_n(monkeypatch, 16)
    result = evaluator.evaluate(_program(tmp_path, "def run_points(n):\n    while True:\n        pass\n"),
                                timeout_s=1.5)
    assert result["valid"] is False and result["error"] == "program timed out after 1.5 s"


@pytest.mark.parametrize(
    ("patch", "finding"),
    [
        ("np.max = lambda *a, **k: 1.0", "assigns to np.max of an imported module"),
        ("import math\nmath.sqrt = lambda x: 1.0", "assigns to math.sqrt"),
        ("setattr(np, 'min', lambda *a: 1.0)", "calls setattr on module np"),
        ("import sys\nsys.modules['fractions'] = None", "touches sys.modules"),
        ("import gc", "imports gc"),
        ("SOURCE = open('tasks/min_distance_ratio/evaluator.py').read()", "mentions 'evaluator'"),
    ],
)
def test_tampering_is_rejected_before_running(patch: str, finding: str, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    _use_n(monkeypatch, 16)
    marker = tmp_path / "ran"
    program = _points_program(tmp_path, GRID_4X4, extra=f"{patch}\nopen({str(marker)!r}, 'w').close()")
    for result in (evaluator.evaluate(program), evaluator.evaluate_stage1(program)):
        assert result["valid"] is False and result["combined_score"] == 0.0
        assert result["error"].startswith("tampering: ") and finding in result["error"]
    assert not marker.exists()  # the program never ran


def test_patches_past_the_scan_and_printed_scores_change_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _use_n(monkeypatch, 16)
    extra = (
        "import math\n"
        "vars(np)['max'] = lambda *a, **k: 1.0\n"
        "vars(np)['min'] = lambda *a, **k: 1.0\n"
        "vars(math)['sqrt'] = lambda x: 1.0\n"
        "print('combined_score: 99.0')\n"
    )
    program = _points_program(tmp_path, GRID_4X4, extra=extra)
    assert tamper_findings(program.read_text()) == []  # the static scan is not exhaustive...
    result = evaluator.evaluate(program)  # ...the guard is the jail and the exact recomputation
    assert result["valid"] is True
    assert result["combined_score"] == float(Fraction(RECORD) / 18)


@pytest.mark.skipif(probe_support().backend != "bwrap", reason="hiding the task folder needs bubblewrap")
def test_the_evaluator_source_is_out_of_the_candidates_reach(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    _use_n(monkeypatch, 16)
    folder = str(TASK_DIR)[::-1]  # spelled backwards and apart, so the scan lets it through: only the jail
    extra = (f"path = {folder!r}[::-1] + '/evalu' + 'ator.py'\n"
             "try:\n    open(path).read()\n    raise SystemExit('read the checker')\nexcept OSError:\n    pass\n")
    program = _points_program(tmp_path, GRID_4X4, extra=extra)
    assert tamper_findings(program.read_text()) == []
    result = evaluator.evaluate(program)
    assert result["valid"] is True, result.get("error")
    assert (TASK_DIR / "evaluator.py").is_file()  # it is there, for the trusted side only


# --- end to end ---------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_offline_run_of_two_steps_stores_scored_nodes(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    proc = asi("run", "min_distance_ratio", "--steps", "2", "--run-dir", str(run_dir), "--seed", "0")
    assert proc.returncode == 0, proc.stderr
    info = status_json(run_dir)
    assert info["nodes"] == 3 and info["counts"]["ok"] >= 1
    assert info["initial_score"] == pytest.approx(0.741, abs=0.01)
    assert info["best_score"] >= info["initial_score"]
    assert info["reference_score"] == 1.0
