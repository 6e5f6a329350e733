"""Is this run's storage intact? The start order a kill cannot break, and the checks that tell a run that never
got going from one whose databases were lost or damaged.

Why: a run may be killed (SIGKILL, OOM, a closed laptop) at any moment, and its databases can be emptied,
truncated or replaced behind its back. A 0-byte `run.db` used to be re-filled by `resume`, which then counted
"step 5/3" over a database that had lost every node. Nothing stored may be lost or overwritten that way.

The start lays a run out in this order (`graph.runner.start_run`):

1. `checkpoints.db` is created (compiling the graph), still empty;
2. `config.json` is written atomically (temp file, fsync, rename) with a fresh `run_id`: from here on the
   directory is a run that `resume` continues; before it, what is there holds nothing and `run` starts again
   in the same directory (`leftover_problem`);
3. `run.db` gets its schema and the `run_id` in its meta table (`claim_database`); then the loop runs.

Every command that reads an existing run (`resume`, `status`, `report`…: `graph.runner.load_run_config`) first
looks at its databases read-only (`checkpoints.db` only for `resume` and `fork`: the others read nodes alone),
nothing written beside them either, with SQLite's own checks (the header is read on open, `PRAGMA quick_check`).
A `run.db` without nodes is fine for a run that never stored one; that it did is recorded elsewhere: its loop
checkpoints reached `STEP_AFTER_INITIAL` (saved once the initial trial ran), or a trial of generation 1 or later
left its folder under `nodes/` (the Learner plans those only once the initial node is stored). Likewise
`checkpoints.db` must hold the loop's checkpoints once `run.db` holds a node of generation 1 or later (its first
checkpoints were saved long before that trial was planned). After the graph is loaded, `resume` also checks that
`run.db` holds the steps and best node its newest checkpoint counted
(`state_problem`: an older copy of `run.db` put back). A problem is one line naming the file and what to do; the
files are left exactly as they were.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from knowledge.database import NodeDatabase
from knowledge.storage import Location

CONFIG_FILE, RUN_DB, CHECKPOINTS_DB = "config.json", "run.db", "checkpoints.db"
RUN_ID = "run_id"  # key in config.json and in run.db's meta table
THREAD_ID = "run"  # graph.checkpoint.THREAD_ID (not imported: it pulls in LangGraph, and status must start fast)
# A loop checkpoint of step N is saved before superstep N runs: -1 the input, 0 before the tally, 1 before the
# Learner, 2 before the initial trial, 3 once it ran (its node stored) and before the next tally.
STEP_AFTER_INITIAL = 3
_LATER_TRIAL = re.compile(r"^g(\d+)\.\d+$")


def new_run_id() -> str:
    return uuid.uuid4().hex


def write_config(path: Path, config: dict[str, Any]) -> None:
    """Write a run's config.json so that a kill leaves either no file or the whole one (never a torn one)."""
    temp = path.with_name(f".{path.name}.tmp")
    with open(temp, "w") as handle:
        handle.write(json.dumps(config, indent=2, sort_keys=True))
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temp, path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)  # the rename itself survives a power cut too
    finally:
        os.close(directory)


def recorded_run_id(run_dir: Path) -> str | None:
    """The `run_id` a run's config.json records (None for runs started before there was one)."""
    try:
        value = json.loads((Path(run_dir) / CONFIG_FILE).read_text()).get(RUN_ID)
    except (OSError, ValueError, AttributeError):
        return None
    return str(value) if value else None


def claim_database(location: Location, run_id: str | None) -> None:
    """Give the run's database its schema and, when the run has an id, record it there (an id there stays)."""
    with NodeDatabase(location) as db:
        if run_id and db.get_meta(RUN_ID) is None:
            db.set_meta(RUN_ID, run_id)


