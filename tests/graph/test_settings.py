"""The one configuration resolver: the context's value, else task.yaml's, else the environment's."""

from __future__ import annotations

from pathlib import Path

import pytest

from graph.budget import Budget
from graph.context import Context
from graph.settings import resolve_settings
from tasks.registry import load_task
from tests.support.tiny_task import write_tiny_task


def task_with(tmp_path: Path, **yaml: object):
    return load_task(str(write_tiny_task(tmp_path / "task", **yaml)))


def test_left_unset_a_setting_is_the_tasks(tmp_path: Path) -> None:
    task = task_with(tmp_path, steps=7, target_score=-0.5, judge_weight=0.25, timeout_s=33, sampler="islands",
                     sampler_params="{islands: 3}")
    settings = resolve_settings(Context(task=str(task.root)), task, env={})
    assert (settings.steps, settings.target_score, settings.judge_weight, settings.eval_timeout_s) == (7, -0.5,
                                                                                                        0.25, 33)
    assert (settings.sampler, dict(settings.sampler_params)) == ("islands", {"islands": 3})
    assert (settings.models, settings.max_cost, settings.max_tokens, settings.sandbox) == ((), None, None, "auto")
    assert (settings.researcher, settings.analyzer) == ("offline", "offline")  # auto without a model
    assert settings.budget() == Budget(7, None, -0.5)
    assert settings.budget(max_steps=2, max_wall_s=60, target_score=1.0) == Budget(2, 60, 1.0)


def test_the_context_wins_over_the_task_and_the_environment(tmp_path: Path) -> None:
    task = task_with(tmp_path, judge_weight=0.25, sampler="islands", sampler_params="{islands: 3}")
    context = Context(task=str(task.root), judge_weight=0.0, eval_timeout_s=5, sampler="greedy", sandbox="limits",
                      models=("qwen",), base_urls=("http://127.0.0.1:9/v1",), max_cost=1.5, max_tokens=100,
                      prices=("qwen=0/0",))
    env = {"ASI_EVOLVE_SANDBOX": "bwrap", "ASI_EVOLVE_MODEL": "openai:gpt-4o-mini"}
    settings = resolve_settings(context, task, env=env)
    assert (settings.judge_weight, settings.eval_timeout_s, settings.sandbox) == (0.0, 5, "limits")
    assert (settings.sampler, dict(settings.sampler_params)) == ("greedy", {})  # the task's params are its sampler's
    assert [m.model for m in settings.models] == ["qwen"] and settings.models[0].priced
    assert (settings.max_cost, settings.max_tokens) == (1.5, 100)
    assert (settings.researcher, settings.analyzer) == ("llm", "llm")  # auto with a model


def test_the_environment_fills_what_neither_names(tmp_path: Path) -> None:
    task = task_with(tmp_path)
    env = {"ASI_EVOLVE_SANDBOX": "limits", "ASI_EVOLVE_MODEL": "qwen", "ASI_EVOLVE_BASE_URL": "http://127.0.0.1:9/v1"}
    settings = resolve_settings(Context(task=str(task.root)), task, env=env)
    assert settings.sandbox == "limits"
    assert [(m.model, m.base_url) for m in settings.models] == [("qwen", "http://127.0.0.1:9/v1")]
    tasks_models = task_with(tmp_path / "other", models="[deepseek:deepseek-chat]")
    assert [m.model for m in resolve_settings(Context(), tasks_models, env=env).models] == ["deepseek:deepseek-chat"]


def test_pareto_gets_the_tasks_objectives(tmp_path: Path) -> None:
    task = task_with(tmp_path, objectives="[{name: x, goal: max}]")
    settings = resolve_settings(Context(sampler="pareto"), task, env={})
    assert dict(settings.sampler_params) == {"objectives": [{"name": "x", "goal": "max"}]}


@pytest.mark.parametrize(
    "context, message",
    [
        (Context(sampler="bogus"), "unknown sampler 'bogus'"),
        (Context(sandbox="docker"), "unknown sandbox 'docker' (choose from: auto, bwrap, limits)"),
        (Context(models=("gpt-4o",)), "needs a provider prefix"),
        (Context(models=("qwen",), base_urls=("http://127.0.0.1:9/v1",), max_cost=1.0), "cannot be enforced"),
        (Context(embedder="bogus"), "unknown embedder 'bogus'"),
        (Context(researcher="llm"), "the llm researcher needs a model"),
        (Context(analyzer="magic"), "unknown analyzer 'magic' (choose from: auto, llm, offline)"),
        (Context(executor="slurm"), "unknown executor 'slurm' (choose from: local, ray)"),
    ],
)
def test_a_bad_setting_is_one_line(tmp_path: Path, context: Context, message: str) -> None:
    with pytest.raises(ValueError) as info:
        resolve_settings(context, task_with(tmp_path), env={})
    assert message in str(info.value) and "\n" not in str(info.value)


def test_what_earlier_versions_wrote_for_the_tasks_setting_still_reads_so() -> None:
    old = Context.coerce({"judge_weight": -1.0, "eval_timeout_s": 0.0, "models": ["a"]})
    assert (old.judge_weight, old.eval_timeout_s, old.models) == (None, None, ("a",))
