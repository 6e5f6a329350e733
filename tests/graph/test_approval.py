"""Human in the loop: a run with `approve` pauses before each experiment; answers approve, edit or skip it."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command, Interrupt, interrupt

from agents.strategies.protocols import Proposal, ResearchContext
from graph.approval import SKIPPED, Answer
from graph.budget import Budget
from graph.builder import builder as studio_builder
from graph.builder import make_builder
from graph.checkpoint import thread_config
from graph.context import Context
from graph.runner import RunError, is_paused, resume_run, start_run
from graph.state import Verdict
from graph.trial import ExtraNode
from knowledge.database import NodeDatabase
from tests.support.fakes import provider_with

pytestmark = pytest.mark.timeout(60)


@dataclass
class KeyedResearcher:
    """Sets X to a value named by the trial key (`g0002.1` -> 2.15): every candidate is distinct; a slot in
    `unappliable` proposes an edit that does not apply (no experiment, so nothing to approve)."""

    unappliable: tuple[str, ...] = ()
    seen: list[str] = field(default_factory=list)

    def propose(self, ctx: ResearchContext) -> Proposal:
        self.seen.append(ctx.trial_key)
        generation, slot = (int(p) for p in re.match(r"g(\d+)\.(\d+)", ctx.trial_key).groups())
        old = re.search(r"^X = .+$", ctx.parent.program, re.M).group(0)
        old = "X = no such line" if ctx.trial_key.endswith(tuple(self.unappliable)) else old
        edit = f"<<<<<<< SEARCH\n{old}\n=======\nX = {generation}.{slot}5\n>>>>>>> REPLACE\n"
        return Proposal(name=f"set X for {ctx.trial_key}", motivation=f"try {generation}.{slot}5", edit=edit)


def context(task: Path, run_dir: Path, workers: int = 1) -> Context:
    return Context(task=str(task), run_dir=str(run_dir), sampler="greedy", cognition=False, workers=workers,
                   approve=True)


def builder_with(researcher: KeyedResearcher, max_wait_s: float = 1800.0):
    """A run's builder (trial checkpoints on, as approve needs) whose trials wait at most `max_wait_s` for a turn."""
    inner = provider_with(researcher=researcher)

    def provide(ctx):
        services = inner(ctx)
        services.order.max_wait_s = max_wait_s
        return services

    return make_builder(provide, trial_checkpoints=True)


@dataclass
class Person:
    """Answers every pending question with `answer(request)`; remembers the requests, one list per round."""

    answer: object = "approve"
    rounds: list[list[dict]] = field(default_factory=list)

    def __call__(self, pending: list[Interrupt]) -> dict[str, object]:
        self.rounds.append([i.value for i in pending])
        return {i.id: (self.answer(i.value) if callable(self.answer) else self.answer) for i in pending}


def nodes(run_dir: Path):
    return NodeDatabase(run_dir / "run.db").nodes()


