"""Run the real CLI in a subprocess, as a user would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

CLI = [sys.executable, "-m", "graph.cli"]


def cli_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update({"LANGGRAPH_STRICT_MSGPACK": "true", "COLUMNS": "200", "NO_COLOR": "1"})
    return env


def asi(*args: str, timeout: float = 600, cwd: Path | None = None,
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The CLI as a user runs it, with the offline environment (and `env` on top)."""
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout,
                          env={**cli_env(), **(env or {})}, cwd=cwd)


def status_json(run_dir: Path) -> dict:
    proc = asi("status", str(run_dir), "--json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)
