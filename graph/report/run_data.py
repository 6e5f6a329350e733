"""One run as the report sees it: its configuration, nodes, model calls and the cognition items its nodes used.

Read once per report and never written: a report of a run that is still going reads what is committed so far
(SQLite's WAL lets a reader in beside the writer), so `serve` can redraw while nodes arrive.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agents.models.ledger import CallLedger, CallRecord
from graph.budget import Budget
from graph.context import Context
from graph.runner import existing_database, load_run_config
from knowledge.cognition import CognitionItem, read_items
from knowledge.database import NodeDatabase
from knowledge.records import Node
from knowledge.verifications import Verification, VerificationStore
from tasks.spec import TaskSpec


@dataclass(frozen=True)
class RunData:
    """Everything one report of one run draws from.

    `task` is None when the task can no longer be loaded (a moved folder): the report still shows the run.
    `sampler` / `sampler_params` are what the run resolved (task.yaml's, else the context's).
    """

    run_dir: Path
    context: Context
    budget: Budget
    task_name: str
    task: TaskSpec | None
    nodes: tuple[Node, ...]
    calls: tuple[CallRecord, ...]
    items: dict[int, CognitionItem]
    verified: dict[int, Verification]
    sampler: str
    sampler_params: dict[str, Any] = field(default_factory=dict)
    sandbox: str = ""
    notes: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return self.run_dir.name or str(self.run_dir)

    @property
    def best(self) -> Node | None:
        scored = [n for n in self.nodes if n.status == "ok" and n.score is not None]
        return max(scored, key=lambda n: (n.score, -n.id)) if scored else None

    @property
    def initial(self) -> Node | None:
        return next((n for n in self.nodes if not n.parent_ids), None)

    @property
    def reference(self) -> tuple[float | None, str]:
        if self.task is None:
            return None, ""
        return self.task.reference_score, self.task.reference_label or "reference"

    def node_dir(self, node: Node) -> Path:
        return self.run_dir / "nodes" / node.trial_key


def _task(context: Context) -> tuple[TaskSpec | None, str, str, dict[str, Any], str]:
    """(task, its name, the run's sampler, its params, a note) — the task loaded as the run loaded it."""
    from graph.settings import resolve_settings
    from tasks.registry import load_task

    try:
        task = load_task(context.task, context.config or None, context.params)
        settings = resolve_settings(context, task)
        return task, task.name, settings.sampler, dict(settings.sampler_params), ""
    except (ValueError, OSError) as exc:
        name = Path(context.task).name or context.task
        return None, name, context.sampler or "", {}, f"task {context.task} could not be loaded: {exc}"


def _sandbox(run_dir: Path) -> str:
    path = run_dir / "sandbox.json"
    try:
        return str(json.loads(path.read_text()).get("description", "")) if path.is_file() else ""
    except ValueError:
        return "unreadable sandbox.json"


def load_run(run_dir: Path | str) -> RunData:
    """Read a run directory; RunError (one line) when it is not one or holds no database yet."""
    run_dir = Path(run_dir)
    context, budget = load_run_config(run_dir)
    db_path = existing_database(run_dir)
    db = NodeDatabase(db_path)
    try:
        nodes = tuple(db.nodes())
    finally:
        db.close()
    used = {i for n in nodes for i in (*n.cognition_ids, *n.provenance.cognition_ids)}
    task, name, sampler, params, note = _task(context)
    return RunData(
        run_dir=run_dir, context=context, budget=budget, task_name=name, task=task, nodes=nodes,
        calls=tuple(CallLedger(db_path).rows()), items=read_items(db_path, sorted(used)) if used else {},
        verified=VerificationStore(db_path).latest(), sampler=sampler, sampler_params=params,
        sandbox=_sandbox(run_dir), notes=(note,) if note else (),
    )
