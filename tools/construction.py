"""Trusted helpers for mathematical construction tasks (`isolation: split`): circle packing, point sets, ...

Why one module: such a task's evaluator never runs the candidate in its own process. It runs one entry
function (`run_packing(n)`, `run_points(n)`) in the jail (`tools.jail.run_candidate`: own namespaces and uid,
nothing of the task folder visible), where a driver sends the return value back as JSON (repr-exact floats)
over a pipe only the evaluator reads; whatever the candidate patches or forks dies with the jail. The evaluator
then checks the numbers exactly (`fractions.Fraction`) and recomputes the score itself. The jailed run, the
static checks and the shape helpers are the same for every such task, so they live here; only the exact
checks, the score and the metrics stay in each task's evaluator.
"""

from __future__ import annotations

import ast
import json
import math
import os
import time
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

from tools.jail import run_candidate

PARAMS_ENV = "ASI_EVOLVE_TASK_PARAMS"
POINTS_ENTRY = "run_points"  # the entry function of the point-set tasks
# The metric holding the verified construction (the numbers the exact checks passed, and what they found), for
# the report's figures. Prompts show scalar metrics only (`agents.models.prompting.scalar_metrics`).
CONSTRUCTION = "construction"

Point = tuple[Fraction, Fraction]

# --- tamper scan --------------------------------------------------------------------------------------------
# Defence in depth, not the real guard (the jail is): it names the common cheats so a rejected candidate's
# record explains itself. Docstrings and comments are not scanned, so prose may use any word.
_BANNED_MODULES = frozenset({"ctypes", "gc", "inspect", "builtins"})
_BANNED_NAMES = frozenset({"__builtins__", "builtins"})
_BANNED_WORDS = ("evaluator", "asi_evolve")


def tamper_findings(source: str) -> list[str]:
    """Reasons the source looks like an attempt to cheat the checks (empty when clean). Raises SyntaxError."""
    tree = ast.parse(source)
    modules = _imported_names(tree)
    docstrings = _docstring_ids(tree)
    findings: list[str] = []
    for node in ast.walk(tree):
        findings.extend(_check_node(node, modules, docstrings))
    return list(dict.fromkeys(findings))


def _imported_names(tree: ast.AST) -> dict[str, str]:
    """Local names bound by imports, to the module they came from (`import numpy as np` -> np: numpy)."""
    names: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                names[a.asname or a.name.split(".")[0]] = a.name if a.asname else a.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom):
            for a in node.names:
                names[a.asname or a.name] = f"{node.module or ''}.{a.name}"
    return names


def _docstring_ids(tree: ast.AST) -> set[int]:
    ids: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                ids.add(id(first.value))
    return ids


def _root_name(node: ast.AST) -> str | None:
    while isinstance(node, ast.Attribute | ast.Subscript):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def _dotted(node: ast.AST) -> str:
    """`np.linalg.norm` for an attribute chain (a subscript names what it indexes)."""
    if isinstance(node, ast.Subscript):
        return _dotted(node.value)
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    return ".".join(reversed(parts))


def _assigned_targets(node: ast.AST) -> list[ast.AST]:
    if isinstance(node, ast.Assign | ast.Delete):
        targets = list(node.targets)
    elif isinstance(node, ast.AugAssign | ast.AnnAssign | ast.For | ast.AsyncFor):
        targets = [node.target]
    elif isinstance(node, ast.With | ast.AsyncWith):
        targets = [item.optional_vars for item in node.items if item.optional_vars is not None]
    else:
        return []
    flat: list[ast.AST] = []
    while targets:
        target = targets.pop()
        if isinstance(target, ast.Tuple | ast.List):
            targets.extend(target.elts)
        elif isinstance(target, ast.Starred):
            targets.append(target.value)
        else:
            flat.append(target)
    return flat


