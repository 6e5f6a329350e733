"""End-to-end offline runs of the real task through the CLI: improvement, determinism, kill -9 and resume."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import replace
from pathlib import Path

import pytest

from knowledge.database import NodeDatabase
from tests.support.cli import CLI, asi, cli_env, status_json

pytestmark = pytest.mark.slow


def test_offline_run_of_30_steps_beats_the_initial_program(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    proc = asi("run", "circle_packing", "--steps", "30", "--run-dir", str(run_dir), "--seed", "0")
    assert proc.returncode == 0, proc.stderr
    assert "offline researcher" in proc.stderr
    assert f"run stored in {run_dir}" in proc.stdout
    info = status_json(run_dir)
    assert info["nodes"] == 31
    assert info["best_score"] > info["initial_score"] > 0
    assert info["reference_score"] == pytest.approx(2.6359830849)
    best = asi("best", str(run_dir))
    assert best.returncode == 0 and "EVOLVE-BLOCK-START" in best.stdout
    # the best program re-evaluates to the same score through `asi-evolve eval`
    program = tmp_path / "best.py"
    program.write_text(best.stdout)
    again = asi("eval", "circle_packing", str(program), "--json")
    assert again.returncode == 0, again.stderr
    assert '"status": "ok"' in again.stdout and repr(info["best_score"]) in again.stdout


def test_same_seed_same_node_sequence(tmp_path: Path) -> None:
    sequences = []
    for name in ("a", "b"):
        run_dir = tmp_path / name
        proc = asi("run", "circle_packing", "--steps", "8", "--run-dir", str(run_dir), "--seed", "7")
        assert proc.returncode == 0, proc.stderr
        nodes = NodeDatabase(run_dir / "run.db").nodes()
        sequences.append([(n.trial_key, n.name, n.status, n.score, n.parent_ids) for n in nodes])
    assert sequences[0] == sequences[1]
    assert len({s[3] for s in sequences[0]}) > 1  # the run really explored


def test_kill_9_mid_run_then_resume_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    proc = subprocess.Popen([*CLI, "run", "circle_packing", "--steps", "14", "--run-dir", str(run_dir)],
                            env=cli_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    db_path = run_dir / "run.db"

    def launched_but_not_stored() -> bool:
        """True while an experiment is running: its program file exists, its node is not stored yet."""
        if not db_path.exists():
            return False
        stored = {n.trial_key for n in NodeDatabase(db_path).nodes()}
        launched = {p.parent.name for p in (run_dir / "nodes").glob("*/program.py")}
        return len(stored) >= 4 and bool(launched - stored)

    deadline = time.time() + 120
    while not launched_but_not_stored():
        if time.time() > deadline:
            proc.kill()
            pytest.fail("the run did not reach its fifth experiment in time")
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    before = {n.trial_key: n for n in NodeDatabase(db_path).nodes()}
    assert 4 <= len(before) < 15

    resumed = asi("resume", str(run_dir))
    assert resumed.returncode == 0, resumed.stderr
    nodes = NodeDatabase(db_path).nodes()
    keys = [n.trial_key for n in nodes]
    ids = [n.id for n in nodes]
    assert len(nodes) == 15  # initial + 14 steps
    assert len(set(keys)) == len(keys) and len(set(ids)) == len(ids)
    for key, node in before.items():  # nothing stored before the kill changed (visits may only grow)
        after = next(n for n in nodes if n.trial_key == key)
        assert replace(after, visits=0) == replace(node, visits=0) and after.visits >= node.visits
    for node in nodes:  # visit counts equal the stored children: none counted twice by the re-run trial
        assert node.visits == sum(1 for n in nodes if n.parent_ids[:1] == (node.id,))

    more = asi("resume", str(run_dir), "--steps", "3")
    assert more.returncode == 0, more.stderr
    assert status_json(run_dir)["nodes"] == 18
