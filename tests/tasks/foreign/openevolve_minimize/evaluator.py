"""Evaluator for the function minimisation example (scores without a combined_score: the mean is used)."""

import importlib.util
import math

from openevolve.evaluation_result import EvaluationResult

TARGET = (1.0, -2.0)


def _load(program_path):
    spec = importlib.util.spec_from_file_location("program", program_path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _scores(x, y, value):
    distance = math.hypot(x - TARGET[0], y - TARGET[1])
    return {"value_score": 1.0 / (1.0 + abs(value)), "distance_score": 1.0 / (1.0 + distance)}


def evaluate_stage1(program_path):
    """Quick check: one short search must run and return numbers."""
    try:
        module = _load(program_path)
        x, y, value = module.search_algorithm(iterations=10)
        return {"runs_successfully": 1.0, **_scores(float(x), float(y), float(value))}
    except Exception as exc:  # a broken program scores zero, as in OpenEvolve's examples
        return {"runs_successfully": 0.0, "error": str(exc)}


def evaluate_stage2(program_path):
    return evaluate(program_path)


def evaluate(program_path):
    try:
        x, y, value = _load(program_path).run_search()
        scores = _scores(float(x), float(y), float(value))
    except Exception as exc:
        return EvaluationResult(metrics={"runs_successfully": 0.0}, artifacts={"error": str(exc)})
    return EvaluationResult(metrics={"runs_successfully": 1.0, **scores}, artifacts={"point": [x, y]})
