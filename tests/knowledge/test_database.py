"""The node database keeps every field exactly, counts visits once per child, survives threads and kill -9."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
from dataclasses import replace
from pathlib import Path

import pytest

from knowledge.database import BEST_CLAUSE, SCHEMA_VERSION, DatabaseError, NodeDatabase, NodeStore
from knowledge.records import NODE_STATUSES, Node, NodeDraft, Provenance

REPO_ROOT = Path(__file__).resolve().parents[2]


def draft(key: str, score: float | None = 1.0, parents: tuple[int, ...] = (), **changes: object) -> NodeDraft:
    base = NodeDraft(
        trial_key=key,
        generation=len(parents),
        parent_ids=parents,
        name=f"cand {key}",
        motivation="because",
        program="x = 1\n",
        edit="",
        metrics={"combined_score": score},
        score=score,
        analysis="fine",
        status="ok" if score is not None else "failed",
    )
    return replace(base, **changes)


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> NodeDatabase:
    """The store on both backends: run.db, and a run's schema in a PostgreSQL database of the test's own."""
    if request.param == "sqlite":
        return NodeDatabase(tmp_path / "run.db")
    store = NodeDatabase(request.getfixturevalue("pg_database") + "?schema=run_test")
    request.addfinalizer(store.close)
    return store


def test_round_trip_keeps_every_field_exactly(db: NodeDatabase) -> None:
    root = db.add(draft("g0"))
    program = "# ünïcødé 🧪 — 数学\n" + "y = 0.1 + 0.2  # x\n" * (1_000_000 // 19)
    assert len(program) > 1_000_000
    full = NodeDraft(
        trial_key="g1.0",
        generation=1,
        parent_ids=(root.id,),
        name="Σ packing ✓",
        motivation="multi\nline\tmotivation with 'quotes' and \"double\"",
        program=program,
        edit="<<<<<<< SEARCH\nx\n=======\ny\n>>>>>>> REPLACE\n",
        metrics={"combined_score": 0.1 + 0.2, "nested": {"list": [1, 2.5, "z", None], "deep": {"k": True}}},
        score=0.1 + 0.2,
        analysis="análisis " * 1000,
        status="ok",
        error="",
        timings={"propose_s": 1e-9, "eval_s": 12345.678901234567},
        provenance=Provenance("cognition", cognition_ids=(3, 9), node_ids=(root.id,), declared_by="model"),
    )
    stored = db.add(full)
    assert stored.id == root.id + 1 and stored.visits == 0 and stored.created_at > 0
    expected = Node(**vars(full), id=stored.id, created_at=stored.created_at, visits=0)
    assert stored == expected
    assert db.get(stored.id) == expected
    assert db.get_by_trial_key("g1.0") == expected
    assert db.get(stored.id).score == 0.30000000000000004  # float64 stored exactly
    assert db.get(999) is None and db.get_by_trial_key("nope") is None


def test_non_finite_score_and_unknown_status_are_rejected(db: NodeDatabase) -> None:
    for bad in (float("nan"), float("inf"), float("-inf")):
        with pytest.raises(ValueError, match="non-finite"):
            db.add(draft("bad", score=bad))
    with pytest.raises(ValueError, match="unknown node status 'weird'"):
        db.add(draft("bad", status="weird"))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown parent ids \\[42\\]"):
        db.add(draft("orphan", parents=(42,)))
    assert db.count() == 0


def test_check_constraint_guards_status_even_below_the_python_layer(db: NodeDatabase) -> None:
    with pytest.raises(DatabaseError, match="CHECK constraint failed|violates check constraint"):
        with db._connect() as conn:
            conn.execute(
                "INSERT INTO nodes (trial_key, generation, parent_ids, name, motivation, program, edit,"
                " metrics, score, analysis, status, error, timings, created_at) "
                "VALUES ('k', 0, '[]', '', '', '', '', '{}', NULL, '', 'weird', '', '{}', 0)"
            )
    assert db.count() == 0


def test_add_is_idempotent_on_trial_key(db: NodeDatabase) -> None:
    root = db.add(draft("g0"))
    child = db.add(draft("g1.0", parents=(root.id,)))
    again = db.add(draft("g1.0", score=99.0, parents=(root.id,), name="different"))
    assert again == child
    assert db.count() == 2
    assert db.get(root.id).visits == 1


def test_visits_rise_once_per_stored_child_of_the_first_parent(db: NodeDatabase) -> None:
    a = db.add(draft("a"))
    b = db.add(draft("b"))
    for i in range(3):
        db.add(draft(f"a-child{i}", parents=(a.id, b.id)))  # b is an inspiration: no visit
    db.add(draft("b-child", parents=(b.id,)))
    assert (db.get(a.id).visits, db.get(b.id).visits) == (3, 1)
    assert db.add(draft("a")).visits == 3  # the repeat returns the current stored node


def test_queries_filter_order_and_count(db: NodeDatabase) -> None:
    db.add(draft("s1", score=0.5))
    db.add(draft("f1", score=None, status="failed", error="boom"))
    db.add(draft("s2", score=0.9))
    db.add(draft("t1", score=None, status="timeout"))
    db.add(draft("s3", score=0.9))
    db.add(draft("odd", score=5.0, status="vetoed"))  # a score on a non-ok node never counts as scored
    assert [n.trial_key for n in db.nodes()] == ["s1", "f1", "s2", "t1", "s3", "odd"]
    assert [n.trial_key for n in db.nodes("failed")] == ["f1"]
    assert [n.trial_key for n in db.nodes("ok")] == ["s1", "s2", "s3"]
    assert db.best().trial_key == "s2"  # tie on 0.9 -> lowest id
    assert db.count() == 6
    counts = db.counts_by_status()
    assert list(counts) == list(NODE_STATUSES)
    assert counts == {"ok": 3, "failed": 1, "timeout": 1, "invalid": 0, "unappliable": 0, "vetoed": 1,
                      "duplicate": 0}
    with pytest.raises(ValueError, match="unknown node status"):
        db.nodes("bogus")


def test_empty_database(db: NodeDatabase) -> None:
    assert db.best() is None and db.nodes("ok") == [] and db.nodes() == [] and db.count() == 0
    assert sum(db.counts_by_status().values()) == 0


def test_meta_values_overwrite_and_persist(tmp_path: Path) -> None:
    with NodeDatabase(tmp_path / "run.db") as db:
        assert db.get_meta("seed") is None
        db.set_meta("seed", "1")
        db.set_meta("seed", "7")
        db.set_meta("task", "circle_packing ✓")
    reopened = NodeDatabase(tmp_path / "run.db")
    assert reopened.get_meta("seed") == "7" and reopened.get_meta("task") == "circle_packing ✓"
    assert reopened.get_meta("schema_version") == SCHEMA_VERSION


V2_NODES = """CREATE TABLE nodes (
    id INTEGER PRIMARY KEY AUTOINCREMENT, trial_key TEXT NOT NULL UNIQUE, generation INTEGER NOT NULL,
    parent_ids TEXT NOT NULL, name TEXT NOT NULL, motivation TEXT NOT NULL, program TEXT NOT NULL,
    edit TEXT NOT NULL, metrics TEXT NOT NULL, score REAL, analysis TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('ok', 'failed', 'timeout', 'invalid', 'unappliable', 'vetoed')),
    error TEXT NOT NULL, timings TEXT NOT NULL, created_at REAL NOT NULL,
    visits INTEGER NOT NULL DEFAULT 0 CHECK (visits >= 0), island INTEGER,
    cognition_ids TEXT NOT NULL DEFAULT '[]', novelty_rejections INTEGER NOT NULL DEFAULT 0,
    insights TEXT NOT NULL DEFAULT '[]', attempts TEXT NOT NULL DEFAULT '[]')"""


def test_a_version_2_database_is_upgraded_in_place_with_every_row(tmp_path: Path) -> None:
    path = tmp_path / "run.db"
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        conn.execute("INSERT INTO meta VALUES ('schema_version', '2'), ('seed', '5')")
        conn.execute(V2_NODES)
        conn.execute(
            "INSERT INTO nodes (trial_key, generation, parent_ids, name, motivation, program, edit, metrics, score,"
            " analysis, status, error, timings, created_at, visits) VALUES ('g0000.0', 0, '[]', 'initial', 'm',"
            " 'x = 1\n', '', '{\"combined_score\": 2.0}', 2.0, 'a', 'ok', '', '{}', 1.0, 3)"
        )
    conn.close()
    db = NodeDatabase(path)
    [node] = db.nodes()
    assert (node.trial_key, node.score, node.visits, node.metrics, node.notes) == ("g0000.0", 2.0, 3,
                                                                                  {"combined_score": 2.0}, ())
    assert db.get_meta("schema_version") == SCHEMA_VERSION and db.get_meta("seed") == "5"
    dup = db.add(draft("g0001.0", score=None, parents=(node.id,), status="duplicate", notes=("same as node 1",)))
    assert dup.status == "duplicate" and dup.notes == ("same as node 1",) and db.get(node.id).visits == 4


def test_a_version_3_database_gains_provenance_and_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "run.db"
    with NodeDatabase(path) as db:
        first = db.add(draft("g0000.0", notes=("kept",)))
    conn = sqlite3.connect(path)
    with conn:  # what a version-3 file looks like: no provenance column
        conn.execute("ALTER TABLE nodes DROP COLUMN provenance")
        conn.execute("UPDATE meta SET value = '3' WHERE key = 'schema_version'")
    conn.close()
    db = NodeDatabase(path)
    [node] = db.nodes()
    assert node == replace(first, provenance=Provenance()) and node.provenance.source == "unrecorded"
    assert db.get_meta("schema_version") == SCHEMA_VERSION
    cited = Provenance("experience", node_ids=(node.id,), declared_by="offline crossover")
    assert db.add(draft("g0001.0", parents=(node.id,), provenance=cited)).provenance == cited


def test_reopen_sees_everything_and_uses_wal(tmp_path: Path) -> None:
    path = tmp_path / "run.db"
    with NodeDatabase(path) as db:
        root = db.add(draft("g0", score=0.25))
        child = db.add(draft("g1", score=0.75, parents=(root.id,)))
    with pytest.raises(DatabaseError, match="closed"):
        db.count()
    again = NodeDatabase(path)
    assert again.nodes() == [replace(root, visits=1), child]
    assert again.best() == child
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


def test_store_satisfies_the_protocol(db: NodeDatabase) -> None:
    store: NodeStore = db
    assert store.count() == 0


def test_garbage_file_is_refused_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "run.db"
    path.write_bytes(os.urandom(4096))
    with pytest.raises(DatabaseError) as info:
        NodeDatabase(path)
    message = str(info.value)
    assert "\n" not in message and str(path) in message and "not a database" in message


def test_foreign_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("CREATE TABLE nodes (id INTEGER PRIMARY KEY, label TEXT)")
    conn.close()
    with pytest.raises(DatabaseError, match="not ours"):
        NodeDatabase(path)


def test_missing_directory_and_memory_paths_are_refused(tmp_path: Path) -> None:
    with pytest.raises(DatabaseError, match="directory does not exist"):
        NodeDatabase(tmp_path / "nope" / "run.db")
    with pytest.raises(ValueError, match="file path"):
        NodeDatabase(":memory:")


def test_concurrent_adds_from_threads(tmp_path: Path) -> None:
    path = tmp_path / "run.db"
    db = NodeDatabase(path)
    root = db.add(draft("root"))
    errors: list[BaseException] = []

    def worker(t: int) -> None:
        other = NodeDatabase(path) if t % 2 else db  # shared object and separate objects alike
        try:
            for i in range(25):
                db_key = f"t{t}.{i}"
                other.add(draft(db_key, score=float(i), parents=(root.id,)))
                other.add(draft(f"t{(t + 1) % 4}.{i}", score=float(i), parents=(root.id,)))  # races a twin
        except BaseException as exc:  # reported to the main thread
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    assert db.count() == 1 + 4 * 25
    assert db.get(root.id).visits == 4 * 25  # one visit per stored child, none for the repeated keys
    ids = [n.id for n in db.nodes()]
    assert ids == sorted(set(ids))


_CRASH_CHILD = """
import sys
from knowledge.database import NodeDatabase
from knowledge.records import NodeDraft
db = NodeDatabase(sys.argv[1])
root = db.add(NodeDraft("root", 0, (), "root", "m", "p", "", {}, 0.0, "", "ok"))
i = 0
while True:
    program = str(i) * 200_000
    db.add(NodeDraft(f"k{i}", 1, (root.id,), "n", "m", program, "e", {"i": i, "len": len(program)},
                     float(i), "a", "ok"))
    print(i, flush=True)
    i += 1
