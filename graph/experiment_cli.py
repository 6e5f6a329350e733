"""`asi-evolve eval` and `asi-evolve verify`: run experiments outside the loop, one program or a run's best.

Errors are raised as the CLI's one-line user errors (exit 2); training progress goes to stderr as it comes.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from graph.verify import verify_run
from knowledge.verifications import Verification
from tasks.registry import load_task
from tools.executors import LocalExecutor

out = Console(markup=False, highlight=False, soft_wrap=True)
err = Console(stderr=True, markup=False, highlight=False)
PARAM_HELP = "Task parameter KEY=VALUE over task.yaml's params (dotted keys, YAML value), repeatable."


def print_training(event: dict[str, Any]) -> None:
    err.print("training: " + "  ".join(f"{k} {v}" for k, v in event.items()))


def evaluate(
    task: Annotated[str, typer.Argument(help="Built-in task name or task folder path.")],
    program: Annotated[Path, typer.Argument(help="Program file to evaluate.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    config: Annotated[str | None, typer.Option(help="Task variant from task.yaml's configs (cpu, gpu, ...).")] = None,
    param: Annotated[list[str] | None, typer.Option(help=PARAM_HELP)] = None,
) -> None:
    """Evaluate one program file in the sandbox and print its metrics (training progress, if any, on stderr)."""
    spec = load_task(task, config, tuple(param or ()))
    if not program.is_file():
        raise FileNotFoundError(f"program file not found: {program}")
    from graph.launch_tools import check_launcher  # LangChain loads only for commands that launch

    check_launcher(spec)
    result = LocalExecutor().run(spec, program, None, None, on_progress=print_training)
    if as_json:
        sys.stdout.write(result.to_json() + "\n")
    else:
        score = "-" if result.score is None else f"{result.score:.10g}"
        out.print(f"status {result.status}  score {score}  ({result.duration_s:.2f} s)")
        if result.error:
            out.print(f"error: {result.error}")
        for key, value in sorted(result.metrics.items()):
            out.print(f"  {key}: {value}")
    if result.status != "ok":
        raise typer.Exit(1)


def _say(record: Verification) -> None:
    if record.score is None:
        out.print(f"node {record.node_id}: {record.status}: {record.error}")
        return
    each = ", ".join("-" if s is None else f"{s:.6g}" for s in record.scores)
    out.print(f"node {record.node_id}: verified {record.score:.10g} ± {record.score_std:.3g} ({each})")


def verify(
    run_dir: Annotated[Path, typer.Argument(help="Run directory.")],
    top: Annotated[int, typer.Option(min=1, help="How many of the best nodes to verify.")] = 3,
    config: Annotated[str | None, typer.Option(help="Task variant to verify under (default: the task's "
                                                    "verify_config, else the run's).")] = None,
    seeds: Annotated[int, typer.Option(min=1, help="Evaluations per node, seed 0..N-1.")] = 3,
    param: Annotated[list[str] | None, typer.Option(help=PARAM_HELP + " Over the run's own.")] = None,
) -> None:
    """Re-evaluate the best nodes under a larger configuration and several seeds; stored beside their scores."""
    records = verify_run(run_dir, top, config, seeds, on_result=_say, on_training=print_training,
                         params=tuple(param or ()))
    out.print(f"{len(records)} node(s) verified; 'asi-evolve status {run_dir}' shows them beside their scores")
