"""Start, resume and inspect runs: the entry points the CLI and Python users share.

A run directory holds `config.json` (the context and budget it was started with), `sandbox.json` (what the
candidates' jail isolates), `run.db` (nodes), `checkpoints.db` (LangGraph) — or, with `--db`, a PostgreSQL schema
holding both — and `nodes/<trial key>/` (program,
logs, result, analysis).

A run started with `approve` pauses before each experiment (a LangGraph interrupt, `graph.approval`); the
`approver` given to `start_run` / `resume_run` answers the pending questions (a map of interrupt id to answer,
all of a generation at once) or, returning None, leaves the run paused and resumable.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agents.models.ledger import CallLedger
from graph.budget import Budget
from graph.context import Context
from graph.run_check import (
    RUN_DB,
    RUN_ID,
    claim_database,
    leftover_problem,
    new_run_id,
    recorded_run_id,
    state_problem,
    storage_problem,
    write_config,
)
from graph.trial_order import INITIAL_KEY
from knowledge.database import NodeDatabase
from knowledge.storage import Location, describe, exists, run_location
from knowledge.verifications import VerificationStore
from tasks.registry import load_task

if TYPE_CHECKING:
    from langgraph.graph import StateGraph
    from langgraph.types import Interrupt

CONFIG_FILE = "config.json"
Listener = Callable[[dict[str, Any]], None]
Approver = Callable[[list["Interrupt"]], "dict[str, Any] | None"]


class RunError(ValueError):
    """A run cannot be started, resumed or read; the message is one line."""


def default_run_dir(task_name: str, root: Path = Path("runs")) -> Path:
    return root / f"{task_name}-{time.strftime('%Y%m%d-%H%M%S')}"


def _compile(run_dir: Path, builder: StateGraph | None, approve: bool = False, db: str = ""):
    """The run's graph with its checkpointer. LangGraph and the model stack load here, when a run is driven, so
    `status`, `best` and `--help` start in a fraction of the time. A run with `approve` checkpoints each trial's
    steps too: a trial paused for approval resumes at its question, not from its start."""
    from graph.builder import compile_graph, make_builder

    if builder is None:
        builder = make_builder(trial_checkpoints=approve)
    elif approve and getattr(builder.nodes["trial"].runnable, "checkpointer", None) is False:
        raise RunError("a run with approve needs trial checkpoints: build it with make_builder(trial_checkpoints=True)")
    return compile_graph(run_dir, builder, db)


def _thread_config(recursion_limit: int | None = None, thread_id: str | None = None) -> dict:
    from graph.checkpoint import thread_config as config

    return config(recursion_limit, thread_id)


def _recursion_limit(max_steps: int) -> int:
    return 3 * (max_steps + 2) + 25


def _drive(graph, payload, context: Context, max_steps: int, listener: Listener | None,
           interrupt_after: list[str] | None = None, on_training: Listener | None = None,
           approver: Approver | None = None, thread_id: str | None = None) -> dict[str, Any]:
    """Stream the run (one lane of it: `thread_id`): the loop's tallies go to `listener`, training progress a
    launcher streams from inside a trial (LangGraph's custom stream) to `on_training`, questions the run pauses on
    (interrupts) to `approver`, whose answers resume it (`Command(resume={interrupt id: answer})`).

    Only the custom stream is read (the tally node writes its tally there): streaming every node's update too
    put each one through a queue nobody read (8% of the loop's CPU samples in a profile of the instant task).

    Checkpoints are saved in the background while the next step runs (`durability="async"`): a kill loses at most
    the steps after the last saved checkpoint, and resuming re-runs them from there. That is lossless because the
    node store, written before a trial's step ends, is what a re-run trial finds its result in (by trial key)."""
    from langgraph.types import Command

    config = _thread_config(_recursion_limit(max_steps), thread_id)
    while True:
        for _namespace, chunk in graph.stream(payload, config, context=context, stream_mode="custom",
                                              subgraphs=True, durability="async", interrupt_after=interrupt_after):
            if not isinstance(chunk, dict):
                continue
            if listener and isinstance(chunk.get("tally"), dict):
                listener(chunk["tally"])
            elif on_training and isinstance(chunk.get("training"), dict):
                on_training(chunk["training"])
        snapshot = graph.get_state(config)
        pending = list(snapshot.interrupts)
        if not pending:
            return snapshot.values
        answers = approver(pending) if approver is not None else None
        if not answers:
            return paused(snapshot.values, pending, context)
        if not set(answers) & {i.id for i in pending}:  # resuming would only ask the same again, forever
            raise RunError(f"the approver answered no pending interrupt (ids {', '.join(map(str, answers))})")
        payload = Command(resume=answers)


def paused(values: dict[str, Any], pending: list[Interrupt], context: Context) -> dict[str, Any]:
    """The state of a run left waiting for answers: its questions under `__interrupt__` (as LangGraph's `invoke`
    returns them) and a stop reason saying how to go on."""
    reason = (f"paused for approval of {len(pending)} trial(s): resume the run to answer "
              f"(asi-evolve resume {context.run_dir})")
    return {**values, "stop_reason": reason, "__interrupt__": pending}


def is_paused(state: dict[str, Any]) -> bool:
    """Whether `state` (what `start_run` / `resume_run` return) is a run waiting for answers."""
    return bool(state.get("__interrupt__"))


def stored_steps(run_dir: Path) -> int:
    """Evolution steps a run has stored (its nodes, the initial program's evaluation not counted)."""
    location = run_database(run_dir)
    if not exists(location):
        return 0
    db = NodeDatabase(location)
    return db.count() - (1 if db.get_by_trial_key(INITIAL_KEY) is not None else 0)


def ensure_new_run_dir(run_dir: Path) -> None:
    """Refuse to start a run over an existing one (its nodes would be mixed with the new run's). A directory
    without config.json holds a run only if its databases hold something (`graph.run_check`): what a start killed
    before writing config.json leaves is started over."""
    if (Path(run_dir) / CONFIG_FILE).exists():
        raise RunError(f"run directory already holds a run: {run_dir} (use 'asi-evolve resume {run_dir}')")
    problem = leftover_problem(Path(run_dir))
    if problem:
        raise RunError(problem)


def ensure_new_database(location: Location) -> None:
    """Refuse to start a run in a PostgreSQL schema that holds one already."""
    if exists(location) and NodeDatabase(location).count() > 0:
        raise RunError(f"{describe(location)} already holds a run: name another schema (?schema=NAME) or resume "
                       "the run that is there")


def start_run(context: Context, budget: Budget, *, builder: StateGraph | None = None,
              listener: Listener | None = None, on_training: Listener | None = None,
              approver: Approver | None = None) -> dict[str, Any]:
    """Start a new run in `context.run_dir` and drive it until its budget is spent (or, with `approve`, until no
    answer is given); returns the final state."""
    run_dir = Path(context.run_dir)
    if context.lanes_problem():
        raise RunError(context.lanes_problem())
    ensure_new_run_dir(run_dir)
    if context.db:  # the schema is fixed now: a moved or forked directory keeps reading the same one
        context = replace(context, db=str(run_location(run_dir, context.db)))
        ensure_new_database(context.db)
    run_dir.mkdir(parents=True, exist_ok=True)
    config = {"context": context.to_dict(), "budget": {"max_steps": budget.max_steps,
              "max_wall_s": budget.max_wall_s, "target_score": budget.target_score}}
    graph = _compile(run_dir, builder, context.approve, context.db)
    config[RUN_ID] = new_run_id()  # config.json, whole or not at all, makes the directory a run; then run.db
    write_config(run_dir / CONFIG_FILE, config)
    claim_database(run_location(run_dir, context.db), config[RUN_ID])
    if context.lanes > 1:
        return _run_lanes(graph, context, budget, None, listener, on_training)
    return _drive(graph, budget.as_input(), context, budget.max_steps, listener, on_training=on_training,
                  approver=approver)


def load_run_config(run_dir: Path, checkpoints: bool = False) -> tuple[Context, Budget]:
    """A run's context and budget, once its stored files pass `graph.run_check` (`checkpoints`: the LangGraph
    checkpoints too, which resuming needs and reading the nodes does not); RunError with one line otherwise."""
    path = Path(run_dir) / CONFIG_FILE
    if not path.is_file():
        raise RunError(f"not a run directory (no {CONFIG_FILE}): {run_dir}")
    try:
        raw = json.loads(path.read_text())
        context, budget = Context.coerce(raw["context"]), Budget(**raw["budget"])
        run_id = raw.get(RUN_ID)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise RunError(f"{path}: unreadable run configuration ({exc})") from None
    problem = None if context.db else storage_problem(Path(run_dir), run_id, checkpoints)  # lost or damaged files
    if problem:
        raise RunError(problem)
    return context, budget


def run_database(run_dir: Path) -> Location:
    """Where a run's tables live, as its configuration says: `run.db` in the directory unless it names a
    PostgreSQL database (`--db`); the schema was fixed when the run started, so a moved directory keeps it."""
    path = Path(run_dir) / CONFIG_FILE
    db = ""
    if path.is_file():
        try:
            db = str(json.loads(path.read_text())["context"].get("db", "") or "")
        except (ValueError, KeyError, TypeError, AttributeError):
            db = ""  # load_run_config says what is wrong with the file
    return run_location(run_dir, db)


def existing_database(run_dir: Path) -> Location:
    """The database of a run that has stored something; RunError (one line) when there is none yet."""
    location = run_database(run_dir)
    if not exists(location):
        raise RunError(f"run has no database yet: {describe(location)}")
    return location


def _unfinished(snapshot) -> bool:
    """Whether the thread has steps left to run. A kill after a step's writes were saved but before the
    checkpoint that follows them leaves a snapshot whose only task has its result and no `next`; it is unfinished
    too (driving it applies the writes and goes on)."""
    return bool(snapshot.next) or bool(snapshot.tasks)


def resume_run(run_dir: Path, extra_steps: int | None = None, *, builder: StateGraph | None = None,
               listener: Listener | None = None, on_training: Listener | None = None,
               approver: Approver | None = None) -> dict[str, Any]:
    """Continue the run's thread after a crash or a finished budget.

    Without `extra_steps` the run finishes its budget (what a crash interrupted). With it, the run goes on for
    `extra_steps` more steps than it has stored: a generation the crash interrupted is finished first (its trials
    were already planned) and counts towards them; the wall-time budget restarts. A run paused for approval asks
    its pending questions again (driving it re-raises them).
    """
    context, budget = load_run_config(run_dir, checkpoints=True)
    context = Context.coerce({**context.to_dict(), "run_dir": str(run_dir)})
    graph = _compile(run_dir, builder, context.approve, context.db)
    snapshot = graph.get_state(_thread_config())
    if not context.db:  # the files are intact (load_run_config checked them); is what the checkpoints counted there?
        problem = state_problem(Path(run_dir), snapshot.values or {})
        if problem:
            raise RunError(problem)
        claim_database(Path(run_dir) / RUN_DB, recorded_run_id(run_dir))  # a run.db a kill left unborn
    target = None if extra_steps is None else stored_steps(run_dir) + extra_steps
    if context.lanes > 1:
        return _run_lanes(graph, context, budget, target, listener, on_training)
    return _resume_thread(graph, context, budget, target, listener,
                          {"on_training": on_training, "approver": approver})


def _resume_thread(graph, context: Context, budget: Budget, target: int | None, listener: Listener | None,
                   hooks: dict[str, Any], lane: int = 0) -> dict[str, Any]:
    """Continue one thread (a lane) of a run: finish its budget, or (`target`) go on to that many steps."""
    from graph.lanes import lane_thread_id

    thread_id = lane_thread_id(lane)
    config = _thread_config(thread_id=thread_id)
    snapshot = graph.get_state(config)
    fresh = {**budget.as_input(), "lane": lane}
    hooks = {**hooks, "thread_id": thread_id}
    if target is None:
        if not snapshot.values:  # crashed before the first checkpoint: start the thread afresh
            return _drive(graph, fresh, context, budget.max_steps, listener, **hooks)
        if _unfinished(snapshot):
            steps = snapshot.values.get("max_steps", budget.max_steps)
            return _drive(graph, None, context, steps, listener, **hooks)
        return snapshot.values
    if not snapshot.values:
        return _drive(graph, {**fresh, "max_steps": target}, context, target, listener, **hooks)
    if _unfinished(snapshot):  # finish the interrupted generation up to its tally, then re-budget
        state = _drive(graph, None, context, target, listener, interrupt_after=["tally"], **hooks)
        if is_paused(state):  # still waiting for answers: nothing to re-budget yet
            return state
    more = {"max_steps": target, "max_wall_s": budget.max_wall_s, "started_at": time.time(), "stop_reason": None}
    graph.update_state(config, more, as_node="tally")  # the router sees the new budget and goes on
    return _drive(graph, None, context, target, listener, **hooks)


def _run_lanes(graph, context: Context, budget: Budget, target: int | None, listener: Listener | None,
               on_training: Listener | None) -> dict[str, Any]:
    """Start or resume every lane of the run at once (`graph.lanes`); the listener hears them one at a time."""
    from graph.lanes import drive_lanes

    lock = threading.Lock()

    def heard(update: dict[str, Any]) -> None:
        with lock:
            listener(update)  # type: ignore[misc]

    hooks = {"on_training": on_training, "approver": None}

    def drive(lane: int) -> dict[str, Any]:
        return _resume_thread(graph, context, budget, target, heard if listener else None, hooks, lane)

    return drive_lanes(context.lanes, drive)


def run_status(run_dir: Path, details: bool = False) -> dict[str, Any]:
    """What a run holds: node counts by status, the best node, the initial score, the task's reference; with
    `details`, also where its design ideas came from and its task length (these read every node)."""
    run_dir = Path(run_dir)
    context, budget = load_run_config(run_dir)
    location = existing_database(run_dir)
    db = NodeDatabase(location)
    best = db.best()
    initial = db.get_by_trial_key(INITIAL_KEY)
    status: dict[str, Any] = {
        "run_dir": str(run_dir),
        "task": context.task,
        "nodes": db.count(),
        "counts": db.counts_by_status(),
        "best_score": best.score if best else None,
        "best_node_id": best.id if best else None,
        "best_name": best.name if best else None,
        "initial_score": initial.score if initial else None,
        "max_steps": budget.max_steps,
    }
    sandbox = run_dir / "sandbox.json"
    if sandbox.is_file():
        try:
            recorded = json.loads(sandbox.read_text())
            status["sandbox"] = recorded.get("description", "")
            status["sandbox_warnings"] = list(recorded.get("warnings", []))
        except ValueError:
            status["sandbox"] = "unreadable sandbox.json"
    verified = VerificationStore(location).latest()
    if verified:
        status["verified"] = [{**v.__dict__, "exploration_score": getattr(db.get(v.node_id), "score", None)}
                              for v in sorted(verified.values(), key=lambda v: (v.score is None, -(v.score or 0)))]
    calls = CallLedger(location).rows()
    if calls:
        status["model_calls"] = len(calls)
        status["model_tokens"] = sum(c.input_tokens + c.output_tokens for c in calls)
        status["model_cost"] = sum(c.cost for c in calls)
    task = None
    try:
        task = load_task(context.task, context.config or None, context.params)
        status["reference_score"] = task.reference_score
        status["reference_label"] = task.reference_label
    except ValueError:
        pass
    if details:
        status.update(_details(run_dir, db.nodes(), task))
    return status


def _details(run_dir: Path, nodes: list, task: Any) -> dict[str, Any]:
    """Design-source shares (all and best nodes) and the task length (Ltask) of a run."""
    from graph.report.task_length import of_run
    from knowledge.provenance import run_attribution

    shares = run_attribution(nodes)
    length = of_run(nodes, run_dir, task)
    return {
        "design_sources": {group: {"total": found.total, "counts": found.counts, "shares": found.shares}
                           for group, found in shares.items()},
        "task_length": length.as_dict(),
        "task_length_lines": length.lines(),
    }
