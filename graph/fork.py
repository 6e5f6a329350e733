"""Time travel: a new run that starts from an earlier loop checkpoint of a run, the original left untouched.

Why a new run directory rather than a second branch of the same thread: a run's node database is append-only and
is what its trials read (samplers, novelty, cognition), so a branch needs its own copy of the run as it was at the
fork point. The copy is made with SQLite's backup API from read-only connections (a consistent snapshot of a live
WAL database, nothing written to the original), then cut back to the fork point: later nodes and their folders,
fingerprints, verifications, the cognition items their analyses wrote, and the model calls of later trials (so the
fork asks afresh instead of replaying the original's answers) are removed, `visits` are recounted from the children
left, id counters are wound back, and saved sampler states are dropped (samplers replay exactly from the nodes).

The LangGraph thread is continued the official way: `update_state` on the fork checkpoint's config (with the
fork's budget, as the tally would write it) makes a new head whose parent is that checkpoint. The original's later
checkpoints stay in the copy as an abandoned branch (`get_state_history` lists them, the head's lineage does not);
fork points are looked up along the head's lineage only, so a fork of a fork never lands on a dead branch.
"""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
import time
from collections import Counter
from contextlib import closing
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from graph.budget import Budget
from graph.checkpoint import thread_config
from graph.context import Context
from graph.runner import CONFIG_FILE, RunError, _compile, ensure_new_run_dir, load_run_config
from knowledge.storage import describe

_POINT = re.compile(r"^(node|step):(\d+)$")
_TRIAL = re.compile(r"g(\d+)\.\d+")
DATABASES = ("run.db", "checkpoints.db")
COPIED_FILES = ("sandbox.json",)


@dataclass(frozen=True)
class ForkPoint:
    """Where to fork: after the generation that stored node N (`node:N`), or after step N (`step:N`)."""

    kind: Literal["node", "step"]
    number: int

    @classmethod
    def parse(cls, text: str) -> ForkPoint:
        match = _POINT.match(text.strip())
        if match is None:
            raise RunError(f"--at takes node:ID or step:N (e.g. node:12, step:8), not {text!r}")
        return cls(match.group(1), int(match.group(2)))  # type: ignore[arg-type]

    def __str__(self) -> str:
        return f"{self.kind}:{self.number}"


@dataclass(frozen=True)
class Fork:
    """A prepared fork: its context and budget (as written to its config.json) and where it starts."""

    context: Context
    budget: Budget
    steps: int  # steps the original had counted at the fork point
    generation: int
    nodes: int  # nodes kept


def backup(source: Path, target: Path) -> None:
    """Copy a SQLite database with the backup API, never writing to the original (a plain connection would fold
    its WAL into it). A database without a WAL file (closed cleanly) is read as immutable, which creates no
    files beside it; one with a WAL (in use, or left by a kill) is read through a read-only connection, which
    includes what the WAL holds and takes a consistent snapshot even while the run writes."""
    mode = "mode=ro" if source.with_name(source.name + "-wal").exists() else "immutable=1"
    src = sqlite3.connect(f"{source.resolve().as_uri()}?{mode}", uri=True)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()


def loop_checkpoints(graph, config: dict) -> list[Any]:
    """The loop checkpoints written right after a tally, on the head's lineage, oldest first."""
    by_id = {s.config["configurable"]["checkpoint_id"]: s for s in graph.get_state_history(config)}
    head = graph.get_state(config)
    lineage, snapshot = [], head if head.values else None
    while snapshot is not None:
        lineage.append(snapshot)
        parent = (snapshot.parent_config or {}).get("configurable", {}).get("checkpoint_id")
        snapshot = by_id.get(parent) if parent else None
    tallied = [s for s in lineage if s.next in (("learner",), ()) and s.values.get("generation") is not None]
    return tallied[::-1]


def find_checkpoint(tallied: list[Any], point: ForkPoint, db_path: Path, run_dir: Path) -> Any:
    """The first loop checkpoint at `point`; `RunError` naming what exists when there is none."""
    if point.kind == "step":
        found = [s for s in tallied if s.values.get("steps") == point.number]
        if not found:
            steps = sorted({s.values.get("steps", 0) for s in tallied})
            shown = ", ".join(map(str, steps[:12])) + (", …" if len(steps) > 12 else "")
            raise RunError(f"{run_dir} has no loop checkpoint at step {point.number} (steps there: {shown or 'none'})")
        return found[0]
    with closing(sqlite3.connect(db_path)) as conn:
        row = conn.execute("SELECT generation FROM nodes WHERE id = ?", (point.number,)).fetchone()
    if row is None:
        raise RunError(f"{run_dir} has no node {point.number}")
    found = [s for s in tallied if s.values.get("generation") == row[0]]
    if not found:
        raise RunError(f"node {point.number} of {run_dir} has no loop checkpoint after it (generation {row[0]} "
                       "was never tallied)")
    return found[0]


def _later(text: str, generation: int) -> bool:
    match = _TRIAL.search(text or "")
    return match is not None and int(match.group(1)) > generation


