"""Crash safety of a run: SIGKILL at any moment neither loses nor corrupts work, and a lost or damaged database is
refused in one line instead of being silently re-filled.

The big test kills a real `asi-evolve run` (the tiny task, two parallel trials) at seeded random moments — right
after its start, at random delays, in the middle of evaluations — and its resumes likewise, until the run
finishes; then every node seen after any kill must still be there unchanged, none twice, both databases pass
SQLite's integrity check, the saved sampler state is what replaying the nodes gives, and the nodes are those of an
uninterrupted run with the same seed. More seeds: ASI_EVOLVE_CRASH_SEEDS=1,2,3.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import pytest

from knowledge.database import NodeDatabase
from knowledge.samplers.registry import make_sampler
from tests.support.cli import CLI, asi, cli_env
from tests.support.tiny_task import write_tiny_task

STEPS = 120  # enough nodes for the Learner to save its sampler's state (it does at 64 nodes) before the end
RUN_ARGS = ("--steps", str(STEPS), "--workers", "2", "--sampler", "ucb1", "--seed", "5", "--no-cognition")
SEEDS = [int(s) for s in os.environ.get("ASI_EVOLVE_CRASH_SEEDS", "1").split(",") if s.strip()]


def read_only(path: Path) -> sqlite3.Connection:
    """A connection that writes nothing (as `fork` reads a database): through the WAL when one is there."""
    mode = "mode=ro" if path.with_name(path.name + "-wal").exists() else "immutable=1"
    return sqlite3.connect(f"{path.resolve().as_uri()}?{mode}", uri=True, timeout=30)


def node_rows(run_dir: Path) -> dict[str, dict]:
    """Every stored node by trial key, all columns (an absent or unborn run.db: none)."""
    path = run_dir / "run.db"
    if not path.is_file():
        return {}
    with closing(read_only(path)) as conn:
        conn.row_factory = sqlite3.Row
        if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'nodes'").fetchone() is None:
            return {}
        return {r["trial_key"]: dict(r) for r in conn.execute("SELECT * FROM nodes ORDER BY id")}


def integrity(path: Path) -> list[str]:
    with closing(read_only(path)) as conn:
        return [r[0] for r in conn.execute("PRAGMA integrity_check")]


def fold_wal(run_dir: Path) -> None:
    """Fold a copied run's WAL files into its databases (closing the last connection removes them), so damaging
    a file damages what SQLite reads."""
    for name in ("run.db", "checkpoints.db"):
        with closing(sqlite3.connect(run_dir / name)) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        assert not (run_dir / f"{name}-wal").exists()


def files(run_dir: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in run_dir.iterdir() if p.is_file()}


def one_error_line(proc: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert "Traceback" not in proc.stderr
    return lines[0]


# -- a finished run, damaged in copies ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def task(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_task(tmp_path_factory.mktemp("task") / "tiny")


@pytest.fixture(scope="module")
def finished(task: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    run_dir = tmp_path_factory.mktemp("finished") / "run"
    proc = asi("run", str(task), "--steps", "4", "--workers", "2", "--no-cognition", "--run-dir", str(run_dir),
               timeout=300)
    assert proc.returncode == 0, proc.stderr
    return run_dir


def copy_of(run_dir: Path, target: Path) -> Path:
    shutil.copytree(run_dir, target)
    fold_wal(target)
    return target


def _zero(path: Path) -> None:
    path.write_bytes(b"")


def _truncated(path: Path) -> None:
    os.truncate(path, path.stat().st_size // 2)


def _garbage(path: Path) -> None:
    path.write_bytes(random.Random(0).randbytes(path.stat().st_size))


def _missing(path: Path) -> None:
    path.unlink()


def _schema_only(path: Path) -> None:  # replaced by a fresh database: the tables, no node, no run id
    path.unlink()
    NodeDatabase(path).close()


DAMAGE: dict[str, Callable[[Path], None]] = {"zero": _zero, "truncated": _truncated, "garbage": _garbage,
                                              "missing": _missing, "schema only": _schema_only}
EXPECTED = {"zero": "is empty (0 bytes)", "truncated": "is damaged", "garbage": "is damaged (file is not a database)",
            "missing": "is missing", "schema only": "holds no nodes"}


@pytest.mark.parametrize("damage", DAMAGE)
def test_a_lost_or_damaged_run_db_is_one_line_and_left_as_it_is(finished: Path, tmp_path: Path, damage: str) -> None:
    run_dir = copy_of(finished, tmp_path / "run")
    DAMAGE[damage](run_dir / "run.db")
    before = files(run_dir)
    commands = ["resume", "status", "report"] if damage in ("zero", "garbage") else ["resume"]
    for command in commands:
        line = one_error_line(asi(command, str(run_dir), timeout=120))
        assert f"{run_dir / 'run.db'} {EXPECTED[damage]}" in line and "restore it from a backup" in line, line
        assert files(run_dir) == before  # nothing written, not even a WAL beside it


@pytest.mark.parametrize("damage", ["truncated", "missing"])
def test_a_lost_or_damaged_checkpoints_db_is_one_line(finished: Path, tmp_path: Path, damage: str) -> None:
    run_dir = copy_of(finished, tmp_path / "run")
    DAMAGE[damage](run_dir / "checkpoints.db")
    before = files(run_dir)
    line = one_error_line(asi("resume", str(run_dir), timeout=120))
    assert str(run_dir / "checkpoints.db") in line and "restore it from a backup" in line, line
    assert "is missing" in line if damage == "missing" else "is damaged" in line
    assert files(run_dir) == before


def test_the_run_db_of_another_run_is_refused(finished: Path, tmp_path: Path) -> None:
    run_dir = copy_of(finished, tmp_path / "run")
    with closing(sqlite3.connect(run_dir / "run.db")) as conn, conn:
        conn.execute("UPDATE meta SET value = 'another' WHERE key = 'run_id'")
    before = files(run_dir)
    line = one_error_line(asi("resume", str(run_dir), timeout=120))
    assert "belongs to another run" in line and files(run_dir) == before


def test_an_older_copy_of_run_db_is_refused(finished: Path, tmp_path: Path) -> None:
    """A run.db put back from before the last steps is an intact database of this run: only the checkpoints'
    count of steps tells that nodes are missing."""
    run_dir = copy_of(finished, tmp_path / "run")
    older = (run_dir / "run.db").read_bytes()
    more = asi("resume", str(run_dir), "--steps", "2", timeout=120)
    assert more.returncode == 0, more.stderr
    fold_wal(run_dir)
    (run_dir / "run.db").write_bytes(older)
    proc = asi("resume", str(run_dir), timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert "holds 4 steps but the run's checkpoints counted 6" in proc.stderr
    assert (run_dir / "run.db").read_bytes() == older


# -- kills at the edges of a start -------------------------------------------------------------------------------


def test_a_directory_killed_before_its_config_is_started_again(task: Path, tmp_path: Path) -> None:
    """What a start killed before config.json was renamed into place leaves: the graph's empty checkpoints.db and
    a half-written temp file. It is no run (`resume` says so), and `run` starts in it."""
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / ".config.json.tmp").write_text('{"context": {"task": ')
    with closing(sqlite3.connect(run_dir / "checkpoints.db")) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
    assert "not a run directory" in one_error_line(asi("resume", str(run_dir), timeout=120))
    proc = asi("run", str(task), "--steps", "2", "--no-cognition", "--run-dir", str(run_dir), timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert len(node_rows(run_dir)) == 3 and not (run_dir / ".config.json.tmp").exists()


def test_a_directory_holding_nodes_but_no_config_is_not_started_over(finished: Path, task: Path,
                                                                    tmp_path: Path) -> None:
    run_dir = copy_of(finished, tmp_path / "run")
    (run_dir / "config.json").unlink()
    before = files(run_dir)
    line = one_error_line(asi("run", str(task), "--steps", "2", "--run-dir", str(run_dir), timeout=120))
    assert "has no config.json but run.db holds a run's data" in line
    assert files(run_dir) == before


def spawn(*args: str, log: Path) -> subprocess.Popen:
    with open(log, "ab") as sink:
        return subprocess.Popen([*CLI, *args], env=cli_env(), stdout=sink, stderr=sink, start_new_session=True)


def kill(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def cut_to_the_initial_evaluation(run_dir: Path) -> None:
    """Leave a finished run as a kill during its initial evaluation leaves it: the loop's checkpoints up to the one
    saved before the initial trial (step 2), no node, only the initial trial's folder."""
    with closing(sqlite3.connect(run_dir / "checkpoints.db")) as conn, conn:
        (before_trial,) = conn.execute("SELECT checkpoint_id FROM checkpoints WHERE checkpoint_ns = '' AND "
                                       "json_extract(CAST(metadata AS TEXT), '$.step') = 2").fetchone()
        conn.execute("DELETE FROM checkpoints WHERE checkpoint_id > ?", (before_trial,))
        conn.execute("DELETE FROM writes WHERE checkpoint_id >= ?", (before_trial,))  # the trial's own writes too
    with NodeDatabase(run_dir / "run.db") as db:
        run_id = db.get_meta("run_id")
    (run_dir / "run.db").unlink()
    with NodeDatabase(run_dir / "run.db") as db:
        db.set_meta("run_id", str(run_id))
    for folder in (run_dir / "nodes").iterdir():
        if folder.name != "g0000.0":
            shutil.rmtree(folder)


