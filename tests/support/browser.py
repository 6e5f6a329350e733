"""Headless Chromium (the system's, driven by Playwright) for tests of the pages a run produces.

The browser is Debian's `chromium` (installed by `make install` / CI as root); Playwright never downloads one.
Without it a test skips on a developer's machine and fails in CI (`CI` set), where it must run.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import pytest

FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]


def chromium_path() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        message = "Chromium is not installed (apt install chromium; `make install` does it as root)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return found


@dataclass
class PageProblems:
    """What went wrong in a page: console errors and warnings, uncaught exceptions, dialogs it opened."""

    console: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)

    def all(self) -> list[str]:
        return self.console + self.errors + self.dialogs


@contextmanager
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=chromium_path(), args=FLAGS)
        try:
            yield chromium
        finally:
            chromium.close()


def watched_page(chromium: object, width: int = 1400, height: int = 1000):
    """A new page that records every console error or warning, page error and dialog (dismissed)."""
    page = chromium.new_page(viewport={"width": width, "height": height})  # type: ignore[attr-defined]
    problems = PageProblems()
    page.on("console", lambda m: problems.console.append(f"{m.type}: {m.text}") if m.type in ("error", "warning")
            else None)
    page.on("pageerror", lambda e: problems.errors.append(str(e)))

    def dialog(d: object) -> None:
        problems.dialogs.append(d.message)  # type: ignore[attr-defined]
        d.dismiss()  # type: ignore[attr-defined]

    page.on("dialog", dialog)
    return page, problems
