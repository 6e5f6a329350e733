"""Where experiments run. An executor evaluates one program file for a task and returns an `EvalResult`.

Parallelism across trials comes from the graph (LangGraph runs the K trials of a generation concurrently);
an executor only has to run one experiment safely.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from tasks.spec import TaskSpec
from tools.evaluation import evaluate_program
from tools.results import EvalResult


class Executor(Protocol):
    def run(self, task: TaskSpec, program_path: Path, work_dir: Path | None, timeout_s: float | None) -> EvalResult: ...


class LocalExecutor:
    """Runs the evaluator in a sandboxed subprocess on this machine."""

    def run(self, task: TaskSpec, program_path: Path, work_dir: Path | None, timeout_s: float | None) -> EvalResult:
        return evaluate_program(task, program_path, work_dir=work_dir, timeout_s=timeout_s)


EXECUTORS: dict[str, Callable[[], Executor]] = {"local": LocalExecutor}


def make_executor(name: str) -> Executor:
    try:
        return EXECUTORS[name]()
    except KeyError:
        raise ValueError(f"unknown executor '{name}' (choose from: {', '.join(sorted(EXECUTORS))})") from None
