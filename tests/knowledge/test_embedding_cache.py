"""The embedding cache: a text is embedded once per run and once per machine, and reads back the same vector."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from knowledge.embedding_cache import CachedEmbedder
from tests.support.hash_embedder import HashEmbedder


class Counting(HashEmbedder):
    """The hashing embedder, recording each batch it is asked to embed."""

    def __init__(self, name: str = "hash") -> None:
        super().__init__()
        self.name = name
        self.batches: list[list[str]] = []

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.batches.append(list(texts))
        return super().embed(texts)


def test_a_text_is_embedded_once_and_only_the_new_ones_are_asked_for(tmp_path: Path) -> None:
    inner = Counting()
    cache = CachedEmbedder(inner, tmp_path / "embeddings.db")
    first = cache.embed(["alpha beta", "gamma", "alpha beta"])
    assert inner.batches == [["alpha beta", "gamma"]], "duplicates in one call are embedded once"
    again = cache.embed(["gamma", "delta", "alpha beta"])
    assert inner.batches[-1] == ["delta"]
    assert np.array_equal(again[0], first[1]) and np.array_equal(again[2], first[0])
    assert np.allclose(again, HashEmbedder().embed(["gamma", "delta", "alpha beta"]))
    assert cache.embed([]).shape == (0, cache.dim)


def test_another_run_on_this_machine_reads_the_vectors_from_the_file(tmp_path: Path) -> None:
    CachedEmbedder(Counting(), tmp_path / "embeddings.db").embed(["the corpus", "item two"])
    later = Counting()
    vectors = CachedEmbedder(later, tmp_path / "embeddings.db").embed(["item two", "the corpus"])
    assert later.batches == []
    assert np.allclose(vectors, HashEmbedder().embed(["item two", "the corpus"]))
    other_model = Counting(name="other")
    CachedEmbedder(other_model, tmp_path / "embeddings.db").embed(["the corpus"])
    assert other_model.batches == [["the corpus"]], "vectors of another model are never reused"


def test_the_file_keeps_its_most_recent_rows_and_memory_its_capacity(tmp_path: Path) -> None:
    path = tmp_path / "embeddings.db"
    cache = CachedEmbedder(Counting(), path, capacity=3, max_rows=5)
    for i in range(8):
        cache.embed([f"text {i}"])
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT COUNT(*) FROM embeddings").fetchone()[0] == 5
    assert len(cache._memory) == 3


def test_a_cache_file_that_cannot_be_made_is_no_cache(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    inner = Counting()
    cache = CachedEmbedder(inner, blocker / "sub" / "embeddings.db")
    cache.embed(["x"])
    cache.embed(["x"])
    assert inner.batches == [["x"]], "the memory still serves"
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not an sqlite file" * 100)
    assert CachedEmbedder(Counting(), garbage).embed(["y"]).shape == (1, 256)
