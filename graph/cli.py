"""`asi-evolve`: run, resume and inspect research runs from the shell.

Settings (API keys above all) may also come from a `.env` file in the working directory; variables already set
in the environment win over it.

Errors meant for people are one line on stderr with exit code 2 (bad arguments, unknown task, invalid task folder
or run directory); `--debug` shows tracebacks instead.
"""

from __future__ import annotations

import inspect
import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import typer
from dotenv import load_dotenv
from rich.console import Console
from rich.table import Table

from agents.models.errors import LLMUnavailable
from agents.models.specs import probe_all
from graph.budget import Budget
from graph.cli_options import budget_options, context_options, given_values, parameter
from graph.context import Context
from graph.control_cli import ApprovalPrompt, fork
from graph.experiment_cli import evaluate, verify
from graph.knowledge_cli import app as knowledge_app
from graph.progress import LoopProgress, finish, fmt, shares_text
from graph.report_cli import compare, export, report, serve
from graph.runner import (
    RunError,
    default_run_dir,
    ensure_new_database,
    ensure_new_run_dir,
    existing_database,
    load_run_config,
    resume_run,
    run_database,
    run_status,
    start_run,
    stored_steps,
)
from graph.settings import Settings, resolve_settings
from knowledge.database import DatabaseError, NodeDatabase
from knowledge.storage import describe, exists, run_location
from tasks.registry import builtin_tasks, load_task
from tasks.spec import TaskError
from tools.deepspeed_launch import LaunchError
from tools.jail import requested_backend

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="ASI-Evolve: a closed learn -> design -> experiment -> analyze research loop.")
app.add_typer(knowledge_app, name="knowledge")
out = Console(markup=False, highlight=False, soft_wrap=True)
err = Console(stderr=True)
USER_ERRORS = (TaskError, RunError, DatabaseError, ValueError, FileNotFoundError, LLMUnavailable, LaunchError)


class UsageProblem(ValueError):
    """An argument that parsed but makes no sense."""


def fail(message: str) -> None:
    raise UsageProblem(message)


def run(**values: Any) -> None:
    """Start a run of TASK and drive it until its budget is spent."""
    task, replay = values.pop("task"), values.pop("replay")
    budget_given = given_values(BUDGET_OPTIONS, values)
    given = given_values(CONTEXT_OPTIONS, values)
    if replay is not None:
        requested_backend(given.get("sandbox"))  # a bad value is refused even where the recorded run's is used
        context, budget = replay_context(replay, task, given.get("run_dir"), budget_given.get("max_steps"))
        settings = resolve_settings(context, load_task(context.task, context.config or None, context.params))
    else:
        if task is None:
            fail("missing argument TASK (a built-in task name or a task folder)")
        spec = load_task(task, given.get("config") or None, tuple(given.get("params") or ()))
        run_dir = given.pop("run_dir", None) or str(default_run_dir(spec.name))
        context = Context(task=str(spec.root) if Path(task).exists() else task, run_dir=run_dir, **given)
        settings = resolve_settings(context, spec)
        budget = settings.budget(**budget_given)
    run_dir = Path(context.run_dir)
    ensure_new_run_dir(run_dir)
    if context.db:  # a bad URL, an unreachable server or a schema holding a run: one line, before anything starts
        ensure_new_database(run_location(run_dir, context.db))
    announce_models(context, settings)
    with LoopProgress(run_dir, budget.max_steps) as progress:
        state = start_run(context, budget, listener=progress, on_training=progress.training,
                          approver=ApprovalPrompt(progress))
    finish(state, run_dir, progress.elapsed_s)


BUDGET_OPTIONS, CONTEXT_OPTIONS = budget_options(), context_options()
run.__signature__ = inspect.Signature([  # type: ignore[attr-defined]
    inspect.Parameter("task", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None, annotation=Annotated[
        str | None, typer.Argument(help="Built-in task name or task folder path.")]),
    *(parameter(option) for option in BUDGET_OPTIONS + CONTEXT_OPTIONS),
    inspect.Parameter("replay", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=Annotated[
        Path | None, typer.Option(help="Replay the model answers recorded in this run, offline.")]),
])
run.__annotations__ = {}
app.command()(run)


def replay_context(recorded: Path, task: str | None, run_dir: str | None, steps: int | None) -> tuple[Context, Budget]:
    """A new run configured like the recorded one, answering every model call from its ledger."""
    context, budget = load_run_config(recorded)
    if not exists(run_database(recorded)):
        fail(f"nothing to replay: {describe(run_database(recorded))} holds no run")
    if task is not None and load_task(task).name != load_task(context.task).name:
        fail(f"the recorded run is of task '{context.task}', not '{task}'")
    target_dir = run_dir or default_run_dir(load_task(context.task).name + "-replay")
    context = replace(context, run_dir=str(target_dir), replay_from=str(recorded.resolve()))
    if steps:
        budget = replace(budget, max_steps=steps)
    return context, budget


