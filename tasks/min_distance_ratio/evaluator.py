"""Exact evaluator for the min-max distance ratio problem (OpenEvolve contract: `evaluate(path) -> dict`).

Why it is built this way (`isolation: split` in task.yaml), as in the circle-packing task:
- The candidate never runs in this process: `tools.construction.run_points` calls `run_points(n)` in the
  jail and sends the points back as JSON (repr-exact floats) over a pipe only this process reads. Whatever
  the candidate patches (numpy, math) dies with the jail.
- The ratio is recomputed here in exact rational arithmetic (`fractions.Fraction`) from the floats sent:
  squared distances of floats are rationals, so max d^2 / min d^2 is exact and no tolerance is involved.
- Anything the program prints is ignored; the shared static tamper scan (`tools.construction`) rejects the
  obvious cheats before running, so the record says why a candidate failed.
- A valid point set is kept in the metrics (`construction`: the points as checked, with the closest and the
  farthest pair the exact comparison found) so the run report can draw it; prompts show scalar metrics only.

Score: `combined_score = RECORD / ratio^2`, higher is better, where RECORD is the best squared ratio reported
for that n (AlphaEvolve's 12.889266112 for n = 16), so a layout matching the record scores 1.0 and one
beating it scores more. For an n without a stored record the score is 1 / ratio^2.
The task parameter `n` comes from env `ASI_EVOLVE_TASK_PARAMS` (JSON, default `{"n": 16}`).
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
from tools.construction import (
    CONSTRUCTION,
    POINTS_ENTRY,
    Point,
    ProgramError,
    as_floats,
    exact_points,
    run_points,
    static_error,
)

DEFAULT_N = 16
RUN_TIMEOUT_S = 20.0
ENTRY_POINT = POINTS_ENTRY
# Best squared ratios reported (see knowledge/records.md): AlphaEvolve (2025) for n = 16.
RECORD_RATIO_SQUARED: dict[int, float] = {16: 12.889266112}


# --- exact validation ---------------------------------------------------------------------------------------


def extreme_pairs(points: list[Point]) -> tuple[Fraction, tuple[int, int], tuple[int, int], str]:
    """Exact (max d / min d)^2 over all pairs with the closest and the farthest pair (the first found of each),
    or (0, ..., reason) when two points coincide."""
    smallest: Fraction | None = None
    largest = Fraction(0)
    closest = farthest = (0, 1)
    for i in range(len(points)):
        for j in range(i + 1, len(points)):
            d2 = (points[i][0] - points[j][0]) ** 2 + (points[i][1] - points[j][1]) ** 2
            if d2 == 0:
                return Fraction(0), (i, j), (i, j), f"points {i} and {j} coincide"
            if smallest is None or d2 < smallest:
                smallest, closest = d2, (i, j)
            if d2 > largest:
                largest, farthest = d2, (i, j)
    assert smallest is not None
    return largest / smallest, closest, farthest, ""


def score_of(ratio2: Fraction, n: int) -> float:
    """RECORD / ratio^2 for an n with a stored record, else 1 / ratio^2 (higher is better either way)."""
    return float(Fraction(RECORD_RATIO_SQUARED.get(n, 1.0)) / ratio2)


# --- OpenEvolve entry points --------------------------------------------------------------------------------


def task_n() -> int:
    """The number of points, from env `ASI_EVOLVE_TASK_PARAMS` (JSON)."""
    return construction.task_n(DEFAULT_N)


def evaluate_stage1(program_path: str | os.PathLike[str]) -> dict[str, Any]:
    """Cheap cascade filter that runs nothing: the program parses, passes the tamper scan, has run_points."""
    return construction.evaluate_stage1(program_path, ENTRY_POINT)


def evaluate(program_path: str | os.PathLike[str], *, timeout_s: float = RUN_TIMEOUT_S) -> dict[str, Any]:
    """Run the program for the task's n, recompute its squared ratio exactly and score it; a valid point set
    comes back as `construction` ({"points", "closest_pair", "farthest_pair"}, as checked).

    Never raises for a bad program: a crash, timeout, tampering or invalid point set returns `valid: False`,
    `combined_score: 0.0` and a one-line `error`.
    """
    start = time.monotonic()
    n = task_n()
    path = Path(program_path).resolve()
    error = static_error(path, ENTRY_POINT) or ("n must be at least 2" if n < 2 else "")
    ratio2, closest, farthest = Fraction(0), (0, 1), (0, 1)
    points: list[Point] = []
    if not error:
        try:
            points, error = exact_points(run_points(path, n, timeout_s), n)
        except ProgramError as exc:
            error = str(exc)
        if not error:
            ratio2, closest, farthest, error = extreme_pairs(points)
    metrics: dict[str, Any] = {"combined_score": 0.0 if error else score_of(ratio2, n), "n": n,
                               "valid": not error}
    if not error:
        metrics.update(ratio_squared=float(ratio2), ratio=math.sqrt(ratio2))
        metrics[CONSTRUCTION] = {"points": as_floats(points), "closest_pair": list(closest),
                                 "farthest_pair": list(farthest)}
    if n in RECORD_RATIO_SQUARED:
        metrics["record_ratio_squared"] = RECORD_RATIO_SQUARED[n]
    return construction.finish(metrics, start, error)


if __name__ == "__main__":
    print(json.dumps(evaluate(sys.argv[1]), indent=2))
