"""Registries of Researcher and Analyzer strategies: adding one is a factory plus one line here.

A factory receives the run's model client (None offline) and prompt templates. "auto" picks the model-driven
strategy when models are configured and the offline one otherwise.
"""

from __future__ import annotations

from collections.abc import Callable

from agents.base import Analyzer, Researcher
from agents.llm import LLMClient
from agents.llm_analyzer import LLMAnalyzer
from agents.llm_researcher import LLMResearcher
from agents.offline import OfflineResearcher
from agents.offline_analyzer import OfflineAnalyzer
from agents.prompting import PromptTemplates

Factory = Callable[[LLMClient | None, PromptTemplates], object]


def _needs_model(kind: str, build: Callable[[LLMClient, PromptTemplates], object]) -> Factory:
    def factory(client: LLMClient | None, templates: PromptTemplates) -> object:
        if client is None:
            raise ValueError(f"the llm {kind} needs a model: pass --model (and --base-url for a local server)")
        return build(client, templates)

    return factory


RESEARCHERS: dict[str, Factory] = {
    "offline": lambda client, templates: OfflineResearcher(),
    "llm": _needs_model("researcher", lambda c, t: LLMResearcher(c, templates=t)),
}
ANALYZERS: dict[str, Factory] = {
    "offline": lambda client, templates: OfflineAnalyzer(),
    "llm": _needs_model("analyzer", lambda c, t: LLMAnalyzer(c, templates=t)),
}


def _make(kind: str, table: dict[str, Factory], name: str, client: LLMClient | None, templates: PromptTemplates):
    if name == "auto":
        name = "llm" if client is not None else "offline"
    try:
        factory = table[name]
    except KeyError:
        raise ValueError(f"unknown {kind} '{name}' (choose from: auto, {', '.join(sorted(table))})") from None
    return factory(client, templates)


def make_researcher(name: str, client: LLMClient | None, templates: PromptTemplates) -> Researcher:
    return _make("researcher", RESEARCHERS, name, client, templates)  # type: ignore[return-value]


def make_analyzer(name: str, client: LLMClient | None, templates: PromptTemplates) -> Analyzer:
    return _make("analyzer", ANALYZERS, name, client, templates)  # type: ignore[return-value]
