"""Bad input gets one clear line on stderr and exit code 2; nothing stored is touched."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.cli import asi


@pytest.mark.parametrize(
    "args, expected",
    [
        (["run", "no_such_task"], "unknown task 'no_such_task'"),
        (["run", "circle_packing", "--steps", "0"], "--steps"),
        (["run", "circle_packing", "--sampler", "bogus"], "unknown sampler 'bogus'"),
        (["run", "circle_packing", "--researcher", "llm"], "the llm researcher needs a model"),
        (["run", "circle_packing", "--embedder", "bogus"], "unknown embedder 'bogus'"),
        (["status", "/nonexistent/run"], "not a run directory"),
        (["resume", "/nonexistent/run"], "not a run directory"),
        (["best", "/nonexistent/run"], "not a run directory"),
        (["eval", "circle_packing", "/nonexistent/program.py"], "program file not found"),
        (["frobnicate"], "No such command"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args: list[str], expected: str) -> None:
    proc = asi(*args, timeout=60)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ") and expected in lines[0]
    assert "Traceback" not in proc.stderr


def test_invalid_task_folder_is_one_line(tmp_path: Path) -> None:
    folder = tmp_path / "task"
    folder.mkdir()
    (folder / "task.yaml").write_text("name: x\ndescription: y\nbogus_key: 1\n")
    (folder / "initial_program.py").write_text("x = 1\n")
    (folder / "evaluator.py").write_text("def evaluate(p):\n    return {'combined_score': 1.0}\n")
    proc = asi("run", str(folder), timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "bogus_key" in proc.stderr


def test_starting_over_an_existing_run_is_refused_and_keeps_it(tmp_path: Path, tiny_task: Path) -> None:
    run_dir = tmp_path / "run"
    first = asi("run", str(tiny_task), "--steps", "2", "--run-dir", str(run_dir), timeout=120)
    assert first.returncode == 0, first.stderr
    db_before = (run_dir / "run.db").read_bytes()
    second = asi("run", str(tiny_task), "--steps", "2", "--run-dir", str(run_dir), timeout=120)
    assert second.returncode == 2 and "already holds a run" in second.stderr
    assert (run_dir / "run.db").read_bytes() == db_before


def test_tasks_lists_both_circle_packing_variants() -> None:
    proc = asi("tasks", timeout=60)
    assert proc.returncode == 0
    assert "circle_packing " in proc.stdout and "circle_packing_32" in proc.stdout


def test_a_bad_setting_is_refused_before_anything_is_stored(tmp_path: Path, tiny_task: Path) -> None:
    for bad in (["--executor", "slurm"], ["--analyzer", "magic"], ["--sampler", "bogus"],
                ["--db", "mysql://h/db"], ["--db", "postgresql://nobody:pw@127.0.0.1:1/x"],
                ["--executor", "ray", "--ray-address", "127.0.0.1:1"], ["--ray-address", "auto"],
                ["--lanes", "2", "--workers", "2"]):
        proc = asi("run", str(tiny_task), "--run-dir", str(tmp_path / "run"), *bad, timeout=60)
        assert proc.returncode == 2 and proc.stderr.startswith("error: "), proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1 and ":pw@" not in proc.stderr, proc.stderr
        assert not (tmp_path / "run").exists()

