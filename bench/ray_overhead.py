"""Ray executor benchmark: what running an evaluation as a Ray task adds to the same evaluation run here.

Run: `python -m bench.ray_overhead` (about 15 seconds on 2 cores). The sandbox benchmark's trivial task (the
evaluator imports the program and returns its `f()`) is evaluated `RUNS` times after `WARMUP` untimed calls by the
local executor and by the Ray executor on a local Ray instance of this machine, taking turns, with warm workers and
without, so the difference is the Ray round trip: submitting the task, the worker fetching its arguments, sending
back the result. The Ray instance's start and the first evaluation (a Ray worker starting, the task unpacked, the jail
probed on the worker) are reported on their own row.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench.bench_sandbox import trivial_task
from tasks.spec import TaskSpec
from tools.executors import Executor, LocalExecutor
from tools.ray_executor import RayExecutor

RUNS = 20
WARMUP = 2


def _paired(executors: dict[str, Executor], task: TaskSpec) -> dict[str, list[float]]:
    """Milliseconds of `RUNS` evaluations per executor after `WARMUP` untimed ones, the executors taking turns (a
    drift of the machine hits both alike); a failed evaluation stops the benchmark."""
    times: dict[str, list[float]] = {name: [] for name in executors}
    for i in range(WARMUP + RUNS):
        for name, executor in executors.items():
            started = time.perf_counter()
            result = executor.run(task, task.initial_program, None, None)
            elapsed = (time.perf_counter() - started) * 1e3
            if result.status != "ok" or result.score != 1.0:
                raise RuntimeError(f"ray overhead benchmark: an evaluation failed: {result.error}")
            if i >= WARMUP:
                times[name].append(elapsed)
    return times


def _measure(task: TaskSpec) -> list[list[str]]:
    rows: list[list[str]] = []
    medians: dict[tuple[str, bool], float] = {}
    ray_executors = {warm: RayExecutor(warm=warm) for warm in (True, False)}
    try:
        started = time.perf_counter()
        first = ray_executors[True].run(task, task.initial_program, None, None)
        start_s = time.perf_counter() - started
        if first.status != "ok":
            raise RuntimeError(f"ray overhead benchmark: the first evaluation failed: {first.error}")
        for warm in (True, False):
            executors: dict[str, Executor] = {"local": LocalExecutor(warm=warm), "ray": ray_executors[warm]}
            for name, times in _paired(executors, task).items():
                medians[(name, warm)] = statistics.median(times)
                rows.append([name, "yes" if warm else "no", f"{medians[(name, warm)]:.1f}",
                             f"{statistics.quantiles(times, n=10)[-1]:.1f}", f"{min(times):.1f}"])
                print(rows[-1], file=sys.stderr, flush=True)
            executors["local"].close()
        for warm in (True, False):
            extra = medians[("ray", warm)] - medians[("local", warm)]
            rows.append([f"Ray overhead ({'warm' if warm else 'one-off'} workers)", "yes" if warm else "no",
                         f"{extra:+.1f}", "", ""])
        rows.append(["Ray start-up + first evaluation", "yes", f"{start_s * 1e3:.0f}", "", ""])
    finally:
        for executor in ray_executors.values():
            executor.close()
    return rows


def run() -> str:
    """Time the Ray executor against the local one and return the results as a Markdown table."""
    with tempfile.TemporaryDirectory(prefix="asi-evolve-bench-") as tmp:
        Path(tmp).chmod(0o755)
        rows = _measure(trivial_task(Path(tmp)))
    header = ["executor", "warm workers", "median ms / eval", "p90 ms", "min ms"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    lines += ["", f"{RUNS} evaluations per row after {WARMUP} warm-up calls; Ray: a local instance of this machine "
              "(`--executor ray`, no address)."]
    return "\n".join(lines)


if __name__ == "__main__":
    print(run())
