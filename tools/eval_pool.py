"""Warm evaluation workers: one jail per worker that imports the task's evaluator once and forks per candidate.

Why: starting an interpreter, the jail and the evaluator's imports for every candidate costs ~100 ms, which is the
whole run when the evaluation itself is instant. A worker (`tools.pool_worker`) is started once, in the same jail
a one-off evaluation gets (bubblewrap namespaces, the jail uid, the task's cgroup and rlimits, the seccomp
filter, a size-capped tmpfs work dir, /tmp and /dev/shm), and runs each candidate in a fresh forked child that it
kills, reaps and cleans up after (`tools.pool_worker` says how). It serves one evaluation at a time; the pool
keeps as many as there are concurrent evaluations, per task.

Only what the worker can reproduce exactly is pooled: bubblewrap, the whole evaluator jailed (`isolation:
whole`), a Python evaluator, no training progress to stream. Everything else, and every task whose evaluator
cannot be imported by a worker, takes the one-process-per-evaluation path (`tools.evaluation`).
"""

from __future__ import annotations

import base64
import math
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

from tools.cgroups import Cgroup, TreeLimits
from tools.child_env import redact, scrubbed_env, secret_values
from tools.jail import Jail
from tools.jail_view import WORK, bwrap_argv, shown_paths
from tools.pool_worker import POOL_FD_ENV, receive, send
from tools.sandbox import SandboxResult, kill_tree, preexec_hook
from tools.seccomp import KeyringFilter

POOL_WORKER = Path(__file__).with_name("pool_worker.py")
EVAL_CHILD = Path(__file__).with_name("eval_child.py")
_CODE = ".asi-evolve"
_INBOX = f"{_CODE}/in"
_SLOT = "candidate"  # the one program slot of a worker: see WarmWorker.evaluate
_START_S = 60.0  # importing an evaluator's libraries (torch, say) may take a while on a busy machine
_REPLY_GRACE_S = 10.0  # past the candidate's own clock: the worker's kill, sweep and reply
_LIFETIME_CPU_S = 10**7  # the worker's own CPU clock; each candidate gets the task's in its fork


class WorkerError(RuntimeError):
    """A worker could not be started for this evaluator (it is then evaluated one process per candidate)."""


