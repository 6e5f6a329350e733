"""Evaluate one candidate program for a task, out of process, and turn what happened into an `EvalResult`.

The evaluator is never imported here. With `isolation: whole` (the default, and every shell or foreign
evaluator) the evaluator runs inside the jail with the candidate; with `isolation: split` it runs trusted in a
sandboxed process of its own and jails only the candidate. Either way its metrics come back over a result
channel only this process reads, and the score is computed here from them.
"""

from __future__ import annotations

import ast
import functools
import json
import math
import os
import shlex
import shutil
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from tasks.spec import TaskSpec
from tools import pyast
from tools.child_env import python_argv, scrubbed_env
from tools.deepspeed_launch import LAUNCH_ENV, DeepSpeedOptions, Progress, ensure_extensions, parse_progress
from tools.eval_child import RESULT_FD_ENV, jsonable
from tools.eval_pool import EvalPool
from tools.jail import JAIL_ENV, Jail, JailSupport, policy_env, probe_support
from tools.process_io import LineSplitter, ResultChannel
from tools.results import EvalResult
from tools.sandbox import Limits, SandboxResult, run_sandboxed

EVAL_CHILD = Path(__file__).with_name("eval_child.py")
PROGRAM_NAME = "program.py"
SHELL_RESULTS = "results.json"
_CHILD_IN_JAIL = ".asi-evolve/eval_child.py"
_MAX_DEPTH = 16
SEED_ENV = "ASI_EVOLVE_SEED"


def defined_functions(evaluator: Path) -> set[str]:
    """Top-level names the evaluator module defines (functions, assignments, imports; read with ast, never run).
    Read once per version of the file (every candidate's evaluation asks)."""
    try:
        stat = Path(evaluator).stat()
    except OSError:
        return set()
    return set(_defined_names(str(evaluator), stat.st_mtime_ns, stat.st_size))


@functools.lru_cache(maxsize=64)
def _defined_names(evaluator: str, _mtime_ns: int, _size: int) -> frozenset[str]:
    try:
        tree = pyast.parse(Path(evaluator).read_text(errors="replace"))
    except (OSError, SyntaxError, ValueError):
        return frozenset()
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
    return frozenset(names)


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


def jail_limits(task: TaskSpec, timeout_s: float) -> Limits:
    """The limits a task's candidate runs under."""
    return Limits(timeout_s=timeout_s, memory_mb=task.memory_mb, max_processes=task.max_processes,
                  cpus=task.cpus, disk_mb=task.disk_mb)


def evaluate_program(
    task: TaskSpec, program_path: Path, *, work_dir: Path | None = None, timeout_s: float | None = None,
    support: JailSupport | None = None, launch: Mapping[str, Any] | None = None, on_progress: Progress | None = None,
    seed: int = 0, pool: EvalPool | None = None,
) -> EvalResult:
    """Evaluate `program_path` with the task's evaluator under the task's limits, in the jail `support` describes
    (probed here when not given).

    With a `pool`, a stage that a warm worker can run exactly as a one-off process would (`tools.eval_pool`) is
    run there: same jail, same limits, a fresh forked child per candidate.

    `launch` overrides the task's `launcher_options` (the launch tool's arguments); `on_progress` receives the
    training progress a launcher reports while the evaluation runs; `seed` reaches the evaluator as
    `$ASI_EVOLVE_SEED` (verification runs several).

    `timeout_s` (or the task's) bounds the whole stage-1/stage-2 cascade. A temporary work dir is removed
    afterwards; one given by the caller is kept (with the `program.py` the evaluation was handed in it).
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
        jail = Jail(support or probe_support(), jail_limits(task, budget))
        if task.evaluator_command is not None:
            return _run_shell(task, copy, work, budget, jail, seed)
        # before the clock: a launcher's one-time build is not the candidate's time
        extra = {**_launcher_env(task, launch), SEED_ENV: str(seed)}
        return _run_cascade(task, copy, work, budget, jail, extra, on_progress, pool)
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


def _launcher_env(task: TaskSpec, launch: Mapping[str, Any] | None) -> dict[str, str]:
    """What a trusted evaluator gets from its launcher: the resolved options as JSON (DeepSpeed's op cache is
    built here, by trusted code, the first time this machine needs it; other launchers pass theirs as given)."""
    if task.launcher != "deepspeed":
        return {LAUNCH_ENV: json.dumps(dict(launch), sort_keys=True)} if launch else {}
    options = DeepSpeedOptions.resolve({**task.launcher_options, **(launch or {})})
    ensure_extensions(options)
    return {LAUNCH_ENV: options.to_json()}


def _progress_reader(on_progress: Progress | None):
    if on_progress is None:
        return None

    def line(text: str) -> None:
        event = parse_progress(text)
        if event is not None:
            on_progress(event)

    return LineSplitter(line)


def task_cache_dir(task: TaskSpec) -> Path:
    """Where a trusted evaluator keeps what it computes once per machine (a warm start, a baseline's score)."""
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return root / "asi-evolve" / "tasks" / task.name


def _task_env(task: TaskSpec, **extra: str) -> dict[str, str]:
    values = {"ASI_EVOLVE_TASK_PARAMS": json.dumps(task.params), **extra}
    if task.isolation == "split":  # trusted: may keep results across evaluations (never shown to a candidate)
        values["ASI_EVOLVE_CACHE_DIR"] = str(task_cache_dir(task))
    data_dir = os.environ.get("ASI_EVOLVE_DATA_DIR", "")
    if data_dir:  # absolute: the evaluator runs in a work dir of its own
        values["ASI_EVOLVE_DATA_DIR"] = str(Path(data_dir).expanduser().resolve())
    return values


def _task_paths(task: TaskSpec) -> list[Path]:
    """What a jailed evaluator sees read-only: the task folder, the evaluator's folder and the data dir."""
    paths = [task.root]
    if task.evaluator is not None:
        paths.append(task.evaluator.resolve().parent)
    data_dir = os.environ.get("ASI_EVOLVE_DATA_DIR", "")
    if data_dir and Path(data_dir).is_dir():
        paths.append(Path(data_dir).expanduser().resolve())
    return paths


def _stage_dir(work: Path, name: str) -> Path:
    """A fresh host directory for one jailed run (the limits backend's work dir; bwrap's cwd)."""
    path = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=work))
    os.chmod(path, 0o755)
    return path


