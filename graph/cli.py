"""`asi-evolve`: run, resume and inspect research runs from the shell.

Errors meant for people are one line on stderr with exit code 2 (bad arguments, unknown task, invalid task folder
or run directory); `--debug` shows tracebacks instead.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from graph.context import Context
from graph.runner import (
    Budget,
    RunError,
    default_run_dir,
    ensure_new_run_dir,
    load_run_config,
    resume_run,
    run_status,
    start_run,
)
from knowledge.database import DatabaseError, SQLiteDatabase
from knowledge.sampling import SAMPLERS
from tasks.registry import builtin_tasks, load_task
from tasks.spec import TaskError
from tools.executors import LocalExecutor

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="ASI-Evolve: a closed learn -> design -> experiment -> analyze research loop.")
out = Console(markup=False, highlight=False, soft_wrap=True)
err = Console(stderr=True)
USER_ERRORS = (TaskError, RunError, DatabaseError, ValueError, FileNotFoundError)


class UsageProblem(ValueError):
    """An argument that parsed but makes no sense."""


def fail(message: str) -> None:
    raise UsageProblem(message)


def _fmt(score: float | None) -> str:
    return "-" if score is None else f"{score:.10g}"


class LoopProgress:
    """A rich progress bar fed by the graph's tally updates: step, best, last score, failures."""

    def __init__(self, run_dir: Path, total: int) -> None:
        self.db_path = Path(run_dir) / "run.db"
        self.progress = Progress(
            TextColumn("[bold]step"), MofNCompleteColumn(), BarColumn(),
            TextColumn("best {task.fields[best]}  last {task.fields[last]}  failures {task.fields[failures]}"),
            TimeElapsedColumn(), console=err, transient=False,
        )
        self.task_id = self.progress.add_task("loop", total=total, best="-", last="-", failures=0)

    def __enter__(self) -> LoopProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def __call__(self, update: dict[str, Any]) -> None:
        counts = SQLiteDatabase(self.db_path).counts_by_status() if self.db_path.exists() else {}
        last = update.get("last")
        self.progress.update(
            self.task_id, completed=update.get("steps", 0), best=_fmt(update.get("best_score")),
            last=f"{_fmt(last.score)} ({last.status})" if last else "-",
            failures=sum(v for k, v in counts.items() if k != "ok"),
        )


def _finish(state: dict[str, Any], run_dir: Path) -> None:
    status = run_status(run_dir)
    reason = state.get("stop_reason") or "stopped"
    out.print(f"stopped: {reason}")
    line = f"best score {_fmt(status['best_score'])} (node {status['best_node_id']})"
    line += f", initial {_fmt(status['initial_score'])}"
    if status.get("reference_score") is not None:
        line += f", reference {status['reference_score']!r} ({status['reference_label']})"
    out.print(line)
    out.print(f"run stored in {run_dir}")


@app.command()
def run(
    task: Annotated[str, typer.Argument(help="Built-in task name or task folder path.")],
    steps: Annotated[int | None, typer.Option(min=1, help="Evolution steps (default: the task's).")] = None,
    run_dir: Annotated[Path | None, typer.Option(help="Run directory (default runs/<task>-<time>).")] = None,
    seed: Annotated[int, typer.Option(help="Seed of samplers and the offline researcher.")] = 0,
    sampler: Annotated[str | None, typer.Option(help=f"Parent sampler: {', '.join(SAMPLERS)}.")] = None,
    workers: Annotated[int, typer.Option(min=1, help="Trials per generation, run in parallel.")] = 1,
    max_wall: Annotated[float | None, typer.Option(min=1, help="Wall-clock budget in seconds.")] = None,
    target: Annotated[float | None, typer.Option(help="Stop once a node reaches this score.")] = None,
) -> None:
    """Start a run of TASK and drive it until its budget is spent."""
    spec = load_task(task)
    if sampler is not None and sampler not in SAMPLERS:
        fail(f"unknown sampler '{sampler}' (choose from: {', '.join(SAMPLERS)})")
    run_dir = run_dir or default_run_dir(spec.name)
    context = Context(task=str(spec.root) if Path(task).exists() else task, run_dir=str(run_dir), seed=seed,
                      sampler=sampler or "", workers=workers)
    budget = Budget(steps or spec.steps, max_wall, target if target is not None else spec.target_score)
    ensure_new_run_dir(run_dir)
    err.print("no model configured: using the offline researcher (code mutations, no LLM)")
    with LoopProgress(run_dir, budget.max_steps) as progress:
        state = start_run(context, budget, listener=progress)
    _finish(state, run_dir)


