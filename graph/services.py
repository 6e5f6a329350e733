"""What the nodes of one run use (task, settings, database, strategies, executor), as one light record.

Nodes never build services themselves; they ask the provider the graph was built with for the run's `Services`.
`graph.wiring` opens the concrete ones from a `Context`; tests hand the builder a provider returning fakes. The
types are named for readers and checkers only, so importing this module loads none of them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from graph.context import Context

if TYPE_CHECKING:
    from agents.models.client import LLMClient
    from agents.strategies.judge_llm import LLMJudge
    from agents.strategies.protocols import Analyzer, Researcher
    from agents.strategies.repair_llm import LLMRepairer
    from graph.settings import Settings
    from graph.trial_order import TrialOrder
    from knowledge.cognition import CognitionBase
    from knowledge.database import NodeStore
    from knowledge.novelty import NoveltyIndex
    from knowledge.samplers.base import Sampler
    from knowledge.tickets import Tickets
    from tasks.spec import TaskSpec
    from tools.executors import Executor


@dataclass
class Services:
    """Everything the nodes of one run use."""

    context: Context
    settings: Settings
    task: TaskSpec
    run_dir: Path
    db: NodeStore
    sampler: Sampler
    researcher: Researcher
    analyzer: Analyzer
    executor: Executor
    cognition: CognitionBase | None
    novelty: NoveltyIndex
    llm: LLMClient | None = None
    repairer: LLMRepairer | None = None
    judge: LLMJudge | None = None
    order: TrialOrder | None = None
    shared: CognitionBase | None = None  # the task's standing base, when insights are shared with later runs
    tickets: Tickets | None = None  # the step budget shared by asynchronous lanes
    plan_lock: threading.Lock = field(default_factory=threading.Lock)  # one Learner at a time uses the sampler

    def node_dir(self, trial_key: str) -> Path:
        path = self.run_dir / "nodes" / trial_key
        path.mkdir(parents=True, exist_ok=True)
        return path


ServiceProvider = Callable[[Context], Services]