class WarmWorker:
    """One worker process in its jail, for one evaluator; not thread-safe (the pool hands it to one caller)."""

    def __init__(self, jail: Jail, evaluator: Path, ro_paths: list[Path], env: Mapping[str, str]) -> None:
        self.limits = jail.limits
        self.env = dict(env)
        self.proc: subprocess.Popen[bytes] | None = None
        self._host = Path(tempfile.mkdtemp(prefix="asi-evolve-pool-"))
        os.chmod(self._host, 0o755)
        self._inbox = self._host / "in"
        self._inbox.mkdir(mode=0o755)
        own = replace(jail.limits, timeout_s=float(_LIFETIME_CPU_S), cpu_s=_LIFETIME_CPU_S)
        self._cgroup = Cgroup.create(TreeLimits(own.memory_mb, own.max_processes, own.cpus))
        self._sock, theirs = socket.socketpair()
        self._log = (self._host / "worker.log").open("wb")
        inputs = {f"{_CODE}/pool_worker.py": POOL_WORKER, f"{_CODE}/eval_child.py": EVAL_CHILD, _INBOX: self._inbox}
        shown = shown_paths(ro_paths, self._host, jail.support.uid)
        command = [sys.executable, "-u", f"{WORK}/{_CODE}/pool_worker.py", str(evaluator), WORK]
        argv = bwrap_argv(command, inputs, shown, {**scrubbed_env(self.env), POOL_FD_ENV: str(theirs.fileno())},
                          "", own.disk_mb, as_init=True)
        try:
            self.proc = subprocess.Popen(
                argv, cwd=self._host, env={"PATH": os.defpath}, stdin=subprocess.DEVNULL, stdout=self._log,
                stderr=self._log, start_new_session=True, pass_fds=(theirs.fileno(),),
                preexec_fn=preexec_hook(own, self._cgroup, None, KeyringFilter(persistent_ipc=True)))
        except BaseException:
            theirs.close()
            self.close()
            raise
        theirs.close()
        self._sock.settimeout(_START_S)
        try:
            ready = receive(self._sock)
        except OSError:
            ready = None
        if not ready or not ready.get("ready"):
            why = (ready or {}).get("error") or self._last_log_line() or "the worker ended before it was ready"
            self.close()
            raise WorkerError(why)

    def _last_log_line(self) -> str:
        try:
            lines = (self._host / "worker.log").read_text(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return lines[-1].strip() if lines else ""

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def evaluate(self, program: Path, function: str, timeout_s: float, env: Mapping[str, str]) -> SandboxResult:
        """Evaluate `program` with the evaluator's `function` in a fresh child; the worker survives what the
        candidate does. After a reply the worker is reusable only if `self.alive` (and it cleaned up)."""
        # One slot, the same for every candidate: the path a traceback shows (and a repair prompt quotes) must
        # not depend on how many candidates this worker served before, or parallel runs stop being repeatable.
        slot = self._inbox / _SLOT
        shutil.rmtree(slot, ignore_errors=True)  # left over only if the last removal failed
        slot.mkdir(mode=0o755)
        shutil.copyfile(program, slot / "program.py")
        os.chmod(slot / "program.py", 0o444)
        limits = self.limits
        cores = max(1.0, limits.cpus or 1.0)
        request = {
            "program": f"{WORK}/{_INBOX}/{_SLOT}/program.py", "function": function, "timeout_s": timeout_s,
            "cpu_s": limits.cpu_s if limits.cpu_s is not None else math.ceil(timeout_s * cores) + 5,
            "memory_mb": limits.memory_mb, "env": scrubbed_env({**self.env, **env}),
            "max_output": limits.max_output_bytes, "max_result": limits.max_result_bytes,
        }
        before = self._cgroup.counters() if self._cgroup is not None else {}
        reply = None
        try:
            self._sock.settimeout(timeout_s + _REPLY_GRACE_S)
            send(self._sock, request)
            reply = receive(self._sock)
        except (OSError, ValueError):
            reply = None
        finally:
            shutil.rmtree(slot, ignore_errors=True)
        events = self._cgroup.events(before) if self._cgroup is not None else {}
        if reply is None or not reply.get("clean", False):
            self.close()  # a worker that did not answer, or could not clean up, serves no one again
        return _result(reply, timeout_s, events)

    def close(self) -> None:
        """Kill the worker's whole tree and remove its cgroup and files; safe to repeat."""
        if self.proc is not None and self.proc.returncode is None:
            kill_tree(self.proc.pid, self._cgroup)
            self.proc.wait()
        if self._cgroup is not None:
            self._cgroup.remove()
            self._cgroup = None
        self._sock.close()
        self._log.close()
        shutil.rmtree(self._host, ignore_errors=True)


def _result(reply: dict | None, timeout_s: float, events: dict[str, str]) -> SandboxResult:
    """The worker's reply as the `SandboxResult` a one-off run would have given."""
    secrets = secret_values()
    if reply is None:
        limit = events.pop("memory", "")
        return SandboxResult(returncode=-9, timed_out=False, stdout="", duration_s=timeout_s, limit=limit,
                             stderr="the evaluation worker ended during the evaluation", stdout_dropped=0,
                             stderr_dropped=0, pressure="; ".join(events.values()))

    def text(field: str) -> str:
        return redact(base64.b64decode(reply[field]).decode("utf-8", errors="replace"), secrets)

    returncode = int(reply["returncode"])
    limit = events.pop("memory") if returncode == -9 and "memory" in events else ""
    return SandboxResult(returncode=returncode, timed_out=bool(reply["timed_out"]), stdout=text("stdout"),
                         stderr=text("stderr"), stdout_dropped=int(reply["stdout_dropped"]),
                         stderr_dropped=int(reply["stderr_dropped"]), duration_s=float(reply["duration_s"]),
                         limit=limit, result=base64.b64decode(reply["result"]),
                         result_dropped=int(reply["result_dropped"]), pressure="; ".join(events.values()))


class EvalPool:
    """Warm workers per evaluator set-up, each lent to one evaluation at a time; thread-safe.

    Workers are started from one long-lived thread of the pool's: the jail dies with the thread that started it
    (a parent-death signal), and the threads that run evaluations come and go with the graph's executors.
    """

    def __init__(self) -> None:
        self._starter = ThreadPoolExecutor(max_workers=1, thread_name_prefix="asi-evolve-pool")
        self._idle: dict[tuple, list[WarmWorker]] = {}
        self._refused: dict[tuple, str] = {}
        self._lock = threading.Lock()

    def evaluate(self, jail: Jail, evaluator: Path, ro_paths: list[Path], env: Mapping[str, str],
                 program: Path, function: str, timeout_s: float, call_env: Mapping[str, str]) -> SandboxResult | None:
        """Run one stage in a warm worker; None when this evaluator cannot be pooled (the caller runs it alone)."""
        limits = replace(jail.limits, timeout_s=0.0)  # the clock is per request; a worker serves any
        key = (jail.support, limits, str(evaluator), tuple(map(str, ro_paths)), tuple(sorted(env.items())))
        with self._lock:
            if key in self._refused:
                return None
            idle = self._idle.setdefault(key, [])
            worker = idle.pop() if idle else None
        while worker is not None and not worker.alive:
            worker.close()
            with self._lock:
                worker = self._idle[key].pop() if self._idle[key] else None
        if worker is None:
            try:
                worker = self._starter.submit(WarmWorker, jail, evaluator, ro_paths, env).result()
            except (WorkerError, OSError) as exc:
                with self._lock:
                    self._refused[key] = str(exc)
                return None
        try:
            return worker.evaluate(program, function, timeout_s, call_env)
        finally:
            with self._lock:
                if worker.alive:
                    self._idle[key].append(worker)
                else:
                    worker.close()

    def refused(self) -> dict[str, str]:
        """Evaluators that could not be pooled and why (for the run's log)."""
        with self._lock:
            return {key[2]: why for key, why in self._refused.items()}

    def close(self) -> None:
        """Stop the idle workers (an evaluation still running keeps its own until it returns); the pool stays
        usable and starts workers again when asked."""
        with self._lock:
            workers = [w for idle in self._idle.values() for w in idle]
            self._idle.clear()
        for worker in workers:
            worker.close()