@dataclass(frozen=True)
class DbFacts:
    """What one database file holds, read without writing anything."""

    path: Path
    exists: bool
    size: int = 0
    damage: str | None = None  # SQLite's own words: not a database, malformed, quick_check findings
    rows: int = 0  # run.db: nodes; checkpoints.db: the run's loop checkpoints
    later_rows: int = 0  # run.db: nodes of generation >= 1; checkpoints.db: 1 if the loop passed STEP_AFTER_INITIAL
    run_id: str | None = None
    max_step: int | None = None

    def what(self, rows: str) -> str:
        """How a file without rows looks: missing, empty (0 bytes) or a database holding no `rows`."""
        return "is missing" if not self.exists else "is empty (0 bytes)" if self.size == 0 else f"holds no {rows}"


@contextmanager
def _read_only(path: Path) -> Iterator[sqlite3.Connection]:
    """A connection that writes nothing: through the WAL when one is there (a live or killed run), else immutable
    (a read-only connection to a database in WAL mode would create the -wal and -shm files)."""
    mode = "mode=ro" if path.with_name(path.name + "-wal").exists() else "immutable=1"
    with closing(sqlite3.connect(f"{path.resolve().as_uri()}?{mode}", uri=True, timeout=30)) as conn:
        yield conn


def _inspect(path: Path, read: Callable[[sqlite3.Connection, set[str]], dict[str, Any]]) -> DbFacts:
    """The facts of one file; damage is reported only when a second look agrees (an immutable read can tear when
    a run opens the file for writing meanwhile; the second look then goes through its WAL)."""
    facts = _look(path, read)
    return _look(path, read) if facts.damage and facts.exists else facts


