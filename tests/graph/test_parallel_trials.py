"""Parallel trials of one generation: ids and duplicates follow the trial keys, never the finishing order."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from langgraph.checkpoint.memory import InMemorySaver

from agents.strategies.protocols import Proposal, ResearchContext
from graph.builder import make_builder
from graph.checkpoint import thread_config
from graph.context import Context
from knowledge.database import NodeDatabase
from tests.support.fakes import provider_with
from tests.support.tiny_task import write_tiny_task

JITTERY = """\
import importlib.util, os, time


def evaluate(program_path):
    time.sleep(os.urandom(1)[0] / 255 * 0.3)  # finishing order differs from run to run
    spec = importlib.util.spec_from_file_location("candidate", program_path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    x = float(module.value())
    return {"combined_score": -(x - 3.0) ** 2, "x": x}
"""


def run(task: Path, run_dir: Path, steps: int, workers: int, **overrides) -> NodeDatabase:
    context = Context(task=str(task), run_dir=str(run_dir), sampler="ucb1", workers=workers, seed=3,
                      cognition=False)
    builder = make_builder(provider_with(**overrides)) if overrides else make_builder()
    builder.compile(checkpointer=InMemorySaver()).invoke({"max_steps": steps}, thread_config(200), context=context)
    return NodeDatabase(run_dir / "run.db")


def test_same_seed_same_nodes_and_ids_with_two_workers(tmp_path: Path) -> None:
    task = write_tiny_task(tmp_path / "task")
    (task / "evaluator.py").write_text(JITTERY)
    runs = []
    for name in ("a", "b"):
        nodes = run(task, tmp_path / name, steps=12, workers=2).nodes()
        runs.append([(n.id, n.trial_key, n.name, n.status, n.score, n.parent_ids, n.program) for n in nodes])
    assert runs[0] == runs[1]
    assert [key for _, key, *_ in runs[0]] == sorted(key for _, key, *_ in runs[0]), "ids follow the trial keys"


@dataclass
class SameProgramResearcher:
    """Both slots of a generation propose the same edit; slot 0 is the slower one to answer."""

    seen: list[str] = field(default_factory=list)

    def propose(self, ctx: ResearchContext) -> Proposal:
        self.seen.append(ctx.trial_key)
        if ctx.trial_key.endswith(".0"):
            time.sleep(0.5)
        x = ctx.parent.program.split("X = ", 1)[1].split("\n", 1)[0]
        edit = f"<<<<<<< SEARCH\nX = {x}\n=======\nX = 2.75\n>>>>>>> REPLACE\n"
        return Proposal("x to 2.75", f"move X from {x}", edit)


def test_identical_programs_in_one_generation_run_once_and_the_later_slot_is_the_duplicate(tmp_path: Path) -> None:
    task = write_tiny_task(tmp_path / "task")
    researcher = SameProgramResearcher()
    db = run(task, tmp_path / "run", steps=2, workers=2, researcher=researcher)
    first, second = db.get_by_trial_key("g0001.0"), db.get_by_trial_key("g0001.1")
    assert first.status == "ok" and first.metrics["x"] == 2.75
    assert second.status == "duplicate" and second.metrics == {} and second.score is None
    # while slot 0 is evaluated its program is claimed; once stored, it is a node's
    assert second.error in ("not run: the program is identical to trial g0001.0's, being evaluated",
                            f"not run: the program is identical to node {first.id}'s")
    assert second.novelty_rejections == 2 and researcher.seen.count("g0001.1") == 3
    assert not (tmp_path / "run" / "nodes" / "g0001.1" / "program.py").exists(), "a duplicate is never launched"
