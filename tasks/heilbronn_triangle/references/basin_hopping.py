"""Reference: monotonic basin hopping with SLSQP for Heilbronn's problem in the triangle (0, 0), (2, 0), (1, 1).

Local step: with the orientation s_abc of every triple fixed (the sign of its area at the start), maximising
the smallest area is the smooth problem: maximise t subject to s_abc * area_abc >= t for all triples and
every point inside the triangle (three linear inequalities each). SLSQP (scipy) solves it in a few dozen
iterations. No continuous move can flip an orientation without passing through area 0, so the local step
never changes the combinatorial type of the layout; the outer loop does: it re-places one or two points at
random (or jitters them), polishes again, and keeps the result only when the smallest area grew.

Same harness as the initial program: `run_points(n)` returns a float array of shape (n, 2).
"""

from __future__ import annotations

import itertools
import math
import sys

import numpy as np
from scipy.optimize import minimize

VERTICES = np.array([[0.0, 0.0], [2.0, 0.0], [1.0, 1.0]])  # the container: area 1

# EVOLVE-BLOCK-START
STARTS = 2  # independent random starts
PATIENCE = 60  # hops without improvement before a start gives up
JITTER = 0.05  # size of a jitter hop (otherwise the chosen points are re-placed uniformly)
P_REPLACE = 0.6  # probability that a hop re-places points rather than jittering them
SHRINK = 1e-12  # final contraction towards the centroid, so rounding can never leave the triangle
SEED = 0


def triples(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    a, b, c = np.array(list(itertools.combinations(range(n), 3))).T
    return a, b, c


def signed_areas(points: np.ndarray, a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    x, y = points[:, 0], points[:, 1]
    return 0.5 * ((x[b] - x[a]) * (y[c] - y[a]) - (x[c] - x[a]) * (y[b] - y[a]))


def min_area(points: np.ndarray) -> float:
    return float(np.abs(signed_areas(points, *triples(len(points)))).min())


def uniform_points(count: int, rng: np.random.Generator) -> np.ndarray:
    return rng.dirichlet(np.ones(3), size=count) @ VERTICES


def into_triangle(points: np.ndarray) -> np.ndarray:
    """Clip the barycentric coordinates at 0, then contract by SHRINK towards the centroid."""
    second = points[:, 1]
    first = (points[:, 0] - second) / 2
    weights = np.clip(np.stack([1 - first - second, first, second], axis=1), 0.0, None)
    inside = (weights / weights.sum(axis=1, keepdims=True)) @ VERTICES
    centroid = VERTICES.mean(axis=0)
    return centroid + (1 - SHRINK) * (inside - centroid)


def polish(points: np.ndarray) -> np.ndarray:
    """SLSQP on: maximise t s.t. s * area >= t for every triple (s: orientations at the start), inside."""
    n = len(points)
    a, b, c = triples(n)
    rows = np.arange(len(a))
    sign = np.where(signed_areas(points, a, b, c) < 0, -1.0, 1.0)

    def area_margin(z: np.ndarray) -> np.ndarray:
        return sign * signed_areas(np.stack([z[:n], z[n : 2 * n]], axis=1), a, b, c) - z[-1]

    def area_jacobian(z: np.ndarray) -> np.ndarray:
        x, y, h = z[:n], z[n : 2 * n], 0.5 * sign
        jac = np.zeros((len(a), 2 * n + 1))
        jac[rows, a], jac[rows, b], jac[rows, c] = h * (y[b] - y[c]), h * (y[c] - y[a]), h * (y[a] - y[b])
        jac[rows, n + a], jac[rows, n + b], jac[rows, n + c] = (h * (x[c] - x[b]), h * (x[a] - x[c]),
                                                                h * (x[b] - x[a]))
        jac[:, -1] = -1.0
        return jac

    k = np.arange(n)
    inside_jac = np.zeros((3 * n, 2 * n + 1))  # y >= 0, x - y >= 0, 2 - x - y >= 0
    inside_jac[k, n + k] = 1.0
    inside_jac[n + k, k], inside_jac[n + k, n + k] = 1.0, -1.0
    inside_jac[2 * n + k, k], inside_jac[2 * n + k, n + k] = -1.0, -1.0
    constraints = [
        {"type": "ineq", "fun": area_margin, "jac": area_jacobian},
        {"type": "ineq", "fun": lambda z: np.concatenate([z[n : 2 * n], z[:n] - z[n : 2 * n],
                                                          2 - z[:n] - z[n : 2 * n]]),
         "jac": lambda z: inside_jac},
    ]
    gradient = np.zeros(2 * n + 1)
    gradient[-1] = -1.0
    z0 = np.concatenate([points[:, 0], points[:, 1], [min_area(points)]])
    result = minimize(lambda z: -z[-1], z0, jac=lambda z: gradient, constraints=constraints, method="SLSQP",
                      options={"maxiter": 200, "ftol": 1e-13})
    return into_triangle(np.stack([result.x[:n], result.x[n : 2 * n]], axis=1))


def hop(points: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Re-place or jitter one or two random points."""
    moved = points.copy()
    chosen = rng.choice(len(points), size=int(rng.integers(1, 3)), replace=False)
    if rng.random() < P_REPLACE:
        moved[chosen] = uniform_points(len(chosen), rng)
    else:
        moved[chosen] = into_triangle(moved[chosen] + rng.normal(0.0, JITTER, size=(len(chosen), 2)))
    return moved


def construct_points(n: int) -> np.ndarray:
    """The best layout over STARTS runs of basin hopping."""
    rng = np.random.default_rng(SEED)
    best, best_area = None, -math.inf
    for _ in range(STARTS):
        current = polish(uniform_points(n, rng))
        area, stall = min_area(current), 0
        while stall < PATIENCE:
            trial = polish(hop(current, rng))
            trial_area = min_area(trial)
            if trial_area > area:
                current, area, stall = trial, trial_area, 0
            else:
                stall += 1
        if area > best_area:
            best, best_area = current, area
    return best


# EVOLVE-BLOCK-END


def run_points(n: int) -> np.ndarray:
    """Fixed entry point: the points, a float array of shape (n, 2)."""
    return np.asarray(construct_points(n), dtype=float)


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 11
    found = run_points(count)
    print(f"n={count}: smallest triangle area = {min_area(found):.9f}")
