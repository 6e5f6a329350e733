"""Design-source attribution: where each node's idea came from, and the shares over a run.

Why recorded, not guessed: the Researcher says what it built on when it proposes (a model cites the cognition
items `[C12]` and nodes it was shown, the offline researcher knows its mutation), and the node stores it. The
shares are counted from those records, as in the paper's analysis of where its best designs came from: the
cognition base (human priors and distilled lessons), experience (earlier nodes' results and analyses) or neither.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from knowledge.records import SOURCES, Node, Provenance

COUNTED = (*SOURCES, "undeclared")  # what the shares are over; baseline, no proposal and unrecorded stand apart


def classify(cognition_ids: Sequence[int], node_ids: Sequence[int], novel: bool) -> str:
    """The source of an idea citing these: a cognition item wins over a node, a node over a claim of novelty."""
    if cognition_ids:
        return "cognition"
    if node_ids:
        return "experience"
    return "novel" if novel else "undeclared"


def cited(cognition_ids: Iterable[int], node_ids: Iterable[int], novel: bool, *, shown_items: Sequence[int],
          shown_nodes: Sequence[int], declared_by: str) -> tuple[Provenance, tuple[str, ...]]:
    """The provenance of a proposal that cites these ids, keeping only what it was shown; notes say what was
    dropped (a model citing an id it never saw is not believed)."""
    items = tuple(dict.fromkeys(i for i in cognition_ids if i in shown_items))
    nodes = tuple(dict.fromkeys(i for i in node_ids if i in shown_nodes))
    notes = []
    unseen_items = sorted(set(cognition_ids) - set(items))
    unseen_nodes = sorted(set(node_ids) - set(nodes))
    if unseen_items:
        notes.append(f"sources: cited cognition item(s) {unseen_items} it was not shown (ignored)")
    if unseen_nodes:
        notes.append(f"sources: cited node(s) {unseen_nodes} it was not shown (ignored)")
    source = classify(items, nodes, novel)
    return Provenance(source, items, nodes, declared_by), tuple(notes)


@dataclass(frozen=True)
class Attribution:
    """Counts of each source among some nodes; `shares` over the counted sources only (sums to 1 when any)."""

    counts: dict[str, int]
    total: int

    @property
    def shares(self) -> dict[str, float]:
        return {s: (self.counts.get(s, 0) / self.total if self.total else 0.0) for s in COUNTED}


def attribution(nodes: Iterable[Node]) -> Attribution:
    counts = Counter(n.provenance.source for n in nodes)
    return Attribution(dict(counts), sum(counts[s] for s in COUNTED))


def best_nodes(nodes: Sequence[Node], fraction: float = 0.1, minimum: int = 5) -> list[Node]:
    """The top `fraction` of the scored evolved nodes (at least `minimum`): what 'the best ones' means here."""
    scored = [n for n in nodes if n.status == "ok" and n.score is not None and n.provenance.source != "baseline"]
    scored.sort(key=lambda n: (-(n.score or 0.0), n.id))
    return scored[: max(minimum, round(len(scored) * fraction))]


def run_attribution(nodes: Sequence[Node]) -> dict[str, Attribution]:
    """Shares over every evolved node and over the best ones."""
    return {"all": attribution(nodes), "best": attribution(best_nodes(nodes))}
