"""Stored nodes built directly, for sampler tests that need no database."""

from __future__ import annotations

from typing import Any

from knowledge.records import Node


def make_node(
    node_id: int, score: float | None, *, parents: tuple[int, ...] = (), status: str = "ok",
    island: int | None = None, metrics: dict[str, Any] | None = None, program: str = "", generation: int = 0,
) -> Node:
    """A stored node as the database returns it (a `status` other than ok implies no score)."""
    return Node(
        trial_key=f"k{node_id}", generation=generation, parent_ids=parents, name=f"n{node_id}", motivation="",
        program=program, edit="", metrics=metrics or {}, score=score if status == "ok" else None, analysis="",
        status=status, island=island, id=node_id, created_at=0.0,  # type: ignore[arg-type]
    )
