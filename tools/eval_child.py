"""Run one evaluator stage out of the runner's process: `python eval_child.py EVALUATOR PROGRAM FUNCTION`.

Standalone on purpose (stdlib only, nothing from this repo): it runs inside the jail when the whole evaluator is
jailed, and in a sandboxed process of its own when the evaluator jails its candidate (`isolation: split`); the
evaluator is never imported in the runner's process. Sends `{"metrics": {...}}` or `{"error": "..."}` over the
result channel whose fd is in `$ASI_EVOLVE_RESULT_FD` (a pipe only the runner reads), once, at the end.
OpenEvolve evaluators run unchanged: one that returns an `EvaluationResult` (metrics plus
artifacts) is read through its `metrics`, and where the `openevolve` package is not installed its
`openevolve.evaluation_result` module is provided.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import sys
import traceback
import types
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FUNCTIONS = ("evaluate", "evaluate_stage1", "evaluate_stage2", "evaluate_stage3")


@dataclass
class EvaluationResult:
    """OpenEvolve's result type: numeric metrics, plus artifacts (logs, feedback) that are not scored."""

    metrics: dict[str, Any]
    artifacts: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, metrics: dict[str, Any]) -> EvaluationResult:
        return cls(metrics=dict(metrics))

    def to_dict(self) -> dict[str, Any]:
        return dict(self.metrics)

    def has_artifacts(self) -> bool:
        return bool(self.artifacts)


def _provide_openevolve() -> None:
    """Make `from openevolve.evaluation_result import EvaluationResult` work when openevolve is absent."""
    try:
        importlib.import_module("openevolve.evaluation_result")
        return
    except ImportError:
        pass
    package = types.ModuleType("openevolve")
    package.__path__ = []  # a package, so its submodule can be imported
    module = types.ModuleType("openevolve.evaluation_result")
    module.EvaluationResult = EvaluationResult  # type: ignore[attr-defined]
    package.evaluation_result = module  # type: ignore[attr-defined]
    sys.modules["openevolve"], sys.modules["openevolve.evaluation_result"] = package, module


def metrics_of(value: Any, function: str) -> Mapping[str, Any]:
    """The metrics an evaluator function returned: a dict, or an object holding them in `.metrics`."""
    if isinstance(value, Mapping):
        return value
    held = getattr(value, "metrics", None)
    if isinstance(held, Mapping):
        return held
    raise TypeError(f"{function}() returned {type(value).__name__}, expected a dict")


def jsonable(value: Any) -> Any:
    """Turn evaluator output into plain JSON values: numpy scalars/arrays, tuples and sets become lists or
    floats, non-finite floats become None, anything else unknown becomes its str."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    tolist = getattr(value, "tolist", None)  # numpy scalars and arrays
    if callable(tolist):
        try:
            return jsonable(tolist())
        except Exception:  # noqa: BLE001 - fall through to the generic conversions
            pass
    try:
        return jsonable(float(value))
    except (TypeError, ValueError):
        return str(value)


RESULT_FD_ENV = "ASI_EVOLVE_RESULT_FD"


def _result_channel() -> int:
    """Take the result fd out of the environment and out of reach of the evaluator's subprocesses."""
    try:
        fd = int(os.environ.pop(RESULT_FD_ENV, ""))
        os.set_inheritable(fd, False)
    except (ValueError, OSError):
        return -1
    return fd


def _send(fd: int, payload: dict[str, Any]) -> None:
    data = json.dumps(payload, allow_nan=False, sort_keys=True).encode()
    if fd < 0:
        print(data.decode())
        return
    with os.fdopen(fd, "wb") as channel:
        channel.write(data)


def _one_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


def _load(evaluator: Path) -> Any:
    spec = importlib.util.spec_from_file_location("evaluator", evaluator)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import evaluator {evaluator}")
    module = importlib.util.module_from_spec(spec)
    sys.modules["evaluator"] = module
    spec.loader.exec_module(module)
    return module


def prepare(evaluator: Path, program: str = "") -> Any:
    """Import the evaluator as `evaluator`, its folder first on sys.path (never our tools/), with OpenEvolve's
    result type importable; `sys.argv` is what a script run as `evaluator.py PROGRAM` would see."""
    sys.argv = [str(evaluator), program] if program else [str(evaluator)]
    here = str(Path(__file__).resolve().parent)
    sys.path[:] = [str(evaluator.parent)] + [p for p in sys.path if p != here]
    _provide_openevolve()
    return _load(evaluator)


def call(module: Any, function: str, program: str, fd: int) -> int:
    """Run one evaluator function on `program` and send its metrics (or the error) over `fd`; the exit code."""
    sys.argv = [sys.argv[0], program]
    try:
        metrics = metrics_of(getattr(module, function)(program), function)
        payload: dict[str, Any] = {"metrics": jsonable(metrics)}
    except BaseException as exc:  # noqa: BLE001 - SystemExit from an evaluator is a failure too
        traceback.print_exc()
        _send(fd, {"error": _one_line(exc)})
        return 1
    _send(fd, payload)
    return 0


def main(argv: list[str]) -> int:
    if len(argv) != 3 or argv[2] not in FUNCTIONS:
        print(f"usage: eval_child.py EVALUATOR PROGRAM ({'|'.join(FUNCTIONS)})", file=sys.stderr)
        return 2
    evaluator, program, function = Path(argv[0]).resolve(), argv[1], argv[2]
    fd = _result_channel()
    try:
        module = prepare(evaluator, program)
    except BaseException as exc:  # noqa: BLE001 - an evaluator that cannot be imported is a failure too
        traceback.print_exc()
        _send(fd, {"error": _one_line(exc)})
        return 1
    return call(module, function, program, fd)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