def poolable(task: TaskSpec, jail: Jail, on_progress: Progress | None) -> bool:
    """Whether a warm worker runs this task's stages exactly as one process per stage would."""
    return (jail.support.backend == "bwrap" and task.isolation == "whole" and task.evaluator is not None
            and task.evaluator_command is None and on_progress is None)


def _run_stage(task: TaskSpec, program: Path, work: Path, function: str, remaining: float,
               jail: Jail, extra: Mapping[str, str], on_progress: Progress | None,
               pool: EvalPool | None = None) -> SandboxResult:
    assert task.evaluator is not None
    evaluator = str(task.evaluator.resolve())
    if pool is not None and poolable(task, jail, on_progress):
        run = pool.evaluate(jail, Path(evaluator), _task_paths(task), _task_env(task), program, function,
                            remaining, extra)
        if run is not None:
            return run
    if task.isolation == "split":  # trusted evaluator outside, candidate jailed by it
        channel = ResultChannel()
        policy = policy_env(jail.support, replace(jail.limits, timeout_s=remaining))
        env = scrubbed_env(_task_env(task, **{JAIL_ENV: policy, RESULT_FD_ENV: str(channel.fd), **extra}))
        own = Limits(timeout_s=remaining, memory_mb=2 * task.memory_mb, max_processes=2 * task.max_processes,
                     cpus=None, disk_mb=None,  # the evaluator's group holds its candidate's group too
                     cpu_s=math.ceil(remaining * max(1.0, task.cpus or 1.0)) + 10)  # above its candidate's
        argv = python_argv(EVAL_CHILD, evaluator, str(program), function)
        return run_sandboxed(argv, cwd=work, limits=own, env=env, channel=channel,
                             on_stdout=_progress_reader(on_progress))
    stage = _stage_dir(work, function)
    argv = [sys.executable, "-u", jail.where(stage, _CHILD_IN_JAIL), evaluator, jail.where(stage, PROGRAM_NAME),
            function]
    inputs = {PROGRAM_NAME: program, _CHILD_IN_JAIL: EVAL_CHILD}
    return jail.run(argv, work=stage, inputs=inputs, ro_paths=_task_paths(task), env=_task_env(task, **extra),
                    timeout_s=remaining, on_stdout=_progress_reader(on_progress))


def _result_payload(run: SandboxResult, label: str) -> tuple[Any, str]:
    """(parsed result, "") or (None, one-line reason it is missing, too large or garbled)."""
    if run.result_dropped:
        return None, f"{label} larger than {len(run.result) >> 20} MB"
    if not run.result:
        return None, f"no {label} sent"
    try:
        return _bounded(json.loads(run.result.decode())), ""
    except RecursionError:
        return None, f"garbled {label}: nested too deep"
    except (UnicodeDecodeError, ValueError) as exc:
        return None, f"garbled {label}: {_first_line(exc) or type(exc).__name__}"


