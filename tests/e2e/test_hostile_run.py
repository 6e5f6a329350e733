"""Whole runs against hostile programs: a poison-pill initial program, and candidates hunting for the runner's key."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from graph.budget import Budget
from graph.context import Context
from graph.runner import start_run
from tests.support.cli import asi, cli_env
from tests.support.hostile import SNOOP, bwrap_support
from tests.support.tiny_task import write_tiny_task

POISON = """import os, signal
try:
    os.kill(os.getppid(), signal.SIGKILL)  # the runner, where it could reach it
except OSError:
    pass
os.killpg(0, signal.SIGKILL)
"""


def _hostile_task(folder: Path, code: str) -> Path:
    write_tiny_task(folder)
    program = folder / "initial_program.py"
    program.write_text(program.read_text().replace("X = 1.0\n", "X = 1.0\n" + code))
    return folder


def test_a_poison_pill_initial_program_stops_the_run_with_one_line(tmp_path: Path) -> None:
    bwrap_support()
    task = _hostile_task(tmp_path / "task", POISON)
    run_dir = tmp_path / "run"
    first = asi("run", str(task), "--steps", "3", "--run-dir", str(run_dir), "--no-cognition")
    again = asi("resume", str(run_dir))
    for proc in (first, again):
        assert proc.returncode == 2, proc.stderr
        last = proc.stderr.strip().splitlines()[-1]
        assert last.startswith("error: the initial program is not valid (failed: killed by SIGKILL (signal 9))")
        assert "Traceback" not in proc.stderr


def test_a_key_in_the_runners_environment_reaches_nothing_in_the_run_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bwrap_support()
    key = f"sk-{uuid.uuid4().hex}{uuid.uuid4().hex}"
    monkeypatch.setenv("OPENAI_API_KEY", key)
    task = _hostile_task(tmp_path / "task", SNOOP)
    run_dir = tmp_path / "run"
    context = Context(task=str(task), run_dir=str(run_dir), cognition=False, seed=0)
    state = start_run(context, Budget(max_steps=4))
    assert state["steps"] == 4 and not state.get("stop_reason", "").startswith("the initial")
    stdout = next(run_dir.glob("nodes/*/stdout.txt")).read_text()
    assert "PYTHONHASHSEED" in stdout, "the candidates did print what they found"
    leaks = [path for path in run_dir.rglob("*") if path.is_file() and key.encode() in path.read_bytes()]
    assert leaks == []
    assert key in cli_env()["OPENAI_API_KEY"] and os.environ["OPENAI_API_KEY"] == key
