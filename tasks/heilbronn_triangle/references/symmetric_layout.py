"""Reference: a stored mirror-symmetric layout for n = 11, polished to full precision by SLSQP.

The layout below (rounded to 6 decimals) is the best one a longer basin-hopping search with
`basin_hopping.py`'s method found: smallest area about 0.03653, with 17 triangles tied at the minimum. It is
symmetric under the mirror x -> 2 - x of the triangle (0, 0), (2, 0), (1, 1) (one point on the axis x = 1),
has two points on each side and five inside. Rounding costs under 1e-6 of area; one SLSQP solve with the
orientations of the rounded layout recovers the tight optimum. For another n the program falls back to
random starts with the same polish.

Same harness as the initial program: `run_points(n)` returns a float array of shape (n, 2).
"""

from __future__ import annotations

import itertools
import sys

import numpy as np
from scipy.optimize import minimize

VERTICES = np.array([[0.0, 0.0], [2.0, 0.0], [1.0, 1.0]])  # the container: area 1

# EVOLVE-BLOCK-START
LAYOUT_11 = [  # (x, y), rounded
    (1.144031, 0.855969), (0.855969, 0.855969), (0.818670, 0.507251), (1.181330, 0.507251),
    (0.295651, 0.295651), (1.704349, 0.295651), (1.000000, 0.243788), (1.787538, 0.082072),
    (0.212462, 0.082072), (1.445094, 0.000000), (0.554906, 0.000000),
]
FALLBACK_STARTS = 20  # random starts for an n without a stored layout
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


def construct_points(n: int) -> np.ndarray:
    """The stored layout, polished; for other n the best of FALLBACK_STARTS polished random layouts."""
    if n == len(LAYOUT_11):
        return polish(np.array(LAYOUT_11))
    rng = np.random.default_rng(SEED)
    layouts = [polish(rng.dirichlet(np.ones(3), size=n) @ VERTICES) for _ in range(FALLBACK_STARTS)]
    return max(layouts, key=min_area)


# EVOLVE-BLOCK-END


def run_points(n: int) -> np.ndarray:
    """Fixed entry point: the points, a float array of shape (n, 2)."""
    return np.asarray(construct_points(n), dtype=float)


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 11
    found = run_points(count)
    print(f"n={count}: smallest triangle area = {min_area(found):.9f}")
