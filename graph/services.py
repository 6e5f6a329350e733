"""The per-run service registry: what nodes need (task, database, strategies, executor), opened from `Context`.

Nodes never build services themselves; they ask the provider the graph was built with. Tests hand the builder a
provider returning fakes.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from agents.base import Analyzer, Researcher
from agents.judge import LLMJudge
from agents.ledger import CallLedger
from agents.llm import LLMClient, ModelSpec, parse_model_args
from agents.llm_models import require_prices
from agents.pricing import parse_price_options
from agents.prompting import PromptTemplates
from agents.registry import make_analyzer, make_researcher
from agents.repair import LLMRepairer
from graph.context import Context
from graph.trial_order import TrialOrder
from knowledge.cognition import CognitionBase
from knowledge.database import NodeStore, SQLiteDatabase
from knowledge.embeddings import make_embedder
from knowledge.ingest import GLOBAL_CORPUS, ingest
from knowledge.novelty import NoveltyIndex
from knowledge.sampling import Sampler, make_sampler
from knowledge.task_store import import_task_store, open_task_store
from tasks.registry import load_task
from tasks.spec import TaskSpec
from tools.executors import Executor, make_executor
from tools.jail import JailSupport

SANDBOX_FILE = "sandbox.json"
log = logging.getLogger("asi_evolve")


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
    cognition: CognitionBase | None
    novelty: NoveltyIndex
    llm: LLMClient | None = None
    repairer: LLMRepairer | None = None
    judge: LLMJudge | None = None
    order: TrialOrder | None = None
    shared: CognitionBase | None = None  # the task's standing base, when insights are shared with later runs

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
    db = SQLiteDatabase(run_dir / "run.db")
    embedder = make_embedder(context.embedder) if context.cognition or context.novelty_threshold > 0 else None
    cognition = None
    if context.cognition:
        cognition = open_cognition(run_dir, embedder)
        ingest(cognition, seed_corpus(task))
        import_task_store(cognition, task.name)
    llm = open_models(context, task, run_dir)
    templates = PromptTemplates.for_task(task.root)
    judge_weight = task.judge_weight if context.judge_weight < 0 else context.judge_weight
    executor = make_executor(context.executor, context.sandbox)
    record_sandbox(run_dir, executor.support)
    return Services(
        context=context,
        task=task,
        run_dir=run_dir,
        db=db,
        sampler=make_sampler_for(context, task),
        researcher=make_researcher(context.researcher, llm, templates, task.researcher_options),
        analyzer=make_analyzer(context.analyzer, llm, templates),
        executor=executor,
        cognition=cognition,
        novelty=NoveltyIndex(run_dir / "run.db", embedder if context.novelty_threshold > 0 else None),
        llm=llm,
        repairer=LLMRepairer(llm, templates=templates) if llm and context.repair_rounds > 0 else None,
        judge=LLMJudge(llm, task.judge_scale, judge_weight, templates=templates) if llm and judge_weight > 0 else None,
        shared=open_task_store(task.name, embedder) if context.share_insights and embedder else None,
        order=TrialOrder(lambda key: db.get_by_trial_key(key) is not None,
                         max_wait_s=max(1800.0, 4 * task.timeout_s * (1 + context.repair_rounds))),
    )


def record_sandbox(run_dir: Path, support: JailSupport) -> None:
    """Write what the jail isolates into the run (`status` shows it) and warn once per run about what it lacks."""
    (run_dir / SANDBOX_FILE).write_text(json.dumps({**support.to_dict(), "description": support.describe()},
                                                   indent=2, sort_keys=True))
    for warning in support.warnings:
        log.warning("sandbox: %s", warning)


def model_specs(context: Context, task: TaskSpec) -> list[ModelSpec]:
    """The run's models: the context's (CLI), else the task's, else $ASI_EVOLVE_MODEL; [] means offline.

    Prices: the context's (`--price`) over the task's over the shipped table. With a cost budget every model
    must have one (unless `allow_unpriced`): ValueError in one line.
    """
    prices = {**task.prices, **parse_price_options(context.prices)}
    specs = parse_model_args(context.models or task.models, context.base_urls or task.base_urls, prices=prices)
    if not context.allow_unpriced and not context.replay_from:
        require_prices(specs, context.max_cost)
    return specs


def open_models(context: Context, task: TaskSpec, run_dir: Path) -> LLMClient | None:
    """The run's model client (every call recorded in run.db), replaying a recorded run when asked; None offline."""
    specs = model_specs(context, task)
    replay = Path(context.replay_from) if context.replay_from else None
    if not specs and replay is None:
        return None
    return LLMClient(
        specs,
        CallLedger(run_dir / "run.db"),
        max_cost=context.max_cost or None,
        max_tokens=context.max_tokens or None,
        replay_from=CallLedger(replay / "run.db") if replay else None,
        seed=context.seed,
    )


def open_cognition(run_dir: Path, embedder) -> CognitionBase:
    """The run's cognition base: items in `run.db`, the FAISS index beside it."""
    return CognitionBase(run_dir / "run.db", run_dir / "cognition.faiss", embedder)


def seed_corpus(task: TaskSpec) -> list[Path]:
    """Human priors every run starts from: the global corpus and the task's knowledge folder."""
    return [p for p in (GLOBAL_CORPUS, task.knowledge_dir) if p is not None and p.exists()]


def make_sampler_for(context: Context, task: TaskSpec) -> Sampler:
    name = context.sampler or task.sampler
    params = dict(task.sampler_params) if name == task.sampler else {}
    if name == "pareto" and "objectives" not in params:
        params["objectives"] = [o.model_dump() for o in task.objectives]
    return make_sampler(name, **params)


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
