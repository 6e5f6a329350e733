"""Pack n circles in the unit square so that the sum of their radii is as large as possible.

Only the code between the EVOLVE-BLOCK start and end markers evolves. The rest is a fixed harness:
`run_packing(n)` returns `(centers, radii)` as arrays of shape (n, 2) and (n,), and the packing is checked
exactly (zero tolerance): every circle inside [0, 1]^2, no two circles overlapping.

Starting point: circles on staggered rows (a rough hexagonal layout), then each circle gets the largest radius
its walls and neighbours allow. The layout constants below are deliberately untuned.

Run `python initial_program.py [n]` to print the sum for one n.
"""

from __future__ import annotations

import math
import sys

import numpy as np

# EVOLVE-BLOCK-START
X_MARGIN = 0.12  # distance from the left/right walls to the outermost centres
Y_MARGIN = 0.12  # distance from the bottom/top walls to the lowest/highest row
ROW_STAGGER = 0.5  # shift of every other row, in units of that row's centre spacing
ROWS_PER_SQRT_N = 1.0  # number of rows is about ROWS_PER_SQRT_N * sqrt(n)
GROWTH_PASSES = 2  # passes that let each circle grow into the gaps left by shrinking
SAFETY = 1e-9  # relative shrink at the end, so float rounding can never create an overlap


def row_counts(n: int, rows: int) -> list[int]:
    """Split n circles over the rows as evenly as possible; the middle rows take the extra ones."""
    base, extra = divmod(n, rows)
    counts = [base] * rows
    middle_first = sorted(range(rows), key=lambda i: abs(i - (rows - 1) / 2))
    for i in middle_first[:extra]:
        counts[i] += 1
    return counts


def row_layout(n: int) -> np.ndarray:
    """Centres on horizontal rows; odd rows are shifted sideways to nest into the gaps of their neighbours."""
    rows = max(1, round(ROWS_PER_SQRT_N * math.sqrt(n)))
    ys = np.linspace(Y_MARGIN, 1 - Y_MARGIN, rows) if rows > 1 else np.array([0.5])
    centers = []
    for row, (count, y) in enumerate(zip(row_counts(n, rows), ys, strict=True)):
        shift = ROW_STAGGER * (row % 2)
        spacing = (1 - 2 * X_MARGIN) / max(count - 1 + shift, 1e-9)
        for k in range(count):
            centers.append((X_MARGIN + spacing * (k + shift), y))
    return np.clip(np.array(centers, dtype=float), 1e-3, 1 - 1e-3)


def wall_distances(centers: np.ndarray) -> np.ndarray:
    """The largest radius each circle could have if it were alone in the square."""
    x, y = centers[:, 0], centers[:, 1]
    return np.minimum.reduce([x, y, 1 - x, 1 - y])


def shrink_overlaps(centers: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """Scale every overlapping pair down in proportion until no pair overlaps (radii only ever decrease)."""
    radii = radii.copy()
    n = len(centers)
    changed = True
    while changed:
        changed = False
        for i in range(n):
            for j in range(i + 1, n):
                gap = math.dist(centers[i], centers[j])
                if radii[i] + radii[j] > gap:
                    scale = gap / (radii[i] + radii[j])
                    radii[i] *= scale
                    radii[j] *= scale
                    changed = True
    return radii


def grow_into_gaps(centers: np.ndarray, radii: np.ndarray, passes: int) -> np.ndarray:
    """Let each circle, in turn, grow until it touches a wall or a neighbour."""
    radii = radii.copy()
    walls = wall_distances(centers)
    n = len(centers)
    for _ in range(passes):
        for i in range(n):
            room = walls[i]
            for j in range(n):
                if j != i:
                    room = min(room, math.dist(centers[i], centers[j]) - radii[j])
            radii[i] = max(radii[i], room)
    return radii


def compute_max_radii(centers: np.ndarray) -> np.ndarray:
    """Radii for fixed centres: start at the walls, resolve overlaps, fill the gaps, keep a safety margin."""
    radii = shrink_overlaps(centers, wall_distances(centers))
    radii = grow_into_gaps(centers, radii, GROWTH_PASSES)
    return radii * (1 - SAFETY)


def construct_packing(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Return (centers, radii) for n circles."""
    centers = row_layout(n)
    return centers, compute_max_radii(centers)


# EVOLVE-BLOCK-END


def run_packing(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Fixed entry point: centres of shape (n, 2) and radii of shape (n,), as float arrays."""
    centers, radii = construct_packing(n)
    return np.asarray(centers, dtype=float), np.asarray(radii, dtype=float)


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 26
    _, found = run_packing(count)
    print(f"n={count}: sum of radii = {math.fsum(found.tolist()):.6f}")
