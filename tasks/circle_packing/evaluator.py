"""Exact evaluator for circle packing in the unit square (OpenEvolve contract: `evaluate(path) -> dict`).

Why it is built this way (`isolation: split` in task.yaml):
- The candidate never runs in this process. It runs in the jail (`tools.jail.run_candidate`: its own namespaces
  and uid, nothing of this folder visible), where a driver imports it, calls `run_packing(n)` and sends the
  centres and radii back as JSON (repr-exact floats) over a pipe only this process reads. Whatever the
  candidate patches (numpy, builtins) or forks dies with the jail; the checks here use only
  `fractions.Fraction`, so they cannot be fooled.
- Zero tolerance: every float is converted to an exact rational and the constraints are checked exactly.
- The score is recomputed here (`math.fsum` of the validated radii); anything the program prints is ignored.
- A static tamper scan rejects the obvious cheats before running, so the record says why a candidate failed.

The task parameter `n` comes from env `ASI_EVOLVE_TASK_PARAMS` (JSON, default `{"n": 26}`).
"""

from __future__ import annotations

import ast
import json
import math
import os
import sys
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

from tools.jail import run_candidate

PARAMS_ENV = "ASI_EVOLVE_TASK_PARAMS"
DEFAULT_N = 26
RUN_TIMEOUT_S = 20.0
# Sums the scores are compared with (`target_ratio`); see knowledge/records.md for where they come from.
REFERENCE_SUMS: dict[int, float] = {26: 2.6359830849, 32: 2.937944526}

_DRIVER = """
import importlib.util, json, os, sys
import numpy as np
program, n = sys.argv[1], int(sys.argv[2])
out = os.fdopen(int(os.environ.pop("ASI_EVOLVE_RESULT_FD")), "w")
spec = importlib.util.spec_from_file_location("candidate_program", program)
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
centers, radii = module.run_packing(n)
centers, radii = np.asarray(centers), np.asarray(radii)
for name, arr in (("centers", centers), ("radii", radii)):
    if arr.dtype.kind not in "iuf":
        raise TypeError(f"{name} has dtype {arr.dtype}, expected numbers")
json.dump({"centers": centers.astype(float).tolist(), "radii": radii.astype(float).tolist()}, out)
out.close()
"""

# --- tamper scan --------------------------------------------------------------------------------------------
# Defence in depth, not the real guard (the nested process is): it names the common cheats so a rejected
# candidate's record explains itself. Docstrings and comments are not scanned, so prose may use any word.
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
    if isinstance(node, ast.Assign):
        targets = list(node.targets)
    elif isinstance(node, ast.AugAssign | ast.AnnAssign | ast.For | ast.AsyncFor):
        targets = [node.target]
    elif isinstance(node, ast.Delete):
        targets = list(node.targets)
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


# --- running the program ------------------------------------------------------------------------------------


class ProgramError(Exception):
    """The program could not produce a packing (crash, timeout, missing output); message is one line."""


def run_program(program_path: Path, n: int, timeout_s: float) -> dict[str, Any]:
    """Run `run_packing(n)` in the jail and return the packing it sent back over its result channel."""
    res = run_candidate(program_path, code=_DRIVER, args=[str(n)], timeout_s=timeout_s)
    if res.timed_out:
        raise ProgramError(f"program timed out after {timeout_s:g} s")
    if res.returncode != 0:
        raise ProgramError(f"program failed ({res.describe_exit()}): {_last_line(res.stderr)}")
    if res.result_dropped:
        raise ProgramError("program sent more output than a packing can hold")
    try:
        return json.loads(res.result.decode())
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ProgramError(f"program sent no readable packing ({type(exc).__name__})") from None


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:300] if lines else "no error output"


# --- exact validation ---------------------------------------------------------------------------------------

_WALLS = (("left", 0, -1, 0), ("bottom", 1, -1, 0), ("right", 0, 1, 1), ("top", 1, 1, 1))