def _check_node(node: ast.AST, modules: dict[str, str], docstrings: set[int]) -> list[str]:
    found: list[str] = []
    for target in _assigned_targets(node):
        if isinstance(target, ast.Attribute | ast.Subscript) and _root_name(target) in modules:
            found.append(f"assigns to {_dotted(target)} of an imported module")
    if isinstance(node, ast.Import):
        found += [f"imports {a.name}" for a in node.names if a.name.split(".")[0] in _BANNED_MODULES]
    elif isinstance(node, ast.ImportFrom):
        module = node.module or ""
        if module.split(".")[0] in _BANNED_MODULES:
            found.append(f"imports from {module}")
        if module == "sys" and any(a.name == "modules" for a in node.names):
            found.append("imports sys.modules")
    elif isinstance(node, ast.Call):
        func = _dotted(node.func)
        first = node.args[0] if node.args else None
        if func in ("setattr", "delattr") and first is not None and _root_name(first) in modules:
            found.append(f"calls {func} on module {_root_name(first)}")
        if func.split(".")[-1] in ("__import__", "import_module") and isinstance(first, ast.Constant):
            if str(first.value).split(".")[0] in _BANNED_MODULES:
                found.append(f"imports {first.value}")
    elif isinstance(node, ast.Attribute):
        if node.attr == "modules" and modules.get(_root_name(node) or "") == "sys":
            found.append(f"touches {_dotted(node)}")
        if node.attr in _BANNED_NAMES:
            found.append(f"touches {node.attr}")
    elif isinstance(node, ast.Name) and node.id in _BANNED_NAMES:
        found.append(f"touches {node.id}")
    found += [f"mentions '{word}'" for word in _BANNED_WORDS if word in _text_of(node, docstrings).lower()]
    return found


def _text_of(node: ast.AST, docstrings: set[int]) -> str:
    """The identifier or string a node spells out (docstrings excluded), for the banned-word check."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.alias):
        return node.name
    if isinstance(node, ast.ImportFrom):
        return node.module or ""
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
        return node.value
    return ""


def static_error(path: Path, entry: str, params: str = "n") -> str:
    """Why the program is rejected without running it ("" when it may run): unreadable, unparsable, tampering,
    or no top-level `entry` function. Costs nothing, so a cascade can filter on it."""
    try:
        source = path.read_text()
    except OSError as exc:
        return f"cannot read program: {exc.strerror or exc}"
    try:
        findings = tamper_findings(source)
    except SyntaxError as exc:
        return f"syntax error at line {exc.lineno}: {exc.msg}"
    if findings:
        return "tampering: " + "; ".join(findings)
    if not any(isinstance(s, ast.FunctionDef) and s.name == entry for s in ast.parse(source).body):
        return f"program defines no top-level {entry}({params})"
    return ""


# --- running the entry function in the jail -----------------------------------------------------------------

# argv: program, entry, JSON args, JSON array names, dtype message. numpy is imported before the candidate,
# so a numpy.py it writes into its work dir is never the one that converts its arrays.
_DRIVER = """
import importlib.util, json, os, sys
program, entry, args, arrays, dtype_error = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), \\
    json.loads(sys.argv[4]), sys.argv[5]
if arrays:
    import numpy as np
out = os.fdopen(int(os.environ.pop("ASI_EVOLVE_RESULT_FD")), "w")
spec = importlib.util.spec_from_file_location("candidate_program", program)
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
value = getattr(module, entry)(*args)
if arrays:
    values = [value] if len(arrays) == 1 else list(value)
    if len(values) != len(arrays):
        raise ValueError(f"{entry} returned {len(values)} values, expected {len(arrays)}")
    value = {}
    for name, item in zip(arrays, values):
        arr = np.asarray(item)
        if arr.dtype.kind not in "iuf":
            raise TypeError(dtype_error.format(name=name, dtype=arr.dtype))
        value[name] = arr.astype(float).tolist()