"""


@pytest.mark.parametrize("delay_s", [0.0, 0.013, 0.05])
def test_kill_9_mid_write_leaves_a_consistent_database(tmp_path: Path, delay_s: float) -> None:
    path = tmp_path / "run.db"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen(
        [sys.executable, "-c", _CRASH_CHILD, str(path)], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if int(line) >= 15:
                break
        threading.Event().wait(delay_s)  # land at different points of the next write
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL

    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()
    db = NodeDatabase(path)
    children = [n for n in db.nodes() if n.trial_key != "root"]
    assert len(children) >= 16
    for n in children:
        i = n.metrics["i"]
        assert n.trial_key == f"k{i}" and n.program == str(i) * 200_000 and n.score == float(i)
        assert len(n.program) == n.metrics["len"]
    assert [n.metrics["i"] for n in children] == list(range(len(children)))
    assert db.get_by_trial_key("root").visits == len(children)  # insert and visit landed together
    db.add(draft("after-crash"))
    assert db.count() == len(children) + 2


def test_json_columns_are_stored_with_sorted_keys(db: NodeDatabase) -> None:
    db.add(draft("j", metrics={"b": 1, "a": {"d": 2, "c": 3}}, timings={"z": 1.0, "y": 2.0}))
    with db._connect() as conn:
        metrics, timings = conn.execute("SELECT metrics, timings FROM nodes").fetchone()
    assert metrics == json.dumps({"a": {"c": 3, "d": 2}, "b": 1}) and timings == '{"y": 2.0, "z": 1.0}'
    with pytest.raises(ValueError, match="'metrics' cannot be stored as JSON"):
        db.add(draft("bad-json", metrics={"obj": object()}))


def test_best_is_read_from_an_index_not_a_sort_of_every_node(tmp_path: Path) -> None:
    db = NodeDatabase(tmp_path / "run.db")
    for i in range(30):
        db.add(draft(f"k{i}", score=float(i % 7), status="ok" if i % 3 else "failed"))
    assert (db.best().score, db.best().trial_key) == (6.0, "k13")  # k6 failed; the oldest ok one with 6
    with sqlite3.connect(tmp_path / "run.db") as conn:
        plan = " ".join(str(row[-1]) for row in conn.execute(f"EXPLAIN QUERY PLAN SELECT * FROM nodes {BEST_CLAUSE}"))
    assert "nodes_best" in plan and "TEMP B-TREE" not in plan, plan
