"""LangGraph checkpointing of a run: one SQLite file beside the run's database, one thread per run."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.checkpoint.sqlite import SqliteSaver

from agents.base import Proposal
from graph.state import TrialOutcome, TrialSpec, Verdict
from tools.results import EvalResult

THREAD_ID = "run"
STATE_TYPES = (TrialOutcome, TrialSpec, Verdict, Proposal, EvalResult)


def open_checkpointer(run_dir: Path) -> SqliteSaver:
    """A SQLite checkpointer that deserialises only LangGraph's safe types and our state records.

    The explicit allowlist makes checkpoints strict whether or not LANGGRAPH_STRICT_MSGPACK is set.
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(run_dir / "checkpoints.db", check_same_thread=False, timeout=30)
    conn.execute("PRAGMA journal_mode=WAL")
    return SqliteSaver(conn, serde=JsonPlusSerializer(allowed_msgpack_modules=STATE_TYPES))


def thread_config(recursion_limit: int | None = None) -> dict:
    config: dict = {"configurable": {"thread_id": THREAD_ID}}
    if recursion_limit is not None:
        config["recursion_limit"] = recursion_limit
    return config
