"""Registries of Researcher and Analyzer strategies: adding one is a factory plus one line here.

A factory receives the run's model client (None offline), prompt templates and the strategy's options from
`task.yaml` (`researcher_options`, e.g. the mode weights p_diff/p_rewrite/p_crossover of the llm researcher or
p_constant/p_crossover/p_statement of the offline one). "auto" picks the model-driven strategy when models are
configured and the offline one otherwise.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from agents.models.client import LLMClient
from agents.models.prompting import PromptTemplates
from agents.strategies.analyzer_llm import LLMAnalyzer
from agents.strategies.analyzer_offline import OfflineAnalyzer
from agents.strategies.protocols import Analyzer, Researcher
from agents.strategies.researcher_llm import LLMResearcher
from agents.strategies.researcher_offline import OfflineResearcher

Factory = Callable[[LLMClient | None, PromptTemplates, dict[str, Any]], object]


RESEARCHERS: dict[str, Factory] = {
    "offline": lambda client, templates, options: OfflineResearcher(**options),
    "llm": lambda client, templates, options: LLMResearcher(client, templates=templates, **options),
}
ANALYZERS: dict[str, Factory] = {
    "offline": lambda client, templates, options: OfflineAnalyzer(),
    "llm": lambda client, templates, options: LLMAnalyzer(client, templates=templates),
}
NEEDS_MODEL = frozenset({"llm"})  # strategies that cannot run without the run's model client


def choose(kind: str, name: str, has_model: bool) -> str:
    """The strategy `name` ("auto" included) stands for, given whether the run has a model; a one-line ValueError
    when it is unknown or needs a model the run lacks (checked before a run starts)."""
    table = RESEARCHERS if kind == "researcher" else ANALYZERS
    if name == "auto":
        name = "llm" if has_model else "offline"
    if name not in table:
        raise ValueError(f"unknown {kind} '{name}' (choose from: auto, {', '.join(sorted(table))})")
    if name in NEEDS_MODEL and not has_model:
        raise ValueError(f"the {name} {kind} needs a model: pass --model (and --base-url for a local server)")
    return name


def _make(kind: str, table: dict[str, Factory], name: str, client: LLMClient | None, templates: PromptTemplates,
          options: dict[str, Any]):
    factory = table[choose(kind, name, client is not None)]
    try:
        return factory(client, templates, options)
    except TypeError as exc:  # an option the strategy does not take
        raise ValueError(f"{kind} '{name}': bad option in task.yaml ({exc})") from None


def make_researcher(name: str, client: LLMClient | None, templates: PromptTemplates,
                    options: dict[str, Any] | None = None) -> Researcher:
    return _make("researcher", RESEARCHERS, name, client, templates, options or {})  # type: ignore[return-value]


def make_analyzer(name: str, client: LLMClient | None, templates: PromptTemplates) -> Analyzer:
    return _make("analyzer", ANALYZERS, name, client, templates, {})  # type: ignore[return-value]
