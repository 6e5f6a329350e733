"""Run configuration as LangGraph's context schema: plain JSON-able data that Studio can fill in."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any


@dataclass(frozen=True)
class Context:
    """Configuration of one run. Services (database, strategies, executor) are opened from it per run."""

    task: str = field(
        default="circle_packing",
        metadata={"description": "Built-in task name or path of a task folder."},
    )
    run_dir: str = field(
        default="runs/studio",
        metadata={"description": "Directory holding the run's database, node files and checkpoints."},
    )
    seed: int = field(default=0, metadata={"description": "Seed of every sampler and the offline researcher."})
    sampler: str = field(
        default="",
        metadata={"description": "Parent sampler: ucb1, greedy or random (empty: the task's default)."},
    )
    workers: int = field(default=1, metadata={"description": "Trials per generation, run in parallel."})
    inspirations: int = field(
        default=2, metadata={"description": "Context nodes shown to the Researcher besides the parent."}
    )
    researcher: str = field(default="offline", metadata={"description": "Researcher strategy name."})
    analyzer: str = field(default="offline", metadata={"description": "Analyzer strategy name."})
    executor: str = field(default="local", metadata={"description": "Where experiments run."})
    eval_timeout_s: float = field(
        default=0.0, metadata={"description": "Wall-clock limit per evaluation (0: the task's timeout)."}
    )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def coerce(cls, value: Context | dict[str, Any] | None) -> Context:
        """Accept the dataclass, a dict (as Studio and the HTTP API send it) or None (defaults)."""
        if isinstance(value, Context):
            return value
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in (value or {}).items() if k in known})