def validate_packing(data: Any, n: int) -> tuple[list[float], str]:
    """Check the packing exactly; return (radii, "") when valid, else ([], one-line reason)."""
    if not isinstance(data, dict):
        return [], "program output is not a mapping"
    centers, radii = data.get("centers"), data.get("radii")
    if not _has_shape(centers, (n, 2)):
        return [], f"centers have shape {_shape(centers)}, expected ({n}, 2)"
    if not _has_shape(radii, (n,)):
        return [], f"radii have shape {_shape(radii)}, expected ({n},)"
    for i, (x, y) in enumerate(centers):
        for what, v in (("x", x), ("y", y), ("radius", radii[i])):
            if not isinstance(v, float) or not math.isfinite(v):  # the driver writes floats only
                return [], f"circle {i} has a non-finite or non-numeric {what} ({repr(v)[:40]})"
    xy = [(Fraction(x), Fraction(y)) for x, y in centers]
    rs = [Fraction(r) for r in radii]
    problems = _violations(xy, rs)
    if problems:
        more = f" ({len(problems)} violations in all)" if len(problems) > 1 else ""
        return [], problems[0] + more
    return [float(r) for r in radii], ""


def _violations(xy: list[tuple[Fraction, Fraction]], rs: list[Fraction]) -> list[str]:
    problems = [f"circle {i} has radius {float(r):.3g} (must be > 0)" for i, r in enumerate(rs) if r <= 0]
    for i, (centre, r) in enumerate(zip(xy, rs, strict=True)):
        for wall, axis, side, limit in _WALLS:
            excess = side * (centre[axis] + side * r - limit)
            if excess > 0:
                problems.append(f"circle {i} crosses the {wall} wall by {float(excess):.3g}")
    for i in range(len(rs)):
        for j in range(i + 1, len(rs)):
            d2 = (xy[i][0] - xy[j][0]) ** 2 + (xy[i][1] - xy[j][1]) ** 2
            reach = rs[i] + rs[j]
            if d2 < reach * reach:
                depth = float(reach * reach - d2) / (float(reach) + math.sqrt(float(d2)))
                problems.append(f"circles {i} and {j} overlap by {depth:.3g}")
    return problems


def _has_shape(value: Any, shape: tuple[int, ...]) -> bool:
    if not shape:
        return not isinstance(value, list)
    return isinstance(value, list) and len(value) == shape[0] and all(_has_shape(v, shape[1:]) for v in value)


def _shape(value: Any) -> str:
    dims: list[int] = []
    while isinstance(value, list):
        dims.append(len(value))
        value = value[0] if value else None
    return str(tuple(dims)) if dims else type(value).__name__


# --- OpenEvolve entry points --------------------------------------------------------------------------------


def task_n() -> int:
    """The number of circles, from env `ASI_EVOLVE_TASK_PARAMS` (JSON)."""
    params = json.loads(os.environ.get(PARAMS_ENV) or "{}")
    return int(params.get("n", DEFAULT_N))


def evaluate_stage1(program_path: str | os.PathLike[str]) -> dict[str, Any]:
    """Cheap cascade filter that runs nothing: the program parses, passes the tamper scan, has run_packing."""
    start = time.monotonic()
    error = _static_error(Path(program_path))
    metrics: dict[str, Any] = {"combined_score": 0.0 if error else 1.0, "valid": not error}
    metrics["eval_time_s"] = time.monotonic() - start
    if error:
        metrics["error"] = error
    return metrics


def evaluate(program_path: str | os.PathLike[str], *, timeout_s: float = RUN_TIMEOUT_S) -> dict[str, Any]:
    """Run the program for the task's n, check its packing exactly, and score it by the sum of radii.

    Never raises for a bad program: a crash, timeout, tampering or invalid packing returns `valid: False`,
    `combined_score: 0.0` and a one-line `error`.
    """
    start = time.monotonic()
    n = task_n()
    path = Path(program_path).resolve()
    error = _static_error(path)
    radii: list[float] = []
    if not error:
        try:
            radii, error = validate_packing(run_program(path, n, timeout_s), n)
        except ProgramError as exc:
            error = str(exc)
    total = 0.0 if error else math.fsum(radii)
    metrics: dict[str, Any] = {"combined_score": total, "sum_radii": total, "n": n, "valid": not error}
    if n in REFERENCE_SUMS:
        metrics["target_ratio"] = total / REFERENCE_SUMS[n]
    metrics["eval_time_s"] = time.monotonic() - start
    if error:
        metrics["error"] = error
    return metrics


def _static_error(path: Path) -> str:
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
    tree = ast.parse(source)
    if not any(isinstance(s, ast.FunctionDef) and s.name == "run_packing" for s in tree.body):
        return "program defines no top-level run_packing(n)"
    return ""


if __name__ == "__main__":
    print(json.dumps(evaluate(sys.argv[1]), indent=2))
