"""The CLI's run options, Studio's context form and README's option table come from the same field metadata."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import typer

from graph.cli import app
from graph.cli_options import BUDGET_FLAGS, budget_options, context_options, given_values, markdown_table
from graph.context import Context

README = Path(__file__).resolve().parents[2] / "README.md"


def run_command():
    return typer.main.get_command(app).commands["run"]  # type: ignore[attr-defined]


def test_every_context_setting_is_a_run_option_described_as_in_studio() -> None:
    helps = {opt: param.help for param in run_command().params for opt in getattr(param, "opts", [])}
    offered = {f.name for f in fields(Context) if f.metadata["cli"] is not None}
    assert offered == {f.name for f in fields(Context)} - {"task", "replay_from"}  # the argument and --replay
    for option in context_options():
        assert helps[option.flag].replace("\\[", "[") == Context.__dataclass_fields__[option.field].metadata[
            "description"]
    assert {o.flag for o in budget_options()} == set(BUDGET_FLAGS.values()) <= set(helps)
    assert {"--no-cognition", "--no-analyzer", "--model", "--base-url", "--price", "--eval-timeout"} <= set(helps)


def test_options_on_the_command_line_become_context_values() -> None:
    args = ["tiny", "--steps", "3", "--no-cognition", "--share-insights", "--model", "a", "--model", "b",
            "--judge-weight", "0.5", "--sampler", "greedy", "--eval-timeout", "9"]
    params = run_command().make_context("run", args).params
    assert params["task"] == "tiny"
    assert given_values(budget_options(), params) == {"max_steps": 3}
    given = given_values(context_options(), params)
    assert given == {"cognition": False, "share_insights": True, "models": ("a", "b"), "judge_weight": 0.5,
                     "sampler": "greedy", "eval_timeout_s": 9.0}
    context = Context(**given)
    assert context.use_analyzer and context.repair_rounds == 1  # what was not given keeps its default


def test_readme_lists_the_run_options_as_generated() -> None:
    assert markdown_table() in README.read_text(), "regenerate with: python -m graph.cli_options"
