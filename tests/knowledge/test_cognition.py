"""The cognition base with the real MiniLM model and real FAISS: retrieval, dedup, persistence, safety."""

from __future__ import annotations

import json
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

import knowledge.vector_index as vector_index
from knowledge.cognition import CognitionBase, CognitionDraft
from knowledge.database import NodeDatabase
from knowledge.embeddings import MiniLMEmbedder, OpenAIEmbedder
from knowledge.records import NodeDraft
from tests.support.embedding_server import embedding_server

TARGET = "Place larger circles near the corners and edges of the square"
UNRELATED = [
    "Use UCB1 to balance exploration and exploitation when picking parents",
    "SQLite in WAL mode lets readers proceed while one writer commits",
    "Evaluate candidates in a cascade: cheap checks first, full evaluation later",
    "Keep failed programs together with their error messages",
    "MAP-Elites keeps the best solution in each cell of a behaviour grid",
    "Islands evolve separately and exchange good programs by migration",
    "Small SEARCH/REPLACE diffs keep working code intact",
    "Bake the bread at 220 degrees for thirty minutes",
    "The train to Berlin leaves from platform four",
    "Novelty search rewards behaviour that differs from the archive",
    "A learning rate warmup stabilises transformer training",
]


@pytest.fixture(scope="module")
def minilm() -> MiniLMEmbedder:
    embedder = MiniLMEmbedder()
    embedder.embed(["warm up"])
    return embedder


def open_base(folder: Path, embedder: object, index: str = "cognition.faiss") -> CognitionBase:
    return CognitionBase(folder / "run.db", folder / index, embedder)  # type: ignore[arg-type]


@pytest.fixture
def seeded(tmp_path: Path, minilm: MiniLMEmbedder) -> CognitionBase:
    base = open_base(tmp_path, minilm)
    drafts = [CognitionDraft(TARGET, "structure.md#walls", ("packing",))]
    drafts += [CognitionDraft(text, f"notes.md#{i}") for i, text in enumerate(UNRELATED)]
    assert len(base.add_many(drafts)) == 12
    return base


def ranking(base: CognitionBase, query: str, k: int = 12) -> list[tuple[int, float]]:
    return [(r.item.id, round(r.score, 5)) for r in base.search(query, k=k, threshold=-1.0)]


def test_paraphrased_query_ranks_the_seeded_item_first(seeded: CognitionBase) -> None:
    hits = seeded.search("put big disks at the boundary of the container", k=3)
    assert hits[0].item.content == TARGET
    assert hits[0].item.source == "structure.md#walls" and hits[0].item.tags == ("packing",)
    assert hits[0].item.origin == "prior" and hits[0].item.node_id is None
    assert hits[0].score > hits[1].score + 0.05
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_search_honours_k_and_threshold_exactly(seeded: CognitionBase) -> None:
    query = "how should the search choose which program to mutate next"
    assert len(seeded.search(query, k=3, threshold=-1.0)) == 3
    assert len(seeded.search(query, k=50, threshold=-1.0)) == 12
    assert seeded.search(query, k=0) == []
    with pytest.raises(ValueError, match="k >= 0"):
        seeded.search(query, k=-1)
    scores = [r.score for r in seeded.search(query, k=12, threshold=-1.0)]
    cut = scores[3]
    above = seeded.search(query, k=12, threshold=cut)
    assert [r.score for r in above] == [s for s in scores if s >= cut] and len(above) == 4
    assert seeded.search(query, k=12, threshold=0.99) == []


def test_search_many_keeps_each_item_once_with_its_best_score(seeded: CognitionBase) -> None:
    queries = ["put big disks at the boundary of the container", "big circles belong in the corners"]
    single = [{r.item.id: r.score for r in seeded.search(q, k=4, threshold=0.0)} for q in queries]
    merged = seeded.search_many(queries, k=4, threshold=0.0)
    ids = [r.item.id for r in merged]
    assert len(ids) == len(set(ids)) == len(set(single[0]) | set(single[1]))
    for r in merged:
        assert r.score == pytest.approx(max(s.get(r.item.id, -2.0) for s in single), abs=1e-5)
    assert [r.score for r in merged] == sorted((r.score for r in merged), reverse=True)
    assert seeded.search_many([], k=4, threshold=0.0) == []


