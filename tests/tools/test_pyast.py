"""Parallel trials parse programs in threads; the controller's parses must not trip CPython's AST state."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from tools import pyast


class Finalized:
    """Cyclic garbage whose finalizer lets another thread run: what makes a collection mid-parse dangerous."""

    def __del__(self) -> None:
        time.sleep(0)


def test_threads_parsing_with_collections_in_between_never_fail() -> None:
    source = (Path(__file__).resolve().parents[2] / "agents" / "strategies" / "researcher_offline.py").read_text()
    errors: list[BaseException] = []

    def work() -> None:
        for _ in range(100):
            for _ in range(50):
                junk = Finalized()
                junk.cycle = junk
            try:
                assert pyast.parse(source).body
            except BaseException as exc:  # noqa: BLE001 - the SystemError is what this looks for
                errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_parse_errors_are_the_usual_ones() -> None:
    with pytest.raises(SyntaxError):
        pyast.parse("def (:")
    assert [type(s).__name__ for s in pyast.parse("x = 1\nprint(x)").body] == ["Assign", "Expr"]