@app.command()
def resume(
    run_dir: Annotated[Path, typer.Argument(help="Run directory to continue.")],
    steps: Annotated[int | None, typer.Option(min=1, help="Run this many more steps.")] = None,
) -> None:
    """Continue a run after a crash or a finished budget (same thread, no node lost or duplicated)."""
    _, budget = load_run_config(run_dir)
    db_path = run_dir / "run.db"
    done = max(0, SQLiteDatabase(db_path).count() - 1) if db_path.exists() else 0
    total = max(budget.max_steps, done) + (steps or 0)
    with LoopProgress(run_dir, total) as progress:
        state = resume_run(run_dir, steps, listener=progress)
    _finish(state, run_dir)


@app.command()
def status(
    run_dir: Annotated[Path, typer.Argument(help="Run directory.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Nodes, counts by status, best and initial score of a run."""
    info = run_status(run_dir)
    if as_json:
        out.print_json(json.dumps(info))
        return
    table = Table(show_header=False, box=None)
    for key in ("run_dir", "task", "nodes", "best_score", "best_node_id", "best_name", "initial_score"):
        table.add_row(key, str(info.get(key)))
    table.add_row("counts", ", ".join(f"{k} {v}" for k, v in sorted(info["counts"].items())))
    if info.get("reference_score") is not None:
        table.add_row("reference", f"{info['reference_score']} ({info['reference_label']})")
    out.print(table)


@app.command()
def best(run_dir: Annotated[Path, typer.Argument(help="Run directory.")]) -> None:
    """Print the best program of a run."""
    run_status(run_dir)  # validates the run directory
    node = SQLiteDatabase(Path(run_dir) / "run.db").best()
    if node is None:
        fail(f"no valid node in {run_dir} yet")
    sys.stdout.write(node.program)


@app.command("eval")
def evaluate(
    task: Annotated[str, typer.Argument(help="Built-in task name or task folder path.")],
    program: Annotated[Path, typer.Argument(help="Program file to evaluate.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Evaluate one program file in the sandbox and print its metrics."""
    spec = load_task(task)
    if not program.is_file():
        fail(f"program file not found: {program}")
    result = LocalExecutor().run(spec, program, None, None)
    if as_json:
        sys.stdout.write(result.to_json() + "\n")
    else:
        out.print(f"status {result.status}  score {_fmt(result.score)}  ({result.duration_s:.2f} s)")
        if result.error:
            out.print(f"error: {result.error}")
        for key, value in sorted(result.metrics.items()):
            out.print(f"  {key}: {value}")
    if result.status != "ok":
        raise typer.Exit(1)


@app.command()
def tasks() -> None:
    """List the built-in tasks."""
    for name in builtin_tasks():
        spec = load_task(name)
        first = spec.description.strip().splitlines()[0]
        out.print(f"{name:24} {first}")


def main(argv: list[str] | None = None) -> None:
    """Console entry point: one-line errors with exit code 2 unless --debug is given."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    if debug:
        args.remove("--debug")
    command = typer.main.get_command(app)
    try:
        code = command.main(args, prog_name="asi-evolve", standalone_mode=False)
    except typer.Exit as exc:
        code = exc.exit_code
    except typer.Abort:
        sys.stderr.write("aborted\n")
        code = 130
    except typer.TyperException as exc:  # argument parsing: usage errors, bad option values
        if debug:
            raise
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        sys.stderr.write(f"error: {' '.join(message.split())}\n")
        code = 2
    except USER_ERRORS as exc:
        if debug:
            raise
        sys.stderr.write(f"error: {exc}\n")
        code = 2
    sys.exit(code or 0)


if __name__ == "__main__":
    main()
