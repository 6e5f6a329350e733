"""Exact evaluator for Heilbronn's problem in a triangle (OpenEvolve contract: `evaluate(path) -> dict`).

Why it is built this way (`isolation: split` in task.yaml), as in the circle-packing task:
- The candidate never runs in this process: `tools.construction.run_points` calls `run_points(n)` in the
  jail and sends the points back as JSON (repr-exact floats) over a pipe only this process reads. Whatever
  the candidate patches (numpy, math) dies with the jail.
- Everything is checked in exact rational arithmetic (`fractions.Fraction`) on the floats sent, with zero
  tolerance: containment in the closed triangle by exact cross products, and every triangle's area as half
  an exact cross product.
- Anything the program prints is ignored; the shared static tamper scan (`tools.construction`) rejects the
  obvious cheats before running, so the record says why a candidate failed.
- A valid layout is kept in the metrics (`construction`: the points as checked, the container and the smallest
  triangle the exact comparison found) so the run report can draw it; prompts show scalar metrics only.

The container is the triangle (0, 0), (2, 0), (1, 1): rational vertices and area exactly 1. Heilbronn's
value is a ratio of areas, and an affine map multiplies all areas by the same factor and maps any triangle
onto any other, so this triangle gives the same value as an equilateral one (whose vertices no float can
hold exactly). Score: `combined_score` = smallest triangle area / container area (higher is better).
The task parameter `n` comes from env `ASI_EVOLVE_TASK_PARAMS` (JSON, default `{"n": 11}`).
"""

from __future__ import annotations

import itertools
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
    first_problem,
    run_points,
    static_error,
)

DEFAULT_N = 11
RUN_TIMEOUT_S = 20.0
ENTRY_POINT = POINTS_ENTRY
TRIANGLE: tuple[Point, ...] = tuple((Fraction(x), Fraction(y)) for x, y in ((0, 0), (2, 0), (1, 1)))  # ccw
# Smallest areas reported (see knowledge/records.md): AlphaEvolve (2025) for n = 11, as the paper rounds it.
RECORD_MIN_AREA: dict[int, float] = {11: 0.0365}
NEAR_MIN = 1e-9  # relative gap under which a triangle counts as tied with the smallest (a metric only)


# --- exact validation ---------------------------------------------------------------------------------------


def cross(o: Point, p: Point, q: Point) -> Fraction:
    """(p - o) x (q - o): twice the signed area of triangle o, p, q (positive when counter-clockwise)."""
    return (p[0] - o[0]) * (q[1] - o[1]) - (q[0] - o[0]) * (p[1] - o[1])


CONTAINER_AREA = cross(*TRIANGLE) / 2


def placement_errors(points: list[Point]) -> list[str]:
    """Every point outside the closed triangle (with how far past which side) and every coinciding pair."""
    problems = []
    for i, q in enumerate(points):
        for k in range(3):
            start, end = TRIANGLE[k], TRIANGLE[(k + 1) % 3]
            side = cross(start, end, q)
            if side < 0:
                length = math.hypot(end[0] - start[0], end[1] - start[1])
                problems.append(f"point {i} lies outside the triangle, past the side {_fmt(start)}-{_fmt(end)} "
                                f"by {float(-side) / length:.3g}")
    seen: dict[Point, int] = {}
    for i, q in enumerate(points):
        if q in seen:
            problems.append(f"points {seen[q]} and {i} coincide")
        seen.setdefault(q, i)
    return problems


def smallest_area(points: list[Point]) -> tuple[Fraction, int, tuple[int, int, int]]:
    """Exact smallest triangle area over all triples divided by the container's, how many triangles lie within
    a relative NEAR_MIN of it, and the first triple that has it."""
    triples = list(itertools.combinations(range(len(points)), 3))
    areas = [abs(cross(points[a], points[b], points[c])) / 2 for a, b, c in triples]
    smallest = min(areas)
    near = sum(1 for area in areas if area <= smallest * (1 + Fraction(NEAR_MIN)))
    return smallest / CONTAINER_AREA, near, triples[areas.index(smallest)]


def _fmt(point: Point) -> str:
    return f"({point[0]}, {point[1]})"


# --- OpenEvolve entry points --------------------------------------------------------------------------------


def task_n() -> int:
    """The number of points, from env `ASI_EVOLVE_TASK_PARAMS` (JSON)."""
    return construction.task_n(DEFAULT_N)


def evaluate_stage1(program_path: str | os.PathLike[str]) -> dict[str, Any]:
    """Cheap cascade filter that runs nothing: the program parses, passes the tamper scan, has run_points."""
    return construction.evaluate_stage1(program_path, ENTRY_POINT)


def evaluate(program_path: str | os.PathLike[str], *, timeout_s: float = RUN_TIMEOUT_S) -> dict[str, Any]:
    """Run the program for the task's n, check its points exactly and score the smallest triangle's area; a
    valid layout comes back as `construction` ({"points", "triangle", "smallest_triangle"}, as checked).

    Never raises for a bad program: a crash, timeout, tampering, a point outside the triangle or two equal
    points return `valid: False`, `combined_score: 0.0` and a one-line `error`. Three collinear points are a
    valid layout with area 0.
    """
    start = time.monotonic()
    n = task_n()
    path = Path(program_path).resolve()
    error = static_error(path, ENTRY_POINT) or ("n must be at least 3" if n < 3 else "")
    area, near, triple = Fraction(0), 0, (0, 1, 2)
    points: list[Point] = []
    if not error:
        try:
            points, error = exact_points(run_points(path, n, timeout_s), n)
        except ProgramError as exc:
            error = str(exc)
        error = error or first_problem(placement_errors(points))
        if not error:
            area, near, triple = smallest_area(points)
    metrics: dict[str, Any] = {"combined_score": float(area), "min_area": float(area), "n": n,
                               "valid": not error}
    if not error:
        metrics["near_minimal_triangles"] = near
        metrics[CONSTRUCTION] = {"points": as_floats(points), "triangle": as_floats(TRIANGLE),
                                 "smallest_triangle": list(triple)}
    if n in RECORD_MIN_AREA:
        metrics["target_ratio"] = float(area) / RECORD_MIN_AREA[n]
    return construction.finish(metrics, start, error)


if __name__ == "__main__":
    print(json.dumps(evaluate(sys.argv[1]), indent=2))
