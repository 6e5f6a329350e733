"""Place n points in the plane so that the largest pairwise distance is as small as possible relative to the
smallest one (minimise max d / min d).

Only the code between the EVOLVE-BLOCK start and end markers evolves. The rest is a fixed harness:
`run_points(n)` returns the points as a float array of shape (n, 2), and the checker recomputes the ratio
exactly from those floats. The ratio does not change when all points are moved, rotated or scaled together.

Starting point: a square-ish grid of rows (4 x 4 for n = 16: squared ratio 18), jittered to break its ties,
then a short gradient descent on a smooth stand-in for the ratio (a soft maximum minus a soft minimum of the
log squared distances, sharpened as it goes). The constants below are deliberately untuned and the descent
is short.

Run `python initial_program.py [n]` to print the squared ratio for one n.
"""

from __future__ import annotations

import math
import sys

import numpy as np


def pair_differences(points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Index arrays (i, j) of all pairs i < j and the differences points[i] - points[j]."""
    i, j = np.triu_indices(len(points), 1)
    return i, j, points[i] - points[j]


def ratio_squared(points: np.ndarray) -> float:
    """(max distance / min distance)^2, infinite when two points coincide."""
    _, _, diff = pair_differences(points)
    d2 = np.einsum("ij,ij->i", diff, diff)
    return math.inf if d2.min() <= 0 else float(d2.max() / d2.min())


# EVOLVE-BLOCK-START
ROW_STAGGER = 0.0  # shift of every other row, in units of the spacing in a row (0.5: a triangular lattice)
ROW_SPACING = 1.0  # distance between rows, in units of the spacing in a row (0.866: a triangular lattice)
JITTER = 0.01  # random displacement of the grid points before the descent (breaks the grid's ties)
ITERATIONS = 100  # gradient steps
LEARNING_RATE = 0.1  # step size, relative to the current smallest squared distance
BETA_START = 2.0  # sharpness of the soft max / soft min at the first step...
BETA_END = 20.0  # ...and at the last (larger: closer to the true max and min)
SEED = 0  # the jitter, so a run repeats exactly


def row_layout(n: int) -> np.ndarray:
    """Points on rows of equal length (the last row may be shorter); odd rows shifted by ROW_STAGGER."""
    columns = math.ceil(math.sqrt(n))
    points = []
    for i in range(n):
        row, column = divmod(i, columns)
        points.append((column + ROW_STAGGER * (row % 2), row * ROW_SPACING))
    return np.array(points, dtype=float)


def soft_ratio_gradient(points: np.ndarray, beta: float) -> tuple[np.ndarray, float]:
    """Half the gradient of softmax(log d2) - softmin(log d2) with sharpness beta (the factor 2 is left to the
    learning rate), and the smallest squared distance."""
    i, j, diff = pair_differences(points)
    d2 = np.einsum("ij,ij->i", diff, diff)
    u = np.log(d2)
    w_max = np.exp(beta * (u - u.max()))
    w_min = np.exp(-beta * (u - u.min()))
    weights = w_max / w_max.sum() - w_min / w_min.sum()
    pair_grad = (weights / d2)[:, None] * diff
    grad = np.zeros_like(points)
    np.add.at(grad, i, pair_grad)
    np.add.at(grad, j, -pair_grad)
    return grad, float(d2.min())


def descend(points: np.ndarray) -> np.ndarray:
    """Gradient descent on the soft ratio; returns the best layout seen by the true ratio."""
    best, best_ratio = points.copy(), ratio_squared(points)
    for step in range(ITERATIONS):
        beta = BETA_START * (BETA_END / BETA_START) ** (step / ITERATIONS)
        grad, smallest = soft_ratio_gradient(points, beta)
        points = points - LEARNING_RATE * smallest * grad
        current = ratio_squared(points)
        if current < best_ratio:
            best, best_ratio = points.copy(), current
    return best


def construct_points(n: int) -> np.ndarray:
    """Return n points as an array of shape (n, 2)."""
    rng = np.random.default_rng(SEED)
    start = row_layout(n) + JITTER * rng.normal(size=(n, 2))
    return descend(start)


# EVOLVE-BLOCK-END


def run_points(n: int) -> np.ndarray:
    """Fixed entry point: the points, a float array of shape (n, 2)."""
    return np.asarray(construct_points(n), dtype=float)


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 16
    found = run_points(count)
    print(f"n={count}: ratio squared = {ratio_squared(found):.9f}")
