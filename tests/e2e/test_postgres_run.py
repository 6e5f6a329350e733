"""A run stored in PostgreSQL (`--db`): the same nodes as on SQLite, nothing written to run files, resumable after
kill -9, and readable (status, report, export, resume) from a directory holding only its configuration."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from dataclasses import replace
from pathlib import Path

import pytest

from knowledge.database import DatabaseError, NodeDatabase
from knowledge.postgres import split_url
from tests.support.cli import CLI, asi, cli_env, status_json

pytestmark = pytest.mark.slow


def sequence(location) -> list[tuple]:
    return [(n.trial_key, n.name, n.status, n.score, n.parent_ids, n.program)
            for n in NodeDatabase(location).nodes()]


def test_a_postgres_run_matches_sqlite_and_is_read_from_anywhere(tmp_path: Path, pg_database: str) -> None:
    lite, pg = tmp_path / "lite", tmp_path / "pg"
    for run_dir, extra in ((lite, []), (pg, ["--db", pg_database])):
        proc = asi("run", "circle_packing", "--steps", "5", "--workers", "2", "--seed", "4",
                   "--run-dir", str(run_dir), *extra)
        assert proc.returncode == 0, proc.stderr
    location = json.loads((pg / "config.json").read_text())["context"]["db"]
    assert split_url(location)[1] == "run_pg"  # the schema is fixed in the configuration when the run starts
    assert not (pg / "run.db").exists() and not (pg / "checkpoints.db").exists()
    assert sequence(location) == sequence(lite / "run.db")

    # another machine: only the configuration travels, the rest is read from the server
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.copy(pg / "config.json", elsewhere / "config.json")
    assert status_json(elsewhere)["nodes"] == 6
    report = asi("report", str(elsewhere))
    assert report.returncode == 0, report.stderr
    assert (elsewhere / "report.html").stat().st_size > 100_000
    more = asi("resume", str(elsewhere), "--steps", "2")
    assert more.returncode == 0, more.stderr
    assert status_json(pg)["nodes"] == 8  # the original directory sees what the other machine added

    again = asi("run", "circle_packing", "--steps", "1", "--run-dir", str(tmp_path / "x"), "--db",
                f"{pg_database}?schema=run_pg")
    assert again.returncode == 2 and "already holds a run" in again.stderr


def test_kill_9_during_a_postgres_run_then_resume(tmp_path: Path, pg_database: str) -> None:
    run_dir = tmp_path / "run"
    proc = subprocess.Popen([*CLI, "run", "circle_packing", "--steps", "10", "--workers", "2", "--run-dir",
                             str(run_dir), "--db", pg_database], env=cli_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    location = f"{pg_database}?schema=run_run"
    deadline = time.time() + 120
    while True:
        try:
            stored = NodeDatabase(location).count() if (run_dir / "config.json").exists() else 0
        except DatabaseError:  # the server is there, the run's tables may not be yet
            stored = 0
        if stored >= 4:
            break
        if time.time() > deadline:
            proc.kill()
            pytest.fail("the run did not store four nodes in time")
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    before = {n.trial_key: n for n in NodeDatabase(location).nodes()}
    resumed = asi("resume", str(run_dir))
    assert resumed.returncode == 0, resumed.stderr
    nodes = NodeDatabase(location).nodes()
    keys = [n.trial_key for n in nodes]
    assert len(nodes) == 11 and len(set(keys)) == 11
    for key, node in before.items():
        after = next(n for n in nodes if n.trial_key == key)
        assert replace(after, visits=0) == replace(node, visits=0)
    for node in nodes:
        assert node.visits == sum(1 for n in nodes if n.parent_ids[:1] == (node.id,))
