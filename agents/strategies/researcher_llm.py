"""Model-driven Researcher: asks the run's models for a diff, a rewrite or a crossover of the parent.

Why the retry ladder: a model's SEARCH text is sometimes slightly off. The reason `tools.edits` gives (block not
found, closest line, harness touched) is exactly what the model needs to fix it, so it is sent back once; if the
second diff fails too, the model is asked for the whole program instead. A diff proposal this class returns always
applies to the parent; a truncated or garbled reply is a `ProposalError`, which the graph stores as a failed node.
"""

from __future__ import annotations

import random
from dataclasses import replace
from typing import Literal

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage

from agents.models.client import LLMClient, ask
from agents.models.errors import EditProblem
from agents.models.prompting import PromptTemplates, render_feedback, render_insights, render_node
from agents.models.replies import Shown, parse_proposal
from agents.strategies.protocols import Proposal, ResearchContext
from tools.edits import EditError, apply_edits, check_harness

Mode = Literal["diff", "rewrite", "crossover"]
ROLE = "researcher"


def shown(ctx: ResearchContext) -> Shown:
    """What the prompt showed: the ids a reply's SOURCES may cite."""
    return Shown(ctx.insight_ids, ctx.parent.id, tuple(n.id for n in ctx.inspirations))


class LLMResearcher:
    """Researcher strategy backed by an `LLMClient`.

    Args:
        client: the run's model client.
        p_diff, p_rewrite, p_crossover: relative weights of the three modes (crossover needs an inspiration; without
            one its weight is left out).
        templates: prompt templates (the task's overrides included).
        max_prompt_chars: a prompt longer than this drops whole inspiration nodes, last first, and says so in the
            prompt; the parent's code is never cut.
    """

    def __init__(
        self,
        client: LLMClient,
        *,
        p_diff: float = 0.7,
        p_rewrite: float = 0.1,
        p_crossover: float = 0.2,
        templates: PromptTemplates | None = None,
        max_prompt_chars: int = 200_000,
    ) -> None:
        weights = (p_diff, p_rewrite, p_crossover)
        if min(weights) < 0 or p_diff + p_rewrite <= 0:
            raise ValueError(f"mode weights must be >= 0 and diff + rewrite > 0, got {weights}")
        self.client = client
        self.weights = weights
        self.templates = templates or PromptTemplates()
        self.max_prompt_chars = max_prompt_chars

    def choose_mode(self, ctx: ResearchContext) -> Mode:
        p_diff, p_rewrite, p_crossover = self.weights
        modes: list[Mode] = ["diff", "rewrite", "crossover"]
        weights = [p_diff, p_rewrite, p_crossover if ctx.inspirations else 0.0]
        return random.Random(ctx.seed).choices(modes, weights=weights)[0]

    def propose(self, ctx: ResearchContext) -> Proposal:
        mode = self.choose_mode(ctx)
        if mode == "rewrite":
            return self._rewrite(ctx, note="")
        template = "researcher_crossover" if mode == "crossover" else "researcher_diff"
        messages: list[BaseMessage] = [HumanMessage(self.render(template, ctx))]
        reply = ask(self.client, ROLE, messages, ctx.seed, ctx.trial_key)
        try:
            return self._applied(reply.text, ctx)
        except EditProblem as exc:
            reason = str(exc)
        messages += [AIMessage(reply.text), HumanMessage(self.templates.render("retry_edit", reason=reason))]
        reply = ask(self.client, ROLE, messages, ctx.seed, ctx.trial_key)
        try:
            return self._applied(reply.text, ctx)
        except EditProblem as exc:
            reason = str(exc)
        note = (
            "\nNOTE: SEARCH/REPLACE edits for this parent failed twice (last reason: "
            f"{reason}). Reply with the whole program this time.\n"
        )
        return self._rewrite(ctx, note=note)

    def render(self, template: str, ctx: ResearchContext, note: str = "") -> str:
        """The prompt, with as many inspirations as fit in `max_prompt_chars` (dropped ones are announced)."""
        kept = list(ctx.inspirations)
        while True:
            dropped = len(ctx.inspirations) - len(kept)
            context_note = (
                f"\n({dropped} of {len(ctx.inspirations)} inspiration programs were left out to keep this prompt "
                "within its size limit.)\n"
                if dropped
                else ""
            )
            inspirations = "\n\n".join(render_node(n, f"Inspiration {i}") for i, n in enumerate(kept, 1))
            text = self.templates.render(
                template,
                task_name=ctx.task_name,
                task_description=ctx.task_description.strip(),
                parent=render_node(ctx.parent, "Parent"),
                inspirations=inspirations or "(none)",
                context_note=context_note,
                insights=render_insights(ctx.insights, ctx.insight_ids),
                feedback=render_feedback(ctx.feedback),
                note=note,
            )
            if len(text) <= self.max_prompt_chars or not kept:
                return text
            kept.pop()

    def _applied(self, text: str, ctx: ResearchContext) -> Proposal:
        """The reply's proposal, checked to apply to the parent (a whole program: to keep its harness)."""
        parent = ctx.parent.program
        proposal = parse_proposal(text, "diff", parent=parent, shown=shown(ctx))
        if proposal.mode == "rewrite":
            problem = check_harness(parent, proposal.edit)
            if problem:
                raise EditProblem(f"the whole program given changes the harness: {problem}")
            return proposal
        try:
            return replace(proposal, program=apply_edits(parent, proposal.edit))
        except EditError as exc:
            raise EditProblem(str(exc)) from None

    def _rewrite(self, ctx: ResearchContext, note: str) -> Proposal:
        messages: list[BaseMessage] = [HumanMessage(self.render("researcher_rewrite", ctx, note=note))]
        reply = ask(self.client, ROLE, messages, ctx.seed, ctx.trial_key)
        proposal = parse_proposal(reply.text, "rewrite", parent=ctx.parent.program, shown=shown(ctx))
        if proposal.mode == "diff":
            try:
                return replace(proposal, program=apply_edits(ctx.parent.program, proposal.edit))
            except EditError as exc:
                raise EditProblem(str(exc)) from None
        return proposal
