"""`run --approve` answered on stdin as a person would (or a pipe), and `fork`, through the real CLI."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

from knowledge.database import NodeDatabase
from tests.support.cli import CLI, asi, cli_env

pytestmark = pytest.mark.timeout(120)


def answered(*args: str, stdin: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The CLI with `stdin` piped in as the person's answers."""
    return subprocess.run([*CLI, *args], input=stdin, capture_output=True, text=True, timeout=120,
                          env={**cli_env(), **(env or {})})


def stored(run_dir: Path) -> list[tuple[str, str, str, str]]:
    return [(n.trial_key, n.status, n.error, n.program) for n in NodeDatabase(run_dir / "run.db").nodes()]


def test_approve_edit_and_skip_from_stdin(tiny_task: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    program = (tiny_task / "initial_program.py").read_text()
    from_file = tmp_path / "mine.py"
    from_file.write_text(program.replace("X = 1.0", "X = 2.75"))
    editor = tmp_path / "editor.py"  # an $EDITOR that sets X to 2.5 in the file it is given
    editor.write_text("import re, sys\np = sys.argv[1]\ntext = open(p).read()\n"
                      "open(p, 'w').write(re.sub(r'(?m)^X = .*$', 'X = 2.5', text))\n")
    answers = f"maybe\na\ne {from_file}\ne\ns not today\n"
    proc = answered("run", str(tiny_task), "--approve", "--steps", "4", "--no-cognition", "--run-dir", str(run_dir),
                    stdin=answers, env={"EDITOR": f"{sys.executable} {editor}"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count("approval: trial g000") == 4 and "not an answer: 'maybe'" in proc.stderr
    assert "motivation:" in proc.stderr and "+++ candidate" in proc.stderr  # what will run, as a diff
    nodes = stored(run_dir)
    assert [(key, status) for key, status, _, _ in nodes] == [
        ("g0000.0", "ok"), ("g0001.0", "ok"), ("g0002.0", "ok"), ("g0003.0", "ok"), ("g0004.0", "vetoed")]
    assert nodes[2][3] == from_file.read_text()  # `e PATH` ran the file's program
    assert "X = 2.5\n" in nodes[3][3]  # `e` ran what the editor saved
    assert nodes[4][2] == "skipped at approval: not today"
    assert "stopped: step budget reached (4 steps)" in proc.stdout


def test_end_of_input_pauses_the_run_and_resume_asks_again(tiny_task: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    proc = answered("run", str(tiny_task), "--approve", "--steps", "2", "--no-cognition", "--run-dir", str(run_dir),
                    stdin="a\n")
    assert proc.returncode == 0, proc.stderr
    assert f"stopped: paused for approval of 1 trial(s): resume the run to answer (asi-evolve resume {run_dir})" \
        in proc.stdout
    assert [key for key, *_ in stored(run_dir)] == ["g0000.0", "g0001.0"]
    proc = answered("resume", str(run_dir), stdin="a\n")
    assert proc.returncode == 0, proc.stderr
    assert "approval: trial g0002.0" in proc.stderr and "step budget reached (2 steps)" in proc.stdout
    assert [(key, status) for key, status, *_ in stored(run_dir)] == [("g0000.0", "ok"), ("g0001.0", "ok"),
                                                                      ("g0002.0", "ok")]


def digests(run_dir: Path) -> dict[str, str]:
    return {str(p.relative_to(run_dir)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(run_dir.rglob("*")) if p.is_file()}


def test_fork_runs_from_an_earlier_step_and_leaves_the_original_alone(tiny_task: Path, tmp_path: Path) -> None:
    original, fork = tmp_path / "original", tmp_path / "fork"
    proc = asi("run", str(tiny_task), "--steps", "4", "--no-cognition", "--run-dir", str(original))
    assert proc.returncode == 0, proc.stderr
    parent = stored(original)
    for leftover in original.glob("*.db-*"):  # reading it here left SQLite's (empty) WAL files: not the fork's
        leftover.unlink()
    before = digests(original)
    proc = asi("fork", str(original), "--at", "step:2", "--run-dir", str(fork))
    assert proc.returncode == 0, proc.stderr
    assert f"forked {original} at step:2 (step 2, 3 nodes kept) into {fork}" in proc.stderr
    assert "stopped: step budget reached (4 steps)" in proc.stdout
    assert stored(fork) == parent  # same seed, offline: the same later nodes
    assert digests(original) == before

    errors = [("fork", str(original), "--at", "node:42", "--run-dir", str(tmp_path / "x")),
              ("fork", str(original), "--at", "42", "--run-dir", str(tmp_path / "x")),
              ("fork", str(original), "--at", "step:1", "--run-dir", str(fork)),
              ("fork", str(tmp_path / "x"), "--at", "step:1", "--run-dir", str(tmp_path / "y"))]
    for args in errors:
        proc = asi(*args)
        assert proc.returncode == 2, (args, proc.stderr)
        assert len(proc.stderr.strip().splitlines()) == 1 and proc.stderr.startswith("error: "), proc.stderr
    assert not (tmp_path / "x").exists() and digests(original) == before
