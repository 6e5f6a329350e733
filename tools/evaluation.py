"""Evaluate one candidate program for a task, out of process, and turn what happened into an `EvalResult`.

The evaluator is never imported here: it runs in a sandboxed child (`eval_child.py`, or the task's shell
command), on a copy of the program in a fresh work dir. The score comes only from what the evaluator returns.
"""

from __future__ import annotations

import ast
import json
import math
import os
import shlex
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from tasks.spec import TaskSpec
from tools.eval_child import jsonable
from tools.results import EvalResult
from tools.sandbox import Limits, SandboxResult, python_argv, run_sandboxed, scrubbed_env

EVAL_CHILD = Path(__file__).with_name("eval_child.py")
PROGRAM_NAME = "program.py"
SHELL_RESULTS = "results.json"
_STAGE_OUT = ".asi_evolve_stage{}.json"


def has_stage1(evaluator: Path) -> bool:
    """Whether the evaluator module defines `evaluate_stage1` at top level (read with ast, never imported)."""
    try:
        tree = ast.parse(Path(evaluator).read_text(errors="replace"))
    except (OSError, SyntaxError, ValueError):
        return False
    pending: list[ast.stmt] = list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == "evaluate_stage1":
            return True
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "evaluate_stage1" for t in node.targets
        ):
            return True
        if isinstance(node, ast.ImportFrom) and any(
            (a.asname or a.name) == "evaluate_stage1" for a in node.names
        ):
            return True
        if isinstance(node, ast.If | ast.Try | ast.With):  # guarded definitions still count
            pending.extend(node.body)
            pending.extend(getattr(node, "orelse", []))
            pending.extend(getattr(node, "finalbody", []))
            for handler in getattr(node, "handlers", []):
                pending.extend(handler.body)
    return False


def evaluate_program(
    task: TaskSpec, program_path: Path, *, work_dir: Path | None = None, timeout_s: float | None = None
) -> EvalResult:
    """Evaluate `program_path` with the task's evaluator under the task's limits.

    `timeout_s` (or the task's) bounds the whole stage-1/stage-2 cascade. A temporary work dir is removed
    afterwards; one given by the caller is kept (with `program.py` and the evaluator's files in it).
    """
    program_path = Path(program_path)
    original = program_path.read_bytes()  # raises for a missing program: a caller's error, not a candidate's
    own_dir = work_dir is None
    work = Path(tempfile.mkdtemp(prefix="asi-evolve-eval-") if work_dir is None else work_dir).resolve()
    work.mkdir(parents=True, exist_ok=True)  # absolute: the child runs inside it, relative paths would break
    try:
        copy = work / PROGRAM_NAME
        copy.write_bytes(original)
        budget = timeout_s or task.timeout_s
        if task.evaluator_command is not None:
            return _run_shell(task, copy, work, budget)
        return _run_cascade(task, copy, work, budget)
    finally:
        _restore(program_path, original)
        if own_dir:
            shutil.rmtree(work, ignore_errors=True)


def _restore(path: Path, original: bytes) -> None:
    """Put the original program back if the candidate reached it (e.g. when it *is* the work dir's copy)."""
    try:
        if path.is_file() and not path.is_symlink() and path.read_bytes() == original:
            return
        if path.is_symlink() or path.is_file():
            path.unlink()
        elif path.is_dir():
            shutil.rmtree(path)
        path.write_bytes(original)
    except OSError:
        pass


def _child_env(task: TaskSpec, **extra: str) -> dict[str, str]:
    values = {"ASI_EVOLVE_TASK_PARAMS": json.dumps(task.params), **extra}
    data_dir = os.environ.get("ASI_EVOLVE_DATA_DIR", "")
    if data_dir:
        values["ASI_EVOLVE_DATA_DIR"] = data_dir
    return scrubbed_env(extra=values)


