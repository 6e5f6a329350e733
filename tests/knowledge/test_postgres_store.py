"""Everything a run stores, in PostgreSQL: runs kept apart by schema, the cognition base's FAISS index rebuilt
from the stored vectors, model calls, verifications and fingerprints, writers in several processes at once."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest

from agents.models.ledger import CallLedger, CallRecord
from knowledge.cognition import CognitionBase, CognitionDraft, read_items
from knowledge.database import DatabaseError, NodeDatabase
from knowledge.novelty import NoveltyIndex
from knowledge.postgres import drop_schema, safe_url, split_url, with_schema
from knowledge.records import NodeDraft
from knowledge.storage import exists, run_location
from knowledge.verifications import Verification, VerificationStore
from tests.support.hash_embedder import HashEmbedder


def node(key: str, score: float = 1.0, parents: tuple[int, ...] = ()) -> NodeDraft:
    return NodeDraft(trial_key=key, generation=len(parents), parent_ids=parents, name=key, motivation=f"why {key}",
                     program=f"x = {key!r}\n", edit="", metrics={"combined_score": score}, score=score,
                     analysis="", status="ok")


def test_runs_in_one_database_are_kept_apart_by_schema(pg_database: str) -> None:
    a, b = NodeDatabase(with_schema(pg_database, "run_a")), NodeDatabase(with_schema(pg_database, "run_b"))
    root = a.add(node("g0", 0.5))
    a.add(node("g1.0", 0.9, (root.id,)))
    b.add(node("g0", 0.1))
    assert [n.trial_key for n in a.nodes()] == ["g0", "g1.0"] and a.best().score == 0.9
    assert [n.trial_key for n in b.nodes()] == ["g0"] and b.best().score == 0.1
    assert a.get(root.id).visits == 1  # counted in the same transaction that stored the child
    a.close(), b.close()
    drop_schema(with_schema(pg_database, "run_a"))
    assert not exists(with_schema(pg_database, "run_a")) and exists(with_schema(pg_database, "run_b"))


def test_a_run_location_names_its_schema_after_the_run_directory(pg_database: str, tmp_path: Path) -> None:
    assert run_location(tmp_path / "My Run-2026", "") == tmp_path / "My Run-2026" / "run.db"
    assert split_url(str(run_location(tmp_path / "My Run-2026", pg_database)))[1] == "run_my_run_2026"
    assert split_url(str(run_location(tmp_path / "x", pg_database + "?schema=mine")))[1] == "mine"
    with pytest.raises(ValueError, match="must be a PostgreSQL URL"):
        run_location(tmp_path, "mysql://h/db")
    with pytest.raises(ValueError, match="lower-case letters"):
        split_url(pg_database + "?schema=Robert'); DROP TABLE nodes;--")


def test_an_unreachable_server_is_one_line_without_the_password(tmp_path: Path) -> None:
    url = "postgresql://alice:s3cret@127.0.0.1:1/nowhere?schema=run_x"
    with pytest.raises(DatabaseError) as caught:
        NodeDatabase(url)
    message = str(caught.value)
    assert "\n" not in message and "s3cret" not in message and "alice:***@127.0.0.1:1" in message
    assert safe_url(url) == "postgresql://alice:***@127.0.0.1:1/nowhere?schema=run_x"


class CountingEmbedder(HashEmbedder):
    def __init__(self) -> None:
        super().__init__(64)
        self.texts = 0

    def embed(self, texts):
        self.texts += len(texts)
        return super().embed(texts)


def test_cognition_items_keep_their_vectors_and_the_index_is_rebuilt_on_open(
        pg_database: str, tmp_path: Path) -> None:
    location = with_schema(pg_database, "run_c")
    embedder = CountingEmbedder()
    base = CognitionBase(location, tmp_path / "one.faiss", embedder)
    added = base.add_many([
        *(CognitionDraft(f"insight {i}: widen the border of circle {i}", "test") for i in range(30)),
        CognitionDraft("insight 0: widen the border of circle 0", "test"),  # an exact duplicate: stored once
    ])
    assert len(added) == 30 and base.count() == 30 and embedder.texts == 30
    query = "widen the border of circle 7"
    before = [(r.item.id, round(r.score, 6)) for r in base.search(query, k=5)]
    assert before[0][0] == added[7].id and embedder.texts == 31
    # another machine has no index file: it is rebuilt from the stored vectors, nothing is embedded again
    (tmp_path / "elsewhere").mkdir()
    elsewhere = CognitionBase(location, tmp_path / "elsewhere" / "two.faiss", embedder)
    assert (tmp_path / "elsewhere" / "two.faiss").exists() and embedder.texts == 31
    assert [(r.item.id, round(r.score, 6)) for r in elsewhere.search(query, k=5)] == before
    assert set(read_items(location)) == {item.id for item in added}
    assert read_items(location, [added[3].id])[added[3].id].content == added[3].content


def test_model_calls_verifications_and_fingerprints_are_stored(pg_database: str) -> None:
    location = with_schema(pg_database, "run_m")
    ledger = CallLedger(location)
    first = ledger.record(CallRecord(role="researcher", key="g1.0", prompt_hash="h", occurrence=0, model="m",
                                     prompt="p", response="r", finish_reason="stop", input_tokens=10,
                                     output_tokens=5, cost=0.25, latency_s=0.5, error=""))
    ledger.record(CallRecord(role="analyzer", key="g1.0", prompt_hash="h2", occurrence=0, model="m", prompt="p",
                             response="", finish_reason="", input_tokens=1, output_tokens=0, cost=0.125,
                             latency_s=0.1, error="timeout"))
    assert first.id >= 1 and ledger.totals() == (0.375, 16) and len(CallLedger(location).rows()) == 2
    store = VerificationStore(location)
    saved = store.add(Verification(node_id=1, config="big", seeds=2, status="ok", score=0.5, score_std=0.1,
                                   scores=[0.4, 0.6], metrics={"combined_score": 0.5}))
    assert saved.id >= 1 and VerificationStore(location).latest()[1].scores == [0.4, 0.6]
    db = NodeDatabase(location)
    stored = db.add(node("g0"))
    index = NoveltyIndex(location)
    index.observe([stored])
    assert NoveltyIndex(location).twin(stored.program) == f"the program is identical to node {stored.id}'s"


def _add_nodes(url: str, worker: int, count: int) -> None:
    db = NodeDatabase(url)
    root = db.get_by_trial_key("g0")
    for i in range(count):
        db.add(node(f"g1.{i}" if i % 2 == 0 else f"w{worker}.{i}", float(i), (root.id,)))
    db.close()


def test_writers_in_several_processes_neither_lose_nor_duplicate_nodes(pg_database: str) -> None:
    url = with_schema(pg_database, "run_p")
    db = NodeDatabase(url)
    root = db.add(node("g0"))
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_add_nodes, args=(url, w, 20)) for w in range(3)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(120)
        assert w.exitcode == 0
    keys = [n.trial_key for n in db.nodes()]
    # the even keys are shared by every writer: stored once; the odd ones are each writer's own
    assert len(keys) == len(set(keys)) == 1 + 10 + 3 * 10
    assert db.get(root.id).visits == len(keys) - 1