def _bounded(value: Any, depth: int = 0) -> Any:
    """A result as it may be stored: containers nested past `_MAX_DEPTH` and integers no float can hold become
    short strings, so nothing a jailed program sends can break storing or scoring the node."""
    if isinstance(value, dict | list):
        if depth >= _MAX_DEPTH:
            return f"<{type(value).__name__} nested deeper than {_MAX_DEPTH}>"
        if isinstance(value, dict):
            return {str(k): _bounded(v, depth + 1) for k, v in value.items()}
        return [_bounded(v, depth + 1) for v in value]
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 2**63:
        return f"<integer of {len(str(abs(value)))} digits>"
    return value


def _run_cascade(task: TaskSpec, program: Path, work: Path, budget: float, jail: Jail,
                 extra: Mapping[str, str] | None = None, on_progress: Progress | None = None,
                 pool: EvalPool | None = None) -> EvalResult:
    assert task.evaluator is not None
    start = time.monotonic()
    plan = cascade_plan(task)
    result: EvalResult | None = None
    metrics: dict[str, Any] = {}
    for i, (stage, function) in enumerate(plan):
        remaining = budget - (time.monotonic() - start)
        if remaining <= 0:
            return _timeout(budget, time.monotonic() - start, stage, result)
        run = _run_stage(task, program, work, function, remaining, jail, extra or {}, on_progress, pool)
        payload, problem = _result_payload(run, "evaluator result")
        if isinstance(payload, dict) and isinstance(payload.get("metrics"), dict):  # later stages refine earlier
            metrics = payload["metrics"] = {**metrics, **payload["metrics"]}
        result = _interpret(task, run, payload, problem, budget, time.monotonic() - start, stage)
        last = i == len(plan) - 1
        if last or result.status != "ok" or result.score is None or result.score < task.cascade_thresholds[i]:
            return result
    assert result is not None
    return result


def _experiment_inputs(task: TaskSpec, program: Path) -> dict[str, Path]:
    """The original ASI-Evolve layout: the task folder's entries under `experiment/` (read-only), the candidate
    in `experiment/steps/step_0/code`."""
    inputs = {f"experiment/{entry.name}": entry for entry in task.root.iterdir()
              if entry.name not in ("steps", "runs", ".git")}
    inputs["experiment/steps/step_0/code"] = program
    return inputs


def _run_shell(task: TaskSpec, program: Path, work: Path, budget: float, jail: Jail, seed: int = 0) -> EvalResult:
    assert task.evaluator_command is not None
    stage = _stage_dir(work, "shell")
    if task.work_layout == "experiment":
        inputs, cwd = _experiment_inputs(task, program), "experiment/steps/step_0"
        target, experiment = jail.where(stage, f"{cwd}/code"), jail.where(stage, "experiment")
    else:
        inputs, cwd = {PROGRAM_NAME: program}, ""
        target, experiment = jail.where(stage, PROGRAM_NAME), str(task.root)
    command = task.evaluator_command.replace("{program}", shlex.quote(target))
    command = command.replace("{experiment}", shlex.quote(experiment))
    script = (f"(\n{command}\n)\nstatus=$?\n"  # hand results.json back over the result channel, then exit
              f'if [ -f {SHELL_RESULTS} ]; then cat {SHELL_RESULTS} >&"${RESULT_FD_ENV}"; fi\nexit $status\n')
    env = _task_env(task, ASI_EVOLVE_TASK_DIR=str(task.root), **{SEED_ENV: str(seed)})
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', os.defpath)}"  # our python3
    run = jail.run(["bash", "-c", script], work=stage, inputs=inputs, ro_paths=_task_paths(task), env=env,
                   cwd=cwd, timeout_s=budget)
    metrics, problem = _result_payload(run, SHELL_RESULTS)
    if problem.startswith("no "):
        problem = f"no {SHELL_RESULTS} written"
    if metrics is not None and not isinstance(metrics, dict):
        metrics, problem = None, f"{SHELL_RESULTS} is not a JSON object"
    payload = {"metrics": jsonable(metrics)} if metrics is not None else None
    return _interpret(task, run, payload, problem, budget, run.duration_s, stage=2)


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
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an int too large for a float
        return False


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
