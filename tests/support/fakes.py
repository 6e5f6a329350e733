"""Test doubles injected through the service provider (the graph's seam for tests)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from agents.strategies.protocols import Proposal, ResearchContext
from graph.context import Context
from graph.services import Services
from graph.wiring import open_services


@dataclass
class StepResearcher:
    """Moves X by `step` each time (a SEARCH/REPLACE edit); records what it was asked."""

    step: float = 0.5
    seen: list[ResearchContext] = field(default_factory=list)

    def propose(self, ctx: ResearchContext) -> Proposal:
        self.seen.append(ctx)
        x = float(re.search(r"^X = (.+)$", ctx.parent.program, re.M).group(1))
        edit = f"<<<<<<< SEARCH\nX = {x!r}\n=======\nX = {x + self.step!r}\n>>>>>>> REPLACE\n"
        return Proposal(name=f"x to {x + self.step}", motivation="move X up", edit=edit)


@dataclass
class ScriptedResearcher:
    """Replies with the given proposals in turn (raising an exception instance when one is given)."""

    script: list[Proposal | Exception]

    def propose(self, ctx: ResearchContext) -> Proposal:
        item = self.script.pop(0)
        if isinstance(item, Exception):
            raise item
        return item


def provider_with(**overrides: object):
    """A provider opening real services for the context, then swapping in the given fakes."""
    cache: dict[Context, Services] = {}

    def provide(context: Context | dict | None) -> Services:
        ctx = Context.coerce(context)
        if ctx not in cache:
            cache[ctx] = replace(open_services(ctx), **overrides)
        return cache[ctx]

    return provide
