"""A task's own figures in the run report: the `report.py` hook of a task folder.

The contract: a task folder may hold `report.py` defining `figures(run: TaskRun) -> list[plotly Figure]`, each
figure carrying its title in `layout.title`. Why a hook in the task folder: only the task knows what its results
look like (a packing drawn to scale, training curves, per-category scores), and a task stays one folder.

The hook is the task's code, not the candidate's, but it reads what a run stored, so it may meet anything: a
hook that fails to import, raises or returns something else than titled figures gives one note and no figures,
never an exception, so the report still renders. The module is loaded from its path under a private name that
is dropped again afterwards: nothing is added to `sys.path`, and the hook is read afresh for every report.
"""

from __future__ import annotations

import hashlib
import importlib.util
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import plotly.graph_objects as go

from graph.trial_order import INITIAL_KEY
from knowledge.records import Node
from tasks.spec import TaskSpec

HOOK_FILE = "report.py"
HOOK_FUNCTION = "figures"


@dataclass(frozen=True)
class TaskRun:
    """What a task's `figures(run)` is handed: one run, read-only.

    Attributes:
        task: the task as the run loaded it (its variant and params applied).
        nodes: every stored node, in id order (all statuses: a hook filters what it draws).
        best: the highest-scoring ok node, None when none scored.
        run_dir: the run directory (node folders hold logs such as `training.log`).
        params: the task's resolved params (those the evaluator was handed).
    """

    task: TaskSpec
    nodes: tuple[Node, ...]
    best: Node | None
    run_dir: Path
    params: dict[str, Any] = field(default_factory=dict)

    def node_dir(self, node: Node) -> Path:
        """The node's folder (program, logs, result.json); it may be missing for a node stored without one."""
        return self.run_dir / "nodes" / node.trial_key

    def ok_nodes(self) -> list[Node]:
        """The scored nodes, in id order."""
        return [n for n in self.nodes if n.status == "ok" and n.score is not None]

    def initial(self) -> Node | None:
        """The node of the task's initial program (trial `g0000.0`), None when the run has not stored it."""
        return next((n for n in self.nodes if n.trial_key == INITIAL_KEY), None)

    def compared(self) -> list[tuple[str, Node]]:
        """(label, node) of the best node and, when scored and not the best, the initial program's: the pair a
        "best vs initial" figure draws."""
        best, initial = self.best, self.initial()
        shown = [(f"best (node {best.id})", best)] if best is not None else []
        if initial is not None and initial.status == "ok" and (best is None or initial.id != best.id):
            shown.append((f"initial program (node {initial.id})", initial))
        return shown


# --- helpers for hooks: what a run stored, read defensively -------------------------------------------------


def finite(value: Any) -> float | None:
    """A stored metric as a float, None unless it is a finite number (booleans are not numbers here)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def points(value: Any) -> list[tuple[float, float]] | None:
    """A stored list of [x, y] pairs as float tuples, None unless every pair is two finite numbers."""
    if not isinstance(value, list):
        return None
    out = []
    for item in value:
        pair = [finite(v) for v in item] if isinstance(item, list) and len(item) == 2 else [None]
        if None in pair:
            return None
        out.append((pair[0], pair[1]))
    return out


def numbered_points(figure: go.Figure, coords: list[tuple[float, float]], title: str, height: int) -> go.Figure:
    """Draw a construction's points, numbered, on axes of equal scale (what the point-set tasks share)."""
    figure.add_trace(go.Scatter(
        x=[x for x, _ in coords], y=[y for _, y in coords], mode="markers+text", name="points",
        text=[str(i) for i in range(len(coords))], textposition="top center",
        marker={"size": 9, "color": "black"}, hovertemplate="point %{text}<br>(%{x:.9g}, %{y:.9g})<extra></extra>"))
    figure.update_xaxes(constrain="domain", title="x")
    figure.update_yaxes(scaleanchor="x", scaleratio=1, constrain="domain", title="y")
    figure.update_layout(title=title, height=height, legend={"orientation": "h", "y": -0.15})
    return figure


# --- the hook -----------------------------------------------------------------------------------------------


def task_figures(run: TaskRun) -> tuple[list[go.Figure], list[str]]:
    """The figures of the task folder's `report.py` and notes on what went wrong (([], []) without a hook)."""
    hook = Path(run.task.root) / HOOK_FILE
    if not hook.is_file():
        return [], []
    try:
        function = _load_hook(hook)
        made = function(run)
        return _checked(made), []
    except Exception as exc:  # noqa: BLE001 - whatever the hook does, the report renders
        return [], [f"task figures failed: {_one_line(exc)}"]
    except SystemExit as exc:
        return [], [f"task figures failed: {HOOK_FILE} exited ({exc.code})"]


def _load_hook(path: Path) -> Any:
    name = "asi_evolve_task_report_" + hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:12]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # while it runs: dataclasses and pickling look their module up by name
    try:
        spec.loader.exec_module(module)
    finally:
        sys.modules.pop(name, None)
    function = getattr(module, HOOK_FUNCTION, None)
    if not callable(function):
        raise TypeError(f"{HOOK_FILE} defines no {HOOK_FUNCTION}(run)")
    return function


def _checked(made: Any) -> list[go.Figure]:
    """The hook's figures, or TypeError naming what is not a titled figure."""
    if not isinstance(made, list | tuple):
        raise TypeError(f"{HOOK_FUNCTION}(run) returned {type(made).__name__}, expected a list of plotly Figures")
    for i, figure in enumerate(made):
        if not isinstance(figure, go.Figure):
            raise TypeError(f"{HOOK_FUNCTION}(run) item {i} is a {type(figure).__name__}, not a plotly Figure")
        if not (figure.layout.title.text or "").strip():
            raise TypeError(f"{HOOK_FUNCTION}(run) item {i} has no title (layout.title)")
    return list(made)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:300]}" if text else type(exc).__name__


def load_task_run(run_dir: Path) -> TaskRun:
    """A run directory as a `TaskRun`: its configuration, its task (variant and params as the run used them)
    and its nodes. Raises `graph.runner.RunError` / `tasks.spec.TaskError` with one line when unreadable."""
    from graph.runner import (  # the runner pulls in the graph: only when a run is read
        existing_database,
        load_run_config,
    )
    from knowledge.database import NodeDatabase
    from tasks.registry import load_task

    run_dir = Path(run_dir)
    context, _ = load_run_config(run_dir)
    location = existing_database(run_dir)
    task = load_task(context.task, context.config or None, context.params)
    db = NodeDatabase(location)
    try:
        nodes, best = tuple(db.nodes()), db.best()
    finally:
        db.close()
    return TaskRun(task=task, nodes=nodes, best=best, run_dir=run_dir, params=dict(task.params))