def _run_cascade(task: TaskSpec, program: Path, work: Path, budget: float) -> EvalResult:
    assert task.evaluator is not None
    start = time.monotonic()
    env = _child_env(task)
    threshold = task.stage1_threshold
    stages = [1, 2] if threshold is not None and has_stage1(task.evaluator) else [2]
    result: EvalResult | None = None
    for stage in stages:
        remaining = budget - (time.monotonic() - start)
        if remaining <= 0:
            return _timeout(budget, time.monotonic() - start, stage, result)
        out = work / _STAGE_OUT.format(stage)
        out.unlink(missing_ok=True)
        argv = python_argv(EVAL_CHILD, str(task.evaluator.resolve()), str(program), str(out), str(stage))
        limits = Limits(timeout_s=remaining, memory_mb=task.memory_mb)
        run = run_sandboxed(argv, cwd=work, limits=limits, env=env)
        payload, problem = _load_json(out, "evaluator result")
        result = _interpret(run, payload, problem, budget, time.monotonic() - start, stage)
        passed = result.score is not None and threshold is not None and result.score >= threshold
        if stage == 1 and not passed:
            return result
    assert result is not None
    return result


def _run_shell(task: TaskSpec, program: Path, work: Path, budget: float) -> EvalResult:
    assert task.evaluator_command is not None
    results = work / SHELL_RESULTS
    results.unlink(missing_ok=True)  # a stale file from an earlier run must not pass for this one
    command = task.evaluator_command.replace("{program}", shlex.quote(str(program)))
    env = _child_env(task, ASI_EVOLVE_TASK_DIR=str(task.root))
    run = run_sandboxed(
        ["bash", "-c", command], cwd=work, limits=Limits(timeout_s=budget, memory_mb=task.memory_mb), env=env
    )
    metrics, problem = _load_json(results, SHELL_RESULTS)
    if metrics is not None and not isinstance(metrics, dict):
        metrics, problem = None, f"{SHELL_RESULTS} is not a JSON object"
    payload = {"metrics": jsonable(metrics)} if metrics is not None else None
    return _interpret(run, payload, problem, budget, run.duration_s, stage=2)


def _load_json(path: Path, label: str) -> tuple[Any, str]:
    """(parsed content, "") or (None, one-line reason it is missing or garbled)."""
    try:
        return json.loads(path.read_text(errors="replace")), ""
    except FileNotFoundError:
        return None, f"no {label} written"
    except (OSError, ValueError) as exc:
        return None, f"garbled {label}: {_first_line(exc) or type(exc).__name__}"


def _timeout(budget: float, duration: float, stage: int, last: EvalResult | None) -> EvalResult:
    return EvalResult(
        status="timeout",
        score=None,
        error=f"timed out after {budget:g} s",
        stdout_tail=last.stdout_tail if last else "",
        stderr_tail=last.stderr_tail if last else "",
        duration_s=duration,
        stage=stage,
    )


def _interpret(
    run: SandboxResult, payload: Any, problem: str, budget: float, duration: float, stage: int
) -> EvalResult:
    """Map a finished sandbox run and the evaluator's output file to a status, score and one-line error."""
    logs = {"stdout_tail": run.stdout, "stderr_tail": run.stderr, "duration_s": duration, "stage": stage}
    if run.timed_out:
        return EvalResult(status="timeout", score=None, error=f"timed out after {budget:g} s", **logs)
    metrics = payload.get("metrics") if isinstance(payload, dict) else None
    if run.returncode != 0 or not isinstance(metrics, dict):
        error = payload.get("error") if isinstance(payload, dict) else None
        if not error:
            last = next((ln.strip() for ln in reversed(run.stderr.splitlines()) if ln.strip()), "")
            reason = problem or "the evaluator wrote no metrics"
            if run.returncode != 0:
                reason = run.describe_exit()
            error = f"{reason}: {last}" if last else reason
        return EvalResult(status="failed", score=None, error=_first_line(error), **logs)
    return _judge(metrics, logs)


def _judge(metrics: dict[str, Any], logs: dict[str, Any]) -> EvalResult:
    score = metrics.get("combined_score")
    if "valid" in metrics and not metrics["valid"]:
        error = metrics.get("error") or "the evaluator marked the result invalid"
        return EvalResult(status="invalid", score=None, metrics=metrics, error=_first_line(error), **logs)
    if isinstance(score, bool) or not isinstance(score, int | float) or not math.isfinite(score):
        error = metrics.get("error") or "no finite combined_score"
        return EvalResult(status="invalid", score=None, metrics=metrics, error=_first_line(error), **logs)
    return EvalResult(status="ok", score=float(score), metrics=metrics, **logs)


def _first_line(text: Any) -> str:
    lines = [ln.strip() for ln in str(text).splitlines() if ln.strip()]
    return lines[0] if lines else str(text).strip()
