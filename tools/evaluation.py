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
import sys
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


def defined_functions(evaluator: Path) -> set[str]:
    """Top-level names the evaluator module defines (functions, assignments, imports; read with ast, never run)."""
    try:
        tree = ast.parse(Path(evaluator).read_text(errors="replace"))
    except (OSError, SyntaxError, ValueError):
        return set()
    names: set[str] = set()
    pending: list[ast.stmt] = list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.ImportFrom | ast.Import):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.If | ast.Try | ast.With):  # guarded definitions still count
            pending.extend(node.body)
            pending.extend(getattr(node, "orelse", []))
            pending.extend(getattr(node, "finalbody", []))
            for handler in getattr(node, "handlers", []):
                pending.extend(handler.body)
    return names


def has_stage1(evaluator: Path) -> bool:
    """Whether the evaluator module defines `evaluate_stage1` at top level."""
    return "evaluate_stage1" in defined_functions(evaluator)


def cascade_plan(task: TaskSpec) -> list[tuple[int, str]]:
    """(stage number, evaluator function) in the order they run.

    Without cascade thresholds or `evaluate_stage1`, only `evaluate` runs (reported as stage 2, the full
    evaluation). With both: `evaluate_stage1`, then `evaluate_stage2` (else `evaluate`), then `evaluate_stage3`
    when it exists and a second threshold is set — each stage only if the previous one reached its threshold.
    """
    assert task.evaluator is not None
    names = defined_functions(task.evaluator)
    if not task.cascade_thresholds or "evaluate_stage1" not in names:
        return [(2, "evaluate")]
    plan = [(1, "evaluate_stage1"), (2, "evaluate_stage2" if "evaluate_stage2" in names else "evaluate")]
    if len(task.cascade_thresholds) >= 2 and "evaluate_stage3" in names:
        plan.append((3, "evaluate_stage3"))
    return plan


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
    plan = cascade_plan(task)
    result: EvalResult | None = None
    metrics: dict[str, Any] = {}
    for i, (stage, function) in enumerate(plan):
        remaining = budget - (time.monotonic() - start)
        if remaining <= 0:
            return _timeout(budget, time.monotonic() - start, stage, result)
        out = work / _STAGE_OUT.format(stage)
        out.unlink(missing_ok=True)
        argv = python_argv(EVAL_CHILD, str(task.evaluator.resolve()), str(program), str(out), function)
        limits = Limits(timeout_s=remaining, memory_mb=task.memory_mb)
        run = run_sandboxed(argv, cwd=work, limits=limits, env=env)
        payload, problem = _load_json(out, "evaluator result")
        if isinstance(payload, dict) and isinstance(payload.get("metrics"), dict):  # later stages refine earlier
            metrics = payload["metrics"] = {**metrics, **payload["metrics"]}
        result = _interpret(task, run, payload, problem, budget, time.monotonic() - start, stage)
        last = i == len(plan) - 1
        if last or result.status != "ok" or result.score is None or result.score < task.cascade_thresholds[i]:
            return result
    assert result is not None
    return result


def _experiment_copy(task: TaskSpec, program: Path, work: Path) -> tuple[Path, Path]:
    """The original ASI-Evolve layout: a copy of the task folder's files with the candidate in `steps/step_0/code`.

    Files at the folder's top are copied (the evaluator and its scripts); its subfolders are linked, read-only
    for what matters to the evaluation (data, prompts). Returns (experiment dir, step dir).
    """
    experiment = work / "experiment"
    step = experiment / "steps" / "step_0"
    step.mkdir(parents=True)
    for entry in task.root.iterdir():
        if entry.name in ("steps", "runs", ".git"):
            continue
        if entry.is_file():
            shutil.copy2(entry, experiment / entry.name)
        elif entry.is_dir():
            (experiment / entry.name).symlink_to(entry.resolve(), target_is_directory=True)
    shutil.copy2(program, step / "code")
    return experiment, step


def _run_shell(task: TaskSpec, program: Path, work: Path, budget: float) -> EvalResult:
    assert task.evaluator_command is not None
    cwd, experiment = work, task.root
    if task.work_layout == "experiment":
        experiment, cwd = _experiment_copy(task, program, work)
        program = cwd / "code"
    results = cwd / SHELL_RESULTS
    results.unlink(missing_ok=True)  # a stale file from an earlier run must not pass for this one
    command = task.evaluator_command.replace("{program}", shlex.quote(str(program)))
    command = command.replace("{experiment}", shlex.quote(str(experiment)))
    env = _child_env(task, ASI_EVOLVE_TASK_DIR=str(task.root))
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"  # `python3` in a script: ours
    run = run_sandboxed(
        ["bash", "-c", command], cwd=cwd, limits=Limits(timeout_s=budget, memory_mb=task.memory_mb), env=env
    )
    metrics, problem = _load_json(results, SHELL_RESULTS)
    if metrics is not None and not isinstance(metrics, dict):
        metrics, problem = None, f"{SHELL_RESULTS} is not a JSON object"
    payload = {"metrics": jsonable(metrics)} if metrics is not None else None
    return _interpret(task, run, payload, problem, budget, run.duration_s, stage=2)


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
    task: TaskSpec, run: SandboxResult, payload: Any, problem: str, budget: float, duration: float, stage: int
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
    return _judge(task, metrics, logs)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def score_of(task: TaskSpec, metrics: dict[str, Any]) -> float | None:
    """The task's score metric; without it, under `score_fallback: mean`, the mean of the numeric metrics."""
    if task.score_metric in metrics:
        value = metrics[task.score_metric]
        return float(value) if _is_number(value) else None
    if task.score_fallback == "mean":
        numbers = [float(v) for k, v in metrics.items() if k != "error" and _is_number(v)]
        return sum(numbers) / len(numbers) if numbers else None
    return None


def _judge(task: TaskSpec, metrics: dict[str, Any], logs: dict[str, Any]) -> EvalResult:
    validity = task.validity_metric
    if validity in metrics and not metrics[validity]:
        error = metrics.get("error") or f"the evaluator marked the result invalid ({validity}: {metrics[validity]})"
        return EvalResult(status="invalid", score=None, metrics=metrics, error=_first_line(error), **logs)
    score = score_of(task, metrics)
    if score is None:
        error = metrics.get("error") or f"no finite {task.score_metric}"
        return EvalResult(status="invalid", score=None, metrics=metrics, error=_first_line(error), **logs)
    return EvalResult(status="ok", score=score, metrics=metrics, **logs)


def _first_line(text: Any) -> str:
    lines = [ln.strip() for ln in str(text).splitlines() if ln.strip()]
    return lines[0] if lines else str(text).strip()
