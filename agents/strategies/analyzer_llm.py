"""Model-driven Analyzer: the model explains an outcome and distills reusable insights.

Why it never raises: an analysis is commentary on a result that is already measured; losing the model's words
must not lose the node. Any failure (model error, spent budget, a reply not in the format) falls back to the
offline analyzer's factual report, with a note saying why.
"""

from __future__ import annotations

from langchain_core.messages import HumanMessage

from agents.models.client import LLMClient
from agents.models.errors import ProposalError
from agents.models.prompting import PromptTemplates, fence, format_metrics, format_score
from agents.models.replies import parse_analysis
from agents.strategies.analyzer_offline import OfflineAnalyzer
from agents.strategies.protocols import Analysis, Outcome
from knowledge.records import Node

ROLE = "analyzer"


def _summary(node: Node | None) -> str:
    if node is None:
        return "(none)"
    return f"{node.name} (node {node.id}), score {format_score(node.score)}, metrics: {format_metrics(node.metrics)}"


class LLMAnalyzer:
    """Analyzer strategy backed by an `LLMClient`; falls back to `OfflineAnalyzer` on any failure."""

    def __init__(self, client: LLMClient, *, templates: PromptTemplates | None = None) -> None:
        self.client = client
        self.templates = templates or PromptTemplates()
        self.fallback = OfflineAnalyzer()

    def prompt(self, outcome: Outcome) -> str:
        proposal = outcome.proposal
        edit = fence(proposal.edit, "python" if proposal.mode == "rewrite" else "")
        return self.templates.render(
            "analyzer",
            name=proposal.name,
            motivation=proposal.motivation.strip() or "(none)",
            mode="whole program" if proposal.mode == "rewrite" else "SEARCH/REPLACE blocks",
            edit=edit,
            status=outcome.status,
            score=format_score(outcome.score),
            metrics=format_metrics(outcome.metrics),
            error=outcome.error or "(none)",
            stderr_tail=fence(outcome.stderr_tail, "") if outcome.stderr_tail.strip() else "(empty)",
            parent=_summary(outcome.parent),
            best=_summary(outcome.best),
        )

    def analyze(self, outcome: Outcome) -> Analysis:
        """The model's analysis, recorded in the ledger under the outcome's trial key."""
        key = outcome.trial_key or (f"parent-{outcome.parent.id}" if outcome.parent is not None else "initial")
        try:
            candidate = outcome.trial_key or None
            reply = self.client.complete(ROLE, [HumanMessage(self.prompt(outcome))], key=key, candidate=candidate)
            if reply.truncated:
                raise ProposalError("the analysis reply was truncated at its token limit (finish_reason=length)")
            return parse_analysis(reply.text)
        except Exception as exc:  # never lose the node over its commentary
            offline = self.fallback.analyze(outcome)
            note = f"\n(model analysis unavailable: {exc}; this is the offline factual report)"
            return Analysis(text=offline.text + note, insights=offline.insights)