def test_near_duplicates_are_skipped_and_exact_duplicates_always(seeded: CognitionBase) -> None:
    reworded = "Place larger circles near the corners and the edges of the square"
    assert seeded.add(reworded, source="other.md", dedup_threshold=0.95) is None
    kept = seeded.add("Radii for fixed centres come from a linear programme", source="m.md", dedup_threshold=0.95)
    assert kept is not None and kept.content.startswith("Radii")
    assert seeded.add(TARGET, source="structure.md#walls") is None  # same source + content: always skipped
    assert seeded.add(f"  {TARGET}\n", source="structure.md#walls") is None  # judged on the stripped text
    assert seeded.add(TARGET, source="elsewhere.md") is not None  # same words, another source: kept
    batch = [CognitionDraft("Try basin hopping on the centres", "a.md"),
             CognitionDraft("Try basin hopping on the centres", "a.md"),
             CognitionDraft("try basin hopping on the centres", "b.md")]
    added = seeded.add_many(batch, dedup_threshold=0.95)
    assert [a.source for a in added] == ["a.md"]  # in-batch exact and near duplicates both dropped
    assert seeded.count() == 12 + 3


def test_items_get_count_and_analyzer_provenance(tmp_path: Path, minilm: MiniLMEmbedder) -> None:
    nodes = NodeDatabase(tmp_path / "run.db")  # the cognition table shares the node database's file
    node = nodes.add(NodeDraft("g1", 1, (), "n", "m", "p", "", {}, 1.0, "", "ok"))
    base = open_base(tmp_path, minilm)
    prior = base.add("Start from hexagonal rows", source="s.md", tags=["start"])
    insight = base.add("Shrinking radii by 1e-9 fixed the validity failures", source="analysis",
                       origin="analyzer", node_id=node.id)
    assert prior is not None and insight is not None
    assert [i.id for i in base.items()] == [prior.id, insight.id]
    assert base.items("analyzer") == [insight] and base.items("prior") == [prior]
    assert base.get([insight.id, 999, prior.id]) == [insight, prior]
    assert base.count() == 2 and nodes.count() == 1
    assert insight.node_id == node.id and prior.tags == ("start",)
    with pytest.raises(ValueError, match="unknown cognition origin"):
        base.add("x", source="s", origin="rumour")
    with pytest.raises(ValueError, match="empty content"):
        base.add("   ", source="s")
    tables = {r[0] for r in sqlite3.connect(tmp_path / "run.db").execute("SELECT name FROM sqlite_master")}
    assert {"nodes", "meta", "cognition_items"} <= tables


def test_reopening_deleting_or_corrupting_the_index_gives_identical_results(
    seeded: CognitionBase, tmp_path: Path, minilm: MiniLMEmbedder
) -> None:
    query = "put big disks at the boundary of the container"
    before = ranking(seeded, query)
    assert ranking(open_base(tmp_path, minilm), query) == before
    (tmp_path / "cognition.faiss").unlink()
    assert ranking(open_base(tmp_path, minilm), query) == before
    assert (tmp_path / "cognition.faiss").is_file()  # rebuilt from the stored embeddings and persisted
    (tmp_path / "cognition.faiss").write_bytes(b"not a faiss index")
    assert ranking(open_base(tmp_path, minilm), query) == before
    stamp = tmp_path / "cognition.faiss.stamp.json"
    stamp.write_text(json.dumps({**json.loads(stamp.read_text()), "count": 3}))
    assert ranking(open_base(tmp_path, minilm), query) == before
    assert json.loads(stamp.read_text())["count"] == 12


def test_rows_added_behind_its_back_are_picked_up(
    seeded: CognitionBase, tmp_path: Path, minilm: MiniLMEmbedder
) -> None:
    other = open_base(tmp_path, minilm, index="other.faiss")  # same table, its own index file
    late = other.add("Swap two circles of different sizes to escape a local optimum", source="late.md")
    assert late is not None
    query = "exchange a small and a large circle"
    assert seeded.search(query, k=1)[0].item.id == late.id  # a live instance catches up before searching
    stamp = json.loads((tmp_path / "cognition.faiss.stamp.json").read_text())
    assert stamp["count"] == 12  # the first index file on disk is stale now
    reopened = open_base(tmp_path, minilm)
    assert reopened.search(query, k=1)[0].item.id == late.id
    assert json.loads((tmp_path / "cognition.faiss.stamp.json").read_text())["count"] == 13


