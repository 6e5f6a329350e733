"""The shared trusted side of construction tasks: tamper scan, static checks, the jailed entry run, shapes."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest

from tools import construction
from tools.construction import (
    ProgramError,
    exact_points,
    first_problem,
    has_shape,
    run_entry,
    shape_of,
    static_error,
    tamper_findings,
)
from tools.sandbox import SandboxResult


def _program(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "program.py"
    path.write_text(body)
    return path


# --- tamper scan and static checks --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "finding"),
    [
        ("import ctypes\n", "imports ctypes"),
        ("import numpy as np\nnp.sum = lambda *a: 0\n", "assigns to np.sum of an imported module"),
        ("__builtins__['abs'] = None\n", "touches __builtins__"),
        ("import sys\nx = sys.modules\n", "touches sys.modules"),
        ("import importlib\nimportlib.import_module('gc')\n", "imports gc"),
        ("PATH = 'evaluator.py'\n", "mentions 'evaluator'"),
    ],
)
def test_tamper_scan_flags_the_common_cheats(source: str, finding: str) -> None:
    assert finding in tamper_findings(source)


def test_tamper_scan_leaves_prose_and_own_objects_alone() -> None:
    source = ('"""The evaluator and ASI_EVOLVE may be named in prose."""\nimport numpy as np\n'
              "class Box:\n    pass\nbox = Box()\nbox.size = 1.0\nscratch = np.zeros(2)\nscratch[0] = 1.0\n")
    assert tamper_findings(source) == []


@pytest.mark.parametrize(
    ("source", "error"),
    [
        ("def run(n):\n    return (\n", "syntax error at line"),
        ("import gc\ndef run(n):\n    return 1\n", "tampering: imports gc"),
        ("def other(n):\n    return 1\n", "program defines no top-level run(n)"),
        ("def run(n):\n    return 1\n", ""),
    ],
)
def test_static_error(source: str, error: str, tmp_path: Path) -> None:
    assert static_error(_program(tmp_path, source), "run").startswith(error)
    assert bool(static_error(_program(tmp_path, source), "run")) == bool(error)


def test_stage1_scores_by_the_static_check_alone(tmp_path: Path) -> None:
    good = construction.evaluate_stage1(_program(tmp_path, "def run(n):\n    raise SystemExit(1)\n"), "run")
    assert (good["combined_score"], good["valid"], "error" in good) == (1.0, True, False)
    bad = construction.evaluate_stage1(tmp_path / "missing.py", "run")
    assert bad["valid"] is False and bad["error"].startswith("cannot read program")


# --- the jailed run -----------------------------------------------------------------------------------------


def test_run_entry_returns_the_json_of_the_entry(tmp_path: Path) -> None:
    program = _program(tmp_path, "def run(n, scale):\n    return {'n': n, 'values': [scale / 3] * n}\n")
    assert run_entry(program, "run", [2, 1.0], 20.0) == {"n": 2, "values": [1 / 3, 1 / 3]}


def test_run_entry_converts_named_arrays_and_rejects_non_numbers(tmp_path: Path) -> None:
    program = _program(tmp_path, "import numpy as np\ndef run(n):\n    return np.eye(n), np.arange(n)\n")
    data = run_entry(program, "run", [2], 20.0, arrays=("a", "b"))
    assert data == {"a": [[1.0, 0.0], [0.0, 1.0]], "b": [0.0, 1.0]}
    strings = _program(tmp_path, "def run(n):\n    return ['x'] * n\n")
    with pytest.raises(ProgramError, match=r"^program failed \(exit code 1\): TypeError: a has dtype <U1"):
        run_entry(strings, "run", [2], 20.0, arrays=("a",))


def test_a_crash_is_one_line(tmp_path: Path) -> None:
    program = _program(tmp_path, "def run():\n    return 1 / 0\n")
    with pytest.raises(ProgramError) as info:
        run_entry(program, "run", [], 20.0)
    assert str(info.value) == "program failed (exit code 1): ZeroDivisionError: division by zero"


def test_a_timeout_is_one_line(tmp_path: Path) -> None:
    program = _program(tmp_path, "def run():\n    while True:\n        pass\n")
    with pytest.raises(ProgramError) as info:
        run_entry(program, "run", [], 1.0)
    assert str(info.value) == "program timed out after 1 s"


@pytest.mark.parametrize(
    ("result", "dropped", "error"),
    [
        (b"{not json", 0, "program sent no readable packing (JSONDecodeError)"),
        (b"\xff\xfe", 0, "program sent no readable packing (UnicodeDecodeError)"),
        (b"[1, 2", 10, "program sent more output than a packing can hold"),
    ],
)
def test_unreadable_or_oversized_output_is_one_line(result: bytes, dropped: int, error: str, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    sent = SandboxResult(0, False, "", "", 0, 0, 0.1, result=result, result_dropped=dropped)
    monkeypatch.setattr(construction, "run_candidate", lambda *a, **k: sent)
    with pytest.raises(ProgramError) as info:
        run_entry(tmp_path / "program.py", "run", [], 5.0, what="a packing")
    assert str(info.value) == error


# --- shapes and exact points --------------------------------------------------------------------------------


def test_shapes() -> None:
    assert has_shape([[1.0, 2.0]] * 3, (3, 2)) and not has_shape([[1.0, 2.0]] * 3, (3,))
    assert not has_shape([[1.0], [1.0, 2.0]], (2, 2))
    assert (shape_of([[1.0, 2.0]] * 3), shape_of([[[0]]] * 4), shape_of(5.0), shape_of(None)) == (
        "(3, 2)", "(4, 1, 1)", "float", "NoneType")


def test_exact_points_are_rationals_or_a_reason() -> None:
    points, error = exact_points({"points": [[0.1, 0.5], [1.0, 2.0]]}, 2)
    assert error == "" and points == [(Fraction(0.1), Fraction(1, 2)), (Fraction(1), Fraction(2))]
    assert exact_points({"points": [[0.0, 0.0]]}, 2)[1] == "points have shape (1, 2), expected (2, 2)"
    assert exact_points({"points": [[0.0, float("nan")]]}, 1)[1] == (
        "point 0 has a non-finite or non-numeric y (nan)")
    assert exact_points([], 1)[1] == "points have shape NoneType, expected (1, 2)"


def test_first_problem_counts_the_rest() -> None:
    assert first_problem([]) == ""
    assert first_problem(["a"]) == "a"
    assert first_problem(["a", "b", "c"]) == "a (3 violations in all)"
