"""LangGraph checkpointing of a run: one SQLite file beside the run's database, one thread per run."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from langgraph.checkpoint.sqlite import SqliteSaver

THREAD_ID = "run"


def open_checkpointer(run_dir: Path) -> SqliteSaver:
    run_dir.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(run_dir / "checkpoints.db", check_same_thread=False, timeout=30)
    conn.execute("PRAGMA journal_mode=WAL")
    return SqliteSaver(conn)


def thread_config(recursion_limit: int | None = None) -> dict:
    config: dict = {"configurable": {"thread_id": THREAD_ID}}
    if recursion_limit is not None:
        config["recursion_limit"] = recursion_limit
    return config
