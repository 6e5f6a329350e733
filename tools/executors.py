"""Where experiments run. An executor evaluates one program file for a task and returns an `EvalResult`.

Parallelism across trials comes from the graph (LangGraph runs the K trials of a generation concurrently);
an executor only has to run one experiment safely: here (`local`) or on a Ray cluster (`ray`,
`tools.ray_executor`, which imports Ray only when it first runs).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

from tasks.spec import TaskSpec
from tools.deepspeed_launch import Progress
from tools.eval_pool import EvalPool
from tools.evaluation import evaluate_program
from tools.jail import JailSupport, probe_support
from tools.ray_executor import RayExecutor, check_address
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


EXECUTORS: dict[str, Callable[..., Executor]] = {"local": LocalExecutor, "ray": RayExecutor}


def check_executor(name: str, ray_address: str = "") -> None:
    """A one-line ValueError when no executor has this name, or its cluster address is wrong or unreachable."""
    if name not in EXECUTORS:
        raise ValueError(f"unknown executor '{name}' (choose from: {', '.join(sorted(EXECUTORS))})")
    _check_takes_address(name, ray_address)
    if name == "ray":
        check_address(ray_address)


def _check_takes_address(name: str, ray_address: str) -> None:
    if ray_address and "ray_address" not in inspect.signature(EXECUTORS[name]).parameters:
        raise ValueError(f"--ray-address is for --executor ray, not '{name}'")


def make_executor(name: str, sandbox: str | None = None, warm: bool = True, *, ray_address: str = "") -> Executor:
    """The executor `name`; `ray_address` (a Ray cluster) is refused in one line by executors that take none."""
    check_executor(name)
    _check_takes_address(name, ray_address)
    factory = EXECUTORS[name]
    return factory(sandbox, warm=warm, **({"ray_address": ray_address} if ray_address else {}))
