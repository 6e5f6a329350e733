"""Warm evaluation workers: one worker serves many candidates, and nothing one candidate does reaches the next.

The hostile suite (`test_hostile.py`) runs every whole-evaluator attack through a warm worker as well; these
cases are about what only a worker that lives on could get wrong: leftovers between candidates, its own
survival, and falling back where it cannot serve.
"""

from __future__ import annotations

import platform
import textwrap
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from tasks.spec import TaskSpec
from tests.support.hostile import HostGuard, whole_task
from tools.eval_pool import EvalPool
from tools.evaluation import evaluate_program
from tools.jail import JailSupport
from tools.results import EvalResult


@pytest.fixture
def pool(guard: HostGuard) -> Iterator[EvalPool]:
    warm = EvalPool()
    yield warm
    warm.close()  # before the guard looks: a worker outliving its pool would be a leftover


@pytest.fixture
def task(tmp_path: Path) -> TaskSpec:
    """One whole-evaluator task (it imports the candidate and returns f()); its candidates share a worker."""
    return whole_task(tmp_path / "task", "def f():\n    return 0.0\n")


def _evaluate(pool: EvalPool, support: JailSupport, task: TaskSpec, program: str, name: str,
              timeout_s: float | None = None) -> EvalResult:
    path = task.root / f"{name}.py"
    path.write_text(textwrap.dedent(program))
    res = evaluate_program(task, path, support=support, pool=pool, timeout_s=timeout_s)
    assert not pool.refused(), pool.refused()
    return res


def _worker_pids(pool: EvalPool) -> set[int]:
    return {w.proc.pid for idle in pool._idle.values() for w in idle if w.proc is not None}


def test_one_worker_serves_many_candidates_each_in_a_fresh_process(
    task: TaskSpec, support: JailSupport, pool: EvalPool
) -> None:
    program = "import os\ndef f():\n    return float(os.getpid())\n"
    scores = [_evaluate(pool, support, task, program, f"c{i}").score for i in range(4)]
    assert len(set(scores)) == 4, f"each candidate ran in a process of its own: {scores}"
    assert len(_worker_pids(pool)) == 1, "one warm worker served them all"


def test_nothing_a_candidate_leaves_behind_reaches_the_next(
    task: TaskSpec, support: JailSupport, pool: EvalPool, marker: str
) -> None:
    leave = f"""
    import os, subprocess, sys, time
    for folder in (".", "/tmp", "/dev/shm", os.environ["HOME"], "/sandbox/work", "/sandbox/work/.asi-evolve",
                   os.path.dirname(os.path.abspath(__file__))):  # the slot every candidate of the worker gets
        try:
            with open(os.path.join(folder, "{marker}"), "w") as out:
                out.write("planted")
            os.mkdir(os.path.join(folder, "{marker}-dir"))
            os.chmod(os.path.join(folder, "{marker}-dir"), 0)
        except OSError:
            pass
    nap = [sys.executable, "-c", "import time; time.sleep(60)"]
    subprocess.Popen([*nap, "{marker}"], start_new_session=True)
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            os.execv(sys.executable, [*nap, "{marker}-daemon"])
        os._exit(0)
    sys.modules["evaluator"].planted = True
    os.environ["PLANTED"] = "1"
    time.sleep(0.5)
    running = 0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            running += "{marker}" in open(f"/proc/{{pid}}/cmdline").read()
        except OSError:
            pass
    def f():
        return float(running)
    """
    look = f"""
    import os, sys
    seen = []
    for folder in (".", "/tmp", "/dev/shm", os.environ["HOME"], "/sandbox/work", "/sandbox/work/.asi-evolve",
                   os.path.dirname(os.path.abspath(__file__))):  # the slot every candidate of the worker gets
        for name in ("{marker}", "{marker}-dir"):
            if os.path.lexists(os.path.join(folder, name)):
                seen.append(os.path.join(folder, name))
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if "{marker}" in open(f"/proc/{{pid}}/cmdline").read():
                seen.append("process " + pid)
        except OSError:
            pass
    if getattr(sys.modules["evaluator"], "planted", False) or "PLANTED" in os.environ:
        seen.append("state")
    print(seen)
    def f():
        return float(len(seen))
    """
    first = _evaluate(pool, support, task, leave, "leave")
    assert (first.status, first.score) == ("ok", 2.0), (first.error, "both daemons were running")
    assert _worker_pids(pool), "the worker lives on"
    alive = [p for p in psutil.process_iter(["cmdline"]) if any(marker in a for a in p.info["cmdline"] or [])]
    assert not alive, "the candidate's daemons died with its evaluation, not with the worker"
    second = _evaluate(pool, support, task, look, "look")
    assert (second.status, second.score) == ("ok", 0.0), second.stdout_tail


