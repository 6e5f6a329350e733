"""`asi-evolve knowledge add|search|list` on a task's standing base and on a run's base."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support.cli import asi

pytestmark = pytest.mark.slow


def test_add_search_list_then_a_new_run_starts_from_it(tiny_task: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("ASI_EVOLVE_KNOWLEDGE_HOME", str(tmp_path / "home"))
    note = tmp_path / "paper.md"
    note.write_text("# Annealing\n\nLower the temperature slowly so the search escapes shallow local optima.\n")
    added = asi("knowledge", "add", str(note), "--task", str(tiny_task), timeout=300)
    assert added.returncode == 0, added.stderr
    assert added.stdout.startswith("added 1 items from 1 files")
    again = asi("knowledge", "add", str(note), "--task", str(tiny_task), timeout=300)
    assert again.stdout.startswith("added 0 items")

    found = asi("knowledge", "search", "cool down gradually to avoid getting stuck", "-k", "1",
                "--task", str(tiny_task), timeout=300)
    assert found.returncode == 0 and "paper.md#Annealing" in found.stdout and "Lower the temperature" in found.stdout
    listed = asi("knowledge", "list", "--task", str(tiny_task), timeout=300)
    assert "paper.md#Annealing" in listed.stdout

    run_dir = tmp_path / "run"
    proc = asi("run", str(tiny_task), "--steps", "1", "--run-dir", str(run_dir), timeout=300)
    assert proc.returncode == 0, proc.stderr
    in_run = asi("knowledge", "list", "--run-dir", str(run_dir), timeout=300)
    assert "paper.md#Annealing" in in_run.stdout  # the run's base started from the task's standing base
    assert os.path.isdir(tmp_path / "home")


def test_knowledge_needs_exactly_one_target(tiny_task: Path, tmp_path: Path) -> None:
    proc = asi("knowledge", "search", "anything", timeout=120)
    assert proc.returncode == 2 and proc.stderr.strip() == "error: give exactly one of --task T and --run-dir D"
    missing = asi("knowledge", "add", str(tmp_path / "nope.md"), "--task", str(tiny_task), timeout=120)
    assert missing.returncode == 2 and "not found" in missing.stderr


def test_shared_insights_reach_the_tasks_standing_base_and_the_next_run(tiny_task: Path, tmp_path: Path,
                                                                       monkeypatch) -> None:
    monkeypatch.setenv("ASI_EVOLVE_KNOWLEDGE_HOME", str(tmp_path / "home"))
    private = asi("run", str(tiny_task), "--steps", "3", "--run-dir", str(tmp_path / "private"), timeout=300)
    assert private.returncode == 0, private.stderr
    none = asi("knowledge", "list", "--task", str(tiny_task), "--origin", "analyzer", timeout=300)
    assert none.returncode == 0 and none.stdout.strip() == "", "insights are shared only when asked"

    shared = asi("run", str(tiny_task), "--steps", "3", "--run-dir", str(tmp_path / "shared"), "--share-insights",
                 timeout=300)
    assert shared.returncode == 0, shared.stderr
    listed = asi("knowledge", "list", "--task", str(tiny_task), "--origin", "analyzer", timeout=300, cwd=tmp_path)
    lines = [line for line in listed.stdout.splitlines() if line.strip()]
    assert lines and all(" analyzer shared node " in line for line in lines)

    later = tmp_path / "later"
    asi("run", str(tiny_task), "--steps", "1", "--run-dir", str(later), timeout=300)
    imported = asi("knowledge", "list", "--run-dir", str(later), "--origin", "analyzer", timeout=300)
    assert all(line.split(": ", 1)[1] in imported.stdout for line in lines)  # imported, origin kept


def test_the_standing_base_does_not_depend_on_the_working_directory(tiny_task: Path, tmp_path: Path,
                                                                    monkeypatch) -> None:
    monkeypatch.delenv("ASI_EVOLVE_KNOWLEDGE_HOME")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    note = tmp_path / "note.md"
    note.write_text("# Steps\n\nSmall steps towards the optimum are safer than large ones.\n")
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    assert asi("knowledge", "add", str(note), "--task", str(tiny_task), cwd=tmp_path / "one").returncode == 0
    listed = asi("knowledge", "list", "--task", str(tiny_task), cwd=tmp_path / "two")
    assert "note.md#Steps" in listed.stdout
    assert (tmp_path / "data" / "asi-evolve" / "knowledge" / "tiny" / "cognition.db").is_file()
    assert not any((tmp_path / d / "runs").exists() for d in ("one", "two"))
