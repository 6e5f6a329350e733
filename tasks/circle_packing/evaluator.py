"""Exact evaluator for circle packing in the unit square (OpenEvolve contract: `evaluate(path) -> dict`).

Why it is built this way (`isolation: split` in task.yaml):
- The candidate never runs in this process: `tools.construction.run_entry` calls `run_packing(n)` in the
  jail and sends back the centres and radii as JSON (repr-exact floats) over a pipe only this process reads.
  Whatever the candidate patches (numpy, builtins) or forks dies with the jail; the checks here use only
  `fractions.Fraction`, so they cannot be fooled.
- Zero tolerance: every float is converted to an exact rational and the constraints are checked exactly.
- The score is recomputed here (`math.fsum` of the validated radii); anything the program prints is ignored.
- The shared static tamper scan (`tools.construction`) rejects the obvious cheats before running, so the
  record says why a candidate failed.
- A valid packing is kept in the metrics (`construction`: the centres and radii exactly as checked) so the run
  report can draw it; prompts show scalar metrics only.

The task parameter `n` comes from env `ASI_EVOLVE_TASK_PARAMS` (JSON, default `{"n": 26}`).
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

from tools import construction
from tools.construction import CONSTRUCTION, ProgramError, as_floats, first_problem, has_shape, shape_of, static_error

DEFAULT_N = 26
RUN_TIMEOUT_S = 20.0
ENTRY_POINT = "run_packing"
# Sums the scores are compared with (`target_ratio`); see knowledge/records.md for where they come from.
REFERENCE_SUMS: dict[int, float] = {26: 2.6359830849, 32: 2.937944526}


def run_program(program_path: Path, n: int, timeout_s: float) -> Any:
    """Run `run_packing(n)` in the jail and return `{"centers": ..., "radii": ...}` as it sent them back."""
    return construction.run_entry(program_path, ENTRY_POINT, [n], timeout_s, arrays=("centers", "radii"),
                                  what="a packing")


# --- exact validation ---------------------------------------------------------------------------------------

_WALLS = (("left", 0, -1, 0), ("bottom", 1, -1, 0), ("right", 0, 1, 1), ("top", 1, 1, 1))


def validate_packing(data: Any, n: int) -> tuple[dict[str, Any], str]:
    """Check the packing exactly; return ({"centers", "radii"} as checked, "") when valid, else ({}, reason)."""
    if not isinstance(data, dict):
        return {}, "program output is not a mapping"
    centers, radii = data.get("centers"), data.get("radii")
    if not has_shape(centers, (n, 2)):
        return {}, f"centers have shape {shape_of(centers)}, expected ({n}, 2)"
    if not has_shape(radii, (n,)):
        return {}, f"radii have shape {shape_of(radii)}, expected ({n},)"
    for i, (x, y) in enumerate(centers):
        for what, v in (("x", x), ("y", y), ("radius", radii[i])):
            if not isinstance(v, float) or not math.isfinite(v):  # the driver writes floats only
                return {}, f"circle {i} has a non-finite or non-numeric {what} ({repr(v)[:40]})"
    xy = [(Fraction(x), Fraction(y)) for x, y in centers]
    rs = [Fraction(r) for r in radii]
    problems = _violations(xy, rs)
    if problems:
        return {}, first_problem(problems)
    return {"centers": as_floats(xy), "radii": [float(r) for r in rs]}, ""


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


# --- OpenEvolve entry points --------------------------------------------------------------------------------


def task_n() -> int:
    """The number of circles, from env `ASI_EVOLVE_TASK_PARAMS` (JSON)."""
    return construction.task_n(DEFAULT_N)


def evaluate_stage1(program_path: str | os.PathLike[str]) -> dict[str, Any]:
    """Cheap cascade filter that runs nothing: the program parses, passes the tamper scan, has run_packing."""
    return construction.evaluate_stage1(program_path, ENTRY_POINT)


def evaluate(program_path: str | os.PathLike[str], *, timeout_s: float = RUN_TIMEOUT_S) -> dict[str, Any]:
    """Run the program for the task's n, check its packing exactly, and score it by the sum of radii; a valid
    packing comes back as `construction` ({"centers": [[x, y], ...], "radii": [...]}, as checked).

    Never raises for a bad program: a crash, timeout, tampering or invalid packing returns `valid: False`,
    `combined_score: 0.0` and a one-line `error`.
    """
    start = time.monotonic()
    n = task_n()
    path = Path(program_path).resolve()
    error = static_error(path, ENTRY_POINT)
    packing: dict[str, Any] = {}
    if not error:
        try:
            packing, error = validate_packing(run_program(path, n, timeout_s), n)
        except ProgramError as exc:
            error = str(exc)
    total = 0.0 if error else math.fsum(packing["radii"])
    metrics: dict[str, Any] = {"combined_score": total, "sum_radii": total, "n": n, "valid": not error}
    if n in REFERENCE_SUMS:
        metrics["target_ratio"] = total / REFERENCE_SUMS[n]
    if not error:
        metrics[CONSTRUCTION] = packing
    return construction.finish(metrics, start, error)


if __name__ == "__main__":
    print(json.dumps(evaluate(sys.argv[1]), indent=2))
