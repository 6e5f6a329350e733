"""LangGraph checkpointing of a run: one SQLite file beside the run's database (or, for a run stored in
PostgreSQL, LangGraph's PostgreSQL checkpointer in the run's schema), one thread per run."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ormsgpack
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer, _create_msgpack_ext_hook
from langgraph.checkpoint.sqlite import SqliteSaver

from agents.strategies.protocols import Proposal
from graph.state import TrialOutcome, TrialSpec, Verdict
from knowledge.records import Provenance
from knowledge.storage import run_location
from tools.results import EvalResult

THREAD_ID = "run"
STATE_TYPES = (TrialOutcome, TrialSpec, Verdict, Proposal, Provenance, EvalResult)
# Where a state record lived in earlier versions: checkpoints they wrote still name it so.
MOVED_TYPES = {("agents.base", "Proposal"): ("agents.strategies.protocols", "Proposal")}
_CONSTRUCTOR_CODES = (0, 1, 2)  # LangGraph's msgpack extension codes for "construct module.name from args"


def _follow_moves(hook: Callable[[int, bytes], Any]) -> Callable[[int, bytes], Any]:
    """An unpacking hook that reads a moved record under its new module name, then decodes as usual."""

    def follow(code: int, data: bytes) -> Any:
        if code in _CONSTRUCTOR_CODES:
            head = ormsgpack.unpackb(data, ext_hook=ormsgpack.Ext, option=ormsgpack.OPT_NON_STR_KEYS)
            moved = MOVED_TYPES.get((head[0], head[1])) if isinstance(head, list) and len(head) >= 2 else None
            if moved is not None:
                data = ormsgpack.packb([*moved, *head[2:]], option=ormsgpack.OPT_NON_STR_KEYS)
        return hook(code, data)

    return follow


def make_serializer() -> JsonPlusSerializer:
    """A serializer that deserialises only LangGraph's safe types and our state records (also where they moved
    from). The explicit allowlist makes checkpoints strict whether or not LANGGRAPH_STRICT_MSGPACK is set."""
    allowed = {(t.__module__, t.__name__) for t in STATE_TYPES}
    hook = _follow_moves(_create_msgpack_ext_hook(allowed))
    return JsonPlusSerializer(allowed_msgpack_modules=STATE_TYPES, __unpack_ext_hook__=hook)


def open_checkpointer(run_dir: Path, db: str = "") -> BaseCheckpointSaver:
    """The run's checkpointer: `checkpoints.db` in WAL mode, or the run's PostgreSQL schema when `db` names one.

    `synchronous=NORMAL`: a commit reaches the WAL without waiting for the disk, so a killed process loses
    nothing and the file is never corrupt; only a power cut can take the last commits (the run then resumes from
    an earlier step, which the node store makes safe). Waiting for the disk on each of the ~40 commits a
    candidate makes was most of the checkpointing time.
    """
    if db:
        return _postgres_checkpointer(str(run_location(run_dir, db)))
    run_dir.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(run_dir / "checkpoints.db", check_same_thread=False, timeout=30)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    return SqliteSaver(conn, serde=make_serializer())


def _postgres_checkpointer(url: str) -> BaseCheckpointSaver:
    """LangGraph's PostgreSQL checkpointer on one connection (it serialises its calls with a lock, as the SQLite
    one does) whose search path is the run's schema, so its tables sit beside the run's nodes."""
    import psycopg
    from langgraph.checkpoint.postgres import PostgresSaver
    from psycopg.rows import dict_row

    from knowledge.postgres import connect_kwargs, create_schema, safe_url, split_url
    from knowledge.sqlite import DatabaseError, one_line

    try:
        conn = psycopg.connect(**connect_kwargs(url), prepare_threshold=0, row_factory=dict_row)
        create_schema(conn, split_url(url)[1] or "public")
        saver = PostgresSaver(conn, serde=make_serializer())
        saver.setup()
    except psycopg.Error as exc:
        raise DatabaseError(f"checkpoints {safe_url(url)}: {one_line(exc)}") from None
    return saver


def thread_config(recursion_limit: int | None = None, thread_id: str | None = None) -> dict:
    """The run's thread (or one of its asynchronous lanes', `graph.lanes`)."""
    config: dict = {"configurable": {"thread_id": thread_id or THREAD_ID}}
    if recursion_limit is not None:
        config["recursion_limit"] = recursion_limit
    return config