def announce_models(context: Context, settings: Settings) -> None:
    """Say in one line which researcher runs; probe model servers so an unreachable one fails now (exit 2)."""
    if context.replay_from:
        err.print(f"replaying the model answers recorded in {context.replay_from} (no network)")
        return
    specs = settings.models
    if not specs:
        err.print("no model configured: using the offline researcher (code mutations, no LLM)")
        return
    probe_all(specs)
    err.print(f"models: {', '.join(s.model for s in specs)}")


@app.command()
def resume(
    run_dir: Annotated[Path, typer.Argument(help="Run directory to continue.")],
    steps: Annotated[int | None, typer.Option(min=1, help="Run this many more steps than are stored.")] = None,
) -> None:
    """Continue a run after a crash (finishing its budget) or run --steps N more (same thread, nothing lost)."""
    _, budget = load_run_config(run_dir, checkpoints=True)  # every problem before the progress line
    total = budget.max_steps if steps is None else stored_steps(run_dir) + steps
    with LoopProgress(run_dir, total) as progress:
        state = resume_run(run_dir, steps, listener=progress, on_training=progress.training,
                           approver=ApprovalPrompt(progress))
    finish(state, run_dir, progress.elapsed_s)


@app.command()
def status(
    run_dir: Annotated[Path, typer.Argument(help="Run directory.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Nodes, counts by status, best and initial score, design sources and task length of a run."""
    info = run_status(run_dir, details=True)
    if as_json:
        out.print_json(json.dumps(info))
        return
    table = Table(show_header=False, box=None)
    for key in ("run_dir", "task", "nodes", "best_score", "best_node_id", "best_name", "initial_score",
                "model_calls", "model_tokens", "model_cost", "sandbox"):
        if key not in info:
            continue
        table.add_row(key, str(info.get(key)))
    table.add_row("counts", ", ".join(f"{k} {v}" for k, v in sorted(info["counts"].items())))
    if info.get("reference_score") is not None:
        table.add_row("reference", f"{info['reference_score']} ({info['reference_label']})")
    for record in info.get("verified", []):
        table.add_row("verified", f"node {record['node_id']} (score {fmt(record['exploration_score'])}): "
                      + _verified_text(record))
    sources = info["design_sources"]
    for group in ("all", "best"):
        shares = shares_text(sources[group])
        table.add_row(f"sources ({group})", f"{shares} of {sources[group]['total']} nodes" if shares
                      else "none recorded")
    for axis, text in info["task_length_lines"]:
        table.add_row(axis, text)
    for warning in info.get("sandbox_warnings", []):
        table.add_row("warning", f"sandbox: {warning}")
    out.print(table)


@app.command()
def best(
    run_dir: Annotated[Path, typer.Argument(help="Run directory.")],
    verified: Annotated[bool, typer.Option("--verified", help="The best by verified score (see verify).")] = False,
) -> None:
    """Print the best program of a run (its scores, exploration and verified, on stderr)."""
    info = run_status(run_dir)  # validates the run directory
    db = NodeDatabase(existing_database(Path(run_dir)))
    checked = {v["node_id"]: v for v in info.get("verified", [])}
    if verified:
        ranked = sorted((v for v in checked.values() if v["score"] is not None), key=lambda v: -v["score"])
        if not ranked:
            fail(f"no verified node in {run_dir} yet (run 'asi-evolve verify {run_dir}')")
        node = db.get(ranked[0]["node_id"])
    else:
        node = db.best()
    if node is None:
        fail(f"no valid node in {run_dir} yet")
    err.print(f"node {node.id}: score {fmt(node.score)}" + (f", {_verified_text(checked[node.id])}"
                                                              if node.id in checked else ""))
    sys.stdout.write(node.program)


def _verified_text(record: dict[str, Any]) -> str:
    where = f"config {record['config']}" if record["config"] else "the run's config"
    if record["score"] is None:
        return f"verification {record['status']} ({where}): {record['error']}"
    return f"verified {fmt(record['score'])} ± {record['score_std']:.3g} over {record['seeds']} seeds ({where})"


app.command("eval")(evaluate)
app.command()(verify)
for command in (report, compare, serve, export):
    app.command()(command)
app.command()(fork)


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
    load_dotenv(Path.cwd() / ".env", override=False)  # keys in ./.env; the environment wins
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