json.dump(value, out)
out.close()
"""


class ProgramError(Exception):
    """The program produced no result (crash, timeout, unreadable output); the message is one line."""


def run_entry(program_path: Path, entry: str, args: Sequence[Any], timeout_s: float, *,
              arrays: Sequence[str] = (), what: str = "a result",
              dtype_error: str = "{name} has dtype {dtype}, expected numbers") -> Any:
    """Call `entry(*args)` of the program in the jail and return the JSON it sent back (raises ProgramError).

    With `arrays`, the return value (one array, or a tuple of as many) becomes `{name: float lists}`, and a
    non-numeric array fails in the jail with `dtype_error`. `what` names the result in messages ("a packing",
    "n points": "more output than a packing can hold", "no readable packing").
    """
    res = run_candidate(program_path, code=_DRIVER, timeout_s=timeout_s,
                        args=[entry, json.dumps(list(args)), json.dumps(list(arrays)), dtype_error])
    if res.timed_out:
        raise ProgramError(f"program timed out after {timeout_s:g} s")
    if res.returncode != 0:
        raise ProgramError(f"program failed ({res.describe_exit()}): {last_line(res.stderr)}")
    if res.result_dropped:
        raise ProgramError(f"program sent more output than {what} can hold")
    try:
        return json.loads(res.result.decode())
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ProgramError(f"program sent no readable {what.split()[-1]} ({type(exc).__name__})") from None


def run_points(program_path: Path, n: int, timeout_s: float) -> Any:
    """`run_points(n)` in the jail, its return value sent as `{"points": [[x, y], ...]}` (point-set tasks)."""
    return run_entry(program_path, POINTS_ENTRY, [n], timeout_s, arrays=("points",), what="n points",
                     dtype_error="{name} have dtype {dtype}, expected numbers")


def last_line(text: str) -> str:
    """The last non-blank line (at most 300 characters): an error's one-line summary."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:300] if lines else "no error output"


# --- shapes and exact values --------------------------------------------------------------------------------


def has_shape(value: Any, shape: tuple[int, ...]) -> bool:
    """Whether nested JSON lists have exactly this shape (a scalar for `()`)."""
    if not shape:
        return not isinstance(value, list)
    return isinstance(value, list) and len(value) == shape[0] and all(has_shape(v, shape[1:]) for v in value)


def shape_of(value: Any) -> str:
    """The shape of nested lists as numpy prints it ("(3, 2)"), or the type name of a scalar."""
    dims: list[int] = []
    while isinstance(value, list):
        dims.append(len(value))
        value = value[0] if value else None
    return str(tuple(dims)) if dims else type(value).__name__


def exact_points(data: Any, n: int) -> tuple[list[Point], str]:
    """The points as exact rationals, or ([], one-line reason) when the output is not n finite 2-d points."""
    points = data.get("points") if isinstance(data, dict) else None
    if not has_shape(points, (n, 2)):
        return [], f"points have shape {shape_of(points)}, expected ({n}, 2)"
    for i, (x, y) in enumerate(points):
        for what, v in (("x", x), ("y", y)):
            if not isinstance(v, float) or not math.isfinite(v):  # the driver writes floats only
                return [], f"point {i} has a non-finite or non-numeric {what} ({repr(v)[:40]})"
    return [(Fraction(x), Fraction(y)) for x, y in points], ""


def as_floats(points: Sequence[Point]) -> list[list[float]]:
    """Checked points back as JSON floats. Exact: every rational here was made from a float the jail sent, so
    the figures show precisely what was verified."""
    return [[float(x), float(y)] for x, y in points]


def first_problem(problems: Sequence[str]) -> str:
    """One line for a list of violations: the first, and how many there are in all when more than one."""
    if not problems:
        return ""
    return problems[0] + (f" ({len(problems)} violations in all)" if len(problems) > 1 else "")


# --- the evaluator's frame ----------------------------------------------------------------------------------


def task_n(default: int) -> int:
    """The task's size parameter `n`, from env `ASI_EVOLVE_TASK_PARAMS` (JSON)."""
    params = json.loads(os.environ.get(PARAMS_ENV) or "{}")
    return int(params.get("n", default))


def finish(metrics: dict[str, Any], start: float, error: str) -> dict[str, Any]:
    """Add the evaluation time and, for an invalid program, its one-line error; return the metrics."""
    metrics["eval_time_s"] = time.monotonic() - start
    if error:
        metrics["error"] = error
    return metrics


def evaluate_stage1(program_path: str | os.PathLike[str], entry: str) -> dict[str, Any]:
    """Cheap cascade filter that runs nothing: the program parses, passes the tamper scan, defines `entry`."""
    start = time.monotonic()
    error = static_error(Path(program_path), entry)
    return finish({"combined_score": 0.0 if error else 1.0, "valid": not error}, start, error)
