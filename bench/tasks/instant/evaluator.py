"""Instant evaluator: import the candidate, call its search(), score 1 / (1 + f(x, y)) with a fixed f."""

import importlib.util
import math


def _f(x, y):
    return (x - 1.2) ** 2 + (y + 0.7) ** 2 + 2.0 * math.sin(3.0 * x) * math.cos(2.0 * y) + 2.0


def evaluate(program_path):
    spec = importlib.util.spec_from_file_location("candidate", program_path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    x, y = module.search()
    x, y = float(x), float(y)
    value = _f(x, y)
    if not math.isfinite(value):
        return {"combined_score": 0.0, "error": "non-finite point"}
    return {"combined_score": 1.0 / (1.0 + max(value, 0.0)), "x": x, "y": y}
