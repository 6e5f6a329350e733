"""Embedders: the bundled MiniLM model for real, and OpenAIEmbedder against a real local HTTP server."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from knowledge.embeddings import (
    EMBEDDERS,
    EmbeddingError,
    MiniLMEmbedder,
    OpenAIEmbedder,
    make_embedder,
)

SECRET = "sk-test-not-a-real-key-1234567890"


def hash_vector(text: str, dim: int) -> list[float]:
    """A deterministic, unnormalised vector for `text` (what the fake-free test server answers)."""
    digest = hashlib.sha256(text.encode()).digest() * (dim // 32 + 1)
    return [float(b) - 127.5 for b in digest[:dim]]


@dataclass
class ServerLog:
    requests: list[dict] = field(default_factory=list)
    auth_headers: list[str | None] = field(default_factory=list)


@contextmanager
def embedding_server(dim: int, status: int = 200) -> Iterator[tuple[str, ServerLog]]:
    """A real HTTP server on a free port speaking POST /v1/embeddings; yields (base_url, log)."""
    log = ServerLog()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            log.requests.append(body)
            log.auth_headers.append(self.headers.get("Authorization"))
            if self.path != "/v1/embeddings" or status != 200:
                payload, code = {"error": {"message": "no such route or forced failure"}}, status
            else:
                rows = [{"object": "embedding", "index": i, "embedding": hash_vector(t, dim)}
                        for i, t in enumerate(body["input"])]
                payload, code = {"object": "list", "data": rows[::-1], "model": body["model"]}, 200  # out of order
            data = json.dumps(payload).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1", log
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


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
