"""The experiment launchers: LangChain tools that the trial's tool node executes, one registry line each.

A task names its launcher in task.yaml (`launcher: run_program`, the default, `deepspeed` or `rdkit`); the
Engineer asks for that tool with `launch_call`, and LangGraph's tool node runs it, so Studio shows every launch
with its arguments. Services come from the graph's provider through the tool runtime's context, so a tool's
arguments stay plain JSON. Every tool answers with the `EvalResult` as JSON.

Adding a launcher: write a `make_<name>(provider) -> BaseTool` and a `Launcher` line in `LAUNCHERS`, giving
the tool's name and the arguments the Engineer passes for a task.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langchain_core.tools import BaseTool, tool
from langgraph.prebuilt import ToolRuntime

from graph.context import Context
from graph.services import ServiceProvider
from tasks.registry import load_task
from tasks.spec import TaskError, TaskSpec, missing_data
from tools.deepspeed_launch import DeepSpeedOptions
from tools.results import EvalResult

TRAINING_LOG = "training.log"


def make_run_program(provider: ServiceProvider) -> BaseTool:
    @tool
    def run_program(program_path: str, runtime: ToolRuntime[Context]) -> str:
        """Evaluate the program file at `program_path` with the run's task evaluator in a sandbox.

        Returns the evaluation result as JSON: status, score (combined_score), metrics, error, output tails.
        """
        services = provider(runtime.context)
        path = Path(program_path)
        if not path.is_file():
            return EvalResult("failed", None, error=f"program file not found: {program_path}").to_json()
        return services.executor.run(services.task, path, None, services.settings.eval_timeout_s).to_json()

    return run_program


def make_train_with_deepspeed(provider: ServiceProvider) -> BaseTool:
    @tool
    def train_with_deepspeed(program_path: str, runtime: ToolRuntime[Context], config: str = "",
                             num_gpus: int | None = None, zero_stage: int | None = None,
                             bf16: bool | None = None) -> str:
        """Train the candidate program at `program_path` with the task's fixed training harness under DeepSpeed,
        in the sandbox, and score what the training wrote with the task's evaluator.

        `config` names the task variant (cpu, gpu, ...; empty: the run's); `num_gpus` 0 trains on the CPU over
        gloo, more uses DeepSpeed's launcher with that many GPUs; `zero_stage` and `bf16` set the DeepSpeed
        config. What is left out comes from the variant's `launcher_options`. Progress (step, loss, tokens/s)
        goes to the node's training.log and the run's stream as it happens. Returns the evaluation result as JSON.
        """
        services = provider(runtime.context)
        path = Path(program_path)
        if not path.is_file():
            return EvalResult("failed", None, error=f"program file not found: {program_path}").to_json()
        task = services.task
        if config and config != (task.config or ""):
            try:
                task = load_task(runtime.context.task, config, runtime.context.params)
            except TaskError as exc:
                return EvalResult("failed", None, error=str(exc)).to_json()
        log_path = path.parent / TRAINING_LOG
        writer = runtime.stream_writer

        def progress(event: dict[str, Any]) -> None:
            with log_path.open("a") as log:
                log.write(json.dumps(event, sort_keys=True) + "\n")
            if writer is not None:
                writer({"training": {"node": path.parent.name, **event}})

        given = {"num_gpus": num_gpus, "zero_stage": zero_stage, "bf16": bf16}
        launch = {key: value for key, value in given.items() if value is not None}
        result = services.executor.run(task, path, None, services.settings.eval_timeout_s,
                                       launch=launch, on_progress=progress)
        return result.to_json()

    return train_with_deepspeed


def make_evaluate_drug_target(provider: ServiceProvider) -> BaseTool:
    @tool
    def evaluate_drug_target(program_path: str, runtime: ToolRuntime[Context]) -> str:
        """Evaluate the drug–target affinity program at `program_path`: the drug (RDKit) and protein features it
        names are computed by trusted code and cached in the run's `cache/chem` folder, so a featurisation an
        earlier candidate used is not recomputed; the program fits and predicts in the sandbox; the evaluator
        scores the predictions against labels the sandbox never holds. Returns the evaluation result as JSON.
        """
        services = provider(runtime.context)
        path = Path(program_path)
        if not path.is_file():
            return EvalResult("failed", None, error=f"program file not found: {program_path}").to_json()
        cache = services.run_dir / "cache" / "chem"
        cache.mkdir(parents=True, exist_ok=True)
        return services.executor.run(services.task, path, None, services.settings.eval_timeout_s,
                                     launch={"feature_cache": str(cache)}).to_json()

    return evaluate_drug_target


def _deepspeed_args(task: TaskSpec) -> dict[str, Any]:
    options = DeepSpeedOptions.resolve(task.launcher_options)
    return {"config": task.config or "", "num_gpus": options.num_gpus, "zero_stage": options.zero_stage,
            "bf16": options.bf16}


@dataclass(frozen=True)
class Launcher:
    """A launcher: the tool it runs and the arguments, besides the program path, a task's launch passes."""

    tool_name: str
    make_tool: Callable[[ServiceProvider], BaseTool]
    task_args: Callable[[TaskSpec], dict[str, Any]] = lambda task: {}


LAUNCHERS: dict[str, Launcher] = {
    "run_program": Launcher("run_program", make_run_program),
    "deepspeed": Launcher("train_with_deepspeed", make_train_with_deepspeed, _deepspeed_args),
    "rdkit": Launcher("evaluate_drug_target", make_evaluate_drug_target),
}


def check_launcher(task: TaskSpec) -> None:
    """A one-line ValueError when the task names no known launcher, options it cannot use, or data that is not
    on this machine."""
    if task.launcher not in LAUNCHERS:
        raise ValueError(f"task {task.name}: unknown launcher '{task.launcher}' (choose from: "
                         f"{', '.join(sorted(LAUNCHERS))})")
    LAUNCHERS[task.launcher].task_args(task)
    problem = missing_data(task)
    if problem:
        raise ValueError(problem)


def make_launch_tools(provider: ServiceProvider) -> list[BaseTool]:
    """Every launcher's tool: the tool node holds them all, the Engineer calls its task's."""
    return [launcher.make_tool(provider) for launcher in LAUNCHERS.values()]


def launch_call(task: TaskSpec, program_path: Path, call_id: str) -> dict[str, Any]:
    """The tool call that runs `program_path` with the task's launcher."""
    launcher = LAUNCHERS[task.launcher]
    args = {"program_path": str(program_path), **launcher.task_args(task)}
    return {"name": launcher.tool_name, "args": args, "id": call_id}
