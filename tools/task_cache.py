"""What a trusted evaluator computes once per machine and keeps: a warm start, a baseline's score, features.

The folder is `$ASI_EVOLVE_CACHE_DIR` (set by the runner for `isolation: split` evaluators, never shown to a
candidate), else one under the system's temp dir. A value is built once per key under a file lock, so parallel
evaluations wait for the first instead of building it twice, and written atomically, so a killed build leaves
nothing half-written behind.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

CACHE_ENV = "ASI_EVOLVE_CACHE_DIR"


def cache_dir(default_name: str = "asi-evolve-task-cache") -> Path:
    root = os.environ.get(CACHE_ENV)
    path = Path(root) if root else Path(tempfile.gettempdir()) / default_name
    path.mkdir(parents=True, exist_ok=True)
    return path


def cache_key(value: Any, *extra: str) -> str:
    """A short stable key of a JSON-able value (and any further strings)."""
    text = json.dumps(value, sort_keys=True, default=str) + "".join(extra)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def cached(name: str, build: Callable[[], bytes], folder: Path | None = None) -> bytes:
    """`build()`'s bytes, computed once per name and kept in the cache folder (trusted code only)."""
    where = folder or cache_dir()
    path = where / name
    if path.is_file():
        return path.read_bytes()
    with (where / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not path.is_file():
            data = build()
            tmp = path.with_name(f"{name}.tmp")
            tmp.write_bytes(data)
            tmp.replace(path)
    return path.read_bytes()
