"""Where experiments run. An executor evaluates one program file for a task and returns an `EvalResult`.

Parallelism across trials comes from the graph (LangGraph runs the K trials of a generation concurrently);
an executor only has to run one experiment safely.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

from tasks.spec import TaskSpec
from tools.deepspeed_launch import Progress
from tools.eval_pool import EvalPool
from tools.evaluation import evaluate_program
from tools.jail import JailSupport, probe_support
from tools.results import EvalResult


class Executor(Protocol):
    support: JailSupport  # the jail its candidates run in, for the run's record and `status`

    def run(self, task: TaskSpec, program_path: Path, work_dir: Path | None, timeout_s: float | None, *,
            launch: Mapping[str, Any] | None = None, on_progress: Progress | None = None,
            seed: int = 0) -> EvalResult: ...

    def close(self) -> None: ...


class LocalExecutor:
    """Runs the evaluation on this machine, the candidate in the jail probed once when the executor is made.

    With `warm` (the default) a task whose evaluator a warm worker can run exactly as a one-off process would
    is evaluated in warm workers (`tools.eval_pool`): the jail and the evaluator's imports are paid once per
    worker instead of once per candidate.
    """

    def __init__(self, sandbox: str | None = None, warm: bool = True) -> None:
        self.support = probe_support(sandbox or None)
        self.pool = EvalPool() if warm else None

    def run(self, task: TaskSpec, program_path: Path, work_dir: Path | None, timeout_s: float | None, *,
            launch: Mapping[str, Any] | None = None, on_progress: Progress | None = None,
            seed: int = 0) -> EvalResult:
        return evaluate_program(task, program_path, work_dir=work_dir, timeout_s=timeout_s, support=self.support,
                                launch=launch, on_progress=on_progress, seed=seed, pool=self.pool)

    def close(self) -> None:
        """Stop the warm workers (they also end by themselves when idle, and with this process)."""
        if self.pool is not None:
            self.pool.close()


EXECUTORS: dict[str, Callable[..., Executor]] = {"local": LocalExecutor}


def check_executor(name: str) -> None:
    """A one-line ValueError when no executor has this name."""
    if name not in EXECUTORS:
        raise ValueError(f"unknown executor '{name}' (choose from: {', '.join(sorted(EXECUTORS))})")


def make_executor(name: str, sandbox: str | None = None, warm: bool = True) -> Executor:
    check_executor(name)
    return EXECUTORS[name](sandbox, warm=warm)
