"""Design-source attribution: provenance from what a proposal cites, and the shares over a run's nodes."""

from __future__ import annotations

import pytest

from agents.models.replies import Shown, parse_proposal
from knowledge.provenance import attribution, best_nodes, cited, classify, run_attribution
from knowledge.records import Node, Provenance
from tests.support.tiny_task import TINY_PROGRAM

BLOCKS = "<<<<<<< SEARCH\nX = 1.0\n=======\nX = 1.5\n>>>>>>> REPLACE\n"
SHOWN = Shown(item_ids=(3, 4), parent_id=7, inspiration_ids=(8, 9))


def node(i: int, source: str, score: float | None = 1.0, status: str = "ok") -> Node:
    return Node(trial_key=f"g{i}.0", generation=i, parent_ids=(), name="n", motivation="m", program="x = 1\n",
                edit="", metrics={}, score=score, analysis="", status=status, id=i,  # type: ignore[arg-type]
                provenance=Provenance(source))


def test_a_cognition_item_wins_over_a_node_and_a_node_over_a_claim_of_novelty() -> None:
    assert classify((3,), (7,), novel=True) == "cognition"
    assert classify((), (7,), novel=True) == "experience"
    assert classify((), (), novel=True) == "novel"
    assert classify((), (), novel=False) == "undeclared"


def test_ids_a_proposal_was_not_shown_are_not_believed() -> None:
    provenance, notes = cited([3, 99], [7, 42], False, shown_items=(3,), shown_nodes=(7, 8), declared_by="model")
    assert provenance == Provenance("cognition", (3,), (7,), "model")
    assert notes == ("sources: cited cognition item(s) [99] it was not shown (ignored)",
                     "sources: cited node(s) [42] it was not shown (ignored)")
    only_unseen, _ = cited([99], [], False, shown_items=(3,), shown_nodes=(), declared_by="model")
    assert only_unseen.source == "undeclared"


@pytest.mark.parametrize(("reply", "expected"), [
    (f"NAME: a\nMOTIVATION:\nwhy\nSOURCES: [C3], node 8\nEDITS:\n{BLOCKS}", ("cognition", (3,), (8,))),
    (f"NAME: a\nMOTIVATION:\nwhy\nSources: inspiration 2 and the parent\n{BLOCKS}", ("experience", (), (7, 9))),
    (f"**Name:** a\n**Motivation:** why\n**Source:** novel\n{BLOCKS}", ("novel", (), ())),
    (f"<name>a</name><motivation>why</motivation><sources>lesson 4</sources>\n{BLOCKS}", ("cognition", (4,), ())),
    ('{"name": "a", "motivation": "why", "sources": ["C4", "N7"], "edits": [{"search": "X = 1.0", '
     '"replace": "X = 1.5"}]}', ("cognition", (4,), (7,))),
    (f"NAME: a\nMOTIVATION:\nwhy\n{BLOCKS}", ("undeclared", (), ())),
])
def test_a_replys_sources_in_any_rendering_become_the_proposals_provenance(reply: str, expected: tuple) -> None:
    proposal = parse_proposal(reply, "diff", parent=TINY_PROGRAM, shown=SHOWN)
    source = proposal.provenance
    assert (source.source, source.cognition_ids, source.node_ids) == expected
    assert source.declared_by == "model" and not any(n.startswith("sources") for n in proposal.notes)


def test_a_reply_citing_an_unseen_item_keeps_what_it_was_shown_and_says_so() -> None:
    reply = f"NAME: a\nMOTIVATION:\nwhy\nSOURCES: C12, node 7\nEDITS:\n{BLOCKS}"
    proposal = parse_proposal(reply, "diff", parent=TINY_PROGRAM, shown=SHOWN)
    assert (proposal.provenance.source, proposal.provenance.node_ids) == ("experience", (7,))
    assert "sources: cited cognition item(s) [12] it was not shown (ignored)" in proposal.notes


def test_shares_count_evolved_nodes_only_and_the_best_ones_apart() -> None:
    nodes = [node(1, "baseline", 0.0), node(2, "novel", 0.1), node(3, "experience", 0.9),
             node(4, "cognition", 0.8), node(5, "cognition", None, "failed"), node(6, "none", None, "failed"),
             node(7, "unrecorded", 0.2)]
    everything = attribution(nodes)
    assert everything.total == 4
    assert everything.shares == {"cognition": 0.5, "experience": 0.25, "novel": 0.25, "undeclared": 0.0}
    assert [n.id for n in best_nodes(nodes, fraction=0.1, minimum=2)] == [3, 4]
    shares = run_attribution(nodes)
    assert shares["best"].counts == {"experience": 1, "cognition": 1, "novel": 1, "unrecorded": 1}
    assert attribution([]).shares == {"cognition": 0.0, "experience": 0.0, "novel": 0.0, "undeclared": 0.0}