def test_a_run_killed_during_its_initial_evaluation_resumes(finished: Path, tmp_path: Path) -> None:
    run_dir = copy_of(finished, tmp_path / "run")
    cut_to_the_initial_evaluation(run_dir)
    assert node_rows(run_dir) == {}
    resumed = asi("resume", str(run_dir), timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert list(node_rows(run_dir))[0] == "g0000.0" and len(node_rows(run_dir)) == 5


def test_a_run_killed_before_its_first_node_resumes(task: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    proc = spawn("run", str(task), "--steps", "2", "--no-cognition", "--run-dir", str(run_dir), log=tmp_path / "log")
    deadline = time.time() + 120
    while not (run_dir / "config.json").exists():
        assert proc.poll() is None and time.time() < deadline, (tmp_path / "log").read_text()
        time.sleep(0.002)
    kill(proc)
    assert node_rows(run_dir) == {}
    config = (run_dir / "config.json").read_bytes()
    states = {"as killed": run_dir}
    for name, keep in (("config only", ()), ("config and a 0-byte run.db", ("run.db",))):
        other = tmp_path / name.replace(" ", "-")
        other.mkdir()
        (other / "config.json").write_bytes(config)
        for file in keep:
            (other / file).write_bytes(b"")
        states[name] = other
    for name, folder in states.items():
        resumed = asi("resume", str(folder), timeout=300)
        assert resumed.returncode == 0, (name, resumed.stderr)
        keys = list(node_rows(folder))
        assert len(keys) == 3 and keys[0] == "g0000.0", (name, keys)


# -- SIGKILL at random moments -------------------------------------------------------------------------------------


class CrashingRun:
    """Drives one run through kills and resumes, checking after each kill that nothing seen before was lost."""

    def __init__(self, run_dir: Path, rng: random.Random) -> None:
        self.run_dir, self.rng = run_dir, rng
        self.log = run_dir.parent / f"{run_dir.name}.log"
        self.seen: dict[str, dict] = {}
        self.kills: list[str] = []

    def launched_not_stored(self, at_least: int) -> bool:
        """An experiment is running (its program is written, its node not stored) and `at_least` nodes are."""
        try:
            stored = set(node_rows(self.run_dir))
        except sqlite3.Error:  # read while the run creates the file
            return False
        launched = {p.parent.name for p in (self.run_dir / "nodes").glob("*/program.py")}
        return len(stored) >= at_least and bool(launched - stored)

    def drive(self, args: tuple[str, ...], trigger: Callable[[], bool], label: str) -> bool:
        """Run the CLI until `trigger` says kill (True: killed) or it exits by itself (False: it must succeed)."""
        proc = spawn(*args, log=self.log)
        deadline = time.time() + 180
        while proc.poll() is None:
            if trigger():
                kill(proc)
                self.kills.append(f"{label} at {len(node_rows(self.run_dir))} nodes")
                self.after_kill()
                return True
            assert time.time() < deadline, f"{label}: no kill point reached\n{self.log.read_text()[-3000:]}"
            time.sleep(0.003)
        assert proc.returncode == 0, f"{label} failed (rc {proc.returncode})\n{self.log.read_text()[-3000:]}"
        return False

    def after_kill(self) -> None:
        rows = node_rows(self.run_dir)
        for key, row in self.seen.items():  # nothing stored is lost or changed (visits only grow)
            assert key in rows, f"node {key} lost after {self.kills}"
            assert {**rows[key], "visits": 0} == {**row, "visits": 0} and rows[key]["visits"] >= row["visits"]
        self.seen.update(rows)
        for name in ("run.db", "checkpoints.db"):
            if (self.run_dir / name).is_file():
                assert integrity(self.run_dir / name) == ["ok"], (name, self.kills)

    def kill_through(self, start: tuple[str, ...]) -> None:
        """Kill the run right after its start (before its first node), then up to six resumes at random moments,
        then resume it to its end."""
        config = self.run_dir / "config.json"
        assert self.drive(start, config.exists, "run right after its start")
        assert self.seen == {}  # killed before its first node
        resume = ("resume", str(self.run_dir))
        for i in range(6):
            label, trigger = self.kill_point()
            if not self.drive(resume, trigger, f"resume {i + 1} {label}"):
                return
        assert not self.drive(resume, lambda: False, "the last resume")

    def kill_point(self) -> tuple[str, Callable[[], bool]]:
        """A random moment: a delay after the start (often still starting up), or an evaluation under way."""
        if self.rng.random() < 0.4:
            delay = self.rng.uniform(0.2, 3.0)
            start = time.time()
            return f"after {delay:.2f} s", lambda: time.time() - start >= delay
        at_least = len(node_rows(self.run_dir)) + self.rng.randint(1, 30)
        extra = self.rng.uniform(0, 0.02)
        state: dict[str, float] = {}

        def mid_evaluation() -> bool:
            if "since" not in state and self.launched_not_stored(at_least):
                state["since"] = time.time()
            return "since" in state and time.time() - state["since"] >= extra

        return f"evaluating after {at_least} nodes", mid_evaluation


def sequence(run_dir: Path) -> list[tuple]:
    rows = node_rows(run_dir).values()
    return [(r["trial_key"], r["parent_ids"], r["program"], r["status"], r["score"])
            for r in sorted(rows, key=lambda r: r["id"])]


def replayed_sampler_state(run_dir: Path) -> tuple[dict, dict]:
    """The sampler state the run saved, and the state of a fresh sampler shown the same stored nodes."""
    with closing(read_only(run_dir / "run.db")) as conn:
        row = conn.execute("SELECT value FROM meta WHERE key = 'sampler_state:ucb1'").fetchone()
    assert row is not None, "the run saved no sampler state"
    saved = json.loads(row[0])
    db = NodeDatabase(run_dir / "run.db")
    try:
        sampler = make_sampler(saved["sampler"], **saved["params"])
        for node in db.nodes():
            if node.id <= saved["observed_upto"]:
                sampler.observe(node)
    finally:
        db.close()
    return saved, json.loads(json.dumps(sampler.state_dict(), sort_keys=True))


@pytest.mark.slow
@pytest.mark.parametrize("seed", SEEDS)
def test_sigkill_at_random_moments_loses_and_duplicates_nothing(task: Path, tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    run_dir = tmp_path / "crashed"
    crashing = CrashingRun(run_dir, rng)
    crashing.kill_through(("run", str(task), *RUN_ARGS, "--run-dir", str(run_dir)))

    final = node_rows(run_dir)
    crashing.after_kill()  # (1) every node seen after a kill is still there, unchanged
    keys = list(final)
    assert len(set(keys)) == len(keys) == STEPS + 1, crashing.kills  # (2) none twice, none missing
    ids = {r["id"]: r for r in final.values()}
    for row in final.values():  # visits equal the stored children: no child counted twice by a re-run trial
        children = sum(1 for r in final.values() if json.loads(r["parent_ids"])[:1] == [row["id"]])
        assert row["visits"] == children, (row["trial_key"], crashing.kills)
    assert len(ids) == len(final)
    for name in ("run.db", "checkpoints.db"):  # (3)
        assert integrity(run_dir / name) == ["ok"]
    saved, replayed = replayed_sampler_state(run_dir)  # (4)
    assert saved["observed_upto"] >= 64 and saved == replayed
    baseline = tmp_path / "uninterrupted"  # (5) the same nodes as a run never killed
    proc = asi("run", str(task), *RUN_ARGS, "--run-dir", str(baseline), timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert sequence(run_dir) == sequence(baseline), crashing.kills


LANE_ARGS = ("--steps", str(STEPS), "--lanes", "3", "--sampler", "ucb1", "--seed", "5", "--no-cognition")


@pytest.mark.slow
@pytest.mark.parametrize("seed", SEEDS)
def test_sigkill_while_lanes_write_at_once_loses_and_duplicates_nothing(task: Path, tmp_path: Path,
                                                                        seed: int) -> None:
    """Three lanes store nodes, take tickets and save checkpoints at once; kills land in the middle of that."""
    rng = random.Random(1000 + seed)
    run_dir = tmp_path / "lanes"
    crashing = CrashingRun(run_dir, rng)
    crashing.kill_through(("run", str(task), *LANE_ARGS, "--run-dir", str(run_dir)))

    final = node_rows(run_dir)
    crashing.after_kill()
    assert len(final) == STEPS + 1, crashing.kills  # the shared budget exactly: no trial lost, none twice
    assert sorted(r["generation"] for r in final.values()) == list(range(STEPS + 1)), crashing.kills  # tickets
    for row in final.values():
        children = sum(1 for r in final.values() if json.loads(r["parent_ids"])[:1] == [row["id"]])
        assert row["visits"] == children, (row["trial_key"], crashing.kills)
    for name in ("run.db", "checkpoints.db"):
        assert integrity(run_dir / name) == ["ok"]
    saved, replayed = replayed_sampler_state(run_dir)
    assert saved == replayed
