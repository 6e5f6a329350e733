"""Fixtures of the hostile suites: the bubblewrap jail, a marker hostile programs name their leftovers with, and
a check that the host is unharmed after each case."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.support.hostile import HostGuard, bwrap_support
from tools.jail import JailSupport


@pytest.fixture(scope="module")
def support() -> JailSupport:
    return bwrap_support()


@pytest.fixture
def marker() -> str:
    return f"hostile-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def guard(marker: str) -> Iterator[HostGuard]:
    host = HostGuard(marker)
    yield host
    host.check()
