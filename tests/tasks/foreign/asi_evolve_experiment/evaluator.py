"""Evaluator of the experiment: python3 evaluator.py CODE RESULTS_JSON."""

import json
import runpy
import sys
import time


def main(code_path, results_path):
    started = time.time()
    try:
        x = float(runpy.run_path(code_path)["solve"]())
        results = {"success": True, "eval_score": -(x - 3.0) ** 2, "x": x}
    except Exception as exc:
        results = {"success": False, "eval_score": 0.0, "temp": {"error": str(exc)}}
    results["eval_time"] = time.time() - started
    with open(results_path, "w") as f:
        json.dump(results, f, indent=2)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
