"""The per-run service registry: what nodes need (task, database, strategies, executor), opened from `Context`.

Nodes never build services themselves; they ask the provider the graph was built with. Tests hand the builder a
provider returning fakes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from agents.base import Analyzer, Researcher
from agents.registry import make_analyzer, make_researcher
from graph.context import Context
from knowledge.database import NodeStore, SQLiteDatabase
from knowledge.sampling import Sampler, make_sampler
from tasks.registry import load_task
from tasks.spec import TaskSpec
from tools.executors import Executor, make_executor


@dataclass
class Services:
    """Everything the nodes of one run use."""

    context: Context
    task: TaskSpec
    run_dir: Path
    db: NodeStore
    sampler: Sampler
    researcher: Researcher
    analyzer: Analyzer
    executor: Executor

    def node_dir(self, trial_key: str) -> Path:
        path = self.run_dir / "nodes" / trial_key
        path.mkdir(parents=True, exist_ok=True)
        return path


ServiceProvider = Callable[[Context], Services]


def open_services(context: Context) -> Services:
    """Open the services of the run described by `context` (creates the run directory if needed)."""
    task = load_task(context.task)
    run_dir = Path(context.run_dir).resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    return Services(
        context=context,
        task=task,
        run_dir=run_dir,
        db=SQLiteDatabase(run_dir / "run.db"),
        sampler=make_sampler(context.sampler or task.sampler),
        researcher=make_researcher(context.researcher),
        analyzer=make_analyzer(context.analyzer),
        executor=make_executor(context.executor),
    )


class CachedProvider:
    """Opens services once per distinct context and reuses them (the graph calls it from several threads)."""

    def __init__(self, opener: ServiceProvider = open_services) -> None:
        self._opener = opener
        self._cache: dict[Context, Services] = {}
        self._lock = threading.Lock()

    def __call__(self, context: Context | dict | None) -> Services:
        ctx = Context.coerce(context)
        with self._lock:
            if ctx not in self._cache:
                self._cache[ctx] = self._opener(ctx)
            return self._cache[ctx]
