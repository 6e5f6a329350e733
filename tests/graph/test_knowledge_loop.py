"""The loop with its two memories: cognition retrieval and write-back, ablations, novelty, sampler state."""

from __future__ import annotations

from pathlib import Path

from langgraph.checkpoint.memory import InMemorySaver

from agents.strategies.protocols import Proposal
from graph.builder import make_builder
from graph.checkpoint import thread_config
from graph.context import Context
from graph.wiring import open_services
from knowledge.cognition import CognitionBase
from knowledge.database import NodeDatabase
from knowledge.embeddings import make_embedder
from tests.support.fakes import StepResearcher, provider_with


def write_note(task: Path) -> None:
    (task / "knowledge").mkdir(exist_ok=True)
    (task / "knowledge" / "moving_x.md").write_text(
        "# Moving X\n\nThe score of this task peaks when X equals three; move X up in steps of one half.\n"
    )


def run(task: Path, run_dir: Path, steps: int, researcher, **ctx) -> NodeDatabase:
    context = Context(task=str(task), run_dir=str(run_dir), **{"sampler": "greedy", **ctx})
    graph = make_builder(provider_with(researcher=researcher)).compile(checkpointer=InMemorySaver())
    graph.invoke({"max_steps": steps}, thread_config(200), context=context)
    return NodeDatabase(run_dir / "run.db")


def cognition_of(run_dir: Path) -> CognitionBase:
    return CognitionBase(run_dir / "run.db", run_dir / "cognition.faiss", make_embedder("minilm"))


def test_retrieved_items_reach_the_researcher_and_are_stored_as_provenance(tiny_task: Path, tmp_path: Path) -> None:
    write_note(tiny_task)
    researcher = StepResearcher(step=0.5)
    db = run(tiny_task, tmp_path / "run", 3, researcher, retrieval_threshold=0.0)
    nodes = db.nodes()
    assert all(n.cognition_ids for n in nodes[1:]), [n.cognition_ids for n in nodes]
    base = cognition_of(tmp_path / "run")
    sources = {i.source for i in base.items(origin="prior")}
    assert any(s.startswith("moving_x.md") for s in sources)  # the task's own note was ingested
    seen = researcher.seen[0]
    assert seen.insights and all("(source: " in text for text in seen.insights)
    assert len(set(nodes[1].cognition_ids)) == len(nodes[1].cognition_ids)  # de-duplicated across nodes


def test_insights_are_written_back_with_their_node_and_near_duplicates_skipped(tiny_task: Path, tmp_path: Path) -> None:
    # the four insights differ only in their numbers: cosine similarity 0.86-0.94 with MiniLM
    db = run(tiny_task, tmp_path / "run", 4, StepResearcher(step=0.5), dedup_threshold=0.85)
    nodes = db.nodes()
    insights = [i for n in nodes for i in n.insights]
    assert len(insights) == 4  # every step improved on its parent
    items = cognition_of(tmp_path / "run").items(origin="analyzer")
    assert len(items) == 1  # the later three are near-duplicates of the first
    assert items[0].content == nodes[1].insights[0] and items[0].node_id == nodes[1].id


def test_no_cognition_retrieves_nothing(tiny_task: Path, tmp_path: Path) -> None:
    write_note(tiny_task)
    researcher = StepResearcher(step=0.5)
    db = run(tiny_task, tmp_path / "run", 3, researcher, cognition=False)
    assert all(n.cognition_ids == () for n in db.nodes())
    assert all(ctx.insights == () for ctx in researcher.seen)
    services = open_services(Context(task=str(tiny_task), run_dir=str(tmp_path / "run"), cognition=False))
    assert services.cognition is None


def test_no_analyzer_hands_raw_logs_to_the_researcher(tiny_task: Path, tmp_path: Path, hash_embedder: str) -> None:
    researcher = StepResearcher(step=0.5)
    db = run(tiny_task, tmp_path / "run", 2, researcher, use_analyzer=False, embedder=hash_embedder)
    nodes = db.nodes()
    assert all(n.analysis.startswith("status ok") and "metrics: " in n.analysis for n in nodes)
    assert all(n.insights == () for n in nodes)
    assert researcher.seen[1].parent.analysis == nodes[1].analysis


class RepeatingResearcher:
    """Always proposes the same program change: a repeat after its first evaluation."""

    def __init__(self) -> None:
        self.calls = 0

    def propose(self, ctx) -> Proposal:
        self.calls += 1
        edit = "<<<<<<< SEARCH\nY = 2\n=======\nY = 3\n>>>>>>> REPLACE\n"
        return Proposal(name="set Y to 3", motivation="Y does not matter; try it anyway", edit=edit)


def test_repeated_programs_are_sent_back_and_counted(tiny_task: Path, tmp_path: Path) -> None:
    researcher = RepeatingResearcher()
    db = run(tiny_task, tmp_path / "run", 3, researcher, cognition=False, novelty_retries=2)
    nodes = db.nodes()
    # the first proposal (Y=3) is new; every later one repeats an existing program: sent back twice, then run
    assert [n.novelty_rejections for n in nodes] == [0, 0, 2, 2]
    assert researcher.calls == 1 + 3 + 3


def test_similar_motivations_are_sent_back_when_a_threshold_is_set(tiny_task: Path, tmp_path: Path) -> None:
    db = run(tiny_task, tmp_path / "run", 3, StepResearcher(step=0.5), cognition=False,
             novelty_threshold=0.9, novelty_retries=1)
    counts = [n.novelty_rejections for n in db.nodes()]
    assert counts[:2] == [0, 0] and counts[2:] == [1, 1]  # same motivation "move X up" as an earlier node
