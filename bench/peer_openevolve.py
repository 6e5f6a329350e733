"""Run OpenEvolve on a task folder and print its figures as one JSON line. Runs in OpenEvolve's own environment.

This file is executed by the interpreter of the virtual environment `bench.peers` installs OpenEvolve into, so it
imports nothing from this project. It reads the task folder's `config.yaml` as OpenEvolve would, points every
model at `--base-url`, and reports when each program was stored, the best score, and how many distinct programs
the run evaluated.

    python bench/peer_openevolve.py TASK_DIR --base-url URL --iterations N --workers K --seed S --out DIR
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import logging
import os
import time
from pathlib import Path


def score_of(metrics: dict) -> float | None:
    """OpenEvolve's score of a program: `combined_score`, else the mean of its numeric metrics."""
    if isinstance(metrics.get("combined_score"), int | float):
        return float(metrics["combined_score"])
    numbers = [v for v in metrics.values() if isinstance(v, int | float) and not isinstance(v, bool)]
    return sum(numbers) / len(numbers) if numbers else None


def figures(programs: list, started: float, wall: float) -> dict:
    """What both frameworks report: stored-at times, best score, distinct programs."""
    stored = sorted(p.timestamp for p in programs)
    scores = [score_of(p.metrics) for p in programs]
    scores = [s for s in scores if s is not None]
    return {
        "framework": "openevolve",
        "wall_s": wall,
        "stored_at": [t - started for t in stored],
        "programs": len(programs),
        "distinct": len({hashlib.sha256(p.code.encode()).hexdigest() for p in programs}),
        "best": max(scores) if scores else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("task", type=Path)
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--model", default="mutation")
    parser.add_argument("--iterations", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    from openevolve import OpenEvolve
    from openevolve.config import LLMModelConfig, load_config

    key = os.environ.get("OPENAI_API_KEY") or "none"  # from the environment: a key never goes on a command line
    found = args.task / "config.yaml"
    config = load_config(str(found) if found.is_file() else None)
    config.random_seed = args.seed
    config.database.random_seed = args.seed
    config.max_iterations = args.iterations
    config.checkpoint_interval = 10**9  # no checkpoints: OpenEvolve saves them only every N iterations anyway
    config.evaluator.parallel_evaluations = args.workers
    config.log_level = "WARNING"
    model = LLMModelConfig(name=args.model, api_base=args.base_url, api_key=key, weight=1.0)
    config.llm.models = [model]
    config.llm.evaluator_models = [model]
    config.llm.api_base = args.base_url
    config.llm.api_key = key
    config.llm.update_model_params({"api_base": args.base_url, "api_key": key,
                                    "random_seed": args.seed}, overwrite=True)
    logging.disable(logging.WARNING)

    started = time.time()
    controller = OpenEvolve(str(args.task / "initial_program.py"), str(args.task / "evaluator.py"), config,
                            output_dir=str(args.out))
    asyncio.run(controller.run(iterations=args.iterations))
    wall = time.time() - started
    print(json.dumps(figures(list(controller.database.programs.values()), started, wall)))


if __name__ == "__main__":
    main()
