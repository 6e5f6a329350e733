"""Shared fixtures: a tiny real task (fast evaluator), a fast test embedder and offline-safe environment settings."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from knowledge.embeddings import EMBEDDERS
from tests.support.hash_embedder import make_hash_embedder
from tests.support.tiny_task import write_tiny_task

os.environ.setdefault("LANGGRAPH_STRICT_MSGPACK", "true")
# tasks' standing knowledge bases of the test session live in a folder of its own, never in the user's data dir
os.environ.setdefault("ASI_EVOLVE_KNOWLEDGE_HOME", tempfile.mkdtemp(prefix="asi-evolve-knowledge-"))
# and embeddings remembered across its runs in a file of its own
os.environ.setdefault("ASI_EVOLVE_EMBEDDING_CACHE", os.path.join(tempfile.mkdtemp(prefix="asi-evolve-emb-"),
                                                                 "embeddings.db"))
os.environ.setdefault("LANGGRAPH_CLI_NO_ANALYTICS", "1")
os.environ.setdefault("LANGGRAPH_NO_VERSION_CHECK", "1")


@pytest.fixture
def tiny_task(tmp_path: Path) -> Path:
    return write_tiny_task(tmp_path / "tiny_task")


@pytest.fixture
def hash_embedder(monkeypatch: pytest.MonkeyPatch) -> str:
    """The spec of the fast hashing embedder, registered for this test only (the registry's own tests see the
    built-in kinds alone); for loop tests that assert nothing about retrieval, insights or novelty."""
    monkeypatch.setitem(EMBEDDERS, "hash", make_hash_embedder)
    return "hash"


@pytest.fixture
def pg_database() -> Iterator[str]:
    """URL of a PostgreSQL database of this test's own (dropped afterwards); see tests/support/postgres.py."""
    from tests.support.postgres import database

    yield from database()
