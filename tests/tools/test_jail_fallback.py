"""The jail without namespaces (`limits`): what still holds, and that its gaps are said once per run and in status."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.cli import asi
from tests.support.hostile import FORKED_MEMORY, HostGuard, whole_task
from tests.support.tiny_task import write_tiny_task
from tools.evaluation import evaluate_program
from tools.jail import Jail, JailError, JailSupport, jail_from_env, policy_env, probe_support
from tools.jail_view import JAIL_UID
from tools.sandbox import Limits


@pytest.fixture(scope="module")
def limits() -> JailSupport:
    return probe_support("limits")


@pytest.fixture
def guard() -> Iterator[HostGuard]:
    host = HostGuard(f"fallback-{uuid.uuid4().hex[:12]}")
    yield host
    host.check()


def test_the_limits_backend_says_what_it_lacks(limits: JailSupport) -> None:
    assert limits.backend == "limits"
    assert "without namespaces" in limits.warnings[0] and "apt install bubblewrap" in limits.warnings[0]
    assert "process limits only" in limits.describe()
    with pytest.raises(JailError, match="unknown sandbox 'docker'"):
        probe_support("docker")


def test_the_policy_travels_to_a_trusted_evaluator_unchanged(limits: JailSupport) -> None:
    custom = Limits(timeout_s=7, memory_mb=300, max_processes=9, cpus=0.5, disk_mb=5)
    jail = jail_from_env({"ASI_EVOLVE_JAIL": policy_env(limits, custom)})
    assert (jail.support, jail.limits) == (limits, custom)


def test_timeouts_and_escaped_children_are_still_contained(tmp_path: Path, limits: JailSupport,
                                                           guard: HostGuard) -> None:
    program = f"""
    import subprocess, time
    subprocess.Popen(["sleep", "60", "{guard.marker}"], start_new_session=True)
    time.sleep(60)
    def f():
        return 1.0
    """
    res = evaluate_program(whole_task(tmp_path / "task", program), tmp_path / "task" / "initial_program.py",
                           timeout_s=2, support=limits)
    assert res.status == "timeout"


def test_the_tree_is_still_held_to_its_memory(tmp_path: Path, limits: JailSupport, guard: HostGuard) -> None:
    if "memory" not in limits.cgroup:
        pytest.skip("no memory cgroup here")
    task = whole_task(tmp_path / "task", FORKED_MEMORY, memory_mb=512)
    res = evaluate_program(task, task.initial_program, support=limits)
    assert (res.status == "ok" and res.score is not None and res.score < 3) or "memory limit" in res.error


def test_the_disk_watch_stops_a_work_dir_fill(tmp_path: Path, limits: JailSupport, guard: HostGuard) -> None:
    program = """
    import time
    with open("fill.bin", "wb") as out:
        for _ in range(400):
            out.write(b"x" * 2**20)
            out.flush()
            time.sleep(0.005)
    def f():
        return 1.0
    """
    task = whole_task(tmp_path / "task", program, disk_mb=16)
    res = evaluate_program(task, task.initial_program, support=limits)
    assert res.status == "failed" and res.error.startswith("disk limit reached (16 MB"), res.error


def test_a_run_warns_once_and_status_keeps_the_warning(tmp_path: Path) -> None:
    task = write_tiny_task(tmp_path / "task")
    run_dir = tmp_path / "run"
    proc = asi("run", str(task), "--steps", "2", "--run-dir", str(run_dir), "--no-cognition", "--sandbox", "limits")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count("without namespaces") == 1
    info = json.loads(asi("status", str(run_dir), "--json").stdout)
    assert info["sandbox"].startswith("process limits only")
    assert any("without namespaces" in w for w in info["sandbox_warnings"])
    shown = asi("status", str(run_dir))
    assert "warning" in shown.stdout and "bubblewrap" in shown.stdout
    bad = asi("run", str(task), "--run-dir", str(tmp_path / "bad"), "--sandbox", "docker")
    assert bad.returncode == 2
    assert bad.stderr.strip() == "error: unknown sandbox 'docker' (choose from: auto, bwrap, limits)"


def test_as_root_the_limits_backend_drops_to_the_jail_uid(tmp_path: Path, guard: HostGuard) -> None:
    system_python = Path("/usr/bin/python3")
    if os.geteuid() != 0 or not system_python.is_file():
        pytest.skip("needs root and a system interpreter the jail uid can run")
    support = JailSupport("limits", JAIL_UID, probe_support("limits").cgroup)
    work = tmp_path / "work"
    work.mkdir()
    os.chmod(tmp_path, 0o755)
    code = f"""
import os, signal
print(os.getuid(), os.getgid())
open("/dev/shm/{guard.marker}", "w").write("left behind?")
try:
    os.kill(os.getppid(), signal.SIGKILL)
except PermissionError:
    print("refused")
"""
    res = Jail(support, Limits(timeout_s=20)).run([str(system_python), "-c", code], work=work)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == [str(JAIL_UID), str(JAIL_UID), "refused"]
    assert not Path("/dev/shm", guard.marker).exists(), "its shared memory is removed afterwards"
