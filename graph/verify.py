"""Verify and scale promising candidates: the best nodes of a run re-evaluated under a larger configuration and
several seeds, stored beside their exploration results (`knowledge.verifications`), never over them.

The configuration is the one asked for, else the task's `verify_config`, else the run's own; seed i is handed to
the evaluator as `$ASI_EVOLVE_SEED` for i = 1..N (tasks offset their training seeds by it; a stochastic program
simply runs again). Seed 0, the exploration's own, is left out: the score that selected a node is not evidence
that it holds. A node's verified score is the mean over its seeds, with their spread.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from graph.runner import RunError, existing_database, load_run_config
from knowledge.database import NodeDatabase
from knowledge.verifications import Verification, VerificationStore, summarise
from tasks.registry import load_task
from tools.executors import make_executor

Progress = Callable[[dict[str, Any]], None]


def verify_run(run_dir: Path, top: int = 3, config: str | None = None, seeds: int = 3,
               on_result: Callable[[Verification], None] | None = None,
               on_training: Progress | None = None, params: tuple[str, ...] = ()) -> list[Verification]:
    """Re-evaluate the `top` best nodes of the run; returns (and stores) their verifications, best first.

    The run's own `--param` overrides hold here too, `params` on top of them."""
    if top < 1 or seeds < 1:
        raise RunError("verify needs --top and --seeds of at least 1")
    run_dir = Path(run_dir)
    context, _ = load_run_config(run_dir)
    location = existing_database(run_dir)
    base = load_task(context.task, context.config or None, context.params)
    name = config or base.verify_config or context.config or None
    task = load_task(context.task, name, (*context.params, *params))
    from graph.launch_tools import check_launcher  # LangChain loads only for commands that launch

    check_launcher(task)
    db = NodeDatabase(location)
    nodes = sorted((n for n in db.nodes("ok") if n.score is not None), key=lambda n: (-n.score, n.id))[:top]
    if not nodes:
        raise RunError(f"no valid node to verify in {run_dir}")
    store = VerificationStore(location)
    executor = make_executor(context.executor, context.sandbox or None, warm=False,  # a fresh process each
                             ray_address=context.ray_address)
    label = task.config or ""
    done: list[Verification] = []
    for node in nodes:
        folder = run_dir / "nodes" / node.trial_key / f"verify-{label or 'default'}"
        folder.mkdir(parents=True, exist_ok=True)
        program = folder / "program.py"
        program.write_text(node.program)
        results = []
        for seed in range(1, seeds + 1):  # fresh seeds: seed 0 is the exploration's, which picked the node
            def progress(event: dict[str, Any], seed: int = seed, node_id: int = node.id) -> None:
                if on_training is not None:
                    on_training({"node": f"{node_id} seed {seed}", **event})

            result = executor.run(task, program, None, None, seed=seed, on_progress=progress)
            (folder / f"result-seed{seed}.json").write_text(result.to_json())
            results.append(result)
        record = store.add(summarise(node.id, label, results))
        (folder / "verification.json").write_text(json.dumps(record.__dict__, indent=2, sort_keys=True))
        done.append(record)
        if on_result is not None:
            on_result(record)
    return done
