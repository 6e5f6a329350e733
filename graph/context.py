"""Run configuration as LangGraph's context schema: plain JSON-able data that Studio can fill in.

Each field's description is what Studio's context form shows and what `asi-evolve run --help` says: the CLI's
options are generated from these fields (`graph.cli_options`), so the two cannot drift apart. What a field left
at its default means for a run (the task's setting, the environment's) is decided in one place,
`graph.settings.resolve_settings`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any


def setting(default: Any, description: str, *, cli: str | None = "", low: float | None = None,
            high: float | None = None, cli_default: str | None = None) -> Any:
    """A context field: its default, its description, and how the CLI offers it.

    `cli` is the option's name ("" derives `--field-name`; a `--no-…` name turns a true default off; None keeps
    the field out of the CLI); `low`/`high` bound a number given on the command line; `cli_default` is what the
    CLI uses when the option is left out, where that differs from the field's default.
    """
    meta = {"description": description, "cli": cli, "low": low, "high": high, "cli_default": cli_default}
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class Context:
    """Configuration of one run. Services (database, strategies, executor) are opened from it per run."""

    task: str = setting("circle_packing", "Built-in task name or path of a task folder.", cli=None)
    config: str = setting("", "Task variant from task.yaml's configs, e.g. cpu or gpu (empty: the task's default).")
    params: tuple[str, ...] = setting((), "Task parameter 'KEY=VALUE' over task.yaml's params, after --config "
                                      "(dotted keys for nested ones, the value read as YAML), repeatable.",
                                      cli="--param")
    run_dir: str = setting("runs/studio", "Directory holding the run's database, node files and checkpoints.",
                           cli_default="runs/<task>-<time>")
    db: str = setting("", "Where the run's nodes, cognition items, model calls and checkpoints live: empty for "
                      "run.db and checkpoints.db in the run directory, or a PostgreSQL URL "
                      "postgresql://USER@HOST:PORT/DATABASE (the run gets a schema of its own, named after the run "
                      "directory unless the URL adds ?schema=NAME).")
    seed: int = setting(0, "Seed of every sampler and the offline researcher.")
    sampler: str = setting("", "Parent sampler: ucb1, greedy, random, map_elites, islands or pareto "
                           "(empty: the task's).")
    workers: int = setting(1, "Trials per generation, run in parallel.", low=1)
    lanes: int = setting(1, "Asynchronous research lanes: each a checkpointed LangGraph thread running one trial at a "
                         "time over the shared database, so a slow evaluation never holds the others (1: "
                         "generations of --workers trials).", low=1)
    approve: bool = setting(False, "Pause before each evolved candidate's experiment for a person to approve, edit "
                            "or skip it (a LangGraph interrupt: the CLI asks, Studio shows it).")
    inspirations: int = setting(2, "Context nodes shown to the Researcher besides the parent.", low=0)
    researcher: str = setting("auto", "Researcher: auto (llm with a model, else offline), llm, offline.")
    analyzer: str = setting("auto", "Analyzer: auto (llm with a model, else offline), llm, offline.")
    executor: str = setting("local", "Where experiments run: local (this machine) or ray (a Ray cluster, see "
                            "--ray-address).")
    ray_address: str = setting("", "Ray cluster of --executor ray: auto (the running one), HOST:PORT or "
                               "ray://HOST:PORT (empty: start a local Ray instance).")
    warm_workers: bool = setting(True, "Evaluate in warm workers that import the evaluator once and fork a fresh "
                                 "jailed child per candidate (off: a new jailed interpreter per evaluation).",
                                 cli="--no-warm-workers")
    sandbox: str = setting("", "Candidate jail: auto (bubblewrap where it runs, else process limits with a "
                           "warning), bwrap (required), limits (empty: $ASI_EVOLVE_SANDBOX, else auto).")
    eval_timeout_s: float | None = setting(None, "Wall-clock limit per evaluation in seconds (empty: the task's).",
                                           cli="--eval-timeout", low=0)
    cognition: bool = setting(True, "Retrieve cognition items into prompts and write insights back (off: the "
                              "ablation without knowledge).", cli="--no-cognition")
    embedder: str = setting("minilm", "Embeddings: minilm (offline) or openai:<model>[@<base_url>].")
    retrieval_k: int = setting(4, "Cognition items retrieved per context node.", low=0)
    retrieval_threshold: float = setting(0.2, "Minimum cosine similarity of a retrieved cognition item.",
                                         low=-1, high=1)
    share_insights: bool = setting(False, "Also add the Analyzer's insights to the task's standing knowledge "
                                   "base (later runs start from it).")
    dedup_threshold: float = setting(0.95, "An insight this similar to a stored item is not added again.",
                                     low=0, high=1)
    use_analyzer: bool = setting(True, "Analyses of each outcome (off: the Researcher reads raw logs, the "
                                 "ablation without the Analyzer).", cli="--no-analyzer")
    novelty_threshold: float = setting(0.0, "Send back proposals whose motivation is this similar to a node's "
                                       "(0: off).", low=0, high=1)
    novelty_retries: int = setting(2, "How often one trial may be sent back for lack of novelty.", low=0)
    models: tuple[str, ...] = setting((), "Models proposing edits, repeatable for an ensemble ('provider:model', "
                                      "or a name served at a base URL).", cli="--model")
    base_urls: tuple[str, ...] = setting((), "OpenAI-compatible server URL(s): one for all models or one each.",
                                         cli="--base-url")
    max_cost: float = setting(0.0, "Model budget in dollars (0: none).", low=0)
    prices: tuple[str, ...] = setting((), "Model price 'MODEL=IN/OUT' in $ per 1M tokens, repeatable (over "
                                      "task.yaml's).", cli="--price")
    allow_unpriced: bool = setting(False, "Allow a cost budget with models of unknown price (counted free).")
    max_tokens: int = setting(0, "Model budget in tokens (0: none).", low=0)
    replay_from: str = setting("", "Replay the model answers recorded in this run directory.", cli=None)
    repair_rounds: int = setting(1, "Model repair attempts after a candidate crashes.", low=0)
    judge_weight: float | None = setting(None, "Weight of the LLM judge's score, 0 to 1 (empty: the task's).",
                                         low=0, high=1)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def lanes_problem(self) -> str | None:
        """Why lanes cannot run with the rest of this configuration (one line), or None."""
        if self.lanes > 1 and (self.workers > 1 or self.approve):
            return "lanes run one trial at a time each: use --lanes or --workers, and no --approve with lanes"
        return None

    @classmethod
    def coerce(cls, value: Context | dict[str, Any] | None) -> Context:
        """Accept the dataclass, a dict (as Studio and the HTTP API send it) or None (defaults)."""
        if isinstance(value, Context):
            return value
        known = {f.name for f in fields(cls)}
        data = {k: v for k, v in (value or {}).items() if k in known}
        # JSON lists become tuples: the context must stay hashable
        for key in ("models", "base_urls", "prices", "params"):
            if isinstance(data.get(key), list | str):
                data[key] = (data[key],) if isinstance(data[key], str) else tuple(data[key])
        # earlier versions wrote "the task's" as -1 (judge weight) and 0 (evaluation timeout)
        if isinstance(data.get("judge_weight"), int | float) and data["judge_weight"] < 0:
            data["judge_weight"] = None
        if isinstance(data.get("eval_timeout_s"), int | float) and data["eval_timeout_s"] <= 0:
            data["eval_timeout_s"] = None
        return cls(**data)