def test_embedders_of_another_name_or_dimension_are_refused(
    seeded: CognitionBase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with embedding_server(dim=8) as (url, _log):
        with pytest.raises(ValueError, match="holds 'minilm' embeddings") as info:
            open_base(tmp_path, OpenAIEmbedder("m", base_url=url))
        assert "\n" not in str(info.value)
        remote = tmp_path / "remote"
        remote.mkdir()
        base = open_base(remote, OpenAIEmbedder("m", base_url=url))
        assert base.add("eight dimensions", source="s") is not None
    with embedding_server(dim=12) as (url, _log):
        wider = open_base(remote, OpenAIEmbedder("m", base_url=url))
        with pytest.raises(ValueError, match="12-d"):
            wider.add("twelve dimensions", source="s")
        with pytest.raises(ValueError, match="12-d"):
            wider.search("anything")
    assert base.count() == 1


def test_large_bases_switch_to_hnsw_and_still_find_stored_vectors(
    tmp_path: Path, minilm: MiniLMEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(vector_index, "FLAT_MAX_ITEMS", 50)
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((80, 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    base = open_base(tmp_path, minilm)
    drafts = [CognitionDraft(f"synthetic {i}", "bench") for i in range(80)]
    base._add_embedded(drafts[:40], vectors[:40], None)
    assert base._index is not None and base._index.kind == "flat"
    base._add_embedded(drafts[40:], vectors[40:], None)  # crosses the limit: everything moves to HNSW
    for reopened in (base, open_base(tmp_path, minilm)):
        assert reopened._index is not None and reopened._index.kind == "hnsw" and reopened._index.count == 80
        hits = [reopened.search_vectors(vectors[i], k=1, threshold=0.0)[0] for i in range(0, 80, 7)]
        assert [h.item.content for h in hits] == [f"synthetic {i}" for i in range(0, 80, 7)]
        assert all(h.score == pytest.approx(1.0, abs=1e-5) for h in hits)


def test_concurrent_writers_and_readers_agree(tmp_path: Path, minilm: MiniLMEmbedder) -> None:
    base = open_base(tmp_path, minilm)
    rng = np.random.default_rng(1)
    vectors = rng.standard_normal((40, 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)

    def write(worker: int) -> int:
        rows = range(worker * 10, worker * 10 + 10)
        added = 0
        for i in rows:
            added += len(base._add_embedded([CognitionDraft(f"item {i}", "t")], vectors[i : i + 1], None))
            base.search_vectors(vectors[i], k=3, threshold=0.0)
        return added

    with ThreadPoolExecutor(4) as pool:
        assert sum(pool.map(write, range(4))) == 40
    assert base.count() == 40 and base._index is not None and base._index.count == 40
    reopened = open_base(tmp_path, minilm)
    for i in (0, 13, 39):
        assert reopened.search_vectors(vectors[i], k=1, threshold=0.0)[0].item.content == f"item {i}"


def test_empty_base_searches_without_embedding(tmp_path: Path) -> None:
    class Refusing:
        name, dim = "minilm", 384

        def embed(self, texts: object) -> np.ndarray:
            raise AssertionError("an empty base must not embed the query")

    base = open_base(tmp_path, Refusing())
    assert base.search("anything") == [] and base.count() == 0 and base.items() == []
    with pytest.raises(Exception, match="directory does not exist"):
        CognitionBase(tmp_path / "missing" / "run.db", tmp_path / "x.faiss", Refusing())  # type: ignore[arg-type]


def test_big_bases_persist_lazily_and_reopening_catches_up(tmp_path: Path, minilm: MiniLMEmbedder) -> None:
    rng = np.random.default_rng(2)
    vectors = rng.standard_normal((151, 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    base = open_base(tmp_path, minilm)
    base._add_embedded([CognitionDraft(f"bulk {i}", "b") for i in range(150)], vectors[:150], None)
    stamp = tmp_path / "cognition.faiss.stamp.json"
    assert json.loads(stamp.read_text())["count"] == 150
    base._add_embedded([CognitionDraft("one more", "b")], vectors[150:], None)
    assert json.loads(stamp.read_text())["count"] == 150  # under 1% unsaved: the file is not rewritten
    assert base.search_vectors(vectors[150], k=1, threshold=0.0)[0].item.content == "one more"
    reopened = open_base(tmp_path, minilm)
    assert reopened.search_vectors(vectors[150], k=1, threshold=0.0)[0].item.content == "one more"
    assert json.loads(stamp.read_text())["count"] == 151