def _look(path: Path, read: Callable[[sqlite3.Connection, set[str]], dict[str, Any]]) -> DbFacts:
    if not path.is_file():
        return DbFacts(path, exists=path.exists(), damage="not a file" if path.exists() else None)
    size = path.stat().st_size
    try:
        with _read_only(path) as conn:
            findings = [str(r[0]) for r in conn.execute("PRAGMA quick_check(3)")]
            if findings != ["ok"]:
                return DbFacts(path, True, size, damage=" ".join(" ".join(findings).split()))
            tables = {str(r[0]) for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            return DbFacts(path, True, size, **read(conn, tables))
    except sqlite3.Error as exc:
        return DbFacts(path, True, size, damage=str(exc))


def _read_run_db(conn: sqlite3.Connection, tables: set[str]) -> dict[str, Any]:
    facts: dict[str, Any] = {}
    if "nodes" in tables:
        rows, later = conn.execute("SELECT COUNT(*), SUM(generation > 0) FROM nodes").fetchone()
        facts.update(rows=int(rows), later_rows=int(later or 0))
    if "meta" in tables:
        row = conn.execute("SELECT value FROM meta WHERE key = ?", (RUN_ID,)).fetchone()
        facts["run_id"] = None if row is None else str(row[0])
    return facts


def _read_checkpoints(conn: sqlite3.Connection, tables: set[str]) -> dict[str, Any]:
    if "checkpoints" not in tables:
        return {}
    count, step = conn.execute(
        "SELECT COUNT(*), MAX(CAST(json_extract(CAST(metadata AS TEXT), '$.step') AS INTEGER)) FROM checkpoints "
        "WHERE thread_id = ? AND checkpoint_ns = ''", (THREAD_ID,)).fetchone()
    step = None if step is None else int(step)
    return {"rows": int(count), "max_step": step, "later_rows": int(step is not None and step >= STEP_AFTER_INITIAL)}


def inspect_run_db(run_dir: Path) -> DbFacts:
    return _inspect(Path(run_dir) / RUN_DB, _read_run_db)


def inspect_checkpoints(run_dir: Path) -> DbFacts:
    return _inspect(Path(run_dir) / CHECKPOINTS_DB, _read_checkpoints)


def stored_evidence(run_dir: Path, checkpoints: DbFacts) -> str | None:
    """Why we know the run stored at least one node (its initial one), or None when nothing says so."""
    if checkpoints.later_rows:
        return f"its checkpoints reach loop step {checkpoints.max_step}"
    folder = Path(run_dir) / "nodes"
    later = sorted(p.name for p in folder.iterdir() if (m := _LATER_TRIAL.match(p.name)) and int(m.group(1)) > 0
                   ) if folder.is_dir() else []
    return f"trial folders such as nodes/{later[0]} exist" if later else None


def storage_problem(run_dir: Path, run_id: str | None, checkpoints: bool = True) -> str | None:
    """One line saying what is wrong with the storage of the run in `run_dir` and what to do, or None.
    Without `checkpoints` (commands that only read the nodes) a lost or damaged `checkpoints.db` is no problem."""
    db, ckpt = inspect_run_db(run_dir), inspect_checkpoints(run_dir)
    untouched = "asi-evolve left it as it is"
    if db.damage:
        return (f"{db.path} is damaged ({db.damage}): restore it from a backup ({untouched}; resuming over it "
                "would lose the run's nodes)")
    if ckpt.damage and checkpoints:
        return (f"{ckpt.path} is damaged ({ckpt.damage}): restore it from a backup ({untouched}; run.db and "
                f"its {db.rows} nodes are intact)")
    if run_id and db.run_id and db.run_id != run_id:
        return (f"{db.path} belongs to another run (its run_id {db.run_id}, config.json's {run_id}): put this "
                f"run's run.db back ({untouched})")
    if db.rows == 0:
        evidence = stored_evidence(run_dir, ckpt)
        if evidence:
            return (f"{db.path} {db.what('nodes')} but the run had stored nodes ({evidence}): it was lost; restore it "
                    f"from a backup ({untouched}; resuming would start the run over)")
        return None
    if run_id and db.run_id is None:
        return (f"{db.path} holds {db.rows} nodes but not this run's id ({run_id}): it is not this run's "
                f"database; put this run's run.db back ({untouched})")
    if db.later_rows and ckpt.rows == 0 and checkpoints:
        return (f"{ckpt.path} {ckpt.what('checkpoint')} but run.db holds {db.rows} nodes: the loop's checkpoints "
                f"were lost; restore it from a backup ({untouched}; the nodes in run.db are intact)")
    return None


def leftover_problem(run_dir: Path) -> str | None:
    """Why a run may not be started in `run_dir`, which has no config.json, or None: what a start killed before
    writing config.json leaves (an empty checkpoints.db, a temp file) holds nothing and may be started over."""
    for facts in (inspect_run_db(run_dir), inspect_checkpoints(run_dir)):
        if facts.damage:
            return (f"{facts.path} is not a usable database ({facts.damage}) and {run_dir} has no config.json: "
                    "move it away or choose another --run-dir")
        if facts.rows:
            return (f"{run_dir} has no config.json but {facts.path.name} holds a run's data ({facts.rows} rows): "
                    "move it away or choose another --run-dir (nothing was changed)")
    return None


def state_problem(run_dir: Path, values: dict[str, Any]) -> str | None:
    """Whether run.db holds what the loop's newest checkpoint counted: its steps and its best node. A run.db
    replaced by an older (intact) copy passes the file checks but not this one."""
    db = inspect_run_db(run_dir)
    if db.damage:
        return storage_problem(run_dir, None)
    steps, best = int(values.get("steps") or 0), values.get("best_node_id")
    if steps > db.later_rows:
        held = db.what("nodes") if db.rows == 0 else f"holds {db.later_rows} steps"
        return (f"{db.path} {held} but the run's checkpoints counted {steps}: nodes were lost (an older copy of "
                "run.db?); restore the newest run.db from a backup (asi-evolve left it as it is)")
    if best is not None and db.exists:
        with _read_only(db.path) as conn:
            if conn.execute("SELECT 1 FROM nodes WHERE id = ?", (int(best),)).fetchone() is None:
                return (f"{db.path} lacks node {best}, the run's best by its checkpoints: restore the newest run.db "
                        "from a backup (asi-evolve left it as it is)")
    return None