def test_a_paused_run_shows_what_will_run_and_goes_on_once_approved(tiny_task: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    researcher = KeyedResearcher()
    state = start_run(context(tiny_task, run_dir), Budget(3), builder=builder_with(researcher))
    assert is_paused(state) and "resume" in state["stop_reason"]
    assert [n.trial_key for n in nodes(run_dir)] == ["g0000.0"]  # the initial program is evaluated unasked
    request = state["__interrupt__"][0].value
    assert request["kind"] == "approval" and request["trial"] == "g0001.0" and request["parent_id"] == 1
    assert request["name"] == "set X for g0001.0" and request["motivation"] == "try 1.05"
    assert "-X = 1.0\n" in request["diff"] and "+X = 1.05\n" in request["diff"]
    assert "X = 1.05" in request["program"] and "EVOLVE-BLOCK-START" in request["program"]

    person = Person()
    state = resume_run(run_dir, builder=builder_with(researcher), approver=person)
    assert not is_paused(state) and state["stop_reason"] == "step budget reached (3 steps)"
    assert [[r["trial"] for r in batch] for batch in person.rounds] == [["g0001.0"], ["g0002.0"], ["g0003.0"]]
    stored = nodes(run_dir)
    assert [(n.trial_key, n.status) for n in stored] == [(f"g000{i}.0", "ok") for i in range(4)]
    assert "X = 3.05" in stored[-1].program
    assert researcher.seen.count("g0001.0") == 1  # resumed at its question: the trial was not proposed again


def test_resume_with_more_steps_asks_first_then_runs_them(tiny_task: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    assert is_paused(start_run(context(tiny_task, run_dir), Budget(2), builder=builder_with(KeyedResearcher())))
    person = Person()
    state = resume_run(run_dir, 3, builder=builder_with(KeyedResearcher()), approver=person)
    assert state["stop_reason"] == "step budget reached (3 steps)"
    assert [batch[0]["trial"] for batch in person.rounds] == ["g0001.0", "g0002.0", "g0003.0"]
    with pytest.raises(RunError, match="answered no pending interrupt"):
        resume_run(run_dir, 1, builder=builder_with(KeyedResearcher()), approver=lambda pending: {"nope": "a"})


def test_skip_stores_a_vetoed_node_with_the_reason(tiny_task: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    person = Person(lambda request: "skip" if request["trial"] == "g0001.0" else {"action": "s", "reason": "meh"})
    state = start_run(context(tiny_task, run_dir), Budget(2), builder=builder_with(KeyedResearcher()),
                      approver=person)
    assert state["steps"] == 2
    first, second = nodes(run_dir)[1:]
    assert (first.status, first.error, first.score) == ("vetoed", SKIPPED, None)
    assert (second.status, second.error) == ("vetoed", f"{SKIPPED}: meh")
    assert "X = 1.05" in first.program  # what was skipped is kept with the node
    assert not (run_dir / "nodes" / "g0001.0" / "stdout.txt").exists()  # and it never ran


def test_an_edit_runs_instead_and_a_bad_edit_is_asked_again(tiny_task: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"

    def answer(request: dict) -> dict:
        if "error" not in request:  # first: an edit that touches the harness outside the EVOLVE-BLOCK
            return Answer("edit", request["program"].replace("print(value())", "print(3)")).to_value()
        assert "harness changed" in request["error"]
        return Answer("edit", request["program"].replace("X = 1.05", "X = 2.5")).to_value()

    person = Person(answer)
    start_run(context(tiny_task, run_dir), Budget(1), builder=builder_with(KeyedResearcher()), approver=person)
    assert [len(batch) for batch in person.rounds] == [1, 1]  # the refused edit came back as a second question
    node = nodes(run_dir)[1]
    assert node.status == "ok" and "X = 2.5" in node.program and "X = 1.05" not in node.program
    assert node.score == pytest.approx(-0.25) and node.metrics["x"] == 2.5  # the edited program is what ran
    assert "X = 1.05" in node.edit and any("edited" in note for note in node.notes)
    assert (run_dir / "nodes" / "g0001.0" / "program.py").read_text() == node.program


def test_two_workers_ask_together_and_never_wait_for_a_paused_trial(tiny_task: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    person = Person()
    started = time.monotonic()
    # turns time out after 10 s: a trial waiting for a paused one would make this run take longer
    start_run(context(tiny_task, run_dir, workers=2), Budget(4), builder=builder_with(KeyedResearcher(), 10.0),
              approver=person)
    assert time.monotonic() - started < 10
    assert [sorted(r["trial"] for r in batch) for batch in person.rounds] == [["g0001.0", "g0001.1"],
                                                                            ["g0002.0", "g0002.1"]]
    assert [n.status for n in nodes(run_dir)] == ["ok"] * 5


def test_a_trial_with_nothing_to_ask_stores_while_the_other_waits(tiny_task: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    started = time.monotonic()
    state = start_run(context(tiny_task, run_dir, workers=2), Budget(2),
                      builder=builder_with(KeyedResearcher(unappliable=(".1",)), 10.0))
    assert time.monotonic() - started < 10 and is_paused(state)
    # slot 1's edit did not apply (nothing to ask) and it stored its node at once: slot 0, paused, gave up its
    # turn to store first instead of holding slot 1 until someone answers
    assert [i.value["trial"] for i in state["__interrupt__"]] == ["g0001.0"]
    assert [(n.trial_key, n.status) for n in nodes(run_dir)] == [("g0000.0", "ok"), ("g0001.1", "unappliable")]
    resume_run(run_dir, builder=builder_with(KeyedResearcher()), approver=Person())
    assert [(n.trial_key, n.status) for n in nodes(run_dir)][2:] == [("g0001.0", "ok")]


def test_a_user_node_may_ask_a_person_too(tiny_task: Path, tmp_path: Path) -> None:
    def reviewer(state: dict) -> dict:
        if state["proposal"] is not None and state["spec"].parent_id is not None and interrupt("veto?") == "yes":
            return {"verdict": Verdict("vetoed", "reviewer said no")}
        return {}

    run_dir = tmp_path / "run"
    builder = make_builder(provider_with(researcher=KeyedResearcher()), [ExtraNode("reviewer", reviewer)],
                           trial_checkpoints=True)
    ctx = Context(task=str(tiny_task), run_dir=str(run_dir), sampler="greedy", cognition=False)
    start_run(ctx, Budget(1), builder=builder, approver=lambda pending: {i.id: "yes" for i in pending})
    assert [(n.status, n.error) for n in nodes(run_dir)][1:] == [("vetoed", "reviewer said no")]


def test_approve_needs_trial_checkpoints(tiny_task: Path, tmp_path: Path) -> None:
    with pytest.raises(RunError, match="trial checkpoints"):
        start_run(context(tiny_task, tmp_path / "run"), Budget(1), builder=make_builder())


def test_studio_graph_raises_the_same_interrupt_and_resumes(tiny_task: Path, tmp_path: Path) -> None:
    graph = studio_builder.compile(checkpointer=InMemorySaver())
    config = thread_config(100)
    ctx = Context(task=str(tiny_task), run_dir=str(tmp_path / "studio"), cognition=False, approve=True)
    graph.invoke({"max_steps": 2}, config, context=ctx)
    snapshot = graph.get_state(config)
    assert [i.value["trial"] for i in snapshot.interrupts] == ["g0001.0"]
    assert [i.value["trial"] for task in snapshot.tasks for i in task.interrupts] == ["g0001.0"]
    graph.invoke(Command(resume={snapshot.interrupts[0].id: "approve"}), config, context=ctx)
    snapshot = graph.get_state(config)
    assert [i.value["trial"] for i in snapshot.interrupts] == ["g0002.0"]
    graph.invoke(Command(resume={snapshot.interrupts[0].id: "skip"}), config, context=ctx)
    snapshot = graph.get_state(config)
    assert not snapshot.interrupts and snapshot.values["steps"] == 2
    assert [n.status for n in nodes(tmp_path / "studio")] == ["ok", "ok", "vetoed"]