def test_the_worker_is_out_of_its_candidates_reach(task: TaskSpec, support: JailSupport, pool: EvalPool) -> None:
    attack = """import os, signal
for sig in (signal.SIGSTOP, signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
    for victim in (os.getppid(), 1, -1):
        try:
            os.kill(victim, sig)
        except OSError:
            pass
def f():
    return 1.0
"""
    assert _evaluate(pool, support, task, "def f():\n    return 2.0\n", "honest").score == 2.0
    before = _worker_pids(pool)
    res = _evaluate(pool, support, task, attack, "attack")
    assert (res.status, res.score) == ("ok", 1.0), res.error
    assert _evaluate(pool, support, task, "def f():\n    return 3.0\n", "after").score == 3.0
    assert _worker_pids(pool) == before, "the same worker served on"


def test_a_timeout_or_a_crash_leaves_a_working_worker(task: TaskSpec, support: JailSupport, pool: EvalPool) -> None:
    spin = _evaluate(pool, support, task, "while True:\n    pass\n", "spin", timeout_s=2)
    assert spin.status == "timeout" and spin.error == "timed out after 2 s"
    crash = _evaluate(pool, support, task, "import ctypes\nctypes.string_at(0)\n", "crash")
    assert crash.status == "failed" and crash.error.startswith("killed by SIGSEGV"), crash.error
    assert _evaluate(pool, support, task, "def f():\n    return 4.0\n", "fine").score == 4.0
    assert len(_worker_pids(pool)) == 1


@pytest.mark.skipif(platform.machine() != "x86_64", reason="system call numbers for x86_64")
def test_ipc_objects_that_would_outlive_a_candidate_are_refused(
    task: TaskSpec, support: JailSupport, pool: EvalPool
) -> None:
    program = """import ctypes
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
refused = 0
calls = ((29, (0, 4096, 0o1600)), (64, (0, 1, 0o1600)), (68, (0, 0o1600)), (240, (b"/q", 0o100, 0o600, None)))
for number, args in calls:  # shmget, semget, msgget, mq_open
    if libc.syscall(number, *args) < 0 and ctypes.get_errno() == 1:
        refused += 1
def f():
    return float(refused)
"""
    res = _evaluate(pool, support, task, program, "ipc")
    assert (res.status, res.score) == ("ok", 4.0), res.stderr_tail


def test_each_candidate_gets_its_own_random_state(task: TaskSpec, support: JailSupport, pool: EvalPool) -> None:
    program = "import random\nimport numpy\ndef f():\n    return random.random() + numpy.random.random()\n"
    scores = {_evaluate(pool, support, task, program, f"r{i}").score for i in range(3)}
    assert len(scores) == 3


def test_an_evaluator_a_worker_cannot_import_is_evaluated_one_off(
    task: TaskSpec, support: JailSupport, pool: EvalPool
) -> None:
    (task.root / "evaluator.py").write_text("raise RuntimeError('no import for you')\n")
    res = evaluate_program(task, task.initial_program, support=support, pool=pool)
    assert res.status == "failed" and "no import for you" in res.error, res.error
    assert "no import for you" in next(iter(pool.refused().values()))
    assert not _worker_pids(pool)


def test_the_libc_of_a_candidate_still_works_normally(task: TaskSpec, support: JailSupport, pool: EvalPool) -> None:
    """Not everything is refused in a worker: threads, subprocesses and POSIX shared memory still work."""
    program = """import subprocess, threading
from multiprocessing import shared_memory
block = shared_memory.SharedMemory(create=True, size=1024)
block.close()
block.unlink()
threads = [threading.Thread(target=lambda: None) for _ in range(4)]
[t.start() for t in threads]
[t.join() for t in threads]
out = subprocess.run(["echo", "hi"], capture_output=True, text=True).stdout
def f():
    return float(out == "hi\\n")
"""
    res = _evaluate(pool, support, task, program, "libc")
    assert (res.status, res.score) == ("ok", 1.0), res.stderr_tail


def test_a_failure_reads_the_same_whichever_turn_of_the_worker_ran_it(
    task: TaskSpec, support: JailSupport, pool: EvalPool
) -> None:
    # the traceback goes into a repair prompt: a path that changed per candidate made parallel runs unrepeatable
    program = "def f():\n    return undefined_name\n"
    first = _evaluate(pool, support, task, program, "same")
    _evaluate(pool, support, task, "def f():\n    return 1.0\n", "other")
    again = _evaluate(pool, support, task, program, "same")
    assert first.status == again.status == "failed" and "NameError" in first.stderr_tail
    assert first.stderr_tail == again.stderr_tail and first.error == again.error
    assert len(_worker_pids(pool)) == 1
