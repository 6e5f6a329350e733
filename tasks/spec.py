"""The task contract: `task.yaml` (or another tool's folder, see `tasks.foreign`) as a validated, frozen `TaskSpec`.

A task folder holds `task.yaml`, the initial program (with EVOLVE-BLOCK markers), an evaluator and optional
`knowledge/` notes. Paths in `task.yaml` are relative to the folder (they may point outside it, so variants can
share one evaluator).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator


class TaskError(ValueError):
    """A task cannot be loaded; the message is one line naming what is wrong."""


class Objective(BaseModel):
    """One metric of a multi-objective task and whether larger or smaller is better."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1)
    goal: Literal["max", "min"] = "max"


class TaskSpec(BaseModel):
    """A research task.

    Attributes:
        name: short identifier, used in run directory names.
        description: the research brief a Researcher reads.
        root: the task folder.
        initial_program: the program evolution starts from.
        evaluator: Python file exposing `evaluate(program_path) -> dict` (optional `evaluate_stage1`).
        evaluator_command: alternative to `evaluator`: a shell command run in the experiment's work dir that
            writes `results.json`; `{program}` is replaced by the program path, `{experiment}` by the work dir's
            copy of the task folder (with `work_layout: experiment`).
        work_layout: "flat" (the command runs beside `program.py`) or "experiment" (the original ASI-Evolve
            layout: it runs in `steps/step_0/` of a copy of the task folder, with the candidate in `code`).
        isolation: "whole" (the evaluator runs inside the jail with the candidate; it may import it, so the
            candidate can reach what the evaluator computes) or "split" (the evaluator is trusted and runs
            outside the jail; it runs the candidate in the jail with `tools.jail.run_candidate` and recomputes
            the score from what comes back, so nothing the candidate does can fake it).
        timeout_s: wall-clock limit of one evaluation.
        memory_mb: memory of the candidate's whole process tree (and of each of its processes).
        max_processes: processes and threads of the candidate's tree.
        cpus: CPU cores the candidate's tree may use at once (None: no quota).
        disk_mb: what the candidate may write in its work dir (and in each of its private /tmp and /dev/shm).
        cascade_thresholds: with `evaluate_stage1`, the score a candidate must reach to go on to the next stage
            (`evaluate_stage2`, else `evaluate`; then `evaluate_stage3` past the second threshold).
        stage1_threshold: shorthand for `cascade_thresholds: [t]`.
        score_metric: the metric that is the score (`combined_score`; ASI-Evolve experiments: `eval_score`).
        score_fallback: "mean": without the score metric, the mean of the numeric metrics is the score
            (OpenEvolve's rule); "none": such a result is invalid.
        validity_metric: a metric that, when present and false, marks the result invalid (`valid`; ASI-Evolve
            experiments: `success`).
        folder_format: the shape the folder was read in: task.yaml, openevolve or asi-evolve-experiment.
        params: task parameters handed to the evaluator (env `ASI_EVOLVE_TASK_PARAMS`, JSON).
        steps: default step budget of `asi-evolve run`.
        sampler: default parent sampler.
        sampler_params: keyword arguments of the sampler (e.g. MAP-Elites features, island count).
        objectives: for multi-objective tasks, metrics to optimise, each {name, goal: max|min} (Pareto sampler).
        models / base_urls: default models of this task ("provider:model", or a name served at a base URL);
            the CLI's --model/--base-url and $ASI_EVOLVE_MODEL/$ASI_EVOLVE_BASE_URL come first / last.
        prices: $ per 1M tokens per model, {model: {in: .., out: ..}}, for cost accounting and --max-cost.
        researcher_options: keyword options of the researcher strategy, e.g. the llm researcher's mode weights
            {p_diff: 0.7, p_rewrite: 0.1, p_crossover: 0.2} or the offline one's {p_constant, p_crossover, ...}.
        judge_weight: weight of an LLM judge's score blended into the metric score (0: no judge).
        judge_scale: the judge's rating scale (low, high).
        target_score: stop once a node reaches it.
        reference_score / reference_label: a known result to show next to ours (e.g. the best known packing).
        knowledge_dir: notes of human prior knowledge for this task.
        launcher: how the Engineer runs an experiment: `run_program` (the evaluator in the sandbox),
            `deepspeed` (the evaluator trains the candidate with `tools.deepspeed_launch`; needs `isolation:
            split`) or `rdkit` (drug–target evaluation with the run's cached RDKit features,
            `tools.chem`). `launcher: {name: deepspeed, ...}` is shorthand for the name plus `launcher_options`.
        launcher_options: the launcher's settings, e.g. {num_gpus: auto, zero_stage: 2} for deepspeed.
        configs: named variants of the task ({cpu: {...}, gpu: {...}}), each overriding fields (params and
            launcher_options are merged key by key, nested mappings too); chosen with `--config`.
        config: the variant used when none is asked for; after loading, the variant that was applied.
        verify_config: the variant `asi-evolve verify` re-evaluates the best nodes under (None: the run's own,
            with more seeds).
        data: files or folders the evaluator reads under `$ASI_EVOLVE_DATA_DIR` (checked before a run starts).
        data_source: where that data comes from, named when it is missing.
        resources: what one evaluation reserves on a Ray cluster (`--executor ray`) besides `cpus` and
            `memory_mb`: GPUs and custom resources, e.g. {GPU: 1, a100: 1}.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1)
    description: str = Field(min_length=1)
    root: Path
    initial_program: Path
    evaluator: Path | None = None
    evaluator_command: str | None = None
    work_layout: Literal["flat", "experiment"] = "flat"
    isolation: Literal["whole", "split"] = "whole"
    timeout_s: float = Field(default=60.0, gt=0)
    memory_mb: int = Field(default=2048, gt=0)
    max_processes: int = Field(default=64, ge=4)
    cpus: float | None = Field(default=1.0, gt=0)
    disk_mb: int = Field(default=1024, gt=0)
    cascade_thresholds: list[float] = Field(default_factory=list)
    stage1_threshold: float | None = None
    score_metric: str = Field(default="combined_score", min_length=1)
    score_fallback: Literal["none", "mean"] = "none"
    validity_metric: str = Field(default="valid", min_length=1)
    folder_format: Literal["task.yaml", "openevolve", "asi-evolve-experiment"] = "task.yaml"
    params: dict[str, Any] = Field(default_factory=dict)
    steps: int = Field(default=40, ge=1)
    sampler: str = "ucb1"
    sampler_params: dict[str, Any] = Field(default_factory=dict)
    objectives: list[Objective] = Field(default_factory=list)
    models: list[str] = Field(default_factory=list)
    base_urls: list[str] = Field(default_factory=list)
    prices: dict[str, Any] = Field(default_factory=dict)
    researcher_options: dict[str, Any] = Field(default_factory=dict)
    judge_weight: float = Field(default=0.0, ge=0.0, le=1.0)
    judge_scale: tuple[float, float] = (1.0, 10.0)
    target_score: float | None = None
    reference_score: float | None = None
    reference_label: str = ""
    knowledge_dir: Path | None = None
    launcher: str = Field(default="run_program", min_length=1)
    launcher_options: dict[str, Any] = Field(default_factory=dict)
    configs: dict[str, dict[str, Any]] = Field(default_factory=dict)
    config: str | None = None
    verify_config: str | None = None
    data: list[str] = Field(default_factory=list)
    data_source: str = ""
    resources: dict[str, float] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _launcher_mapping(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("launcher"), dict):
            options = dict(data["launcher"])
            name = options.pop("name", None)
            if not isinstance(name, str):
                raise ValueError("a launcher mapping needs a 'name' (e.g. {name: deepspeed, num_gpus: auto})")
            data = {**data, "launcher": name, "launcher_options": {**options, **data.get("launcher_options", {})}}
        return data

    @model_validator(mode="before")
    @classmethod
    def _stage1_shorthand(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("stage1_threshold") is not None:
            if data.get("cascade_thresholds"):
                raise ValueError("set either 'stage1_threshold' or 'cascade_thresholds', not both")
            data = {**data, "cascade_thresholds": [data["stage1_threshold"]]}
        return data

    @model_validator(mode="after")
    def _check_files(self) -> TaskSpec:
        if (self.evaluator is None) == (self.evaluator_command is None):
            raise ValueError("set exactly one of 'evaluator' and 'evaluator_command'")
        if not self.initial_program.is_file():
            raise ValueError(f"initial program not found: {self.initial_program}")
        if self.evaluator is not None and not self.evaluator.is_file():
            raise ValueError(f"evaluator not found: {self.evaluator}")
        if self.isolation == "split" and self.evaluator is None:
            raise ValueError("'isolation: split' needs a Python evaluator that runs its candidate in the jail")
        if self.launcher == "deepspeed" and self.isolation != "split":
            raise ValueError("'launcher: deepspeed' needs 'isolation: split' (the trusted evaluator launches the "
                             "training in the jail)")
        unknown = {key for variant in self.configs.values() for key in variant} & _NOT_CONFIGURABLE
        if unknown:
            raise ValueError(f"configs may not set {', '.join(sorted(unknown))}")
        for key in ("config", "verify_config"):
            value = getattr(self, key)
            if value is not None and value not in self.configs:
                raise ValueError(f"{key} '{value}' is not among configs ({', '.join(self.configs) or 'none'})")
        return self


DATA_ENV = "ASI_EVOLVE_DATA_DIR"


def missing_data(task: TaskSpec, environ: Mapping[str, str] | None = None) -> str:
    """One line naming the task's data that is not under `$ASI_EVOLVE_DATA_DIR` and where it comes from ("" when
    everything is there)."""
    if not task.data:
        return ""
    root = (os.environ if environ is None else environ).get(DATA_ENV, "")
    missing = [rel for rel in task.data if not root or not (Path(root).expanduser() / rel).exists()]
    if not missing:
        return ""
    source = f"; it comes from {task.data_source}" if task.data_source else ""
    where = f"{DATA_ENV}={root} lacks" if root else f"set {DATA_ENV} to the data folder holding"
    return f"task {task.name} needs its data: {where} {', '.join(missing)}{source}"


_NOT_CONFIGURABLE = {"name", "root", "configs", "config", "folder_format"}
_MERGED = ("params", "launcher_options")


_PATH_KEYS = ("initial_program", "evaluator", "knowledge_dir")


def with_config(task: TaskSpec, name: str | None) -> TaskSpec:
    """The task with the variant `name` applied (None: the task's default `config`, if any).

    Applied to the task as loaded (its `config` names the default, not one already applied); `TaskError` in one
    line for an unknown variant or one whose values do not validate."""
    chosen = name or task.config
    if not chosen:
        return task
    if chosen not in task.configs:
        known = ", ".join(sorted(task.configs)) or "none"
        raise TaskError(f"task {task.name} has no config '{chosen}' (choose from: {known})")
    data = task.model_dump()
    for key, value in task.configs[chosen].items():
        if key == "launcher" and isinstance(value, dict):  # the shorthand: its options over the base's
            options = dict(value)
            data["launcher"] = options.pop("name", None)
            data["launcher_options"] = _merged(data["launcher_options"], options)
        elif key in _MERGED and isinstance(value, dict):
            data[key] = _merged(data[key], value)
        elif key in _PATH_KEYS and value is not None:
            data[key] = (task.root / str(value)).resolve()
        else:
            data[key] = value
    data["config"] = chosen
    return _validated(data, f"{task.name} config '{chosen}'")


def with_params(task: TaskSpec, overrides: tuple[str, ...] | list[str]) -> TaskSpec:
    """The task with `KEY=VALUE` overrides of its `params` (dotted keys reach nested mappings; the value is read
    as YAML, so `steps=300` is a number), applied after its variant; `TaskError` in one line for a malformed one
    or a key the task does not have."""
    if not overrides:
        return task
    params = task.model_dump()["params"]
    for item in overrides:
        key, sep, text = str(item).partition("=")
        path = [part.strip() for part in key.split(".")]
        if not sep or not all(path):
            raise TaskError(f"--param wants KEY=VALUE (dotted keys for nested params), not {item!r}")
        level: Any = params
        for depth, part in enumerate(path):  # a typo must not pass as a new parameter nobody reads
            if not isinstance(level, dict) or part not in level:
                known = ", ".join(sorted(level)) if isinstance(level, dict) else "none: not a mapping"
                where = ".".join(path[:depth]) or "params"
                raise TaskError(f"--param {key}: {task.name} has no parameter {part!r} in {where} (known: {known})")
            level = level[part]
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError:
            value = text
        over: dict[str, Any] = {path[-1]: value}
        for part in reversed(path[:-1]):
            over = {part: over}
        params = _merged(params, over)
    return _validated({**task.model_dump(), "params": params}, f"{task.name} with --param")


def _merged(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """`over` on top of `base`, nested mappings merged key by key (a variant names only what it changes)."""
    out = dict(base)
    for key, value in over.items():
        out[key] = _merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def read_yaml_mapping(path: Path) -> dict[str, Any]:
    """A YAML file holding a mapping (empty: {}); `TaskError` in one line otherwise."""
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise TaskError(f"{path}: invalid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(raw, dict):
        raise TaskError(f"{path}: expected a mapping at top level")
    return raw


def load_task_dir(folder: Path) -> TaskSpec:
    """Parse `folder/task.yaml`; raise `TaskError` with a one-line reason when anything is wrong."""
    folder = Path(folder).resolve()
    manifest = folder / "task.yaml"
    if not folder.is_dir():
        raise TaskError(f"task folder not found: {folder}")
    if not manifest.is_file():
        raise TaskError(f"not a task folder (no task.yaml): {folder}")
    return task_from_mapping(folder, read_yaml_mapping(manifest), manifest)


def task_from_mapping(folder: Path, raw: dict[str, Any], origin: Path) -> TaskSpec:
    """The task a raw `task.yaml`-like mapping describes; `origin` names the file in error messages."""
    data = dict(raw)
    data.setdefault("name", folder.name)
    data.setdefault("initial_program", "initial_program.py")
    if "evaluator_command" not in data:
        data.setdefault("evaluator", "evaluator.py")
    if "knowledge_dir" not in data and (folder / "knowledge").is_dir():
        data["knowledge_dir"] = "knowledge"
    for key in _PATH_KEYS:
        if data.get(key) is not None:
            data[key] = (folder / str(data[key])).resolve()
    data["root"] = folder
    return _validated(data, str(origin))


def _validated(data: dict[str, Any], origin: str) -> TaskSpec:
    """The `TaskSpec` of `data`, or `TaskError` naming `origin`, the field and what is wrong with it."""
    try:
        return TaskSpec(**data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "task"
        raise TaskError(f"{origin}: {where}: {err['msg'].removeprefix('Value error, ')}") from None
