"""Run one evaluator stage inside the sandbox: `python eval_child.py EVALUATOR PROGRAM OUT_JSON STAGE`.

Standalone on purpose (stdlib only, nothing from this repo): the evaluator is imported here, in the
sandboxed child, never in the runner's process. Writes `{"metrics": {...}}` or `{"error": "..."}` to
OUT_JSON atomically.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import sys
import traceback
from collections.abc import Mapping
from pathlib import Path
from typing import Any

_ENTRY_POINTS = {"1": "evaluate_stage1", "2": "evaluate"}


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


def _write_atomic(path: Path, payload: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(payload, allow_nan=False, sort_keys=True))
    os.replace(tmp, path)


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


def main(argv: list[str]) -> int:
    if len(argv) != 4 or argv[3] not in _ENTRY_POINTS:
        print("usage: eval_child.py EVALUATOR PROGRAM OUT_JSON STAGE(1|2)", file=sys.stderr)
        return 2
    evaluator, program, out = Path(argv[0]).resolve(), argv[1], Path(argv[2])
    entry = _ENTRY_POINTS[argv[3]]
    here = str(Path(__file__).resolve().parent)
    sys.path[:] = [str(evaluator.parent)] + [p for p in sys.path if p != here]  # never shadow with our tools/
    sys.argv = [str(evaluator), program]  # the out path stays out of reach of a casual candidate
    try:
        metrics = getattr(_load(evaluator), entry)(program)
        if not isinstance(metrics, Mapping):
            raise TypeError(f"{entry}() returned {type(metrics).__name__}, expected a dict")
        payload: dict[str, Any] = {"metrics": jsonable(metrics)}
    except BaseException as exc:  # noqa: BLE001 - SystemExit from an evaluator is a failure too
        traceback.print_exc()
        _write_atomic(out, {"error": _one_line(exc)})
        return 1
    _write_atomic(out, payload)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
