"""Registries of Researcher and Analyzer strategies: adding one is a class plus one line here."""

from __future__ import annotations

from collections.abc import Callable

from agents.base import Analyzer, Researcher
from agents.offline import OfflineResearcher
from agents.offline_analyzer import OfflineAnalyzer

RESEARCHERS: dict[str, Callable[[], Researcher]] = {"offline": OfflineResearcher}
ANALYZERS: dict[str, Callable[[], Analyzer]] = {"offline": OfflineAnalyzer}


def _make(kind: str, table: dict[str, Callable[[], object]], name: str) -> object:
    try:
        return table[name]()
    except KeyError:
        raise ValueError(f"unknown {kind} '{name}' (choose from: {', '.join(sorted(table))})") from None


def make_researcher(name: str) -> Researcher:
    return _make("researcher", RESEARCHERS, name)  # type: ignore[return-value]


def make_analyzer(name: str) -> Analyzer:
    return _make("analyzer", ANALYZERS, name)  # type: ignore[return-value]
