"""A throw-away PostgreSQL database per test on the server at 127.0.0.1:5432 (or `$ASI_EVOLVE_TEST_PG`).

Each test gets a database of its own, created before and dropped (connections and all) after. Without a server a
test skips on a developer's machine and fails in CI (`CI` set), where PostgreSQL must be there.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import psycopg
import pytest

SERVER = os.environ.get("ASI_EVOLVE_TEST_PG", "postgresql://postgres@127.0.0.1:5432")


def _admin() -> psycopg.Connection:
    return psycopg.connect(f"{SERVER}/postgres", autocommit=True, connect_timeout=5)


def database() -> Iterator[str]:
    """Yield the URL of a fresh database (no schema named), dropping it afterwards."""
    try:
        admin = _admin()
    except psycopg.Error as exc:
        message = f"PostgreSQL is not reachable at {SERVER}: {' '.join(str(exc).split())}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    name = f"asi_test_{uuid.uuid4().hex[:12]}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{SERVER}/{name}"
    finally:
        with _admin() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
