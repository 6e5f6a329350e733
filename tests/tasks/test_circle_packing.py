"""The circle-packing task: its initial program and its exact, tamper-resistant evaluator (real processes)."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import time
from fractions import Fraction
from pathlib import Path
from types import ModuleType

import psutil
import pytest

from tasks.registry import BUILTIN_DIR, load_task
from tools.construction import tamper_findings

TASK_DIR = BUILTIN_DIR / "circle_packing"


def _load(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


evaluator = _load(TASK_DIR / "evaluator.py", "circle_packing_evaluator_under_test")


def _use_n(monkeypatch: pytest.MonkeyPatch, n: int) -> None:
    monkeypatch.setenv("ASI_EVOLVE_TASK_PARAMS", json.dumps({"n": n}))


def _packing_program(tmp_path: Path, centers: str, radii: str, extra: str = "") -> Path:
    """A program whose run_packing returns a hand-made packing (Python expressions, floats via repr)."""
    path = tmp_path / "program.py"
    path.write_text(
        "import numpy as np\n"
        f"{extra}\n"
        "def run_packing(n):\n"
        f"    return np.array({centers}, dtype=float), np.array({radii}, dtype=float)\n"
    )
    return path


def _program(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "program.py"
    path.write_text(body)
    return path


# --- the initial program ------------------------------------------------------------------------------------


@pytest.mark.parametrize("task", ["circle_packing", "circle_packing_32"])
def test_initial_program_is_valid_and_scored_by_its_radii(task: str, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = load_task(task)
    monkeypatch.setenv("ASI_EVOLVE_TASK_PARAMS", json.dumps(spec.params))
    result = evaluator.evaluate(spec.initial_program)
    assert result["valid"] is True, result.get("error")
    assert "error" not in result
    n = spec.params["n"]
    _, radii = _load(spec.initial_program, f"initial_program_{n}").run_packing(n)
    assert result["n"] == n
    assert result["combined_score"] == result["sum_radii"] == math.fsum(radii.tolist())
    assert 1.9 < result["combined_score"] < 0.95 * spec.reference_score  # valid, with clear room to improve
    assert result["target_ratio"] == pytest.approx(result["combined_score"] / spec.reference_score)
    assert result["eval_time_s"] > 0


def test_n_defaults_to_26_without_task_params(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ASI_EVOLVE_TASK_PARAMS", raising=False)
    assert evaluator.evaluate(TASK_DIR / "initial_program.py")["n"] == 26


def test_knowledge_notes_exist() -> None:
    notes = sorted((TASK_DIR / "knowledge").glob("*.md"))
    assert len(notes) >= 2 and all(note.read_text().startswith("# ") for note in notes)


# --- zero-tolerance validity --------------------------------------------------------------------------------


def test_touching_circles_are_valid_but_a_1e9_overlap_is_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _use_n(monkeypatch, 2)
    centers = "[[0.25, 0.5], [0.5, 0.5]]"  # exactly 0.25 apart
    touching = evaluator.evaluate(_packing_program(tmp_path, centers, "[0.125, 0.125]"))
    assert touching["valid"] is True and touching["combined_score"] == 0.25
    assert touching["construction"] == {"centers": [[0.25, 0.5], [0.5, 0.5]], "radii": [0.125, 0.125]}  # as checked

    bigger = 0.125 + 1e-9
    depth = Fraction(0.125) + Fraction(bigger) - Fraction(0.25)  # exact overlap of the floats sent
    assert abs(float(depth) - 1e-9) < 1e-16
    result = evaluator.evaluate(_packing_program(tmp_path, centers, f"[0.125, {bigger!r}]"))
    assert result["valid"] is False
    assert result["combined_score"] == 0.0
    assert result["error"] == f"circles 0 and 1 overlap by {float(depth):.3g}"
    assert result["error"] == "circles 0 and 1 overlap by 1e-09"
    assert "construction" not in result  # only a verified packing is kept


def test_touching_a_wall_is_valid_but_crossing_by_1e12_is_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _use_n(monkeypatch, 2)
    centers = "[[0.125, 0.5], [0.875, 0.5]]"
    valid = evaluator.evaluate(_packing_program(tmp_path, centers, "[0.125, 0.125]"))
    assert valid["valid"] is True and valid["combined_score"] == 0.25
    assert "target_ratio" not in valid  # no reference for n=2

    crossing = evaluator.evaluate(_packing_program(tmp_path, centers, f"[0.125, {0.125 + 1e-12!r}]"))
    assert crossing["valid"] is False
    assert crossing["error"] == "circle 1 crosses the right wall by 1e-12"


def test_every_violation_is_counted_in_the_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _use_n(monkeypatch, 2)
    result = evaluator.evaluate(_packing_program(tmp_path, "[[0.5, 0.5], [0.5, 0.5]]", "[0.6, 0.1]"))
    assert result["valid"] is False
    assert result["error"].endswith("(5 violations in all)")  # four walls for circle 0, one overlap


_CENTERS = "[[0.25, 0.25], [0.75, 0.75]]"


@pytest.mark.parametrize(
    ("centers", "radii", "error"),
    [
        (_CENTERS[:-1] + ", [0.5, 0.5]]", "[0.1] * 3", "centers have shape (3, 2), expected (2, 2)"),
        ("[[0.25, 0.25, 0.0], [0.75, 0.75, 0.0]]", "[0.1] * 2", "centers have shape (2, 3), expected (2, 2)"),
        (_CENTERS, "[[0.1], [0.1]]", "radii have shape (2, 1), expected (2,)"),
        ("[[float('nan'), 0.25], [0.75, 0.75]]", "[0.1] * 2", "circle 0 has a non-finite or non-numeric x"),
        (_CENTERS, "[0.1, float('inf')]", "circle 1 has a non-finite or non-numeric radius (inf)"),
        (_CENTERS, "[0.1, -0.1]", "circle 1 has radius -0.1 (must be > 0)"),
        (_CENTERS, "[0.1, 0.0]", "circle 1 has radius 0 (must be > 0)"),
    ],
)
def test_malformed_packings_are_invalid(
    centers: str, radii: str, error: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _use_n(monkeypatch, 2)
    result = evaluator.evaluate(_packing_program(tmp_path, centers, radii))
    assert result["valid"] is False
    assert result["combined_score"] == result["sum_radii"] == 0.0
    assert result["error"].startswith(error)
    assert "\n" not in result["error"]


# --- hostile and broken programs ----------------------------------------------------------------------------

_VALID_PAIR = ("[[0.25, 0.5], [0.75, 0.5]]", "[0.25, 0.25]")


@pytest.mark.parametrize(
    ("patch", "finding"),
    [
        ("np.all = lambda *a, **k: True", "assigns to np.all of an imported module"),
        ("np.linalg.norm = lambda *a, **k: 1.0", "assigns to np.linalg.norm"),
        ("import numpy\nnumpy.linalg.norm = abs", "assigns to numpy.linalg.norm"),
        ("import math as m\nm.sqrt = lambda x: 1e9", "assigns to m.sqrt"),
        ("from numpy import linalg\nlinalg.norm = abs", "assigns to linalg.norm"),
        ("setattr(np, 'all', lambda *a: True)", "calls setattr on module np"),
        ("import sys\nsys.modules['numpy'] = None", "touches sys.modules"),
        ("import builtins\nbuiltins.abs = None", "imports builtins"),
        ("__builtins__['abs'] = None", "touches __builtins__"),
        ("import ctypes", "imports ctypes"),
        ("import gc", "imports gc"),
        ("from inspect import stack", "imports from inspect"),
        ("import importlib\nimportlib.import_module('ctypes')", "imports ctypes"),
        ("import os\nPARAMS = os.environ.get('ASI_EVOLVE_TASK_PARAMS')", "mentions 'asi_evolve'"),
        ("TARGET = 'evaluator.py'", "mentions 'evaluator'"),
    ],
)
def test_tampering_is_rejected_before_running(
    patch: str, finding: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _use_n(monkeypatch, 2)
    marker = tmp_path / "ran"
    extra = f"{patch}\nopen({str(marker)!r}, 'w').close()"
    program = _packing_program(tmp_path, *_VALID_PAIR, extra=extra)
    for result in (evaluator.evaluate(program), evaluator.evaluate_stage1(program)):
        assert result["valid"] is False and result["combined_score"] == 0.0
        assert result["error"].startswith("tampering: ")
        assert finding in result["error"]
    assert not marker.exists()  # the program never ran


def test_tamper_scan_leaves_ordinary_code_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _use_n(monkeypatch, 2)
    docstring = '"""Prose may mention the evaluator and ASI_EVOLVE freely."""\n'
    ordinary = (
        "import math\n"
        "scratch = np.zeros(3)\n"
        "scratch[0] = math.sqrt(2)\n"
        "class Box:\n"
        "    pass\n"
        "box = Box()\n"
        "box.size = 1.0  # attributes of our own objects are fine\n"
    )
    program = tmp_path / "program.py"
    program.write_text(docstring + _packing_program(tmp_path, *_VALID_PAIR).read_text() + ordinary)
    assert tamper_findings(program.read_text()) == []
    assert evaluator.evaluate(program)["valid"] is True


def test_patches_that_slip_past_the_scan_still_cannot_fake_validity(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _use_n(monkeypatch, 2)
    extra = (
        "import math\n"
        "vars(np)['all'] = lambda *a, **k: True\n"
        "vars(np)['hypot'] = lambda *a, **k: 9.0\n"
        "vars(math)['sqrt'] = lambda x: 9.0\n"
        "vars(math)['fsum'] = lambda xs: 99.0\n"
    )
    program = _packing_program(tmp_path, "[[0.3, 0.5], [0.6, 0.5]]", "[0.2, 0.2]", extra=extra)
    assert tamper_findings(program.read_text()) == []  # the static scan is not exhaustive...
    result = evaluator.evaluate(program)  # ...the guard is the separate process and exact checks
    assert result["valid"] is False and result["combined_score"] == 0.0
    assert result["error"].startswith("circles 0 and 1 overlap by 0.1")


def test_printed_sums_are_ignored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _use_n(monkeypatch, 2)
    extra = "print('sum of radii: 999.0')\nprint(json_sum := 999.0)"
    result = evaluator.evaluate(_packing_program(tmp_path, *_VALID_PAIR, extra=extra))
    assert result["valid"] is True
    assert result["combined_score"] == 0.5


def test_crash_is_reported_not_raised(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _use_n(monkeypatch, 2)
    program = _program(tmp_path, "def run_packing(n):\n    return 1 / 0\n")
    result = evaluator.evaluate(program)
    assert result["valid"] is False and result["combined_score"] == 0.0
    assert result["error"] == "program failed (exit code 1): ZeroDivisionError: division by zero"


def test_wrong_return_value_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _use_n(monkeypatch, 2)
    program = _program(tmp_path, "def run_packing(n):\n    return [['a', 'b'], ['c', 'd']], ['x', 'y']\n")
    result = evaluator.evaluate(program)
    assert result["valid"] is False
    assert "centers has dtype <U1, expected numbers" in result["error"]


def test_timeout_kills_the_program(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _use_n(monkeypatch, 2)
    marker = f"sleeper-{os.getpid()}"
    program = _program(
        tmp_path,
        "import subprocess, time\n"
        "def run_packing(n):\n"
        f"    subprocess.Popen(['sleep', '60', {marker!r}], start_new_session=True)\n"
        "    time.sleep(60)\n",
    )
    start = time.monotonic()
    result = evaluator.evaluate(program, timeout_s=1.5)
    assert time.monotonic() - start < 10
    assert result["valid"] is False and result["combined_score"] == 0.0
    assert result["error"] == "program timed out after 1.5 s"
    left = [p for p in psutil.process_iter(["cmdline"]) if marker in (p.info["cmdline"] or [])]
    assert left == [], "the program and the helper it started die with the jail"


# --- the cheap first stage ----------------------------------------------------------------------------------


def test_stage1_passes_the_initial_program_without_running_it() -> None:
    result = evaluator.evaluate_stage1(TASK_DIR / "initial_program.py")
    assert result["combined_score"] == 1.0 and result["valid"] is True


@pytest.mark.parametrize(
    ("source", "error"),
    [
        ("def run_packing(n):\n    return (\n", "syntax error at line"),
        ("def construct_packing(n):\n    return None\n", "program defines no top-level run_packing(n)"),
    ],
)
def test_stage1_rejects_unparsable_or_incomplete_programs(source: str, error: str, tmp_path: Path) -> None:
    result = evaluator.evaluate_stage1(_program(tmp_path, source))
    assert result["combined_score"] == 0.0 and result["valid"] is False
    assert result["error"].startswith(error)
