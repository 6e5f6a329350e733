"""Place n points in the triangle with vertices (0, 0), (2, 0), (1, 1) (area 1) so that the smallest triangle
formed by any three of them is as large as possible (Heilbronn's problem for a triangle).

Only the code between the EVOLVE-BLOCK start and end markers evolves. The rest is a fixed harness:
`run_points(n)` returns the points as a float array of shape (n, 2), and the checker verifies exactly that
every point lies in the closed triangle and computes every triangle's area exactly from those floats.

Starting point: points evenly spaced on ellipses inscribed in the triangle (images of circles inside an
equilateral triangle, written in barycentric coordinates): OUTER_POINTS on an outer ellipse, the rest on an
inner one. Points on one ellipse are never collinear. Then a short gradient ascent on a smooth stand-in for
the smallest area (a soft minimum of the log areas), projected back into the triangle after each step. The
constants below are deliberately untuned; with every point on one ellipse the layout is convex, which caps
what the ascent can reach.

Run `python initial_program.py [n]` to print the smallest area for one n.
"""

from __future__ import annotations

import itertools
import math
import sys

import numpy as np

VERTICES = np.array([[0.0, 0.0], [2.0, 0.0], [1.0, 1.0]])  # the container: area 1


def ellipse_points(count: int, scale: float, phase: float) -> np.ndarray:
    """`count` points evenly spaced on an inscribed ellipse scaled by `scale` about the centroid."""
    angles = phase + 2 * math.pi * np.arange(count) / count
    corners = math.pi / 2 + 2 * math.pi * np.arange(3) / 3
    weights = 1 / 3 + scale / 3 * np.cos(angles[:, None] - corners[None, :])  # barycentric, sum to 1
    return weights @ VERTICES


def triples(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Index arrays (a, b, c) of all n choose 3 triples."""
    a, b, c = np.array(list(itertools.combinations(range(n), 3))).T
    return a, b, c


def signed_areas(points: np.ndarray, a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Signed area of every triple (a[k], b[k], c[k]): positive when counter-clockwise."""
    x, y = points[:, 0], points[:, 1]
    return 0.5 * ((x[b] - x[a]) * (y[c] - y[a]) - (x[c] - x[a]) * (y[b] - y[a]))


def min_area(points: np.ndarray) -> float:
    """The smallest triangle area (the container has area 1, so this is the score)."""
    return float(np.abs(signed_areas(points, *triples(len(points)))).min())


def project(points: np.ndarray, margin: float) -> np.ndarray:
    """Back into the triangle: clip the barycentric coordinates at `margin` and renormalise."""
    second = points[:, 1]
    first = (points[:, 0] - second) / 2
    weights = np.clip(np.stack([1 - first - second, first, second], axis=1), margin, None)
    return (weights / weights.sum(axis=1, keepdims=True)) @ VERTICES


# EVOLVE-BLOCK-START
OUTER_POINTS = 11  # points on the outer ellipse; the rest go on the inner one
OUTER_SCALE = 0.9  # size of the outer ellipse (1.0: it touches the three sides)
INNER_SCALE = 0.3  # size of the inner ellipse
OUTER_PHASE = 0.1  # rotation of the outer points along their ellipse, in radians
INNER_PHASE = 0.6  # rotation of the inner points
ITERATIONS = 100  # gradient steps
STEP = 0.01  # largest move of any point in one step
BETA_START = 2.0  # sharpness of the soft minimum at the first step...
BETA_END = 20.0  # ...and at the last (larger: closer to the true minimum)
MARGIN = 1e-6  # smallest barycentric coordinate a point may have, so it stays strictly inside


def start_layout(n: int) -> np.ndarray:
    """OUTER_POINTS on the outer ellipse, the others on the inner one."""
    outer = min(OUTER_POINTS, n)
    return np.concatenate([ellipse_points(outer, OUTER_SCALE, OUTER_PHASE),
                           ellipse_points(n - outer, INNER_SCALE, INNER_PHASE)])


def soft_min_gradient(points: np.ndarray, beta: float, a: np.ndarray, b: np.ndarray,
                      c: np.ndarray) -> np.ndarray:
    """Twice the gradient of softmin(log |area|) with sharpness beta, with respect to the points (only its
    direction matters: `ascend` normalises it)."""
    area = signed_areas(points, a, b, c)
    u = np.log(np.abs(area))
    weights = np.exp(-beta * (u - u.min()))
    coef = weights / weights.sum() / area  # d softmin / d area (the sign of the area included)
    x, y = points[:, 0], points[:, 1]
    grad = np.zeros_like(points)
    for idx, gx, gy in ((a, y[b] - y[c], x[c] - x[b]), (b, y[c] - y[a], x[a] - x[c]),
                        (c, y[a] - y[b], x[b] - x[a])):
        np.add.at(grad, idx, coef[:, None] * np.stack([gx, gy], axis=1))
    return grad


def ascend(points: np.ndarray) -> np.ndarray:
    """Projected gradient ascent on the soft minimum; returns the best layout seen by the true minimum."""
    a, b, c = triples(len(points))
    best, best_area = points.copy(), min_area(points)
    for step in range(ITERATIONS):
        beta = BETA_START * (BETA_END / BETA_START) ** (step / ITERATIONS)
        grad = soft_min_gradient(points, beta, a, b, c)
        points = project(points + STEP * grad / max(np.abs(grad).max(), 1e-300), MARGIN)
        current = min_area(points)
        if current > best_area:
            best, best_area = points.copy(), current
    return best


def construct_points(n: int) -> np.ndarray:
    """Return n points inside the triangle as an array of shape (n, 2)."""
    return ascend(start_layout(n))


# EVOLVE-BLOCK-END


def run_points(n: int) -> np.ndarray:
    """Fixed entry point: the points, a float array of shape (n, 2)."""
    return np.asarray(construct_points(n), dtype=float)


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 11
    found = run_points(count)
    print(f"n={count}: smallest triangle area = {min_area(found):.9f}")
