"""Circle packing, OpenEvolve-style: import the candidate, call construct_packing(), check it, score the radii.

26 circles must lie inside the unit square without overlapping (1e-9 slack for rounding); the score is the sum
of their radii divided by 2.635 (the best sum known for 26), 0 for an invalid packing. Standard library only.
"""

import importlib.util
import math

N = 26
BEST_KNOWN = 2.635
SLACK = 1e-9


def evaluate(program_path):
    spec = importlib.util.spec_from_file_location("candidate", program_path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    centers, radii = module.construct_packing()
    centers = [(float(x), float(y)) for x, y in centers]
    radii = [float(r) for r in radii]
    if len(centers) != N or len(radii) != N:
        return {"combined_score": 0.0, "error": f"expected {N} circles, got {len(centers)} and {len(radii)} radii"}
    if not all(math.isfinite(v) for c in centers for v in c) or not all(math.isfinite(r) and r >= 0 for r in radii):
        return {"combined_score": 0.0, "error": "a centre or radius is not a finite non-negative number"}
    for (x, y), r in zip(centers, radii, strict=True):
        if x - r < -SLACK or y - r < -SLACK or x + r > 1 + SLACK or y + r > 1 + SLACK:
            return {"combined_score": 0.0, "error": f"circle at ({x:.4f}, {y:.4f}) leaves the square"}
    for i in range(N):
        for j in range(i + 1, N):
            gap = math.dist(centers[i], centers[j]) - radii[i] - radii[j]
            if gap < -SLACK:
                return {"combined_score": 0.0, "error": f"circles {i} and {j} overlap by {-gap:.3g}"}
    total = math.fsum(radii)
    return {"combined_score": total / BEST_KNOWN, "sum_radii": total}
