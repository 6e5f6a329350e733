"""Task length (Ltask): how long a research task is, along the three axes the paper characterises runs by.

- **Execution cost**: the time an evaluation takes (measured per node) and the compute it holds: the CPU cores
  and GPUs the task allots each evaluation times that time (allotted, not measured usage).
- **Search-space openness**: how much code may change (the evolved region of the initial program) and how much
  of it the run actually explored (distinct programs among the nodes).
- **Feedback complexity**: how much an outcome says: numeric metrics per evaluation and the bytes of logs the
  evaluation left in its node folder.

Every figure is computed from the stored run; nothing is estimated from the task's description.
"""

from __future__ import annotations

import hashlib
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from numbers import Real
from pathlib import Path
from typing import TYPE_CHECKING

from knowledge.records import Node
from tools.edits import EditError, evolve_regions

if TYPE_CHECKING:
    from tasks.spec import TaskSpec

RAN = ("ok", "failed", "timeout", "invalid")  # statuses of nodes whose experiment was launched
LOG_FILES = ("stdout.txt", "stderr.txt", "training.log")


@dataclass(frozen=True)
class TaskLength:
    """The three axes of a run's task length (see the module docstring); None where the run has no data yet."""

    evaluations: int
    eval_s_median: float | None
    eval_s_total: float
    cpu_core_s_per_eval: float | None
    gpu_s_per_eval: float | None
    evolved_lines: int
    evolved_chars: int
    distinct_programs: int
    programs_seen: int
    metrics_per_eval: float | None
    log_bytes_per_eval: float | None

    def as_dict(self) -> dict[str, float | int | None]:
        return asdict(self)

    def lines(self) -> list[tuple[str, str]]:
        """(axis, text) rows for people: the report's table and `status`."""
        def secs(value: float | None) -> str:
            return "-" if value is None else f"{value:.3g} s"

        compute = "-" if self.cpu_core_s_per_eval is None else f"{self.cpu_core_s_per_eval:.3g} core-s"
        if self.gpu_s_per_eval:
            compute += f" + {self.gpu_s_per_eval:.3g} GPU-s"
        elif self.gpu_s_per_eval is None and self.evaluations:
            compute += " + GPU-s not recorded (num_gpus: auto)"
        distinct = f"{self.distinct_programs} of {self.programs_seen}" if self.programs_seen else "0"
        metrics = "-" if self.metrics_per_eval is None else f"{self.metrics_per_eval:.3g}"
        logs = "-" if self.log_bytes_per_eval is None else f"{self.log_bytes_per_eval:,.0f} B"
        return [
            ("execution cost", f"{self.evaluations} evaluations, median {secs(self.eval_s_median)} "
                               f"(total {self.eval_s_total:.4g} s), compute allotted {compute} per evaluation"),
            ("search-space openness", f"evolved region {self.evolved_lines} lines / {self.evolved_chars} chars, "
                                      f"distinct programs {distinct}"),
            ("feedback complexity", f"{metrics} numeric metrics and {logs} of logs per evaluation (median)"),
        ]


def _evolved(program: str) -> tuple[int, int]:
    try:
        regions = evolve_regions(program)
    except EditError:
        regions = [(0, len(program))]
    text = "".join(program[a:b] for a, b in regions)
    return sum(1 for line in text.splitlines() if line.strip()), len(text)


def _numeric(metrics: dict) -> int:
    return sum(1 for v in metrics.values() if isinstance(v, Real) and not isinstance(v, bool))


def _log_bytes(folder: Path) -> int:
    total = 0
    for name in LOG_FILES:
        try:
            total += (folder / name).stat().st_size
        except OSError:
            pass
    return total


def task_length(nodes: Sequence[Node], initial_program: str | None, run_dir: Path | None = None,
                cpus: float | None = 1.0, gpus: float | None = 0.0) -> TaskLength:
    """Ltask of a run from its nodes; `initial_program` is the task's (else the first node's), `run_dir` gives
    the node folders whose logs are counted, `cpus` / `gpus` what the task allots one evaluation."""
    ran = [n for n in nodes if n.status in RAN]
    eval_s = [float(n.timings.get("eval_s", 0.0)) for n in ran]
    median = statistics.median(eval_s) if eval_s else None
    program = initial_program if initial_program is not None else (nodes[0].program if nodes else "")
    lines, chars = _evolved(program)
    programs = [n.program for n in nodes if n.program]
    distinct = len({hashlib.sha256(p.encode()).digest() for p in programs})
    metrics = [_numeric(n.metrics) for n in ran if n.status == "ok"]
    logs = [_log_bytes(run_dir / "nodes" / n.trial_key) for n in ran] if run_dir is not None else []
    return TaskLength(
        evaluations=len(ran),
        eval_s_median=median,
        eval_s_total=sum(eval_s),
        cpu_core_s_per_eval=None if median is None else median * (cpus or 1.0),
        gpu_s_per_eval=None if median is None or gpus is None else median * gpus,
        evolved_lines=lines,
        evolved_chars=chars,
        distinct_programs=distinct,
        programs_seen=len(programs),
        metrics_per_eval=statistics.median(metrics) if metrics else None,
        log_bytes_per_eval=statistics.median(logs) if logs else None,
    )


def allotted_gpus(launcher_options: dict) -> float | None:
    """GPUs one evaluation holds: the launcher's `num_gpus`; None for 'auto' (every GPU of the machine it ran on,
    which the run does not record)."""
    value = launcher_options.get("num_gpus", 0) if isinstance(launcher_options, dict) else 0
    if value == "auto":
        return None
    try:
        return float(value or 0)
    except (TypeError, ValueError):
        return None


def of_run(nodes: Sequence[Node], run_dir: Path, task: TaskSpec | None) -> TaskLength:
    """Ltask of a stored run; `task` is its TaskSpec (None when it can no longer be loaded: the first node's
    program stands for the initial one, one core for the allotment)."""
    if task is None:
        return task_length(nodes, None, run_dir)
    initial = task.initial_program.read_text() if task.initial_program.is_file() else None
    return task_length(nodes, initial, run_dir, cpus=task.cpus, gpus=allotted_gpus(dict(task.launcher_options)))
