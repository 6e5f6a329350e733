"""The loop graph end to end on a tiny task, with an injected fake researcher and an in-memory checkpointer."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from langgraph.checkpoint.memory import InMemorySaver

from agents.strategies.protocols import Proposal
from graph.builder import make_builder
from graph.checkpoint import thread_config
from graph.context import Context
from graph.state import TrialOutcome, latest_generation
from knowledge.database import NodeDatabase
from tests.support.fakes import ScriptedResearcher, StepResearcher, provider_with
from tools.executors import LocalExecutor


def run_loop(
    tiny_task: Path, run_dir: Path, max_steps: int, embedder: str, **overrides
) -> tuple[dict, NodeDatabase]:
    context = Context(task=str(tiny_task), run_dir=str(run_dir), sampler="greedy", embedder=embedder,
                      workers=overrides.pop("workers", 1))
    graph = make_builder(provider_with(**overrides)).compile(checkpointer=InMemorySaver())
    state = graph.invoke({"max_steps": max_steps}, thread_config(200), context=context)
    return state, NodeDatabase(run_dir / "run.db")


def test_loop_improves_and_stops_on_step_budget(tiny_task: Path, tmp_path: Path, hash_embedder: str) -> None:
    researcher = StepResearcher(step=0.5)
    state, db = run_loop(tiny_task, tmp_path / "run", 4, hash_embedder, researcher=researcher)
    assert state["steps"] == 4
    assert state["stop_reason"].startswith("step budget reached")
    nodes = db.nodes()
    assert [n.status for n in nodes] == ["ok"] * 5
    assert [n.metrics["x"] for n in nodes] == [1.0, 1.5, 2.0, 2.5, 3.0]
    assert state["best_score"] == 0.0 and state["best_node_id"] == nodes[-1].id
    # greedy always extends the best, and each child names its parent
    assert [n.parent_ids[0] for n in nodes[1:]] == [n.id for n in nodes[:-1]]
    assert len(researcher.seen) == 4 and researcher.seen[0].parent.id == nodes[0].id
    # node files are written next to the database
    assert (tmp_path / "run" / "nodes" / nodes[1].trial_key / "program.py").read_text() == nodes[1].program


def test_target_score_stops_early(tiny_task: Path, tmp_path: Path, hash_embedder: str) -> None:
    context = Context(task=str(tiny_task), run_dir=str(tmp_path / "run"), sampler="greedy", embedder=hash_embedder)
    graph = make_builder(provider_with(researcher=StepResearcher(step=1.0))).compile(checkpointer=InMemorySaver())
    state = graph.invoke({"max_steps": 10, "target_score": -0.5}, thread_config(), context=context)
    assert state["stop_reason"].startswith("target score reached")
    assert state["steps"] == 2  # x: 1 -> 2 (score -1) -> 3 (score 0)


def test_every_failure_becomes_a_stored_node(tiny_task: Path, tmp_path: Path, hash_embedder: str) -> None:
    script = [
        Proposal("bad search", "edit text that is not in the program",
                 "<<<<<<< SEARCH\nX = 99\n=======\nX = 3\n>>>>>>> REPLACE\n"),
        RuntimeError("model exploded"),
        Proposal("syntax", "breaks the program", "<<<<<<< SEARCH\nX = 1.0\n=======\nX = (\n>>>>>>> REPLACE\n"),
        Proposal("crash", "raises at import", "<<<<<<< SEARCH\nX = 1.0\n=======\nX = 1 / 0\n>>>>>>> REPLACE\n"),
        Proposal("harness", "edits outside the block", "print('x')\n", mode="rewrite"),
    ]
    state, db = run_loop(tiny_task, tmp_path / "run", 5, hash_embedder, researcher=ScriptedResearcher(script))
    by_name = {n.name: n for n in db.nodes()}
    assert by_name["bad search"].status == "unappliable" and "not found" in by_name["bad search"].error
    failed = [n for n in db.nodes() if n.status == "failed" and "model exploded" in n.error]
    assert len(failed) == 1 and failed[0].name == "(no proposal)"
    assert by_name["syntax"].status == "invalid" and "syntax error" in by_name["syntax"].error
    assert by_name["crash"].status == "failed" and "ZeroDivisionError" in by_name["crash"].error
    assert by_name["harness"].status == "invalid" and "harness" in by_name["harness"].error
    assert db.count() == 6 and state["steps"] == 5
    assert all(n.analysis for n in db.nodes())


def test_parallel_workers_run_k_trials_per_generation(tiny_task: Path, tmp_path: Path, hash_embedder: str) -> None:
    state, db = run_loop(tiny_task, tmp_path / "run", 6, hash_embedder, researcher=StepResearcher(step=0.25),
                         workers=3)
    nodes = db.nodes()
    assert len(nodes) == 7 and state["steps"] == 6
    generations = sorted({n.generation for n in nodes})
    assert generations == [0, 1, 2]
    assert sorted(n.trial_key for n in nodes if n.generation == 1) == ["g0001.0", "g0001.1", "g0001.2"]


def test_invalid_initial_program_stops_with_a_reason(tiny_task: Path, tmp_path: Path, hash_embedder: str) -> None:
    (tiny_task / "initial_program.py").write_text(
        (tiny_task / "initial_program.py").read_text().replace("X = 1.0", "X = 'oops'")
    )
    state, db = run_loop(tiny_task, tmp_path / "run", 3, hash_embedder, researcher=StepResearcher())
    assert db.count() == 1
    assert "initial program is not valid" in state["stop_reason"]


def test_outcome_reducer_keeps_only_the_newest_generation() -> None:
    a = TrialOutcome("g0001.0", 1, 2, "ok", 1.0)
    b = TrialOutcome("g0002.0", 2, 3, "ok", 2.0)
    c = TrialOutcome("g0002.1", 2, 4, "failed", None)
    assert latest_generation([a], [b]) == [b]
    assert latest_generation([b], [c]) == [b, c]
    assert latest_generation([b, c], [b]) == [b, c]


def test_checkpoint_size_stays_flat_as_the_run_grows(tiny_task: Path, tmp_path: Path, hash_embedder: str) -> None:
    sizes = {}
    for steps in (3, 15):
        context = Context(task=str(tiny_task), run_dir=str(tmp_path / f"run{steps}"), sampler="greedy",
                          embedder=hash_embedder)
        saver = InMemorySaver()
        graph = make_builder(provider_with(researcher=StepResearcher(step=0.01))).compile(checkpointer=saver)
        graph.invoke({"max_steps": steps}, thread_config(200), context=context)
        checkpoint = saver.get_tuple(thread_config()).checkpoint
        sizes[steps] = len(saver.serde.dumps_typed(checkpoint["channel_values"])[1])
        assert len(graph.get_state(thread_config()).values["outcomes"]) == 1
    assert sizes[15] <= sizes[3] + 64, sizes


class NotingExecutor:
    """An executor whose experiments survive something worth keeping (as a Ray worker lost and retried)."""

    def __init__(self, inner) -> None:
        self.inner, self.support = inner, inner.support

    def run(self, task, program_path, work_dir, timeout_s, **kwargs):
        result = self.inner.run(task, program_path, work_dir, timeout_s, **kwargs)
        return replace(result, notes=(f"attempt 1 lost ({program_path.parent.name}); retried",))

    def close(self) -> None:
        self.inner.close()


def test_what_an_executor_notes_about_an_experiment_is_kept_on_its_node(tiny_task: Path, tmp_path: Path) -> None:
    context = Context(task=str(tiny_task), run_dir=str(tmp_path / "run"), cognition=False)
    graph = make_builder(provider_with(executor=NotingExecutor(LocalExecutor()))).compile(checkpointer=InMemorySaver())
    graph.invoke({"max_steps": 2}, thread_config(), context=context)
    nodes = NodeDatabase(tmp_path / "run" / "run.db").nodes()
    assert len(nodes) == 3
    for node in nodes:
        assert f"attempt 1 lost ({node.trial_key}); retried" in node.notes
