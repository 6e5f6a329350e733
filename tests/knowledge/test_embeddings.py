"""Embedders: the bundled MiniLM model for real, and OpenAIEmbedder against a real local HTTP server."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from knowledge.embeddings import (
    EMBEDDERS,
    EmbeddingError,
    MiniLMEmbedder,
    OpenAIEmbedder,
    make_embedder,
)
from tests.support.embedding_server import embedding_server, hash_vector

SECRET = "sk-test-not-a-real-key-1234567890"


@pytest.fixture(scope="module")
def minilm() -> MiniLMEmbedder:
    embedder = MiniLMEmbedder()
    embedder.embed(["warm up"])  # the model loads once per process; pay it here
    return embedder


def test_minilm_vectors_are_unit_float32_rows(minilm: MiniLMEmbedder) -> None:
    vectors = minilm.embed(["circle packing", "evolutionary search", "circle packing"])
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert np.allclose(vectors[0], vectors[2], atol=1e-6)
    empty = minilm.embed([])
    assert empty.shape == (0, 384) and empty.dtype == np.float32
    assert minilm.name == "minilm" and minilm.dim == 384


def test_minilm_places_paraphrases_closer_than_unrelated_text(minilm: MiniLMEmbedder) -> None:
    a, b, c = minilm.embed([
        "Place larger circles near the corners and edges of the square",
        "put big disks at the boundary of the container",
        "The train to Berlin leaves from platform four",
    ])
    assert float(a @ b) > float(a @ c) + 0.2


def test_minilm_is_safe_to_call_from_many_threads(minilm: MiniLMEmbedder) -> None:
    texts = [f"insight number {i} about packing circles" for i in range(8)]
    expected = minilm.embed(texts)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda t: minilm.embed([t])[0], texts * 3))
    assert np.allclose(np.stack(results), np.concatenate([expected] * 3), atol=1e-5)


def test_make_embedder_parses_specs_and_rejects_unknown_ones() -> None:
    assert isinstance(make_embedder("minilm"), MiniLMEmbedder)
    assert isinstance(make_embedder(), MiniLMEmbedder)
    remote = make_embedder("openai:text-embedding-3-small@http://localhost:9/v1/")
    assert isinstance(remote, OpenAIEmbedder)
    assert (remote.name, remote.model, remote.base_url) == (
        "openai:text-embedding-3-small", "text-embedding-3-small", "http://localhost:9/v1"
    )
    assert make_embedder("openai:m").base_url == "https://api.openai.com/v1"  # type: ignore[attr-defined]
    assert set(EMBEDDERS) == {"minilm", "openai"}
    for bad in ("word2vec", "openai:", "minilm:large", ""):
        with pytest.raises(ValueError) as info:
            make_embedder(bad)
        assert "\n" not in str(info.value)


def test_openai_embedder_talks_to_a_real_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_EMBED_KEY", SECRET)
    with embedding_server(dim=24) as (url, log):
        embedder = OpenAIEmbedder("toy-model", base_url=url, api_key_env="TEST_EMBED_KEY", batch_size=2)
        texts = ["alpha", "beta", "gamma", "delta", "epsilon"]
        vectors = embedder.embed(texts)
    assert vectors.shape == (5, 24) and vectors.dtype == np.float32
    assert embedder.dim == 24  # discovered from the first answer
    expected = np.array([hash_vector(t, 24) for t in texts], dtype=np.float32)
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    assert np.allclose(vectors, expected, atol=1e-6)  # rows placed by "index", not by answer order
    assert [r["input"] for r in log.requests] == [["alpha", "beta"], ["gamma", "delta"], ["epsilon"]]
    assert {r["model"] for r in log.requests} == {"toy-model"}
    assert log.auth_headers == [f"Bearer {SECRET}"] * 3
    for text in (repr(embedder), str(embedder), repr(vars(embedder))):
        assert SECRET not in text


def test_openai_embedder_probes_its_dimension_and_checks_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with embedding_server(dim=8) as (url, log):
        embedder = OpenAIEmbedder("m", base_url=url)
        assert embedder.dim == 8
        assert log.auth_headers == [None]  # custom endpoint and no key set: no Authorization header
        wrong = OpenAIEmbedder("m", base_url=url, dim=16)
        with pytest.raises(EmbeddingError, match="expected 16-d vectors, got 8-d"):
            wrong.embed(["x"])


def test_openai_embedder_reports_http_failures_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    with embedding_server(dim=8, status=401) as (url, _log):
        with pytest.raises(EmbeddingError) as info:
            OpenAIEmbedder("m", base_url=url).embed(["x"])
    message = str(info.value)
    assert "HTTP 401" in message and "\n" not in message and SECRET not in message
    with pytest.raises(EmbeddingError, match="cannot reach"):
        OpenAIEmbedder("m", base_url="http://127.0.0.1:9/v1", timeout_s=2).embed(["x"])
    monkeypatch.delenv("OPENAI_API_KEY")
    with pytest.raises(EmbeddingError, match="set the environment variable OPENAI_API_KEY"):
        OpenAIEmbedder("m").embed(["x"])
