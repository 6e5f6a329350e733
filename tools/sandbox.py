"""Run an untrusted command in a subprocess that cannot outlive, outgrow or outtalk us.

Candidate code is hostile (DESIGN §3.7): it gets its own session (so a timeout kills the whole process group),
rlimits on memory, CPU time and file size, a parent-death signal (so a `kill -9` of the runner leaves no
orphan), a whitelisted environment with API keys removed, and output capped to a tail per stream.
"""

from __future__ import annotations

import ctypes
import math
import os
import re
import resource
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil

_PASSED_THROUGH = ("LANG", "LC_ALL", "TZ", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
_FIXED_ENV = {
    "PYTHONHASHSEED": "0",
    "PYTHONDONTWRITEBYTECODE": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
}
_SECRET_NAME = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|CREDENTIAL", re.IGNORECASE)
_PR_SET_PDEATHSIG = 1
_READ_CHUNK = 1 << 16
_DRAIN_GRACE_S = 1.0  # how long to wait for pipe EOF once the child is gone
_POLL_S = 0.05  # how often the deadline and the child's exit are checked
_SIGNAL_HINTS = {
    signal.SIGXCPU: "CPU time limit",
    signal.SIGXFSZ: "file size limit",
    signal.SIGKILL: "memory limit?",
    signal.SIGSEGV: "memory limit?",
}


@dataclass(frozen=True)
class Limits:
    """Resource limits of one sandboxed run.

    Attributes:
        timeout_s: wall clock; on expiry the process group and every descendant get SIGKILL.
        memory_mb: address-space limit (RLIMIT_AS); None for none.
        cpu_s: CPU-seconds limit (RLIMIT_CPU); None means ceil(timeout_s) + 5.
        file_mb: largest file the child may write (RLIMIT_FSIZE); None for none.
        max_output_bytes: per stream; the tail is kept and the dropped head counted.
    """

    timeout_s: float = 60.0
    memory_mb: int | None = 2048
    cpu_s: int | None = None
    file_mb: int | None = 256
    max_output_bytes: int = 64_000


@dataclass(frozen=True)
class SandboxResult:
    """What a sandboxed run left behind. `returncode` is negative -N when killed by signal N."""

    returncode: int | None
    timed_out: bool
    stdout: str
    stderr: str
    stdout_dropped: int
    stderr_dropped: int
    duration_s: float

    def describe_exit(self) -> str:
        """One line saying how the child ended, with the likely limit when a signal points at one."""
        if self.timed_out:
            return f"timed out after {self.duration_s:.1f} s"
        if self.returncode is None:
            return "did not finish"
        if self.returncode < 0:
            try:
                sig = signal.Signals(-self.returncode)
            except ValueError:
                return f"killed by signal {-self.returncode}"
            hint = _SIGNAL_HINTS.get(sig)
            return f"killed by {sig.name}" + (f" ({hint})" if hint else "")
        if self.returncode != 0 and "MemoryError" in self.stderr[-2000:]:
            return f"exit code {self.returncode} (MemoryError: memory limit?)"
        return f"exit code {self.returncode}"


def is_secret_name(name: str) -> bool:
    """True for variable names that look like credentials; they never reach a candidate."""
    return bool(_SECRET_NAME.search(name))


def scrubbed_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """A whitelisted environment for candidate code, plus `extra` minus anything named like a secret.

    HOME and TMPDIR are set later by `run_sandboxed` to the work dir.
    """
    env = {"PATH": os.environ.get("PATH", os.defpath)}
    env.update({k: os.environ[k] for k in _PASSED_THROUGH if k in os.environ})
    env.update(_FIXED_ENV)
    for key, value in (extra or {}).items():
        if not is_secret_name(key):
            env[key] = str(value)
    return env


def python_argv(script: Path, *args: str) -> list[str]:
    """argv running `script` with this interpreter, unbuffered so a killed child's last lines are kept."""
    return [sys.executable, "-u", str(script), *map(str, args)]


def _preexec(limits: Limits) -> Callable[[], None]:
    """Build the post-fork hook. Everything is resolved before the fork: the child must not import or load."""
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    parent = os.getpid()
    cpu = limits.cpu_s if limits.cpu_s is not None else math.ceil(limits.timeout_s) + 5
    rlimits = [(resource.RLIMIT_CPU, cpu, cpu + 1)]  # SIGXCPU at the soft limit, SIGKILL one second later
    if limits.memory_mb is not None:
        rlimits.append((resource.RLIMIT_AS, limits.memory_mb << 20, limits.memory_mb << 20))
    if limits.file_mb is not None:
        rlimits.append((resource.RLIMIT_FSIZE, limits.file_mb << 20, limits.file_mb << 20))

    def hook() -> None:
        prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        if os.getppid() != parent:  # we died before the death signal was armed
            os._exit(1)
        for which, soft, hard in rlimits:
            resource.setrlimit(which, (soft, hard))

    return hook


class _Tail:
    """A bounded byte buffer keeping the last `cap` bytes and counting what fell off the front."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.data = bytearray()
        self.dropped = 0

    def add(self, chunk: bytes) -> None:
        self.data += chunk
        excess = len(self.data) - self.cap
        if excess > 0:
            del self.data[:excess]
            self.dropped += excess

    def text(self) -> str:
        return self.data.decode("utf-8", errors="replace")


def _kill_tree(pid: int) -> None:
    """SIGKILL the child's process group and every descendant still attached to it (even in new sessions)."""
    try:
        descendants = psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        descendants = []
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    for proc in descendants:
        try:
            proc.kill()
        except psutil.Error:
            pass


def _exited(pid: int) -> bool:
    """Whether the child has exited, without reaping it: its pid (and so its group id) stays reserved."""
    try:
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True


def run_sandboxed(
    argv: Sequence[str],
    *,
    cwd: Path,
    limits: Limits = Limits(),  # noqa: B008 - frozen, so a shared default is safe
    env: Mapping[str, str] | None = None,
) -> SandboxResult:
    """Run `argv` in `cwd` under `limits`; never raises because the child misbehaved.

    `env` defaults to `scrubbed_env()`; secret-looking names are dropped from it either way, and HOME and
    TMPDIR point at `cwd`. Both pipes are multiplexed with a selector in this thread rather than read by
    threads: no reader can be left blocked on a pipe that an escaped descendant still holds open.
    """
    cwd = Path(cwd)
    if not cwd.is_dir():
        raise FileNotFoundError(f"sandbox work dir not found: {cwd}")
    if not argv:
        raise ValueError("run_sandboxed needs a non-empty argv")
    base = env if env is not None else scrubbed_env()
    child_env = {k: str(v) for k, v in base.items() if not is_secret_name(k)}
    child_env["HOME"] = child_env["TMPDIR"] = str(cwd.resolve())

    start = time.monotonic()
    deadline = start + limits.timeout_s
    proc = subprocess.Popen(
        list(argv),
        cwd=cwd,
        env=child_env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
        preexec_fn=_preexec(limits),
    )
    assert proc.stdout is not None and proc.stderr is not None
    out, err = _Tail(limits.max_output_bytes), _Tail(limits.max_output_bytes)
    try:
        timed_out = _pump(proc, {proc.stdout.fileno(): out, proc.stderr.fileno(): err}, deadline)
    finally:
        _kill_tree(proc.pid)  # idempotent: the unreaped child keeps its pid and group id until wait()
        returncode = proc.wait()
        proc.stdout.close()
        proc.stderr.close()
    return SandboxResult(
        returncode=returncode,
        timed_out=timed_out,
        stdout=out.text(),
        stderr=err.text(),
        stdout_dropped=out.dropped,
        stderr_dropped=err.dropped,
        duration_s=time.monotonic() - start,
    )


def _pump(proc: subprocess.Popen[bytes], tails: dict[int, _Tail], deadline: float) -> bool:
    """Read both pipes until the child is gone and they reach EOF; kill at the deadline. True if timed out."""
    timed_out = False
    ended_at: float | None = None  # when the child exited or was killed
    with selectors.DefaultSelector() as sel:
        for fd in tails:
            os.set_blocking(fd, False)
            sel.register(fd, selectors.EVENT_READ)
        while True:
            now = time.monotonic()
            if ended_at is None:
                if _exited(proc.pid):
                    _kill_tree(proc.pid)  # leftovers of a finished child must not linger or hold our pipes
                    ended_at = now
                elif now >= deadline:
                    timed_out = True
                    _kill_tree(proc.pid)
                    ended_at = now
            open_fds = sel.get_map()
            if ended_at is not None and (not open_fds or now - ended_at >= _DRAIN_GRACE_S):
                return timed_out
            if not open_fds:  # the child closed its pipes but runs on
                time.sleep(min(_POLL_S, max(0.0, deadline - now)))
                continue
            for key, _ in sel.select(timeout=_POLL_S):
                try:
                    chunk = os.read(key.fd, _READ_CHUNK)
                except BlockingIOError:
                    continue
                if chunk:
                    tails[key.fd].add(chunk)
                else:
                    sel.unregister(key.fd)
