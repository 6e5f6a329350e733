"""Wiring: the concrete services of a run (database, cognition base, models, strategies, executor), opened from
its `Context` through the resolved `Settings`.

Why apart from `graph.services`: the nodes depend only on the light `Services` record; what builds it pulls in the
model stack, FAISS and the sandbox, and tests replace all of it by handing the builder another provider.
"""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path

from agents.models.client import LLMClient
from agents.models.ledger import CallLedger
from agents.models.prompting import PromptTemplates
from agents.strategies.judge_llm import LLMJudge
from agents.strategies.registry import make_analyzer, make_researcher
from agents.strategies.repair_llm import LLMRepairer
from graph.context import Context
from graph.runner import run_database
from graph.services import ServiceProvider, Services
from graph.settings import Settings, resolve_settings
from graph.trial_order import TrialOrder
from knowledge.database import NodeDatabase
from knowledge.embedding_cache import cached
from knowledge.embeddings import make_embedder
from knowledge.ingest import ingest
from knowledge.novelty import NoveltyIndex
from knowledge.samplers.registry import make_sampler
from knowledge.storage import Location, run_location
from knowledge.task_store import import_task_store, open_cognition, open_task_store, seed_corpus
from knowledge.tickets import Tickets
from tasks.registry import load_task
from tools.executors import make_executor
from tools.jail import JailSupport

SANDBOX_FILE = "sandbox.json"
log = logging.getLogger("asi_evolve")


def open_services(context: Context) -> Services:
    """Open the services of the run described by `context` (creates the run directory if needed)."""
    task = load_task(context.task, context.config or None, context.params)
    settings = resolve_settings(context, task)
    run_dir = Path(context.run_dir).resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    location = run_location(run_dir, context.db)
    db = NodeDatabase(location)
    embedder = cached(make_embedder(context.embedder)) if settings.needs_embedder else None
    cognition = None
    if context.cognition:
        cognition = open_cognition(run_dir, embedder, location)
        ingest(cognition, seed_corpus(task))
        import_task_store(cognition, task.name)
    llm = open_models(settings, location, context.seed)
    templates = PromptTemplates.for_task(task.root)
    executor = make_executor(context.executor, settings.sandbox, context.warm_workers, ray_address=context.ray_address)
    record_sandbox(run_dir, executor.support)
    weight = settings.judge_weight
    return Services(
        context=context,
        settings=settings,
        task=task,
        run_dir=run_dir,
        db=db,
        sampler=make_sampler(settings.sampler, **settings.sampler_params),
        researcher=make_researcher(settings.researcher, llm, templates, task.researcher_options),
        analyzer=make_analyzer(settings.analyzer, llm, templates),
        executor=executor,
        cognition=cognition,
        novelty=NoveltyIndex(location, embedder if context.novelty_threshold > 0 else None),
        llm=llm,
        repairer=LLMRepairer(llm, templates=templates) if llm and context.repair_rounds > 0 else None,
        judge=LLMJudge(llm, task.judge_scale, weight, templates=templates) if llm and weight > 0 else None,
        shared=open_task_store(task.name, embedder) if context.share_insights and embedder else None,
        tickets=Tickets(location) if context.lanes > 1 else None,
        order=TrialOrder(lambda key: db.get_by_trial_key(key) is not None,
                         max_wait_s=max(1800.0, 4 * task.timeout_s * (1 + context.repair_rounds))),
    )


def record_sandbox(run_dir: Path, support: JailSupport) -> None:
    """Write what the jail isolates into the run (`status` shows it) and warn once per run about what it lacks."""
    (run_dir / SANDBOX_FILE).write_text(json.dumps({**support.to_dict(), "description": support.describe()},
                                                   indent=2, sort_keys=True))
    for warning in support.warnings:
        log.warning("sandbox: %s", warning)


def open_models(settings: Settings, location: Location, seed: int) -> LLMClient | None:
    """The run's model client (every call recorded in the run's database), replaying a recorded run when asked;
    None offline."""
    if not settings.models and settings.replay_from is None:
        return None
    replay = settings.replay_from
    return LLMClient(
        settings.models,
        CallLedger(location),
        max_cost=settings.max_cost,
        max_tokens=settings.max_tokens,
        replay_from=CallLedger(run_database(replay)) if replay else None,
        seed=seed,
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
