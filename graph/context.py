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
        metadata={"description": "Parent sampler: ucb1, greedy, random, map_elites, islands or pareto "
                                 "(empty: the task's default)."},
    )
    workers: int = field(default=1, metadata={"description": "Trials per generation, run in parallel."})
    inspirations: int = field(
        default=2, metadata={"description": "Context nodes shown to the Researcher besides the parent."}
    )
    researcher: str = field(
        default="auto", metadata={"description": "Researcher: auto (llm with a model, else offline), llm, offline."}
    )
    analyzer: str = field(
        default="auto", metadata={"description": "Analyzer: auto (llm with a model, else offline), llm, offline."}
    )
    executor: str = field(default="local", metadata={"description": "Where experiments run."})
    sandbox: str = field(
        default="",
        metadata={"description": "Candidate jail: auto (bubblewrap where it runs, else process limits with a "
                                 "warning), bwrap (required), limits (empty: $ASI_EVOLVE_SANDBOX, else auto)."},
    )
    eval_timeout_s: float = field(
        default=0.0, metadata={"description": "Wall-clock limit per evaluation (0: the task's timeout)."}
    )
    cognition: bool = field(
        default=True, metadata={"description": "Retrieve cognition items into prompts and write insights back."}
    )
    embedder: str = field(
        default="minilm", metadata={"description": "Embeddings: minilm (offline) or openai:<model>[@<base_url>]."}
    )
    retrieval_k: int = field(default=4, metadata={"description": "Cognition items retrieved per context node."})
    retrieval_threshold: float = field(
        default=0.2, metadata={"description": "Minimum cosine similarity of a retrieved cognition item."}
    )
    share_insights: bool = field(
        default=False,
        metadata={"description": "Also add the Analyzer's insights to the task's standing base (later runs)."},
    )
    dedup_threshold: float = field(
        default=0.95, metadata={"description": "An insight this similar to a stored item is not added again."}
    )
    use_analyzer: bool = field(
        default=True, metadata={"description": "Off: the Researcher reads raw logs instead of analyses."}
    )
    novelty_threshold: float = field(
        default=0.0,
        metadata={"description": "Send back proposals whose motivation is this similar to a node's (0: off)."},
    )
    novelty_retries: int = field(
        default=2, metadata={"description": "How often one trial may be sent back for lack of novelty."}
    )
    models: tuple[str, ...] = field(
        default=(), metadata={"description": "Models proposing edits ('provider:model', or a name at a base URL)."}
    )
    base_urls: tuple[str, ...] = field(
        default=(), metadata={"description": "OpenAI-compatible server URL(s): one for all models or one each."}
    )
    max_cost: float = field(default=0.0, metadata={"description": "Model budget in dollars (0: none)."})
    prices: tuple[str, ...] = field(
        default=(), metadata={"description": "Model prices 'MODEL=IN/OUT' in $ per 1M tokens (over task.yaml's)."}
    )
    allow_unpriced: bool = field(
        default=False, metadata={"description": "Allow a cost budget with models of unknown price (counted free)."}
    )
    max_tokens: int = field(default=0, metadata={"description": "Model budget in tokens (0: none)."})
    replay_from: str = field(
        default="", metadata={"description": "Replay the model answers recorded in this run directory."}
    )
    repair_rounds: int = field(
        default=1, metadata={"description": "Model repair attempts after a candidate crashes."}
    )
    judge_weight: float = field(
        default=-1.0, metadata={"description": "Weight of the LLM judge's score (-1: the task's setting)."}
    )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def coerce(cls, value: Context | dict[str, Any] | None) -> Context:
        """Accept the dataclass, a dict (as Studio and the HTTP API send it) or None (defaults)."""
        if isinstance(value, Context):
            return value
        known = {f.name for f in fields(cls)}
        data = {k: v for k, v in (value or {}).items() if k in known}
        for key in ("models", "base_urls", "prices"):  # JSON lists become tuples: the context must stay hashable
            if isinstance(data.get(key), list | str):
                data[key] = (data[key],) if isinstance(data[key], str) else tuple(data[key])
        return cls(**data)
