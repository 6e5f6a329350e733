"""Helpers of the hostile-program suite: task folders the candidates attack, and a check that the host is unharmed."""

from __future__ import annotations

import os
import shutil
import tempfile
import textwrap
import time
from pathlib import Path

import psutil
import pytest
import yaml

from tasks.spec import TaskSpec, load_task_dir
from tools.jail import JailError, JailSupport, probe_support
from tools.jail_view import JAIL_UID

# The whole evaluator runs in the jail and imports the candidate (OpenEvolve's way).
WHOLE_EVALUATOR = """
import importlib.util

def evaluate(program_path):
    spec = importlib.util.spec_from_file_location("candidate", program_path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return {"combined_score": float(module.f())}
"""


# Three forked children each really holding 300 MB (a bytearray is touched); the score is how many lived.
FORKED_MEMORY = """
import os, time
children = []
for _ in range(3):
    pid = os.fork()
    if pid == 0:
        block = bytearray(300 * 2**20)
        time.sleep(2)
        os._exit(0)
    children.append(pid)
survivors = sum(os.waitpid(pid, 0)[1] == 0 for pid in children)
def f():
    return float(survivors)
"""


# Prints everything a candidate can see of its environment, other processes and inherited descriptors.
SNOOP = """
import glob, os
seen = [open("/proc/self/environ", "rb").read().decode(errors="replace"), repr(dict(os.environ))]
for path in glob.glob("/proc/*/environ") + glob.glob("/proc/*/cmdline"):
    try:
        seen.append(open(path, "rb").read().decode(errors="replace"))
    except OSError:
        pass
for fd in map(int, os.listdir("/proc/self/fd")):
    try:
        seen.append(os.readlink(f"/proc/self/fd/{fd}"))
        seen.append(os.read(fd, 4096).decode(errors="replace"))
    except OSError:
        pass
print("\\n".join(seen))
"""


def bwrap_support() -> JailSupport:
    """The namespace jail; the suite is about it, so its absence fails in CI and skips elsewhere."""
    try:
        return probe_support("bwrap")
    except JailError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"the hostile suite needs bubblewrap in CI: {exc}")
        pytest.skip(f"bubblewrap is not usable here: {exc}")


def whole_task(root: Path, program: str, **manifest: object) -> TaskSpec:
    """A task whose jailed evaluator imports `program` and scores its `f()`; limits small enough to hit."""
    root.mkdir(parents=True, exist_ok=True)
    os.chmod(root, 0o755)
    (root / "initial_program.py").write_text(textwrap.dedent(program))
    (root / "evaluator.py").write_text(WHOLE_EVALUATOR)
    fields = {"description": "hostile", "timeout_s": 20, "memory_mb": 512, "max_processes": 32, "disk_mb": 64}
    fields.update(manifest)
    (root / "task.yaml").write_text(yaml.safe_dump(fields))
    return load_task_dir(root)


def _jail_processes(marker: str) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["uids", "cmdline"]):
        uids, cmdline = proc.info["uids"], proc.info["cmdline"] or []
        if (uids is not None and uids.real == JAIL_UID) or any(marker in part for part in cmdline):
            found.append(proc)
    return found


class HostGuard:
    """Remembers the host's shared memory and temp dir; `check()` fails if a candidate left anything behind."""

    def __init__(self, marker: str) -> None:
        self.marker = marker
        self.shm = set(os.listdir("/dev/shm"))
        self.tmp = set(os.listdir(tempfile.gettempdir()))

    def check(self) -> None:
        end = time.monotonic() + 3
        left = _jail_processes(self.marker)
        while left and time.monotonic() < end:
            time.sleep(0.05)
            left = [p for p in left if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
        for proc in left:
            proc.kill()
        assert not left, f"processes outlived the evaluation: {[p.info for p in left]}"
        new_shm = set(os.listdir("/dev/shm")) - self.shm
        for name in new_shm:
            shutil.rmtree(Path("/dev/shm", name), ignore_errors=True)
        assert not new_shm, f"shared memory left behind: {sorted(new_shm)}"
        new_tmp = {n for n in set(os.listdir(tempfile.gettempdir())) - self.tmp if self.marker in n}
        assert not new_tmp, f"files left in the host's temp dir: {sorted(new_tmp)}"
