"""Time travel: a fork is a new run from an earlier loop checkpoint; the original run is never changed."""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from agents.models.ledger import CallLedger, CallRecord
from graph.budget import Budget
from graph.builder import compile_graph
from graph.checkpoint import thread_config
from graph.context import Context
from graph.fork import DATABASES, ForkPoint, prepare_fork
from graph.runner import RunError, load_run_config, resume_run, start_run
from knowledge.database import NodeDatabase
from knowledge.verifications import Verification, VerificationStore

pytestmark = pytest.mark.timeout(60)


def original_run(task: Path, run_dir: Path, embedder: str, steps: int = 6, seed: int = 0) -> Path:
    """A real offline run (offline researcher and analyzer, cognition with the hashing embedder)."""
    context = Context(task=str(task), run_dir=str(run_dir), sampler="ucb1", seed=seed, embedder=embedder)
    start_run(context, Budget(steps))
    return run_dir


@contextmanager
def held_open(run_dir: Path) -> Iterator[None]:
    """Keep a connection to each of the run's databases, as a run still going would: their WAL files stay (no
    connection closing elsewhere is the last one, which would fold the WAL into the file)."""
    connections = [sqlite3.connect(run_dir / name) for name in DATABASES]
    try:
        for conn in connections:
            conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
        yield
    finally:
        for conn in connections:
            conn.close()