def truncate(db_path: Path, generation: int) -> list[str]:
    """Cut a copied run.db back to the end of `generation`; returns the trial keys of the nodes kept."""
    conn = sqlite3.connect(db_path, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        later = [r[0] for r in conn.execute("SELECT id FROM nodes WHERE generation > ?", (generation,))]
        marks = ", ".join("?" * len(later))
        conn.execute("DELETE FROM nodes WHERE generation > ?", (generation,))
        if later and "cognition_items" in tables:
            conn.execute(f"DELETE FROM cognition_items WHERE node_id IN ({marks})", later)
        for table in ("node_fingerprints", "verifications"):
            if table in tables:
                conn.execute(f"DELETE FROM {table} WHERE node_id NOT IN (SELECT id FROM nodes)")
        if "llm_calls" in tables:
            calls = conn.execute("SELECT id, key, candidate FROM llm_calls").fetchall()
            doomed = [(i,) for i, key, candidate in calls if _later(candidate, generation) or _later(key, generation)]
            conn.executemany("DELETE FROM llm_calls WHERE id = ?", doomed)
        conn.execute("DELETE FROM meta WHERE key LIKE 'sampler_state:%'")
        rows = conn.execute("SELECT id, trial_key, parent_ids FROM nodes ORDER BY id").fetchall()
        children = Counter(json.loads(parents)[0] for _, _, parents in rows if json.loads(parents))
        conn.execute("UPDATE nodes SET visits = 0")
        conn.executemany("UPDATE nodes SET visits = ? WHERE id = ?", [(n, i) for i, n in children.items()])
        if "sqlite_sequence" in tables:  # ids continue where the fork point left them, as in the original
            for table in ("nodes", "cognition_items", "llm_calls", "verifications"):
                if table in tables:
                    conn.execute(f"UPDATE sqlite_sequence SET seq = (SELECT COALESCE(MAX(id), 0) FROM {table}) "
                                 "WHERE name = ?", (table,))
        conn.execute("COMMIT")
        return [key for _, key, _ in rows]
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    finally:
        conn.close()


def _check_target(run_dir: Path, new_dir: Path) -> None:
    ensure_new_run_dir(new_dir)
    if new_dir.exists() and (not new_dir.is_dir() or any(new_dir.iterdir())):
        raise RunError(f"fork target exists and is not an empty directory: {new_dir}")
    for name in DATABASES:
        if not (run_dir / name).is_file():
            raise RunError(f"nothing to fork: {run_dir / name} does not exist")


def prepare_fork(run_dir: Path, at: str, new_dir: Path, *, steps: int | None = None, seed: int | None = None,
                 builder=None) -> Fork:
    """Make `new_dir` a run continuing `run_dir` from the loop checkpoint at `at` (see `ForkPoint`), with a
    budget of `steps` more steps (default: up to the original's budget) and optionally another seed. The fork
    is built in a staging folder beside `new_dir` and moved there only once complete."""
    run_dir, new_dir = Path(run_dir), Path(new_dir)
    point = ForkPoint.parse(at)
    context, budget = load_run_config(run_dir, checkpoints=True)
    if context.db:
        raise RunError(f"fork copies run.db and checkpoints.db: a run stored in {describe(context.db)} cannot be "
                       "forked (yet)")
    if context.lanes > 1:
        raise RunError(f"fork follows one thread: a run of {context.lanes} lanes cannot be forked (yet)")
    _check_target(run_dir, new_dir)
    staging = new_dir.parent / f".{new_dir.name}.forking"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        for name in DATABASES:
            backup(run_dir / name, staging / name)
        graph = _compile(staging, builder, context.approve)
        try:
            checkpoint = find_checkpoint(loop_checkpoints(graph, thread_config()), point, staging / "run.db", run_dir)
            at_steps, generation = checkpoint.values.get("steps", 0), checkpoint.values["generation"]
            target = at_steps + steps if steps is not None else budget.max_steps
            if target <= at_steps:
                raise RunError(f"the fork point ({point}, step {at_steps}) is at the original's budget of "
                               f"{budget.max_steps} steps: give --steps N to run N more")
            more = {"max_steps": target, "max_wall_s": budget.max_wall_s, "started_at": time.time(),
                    "stop_reason": None}
            graph.update_state(checkpoint.config, more, as_node="tally")  # the new head: the router goes on
        finally:
            graph.checkpointer.conn.close()
        kept = truncate(staging / "run.db", generation)
        for key in kept:
            if (run_dir / "nodes" / key).is_dir():
                shutil.copytree(run_dir / "nodes" / key, staging / "nodes" / key)
        for name in COPIED_FILES:
            if (run_dir / name).is_file():
                shutil.copy2(run_dir / name, staging / name)
        context = replace(context, run_dir=str(new_dir), seed=context.seed if seed is None else seed)
        budget = replace(budget, max_steps=target)
        raw = {"context": context.to_dict(), "budget": {"max_steps": budget.max_steps,
               "max_wall_s": budget.max_wall_s, "target_score": budget.target_score}}
        (staging / CONFIG_FILE).write_text(json.dumps(raw, indent=2, sort_keys=True))
        if new_dir.exists():
            new_dir.rmdir()  # checked empty above
        staging.rename(new_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return Fork(context, budget, at_steps, generation, len(kept))
