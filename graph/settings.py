"""The one place that decides what a run uses: the context's value, else task.yaml's, else the environment's.

Why one function: every default and sentinel of a run is read here and nowhere else — an empty sampler means the
task's, a judge weight or evaluation timeout left unset means the task's, no model named means the task's models,
else `$ASI_EVOLVE_MODEL`; no sandbox named means `$ASI_EVOLVE_SANDBOX`, else auto; a budget of 0 means none.
The CLI resolves before it starts a run (so a bad value is one line and exit 2 before anything is stored), the
service wiring resolves when it opens a run, and the nodes read the resolved `Settings`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agents.models.pricing import parse_price_options
from agents.models.specs import ModelSpec, parse_model_args, require_prices
from graph.budget import Budget
from graph.context import Context
from knowledge.embeddings import make_embedder
from knowledge.samplers.registry import make_sampler
from tasks.spec import TaskSpec
from tools.executors import check_executor
from tools.jail import requested_backend


@dataclass(frozen=True)
class Settings:
    """What a run uses once its context, its task and the environment are read together.

    Attributes:
        steps, target_score: the budget an invocation that names none gets (the task's).
        sampler, sampler_params: the parent sampler and its parameters (task.yaml's only for the task's sampler).
        models: the ensemble ([] offline); replay_from: the recorded run answering every model call, if any.
        max_cost, max_tokens: the model budget (None: none).
        judge_weight: weight of the LLM judge's rating in the score (0: no judge).
        eval_timeout_s: wall-clock limit of one evaluation.
        sandbox: the jail backend asked for (auto, bwrap or limits).
        needs_embedder: whether the run embeds text (cognition retrieval or the motivation-novelty check).
        researcher, analyzer: the strategies that run ("auto" resolved: llm with a model, else offline).
    """

    steps: int
    target_score: float | None
    sampler: str
    sampler_params: Mapping[str, Any] = field(default_factory=dict)
    models: tuple[ModelSpec, ...] = ()
    replay_from: Path | None = None
    max_cost: float | None = None
    max_tokens: int | None = None
    judge_weight: float = 0.0
    eval_timeout_s: float = 60.0
    sandbox: str = "auto"
    needs_embedder: bool = True
    researcher: str = "offline"
    analyzer: str = "offline"

    def budget(self, max_steps: int | None = None, max_wall_s: float | None = None,
               target_score: float | None = None) -> Budget:
        """An invocation's budget: what it names, else the task's steps and target."""
        target = self.target_score if target_score is None else target_score
        return Budget(max_steps or self.steps, max_wall_s, target)


def resolve_settings(context: Context, task: TaskSpec, env: Mapping[str, str] | None = None) -> Settings:
    """Read context, task and environment into the run's `Settings`; a bad value is a one-line ValueError."""
    env = os.environ if env is None else env
    sampler = context.sampler or task.sampler
    params = dict(task.sampler_params) if sampler == task.sampler else {}
    if sampler == "pareto" and "objectives" not in params:
        params["objectives"] = [o.model_dump() for o in task.objectives]
    make_sampler(sampler, **params)  # an unknown sampler or parameter fails here, before the run starts
    replay = Path(context.replay_from) if context.replay_from else None
    models = tuple(model_specs(context, task, env))
    needs_embedder = context.cognition or context.novelty_threshold > 0
    if needs_embedder:
        make_embedder(context.embedder)  # an unknown spec fails here; a model loads only when first used
    check_executor(context.executor, context.ray_address)  # an unreachable cluster fails here, in one line
    if context.lanes_problem():
        raise ValueError(context.lanes_problem())
    from graph.launch_tools import check_launcher

    check_launcher(task)
    from agents.strategies.registry import choose  # the strategies pull in the model stack: only when resolving

    has_model = bool(models) or replay is not None
    return Settings(
        steps=task.steps,
        target_score=task.target_score,
        sampler=sampler,
        sampler_params=params,
        models=models,
        replay_from=replay,
        max_cost=context.max_cost or None,
        max_tokens=context.max_tokens or None,
        judge_weight=task.judge_weight if context.judge_weight is None else context.judge_weight,
        eval_timeout_s=context.eval_timeout_s or task.timeout_s,
        sandbox=requested_backend(context.sandbox, env),
        needs_embedder=needs_embedder,
        researcher=choose("researcher", context.researcher, has_model),
        analyzer=choose("analyzer", context.analyzer, has_model),
    )


def model_specs(context: Context, task: TaskSpec, env: Mapping[str, str]) -> list[ModelSpec]:
    """The run's models: the context's (CLI), else the task's, else $ASI_EVOLVE_MODEL; [] means offline.

    Prices: the context's (`--price`) over the task's over the shipped table. With a cost budget every model
    must have one (unless `allow_unpriced`): ValueError in one line.
    """
    prices = {**task.prices, **parse_price_options(context.prices)}
    specs = parse_model_args(context.models or task.models, context.base_urls or task.base_urls, prices=prices,
                             env=env)
    if not context.allow_unpriced and not context.replay_from:
        require_prices(specs, context.max_cost)
    return specs
