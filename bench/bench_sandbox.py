"""Sandbox benchmark: what the jail adds to one evaluation, with bubblewrap namespaces and with process limits only.

Run: `python -m bench.bench_sandbox` (about two minutes on 2 cores). A trivial task (`f()` returns 1.0, the
evaluator imports the program and returns it) is evaluated 100 times per backend after 3 warm-up calls, so the
times are the fixed cost of one evaluation: child start-up, jail set-up and the result channel. Two lower rows
split that cost: a bare `run_sandboxed` of `python -c pass` (process layer, no namespaces) and a `run_candidate`
of a trivial program under bwrap (what a split-isolation evaluator pays per candidate run). The warm-worker row
is the same evaluation through `tools.eval_pool` (the jail and the evaluator's imports paid once).
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tasks.spec import TaskSpec, load_task_dir
from tools.eval_pool import EvalPool
from tools.evaluation import evaluate_program
from tools.jail import JAIL_ENV, JailError, JailSupport, policy_env, probe_support, run_candidate
from tools.sandbox import Limits, run_sandboxed

RUNS = 100
WARMUP = 3
HISTORY = (
    "Before the jail (the plain process sandbox: session, rlimits, no cgroup, no namespaces), the same trivial "
    "evaluation took 125.2 ms median (p90 142.1, min 91.1) on this machine; the 40-step `make run` took 1 min 12 s "
    "before the jail and 1 min 8 s after it (fresh clone, idle machine; 1 min 20 s with a test run beside it)."
)
EVALUATOR = '''import importlib.util


def evaluate(path):
    spec = importlib.util.spec_from_file_location("candidate", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return {"combined_score": module.f()}
'''


def trivial_task(folder: Path) -> TaskSpec:
    """A task whose evaluation does nothing but import the program, so only the sandbox's cost is left. The
    folder is made world-readable: the jail's uid must read the task (tempfile makes it 0700)."""
    (folder / "task.yaml").write_text("description: trivial\n")
    (folder / "initial_program.py").write_text("def f():\n    return 1.0\n")
    (folder / "evaluator.py").write_text(EVALUATOR)
    folder.chmod(0o755)
    return load_task_dir(folder)


def _times(call: Callable[[], Any], check: Callable[[Any], bool]) -> list[float]:
    """Milliseconds of each of `RUNS` calls after `WARMUP` untimed ones; a failed call stops the benchmark, since
    the time of a run that did not do the work says nothing."""
    times = []
    for i in range(WARMUP + RUNS):
        start = time.perf_counter()
        result = call()
        elapsed = (time.perf_counter() - start) * 1e3
        if not check(result):
            raise RuntimeError(f"sandbox benchmark: a run failed: {result!r}")
        if i >= WARMUP:
            times.append(elapsed)
    return times


def _eval_ok(result: Any) -> bool:
    return result.status == "ok" and result.score == 1.0


def _run_ok(result: Any) -> bool:
    return result.returncode == 0


def _row(label: str, backend: str, times: list[float] | None) -> list[str]:
    if times is None:
        return [label, backend, "not available", "", ""]
    p90 = statistics.quantiles(times, n=10)[-1]
    return [label, backend, f"{statistics.median(times):.1f}", f"{p90:.1f}", f"{min(times):.1f}"]


def _bwrap_support() -> JailSupport | None:
    try:
        return probe_support("bwrap")
    except JailError:
        return None


@contextmanager
def _jail_env(support: JailSupport) -> Iterator[None]:
    """`$ASI_EVOLVE_JAIL` set for `run_candidate`, restored afterwards."""
    old = os.environ.get(JAIL_ENV)
    os.environ[JAIL_ENV] = policy_env(support, Limits())
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(JAIL_ENV, None)
        else:
            os.environ[JAIL_ENV] = old


def _measure(folder: Path) -> list[list[str]]:
    task = trivial_task(folder)
    bwrap = _bwrap_support()
    limits = probe_support("limits")
    rows = []
    for name, support in (("bwrap", bwrap), ("limits", limits)):
        times = None if support is None else _times(
            lambda s=support: evaluate_program(task, task.initial_program, support=s), _eval_ok)
        rows.append(_row("`evaluate_program` (trivial task)", name, times))
        print(rows[-1], file=sys.stderr, flush=True)
    times = None
    if bwrap is not None:
        pool = EvalPool()
        try:
            times = _times(lambda: evaluate_program(task, task.initial_program, support=bwrap, pool=pool), _eval_ok)
        finally:
            pool.close()
    rows.append(_row("`evaluate_program` (trivial task), warm worker", "bwrap", times))
    print(rows[-1], file=sys.stderr, flush=True)
    bare = _times(lambda: run_sandboxed([sys.executable, "-c", "pass"], cwd=folder, limits=Limits()), _run_ok)
    rows.append(_row("`run_sandboxed` `python -c pass`", "none (process layer)", bare))
    print(rows[-1], file=sys.stderr, flush=True)
    times = None
    if bwrap is not None:
        program = folder / "trivial.py"
        program.write_text("pass\n")
        with _jail_env(bwrap):
            times = _times(lambda: run_candidate(program), _run_ok)
    rows.append(_row("`run_candidate` (trivial program)", "bwrap", times))
    print(rows[-1], file=sys.stderr, flush=True)
    return rows


def run() -> str:
    """Time the jail's per-evaluation overhead and return the results as a Markdown table."""
    with tempfile.TemporaryDirectory(prefix="asi-evolve-bench-") as tmp:
        rows = _measure(Path(tmp))
    header = ["call", "backend", "median ms", "p90 ms", "min ms"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    lines += ["", f"{RUNS} runs per row after {WARMUP} warm-up calls."]
    return "\n".join(lines)


if __name__ == "__main__":
    print(run())