def fingerprint(run_dir: Path) -> dict[str, str]:
    """Every file of a run directory and the hash of its bytes. `-shm` (SQLite's shared-memory index, where every
    reader of an open database marks what it reads) is left out; the CLI's test checks a closed run with none."""
    return {str(p.relative_to(run_dir)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(run_dir.rglob("*")) if p.is_file() and not p.name.endswith("-shm")}


def rows(run_dir: Path) -> list[tuple]:
    """What a node is, ids included (visits aside: they grow as children are stored)."""
    return [(n.id, n.trial_key, n.generation, n.parent_ids, n.name, n.program, n.score, n.status, n.cognition_ids)
            for n in NodeDatabase(run_dir / "run.db").nodes()]


def analyzer_items(run_dir: Path) -> list[tuple]:
    with sqlite3.connect(run_dir / "run.db") as conn:
        found = conn.execute("SELECT id, node_id, content FROM cognition_items WHERE origin = 'analyzer' "
                             "ORDER BY id").fetchall()
    return [tuple(r) for r in found]


def test_a_fork_at_a_step_with_the_same_seed_replays_the_original(tiny_task: Path, tmp_path: Path,
                                                                   hash_embedder: str) -> None:
    original = original_run(tiny_task, tmp_path / "original", hash_embedder)
    with held_open(original):
        replays_the_original(original, tmp_path / "fork")


def replays_the_original(original: Path, new: Path) -> None:
    before, parent_rows, parent_items = fingerprint(original), rows(original), analyzer_items(original)
    assert len(parent_rows) == 7 and parent_items, "the original run stored insights of its analyses"
    assert (original / "run.db-wal").exists()  # in use: the fork reads it through its WAL

    fork = prepare_fork(original, "step:3", new)
    assert (fork.steps, fork.generation, fork.nodes, fork.budget.max_steps) == (3, 3, 4, 6)
    assert rows(new) == parent_rows[:4]  # cut back to the fork point, ids and all
    db = NodeDatabase(new / "run.db")
    children = {n.id: sum(1 for c in db.nodes() if c.parent_ids[:1] == (n.id,)) for n in db.nodes()}
    assert {n.id: n.visits for n in db.nodes()} == children  # visits recounted from the children left
    assert analyzer_items(new) == [item for item in parent_items if item[1] <= 4]
    assert sorted(p.name for p in (new / "nodes").iterdir()) == [f"g000{i}.0" for i in range(4)]
    assert load_run_config(new)[0].run_dir == str(new)

    state = resume_run(new)  # runs the rest of the original's budget from the fork's checkpoint
    assert state["steps"] == 6
    assert rows(new) == parent_rows  # the same seed makes the very same later nodes: state really was rewound
    assert analyzer_items(new) == parent_items
    assert fingerprint(original) == before  # the original run is byte for byte untouched


def test_a_fork_at_a_node_with_another_seed_explores_another_branch(tiny_task: Path, tmp_path: Path,
                                                                    hash_embedder: str) -> None:
    original = original_run(tiny_task, tmp_path / "original", hash_embedder, steps=4)
    parent_rows = rows(original)
    new = tmp_path / "fork"
    fork = prepare_fork(original, "node:3", new, steps=3, seed=11)
    assert (fork.generation, fork.steps, fork.budget.max_steps) == (2, 2, 5)
    assert load_run_config(new)[0].seed == 11
    state = resume_run(new)
    assert state["steps"] == 5
    forked = rows(new)
    assert forked[:3] == parent_rows[:3] and len(forked) == 6
    assert [r[1] for r in forked[3:]] == ["g0003.0", "g0004.0", "g0005.0"]
    assert [r[5] for r in forked[3:5]] != [r[5] for r in parent_rows[3:5]]  # another seed, other programs
    assert rows(original) == parent_rows


def test_a_fork_drops_later_model_calls_and_verifications(tiny_task: Path, tmp_path: Path,
                                                          hash_embedder: str) -> None:
    original = original_run(tiny_task, tmp_path / "original", hash_embedder, steps=4)
    ledger = CallLedger(original / "run.db")
    for key, candidate in (("0:g0001.0", "g0001.0"), ("g0002.0:judge", "g0002.0"), ("0:g0003.0", "g0003.0"),
                           ("g0004.0:repair0", "")):
        ledger.record(CallRecord("researcher", key, "hash", 0, "m", "prompt", "reply", "stop", 1, 1, 0.5, 0.1,
                                 candidate=candidate))
    store = VerificationStore(original / "run.db")
    for node_id in (2, 5):
        store.add(Verification(node_id, "", 2, "ok", -1.0, 0.0, [-1.0, -1.0]))
    prepare_fork(original, "step:2", tmp_path / "fork", steps=1)
    assert [r.key for r in CallLedger(tmp_path / "fork" / "run.db").rows()] == ["0:g0001.0", "g0002.0:judge"]
    assert sorted(VerificationStore(tmp_path / "fork" / "run.db").latest()) == [2]
    assert len(CallLedger(original / "run.db").rows()) == 4


def test_a_fork_of_a_fork_follows_its_own_branch(tiny_task: Path, tmp_path: Path, hash_embedder: str) -> None:
    original = original_run(tiny_task, tmp_path / "original", hash_embedder, steps=4)
    prepare_fork(original, "step:1", tmp_path / "a", seed=5)
    resume_run(tmp_path / "a")
    branch = rows(tmp_path / "a")
    assert branch[3][6] != rows(original)[3][6]  # step 3 of the two branches scored differently
    prepare_fork(tmp_path / "a", "step:3", tmp_path / "b", steps=1, seed=5)
    assert rows(tmp_path / "b") == branch[:4]
    head = compile_graph(tmp_path / "b").get_state(thread_config()).values
    assert (head["last"].key, head["last"].score) == ("g0003.0", branch[3][6])  # the fork's branch, not the dead one


def test_bad_fork_requests_fail_in_one_line_and_leave_nothing(tiny_task: Path, tmp_path: Path,
                                                              hash_embedder: str) -> None:
    original = original_run(tiny_task, tmp_path / "original", hash_embedder, steps=2)
    target = tmp_path / "fork"
    cases = [("node:99", target, "no node 99"), ("step:7", target, "no loop checkpoint at step 7"),
             ("12", target, "node:ID or step:N"), ("step:2", target, "give --steps"),
             ("step:1", original, "already holds a run"), ("step:1", tmp_path / "nowhere", "")]
    for at, new, message in cases:
        source = original if new != tmp_path / "nowhere" else tmp_path / "nothing"
        with pytest.raises(RunError, match=message or "not a run directory"):
            prepare_fork(source, at, new if new != tmp_path / "nowhere" else target)
        assert not target.exists() and not list(tmp_path.glob(".*forking"))
    assert ForkPoint.parse(" step:4 ") == ForkPoint("step", 4) and str(ForkPoint.parse("node:2")) == "node:2"
