"""Run a command in a subprocess that cannot outlive, outgrow or outtalk us: the process layer of the sandbox.

The child gets its own session (a timeout kills the whole process group), a fresh cgroup holding its whole tree
to one memory, process and CPU budget where cgroups can be written (`tools.cgroups`), rlimits on memory, CPU
time, file size and core dumps as a second fence, optionally another uid, a parent-death signal (a `kill -9` of
the runner leaves no orphan), a whitelisted environment with API keys removed, output capped to a tail per
stream, and optionally a result channel: a pipe whose write end only the child holds and whose read end only
we hold. Namespaces and the file-system view are `tools.jail`'s job, which runs bubblewrap through this.
"""

from __future__ import annotations

import ctypes
import math
import os
import resource
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil

from tools.cgroups import Cgroup, TreeLimits
from tools.child_env import is_secret_name, scrubbed_env, secret_values
from tools.process_io import Pump, ResultChannel, Tail
from tools.seccomp import KeyringFilter

_PR_SET_PDEATHSIG = 1
_SIGNAL_HINTS = {int(signal.SIGXCPU): "CPU time limit", int(signal.SIGXFSZ): "file size limit"}


@dataclass(frozen=True)
class Limits:
    """Resource limits of one sandboxed run.

    Attributes:
        timeout_s: wall clock; on expiry the process group and every descendant get SIGKILL.
        memory_mb: memory of the whole process tree (cgroup) and address space of each process (RLIMIT_AS).
        max_processes: processes and threads of the whole tree (cgroup `pids`).
        cpus: CPU share of the whole tree (cgroup quota; 1.0 is one core).
        cpu_s: CPU-seconds of each process (RLIMIT_CPU); None means ceil(timeout_s * max(1, cpus)) + 5.
        file_mb: largest file the child may write (RLIMIT_FSIZE).
        max_open_files: descriptors each process may hold (RLIMIT_NOFILE): the host's file table is shared.
        disk_mb: what the work dir may hold (a tmpfs size in the jail; watched and killed at otherwise).
        max_output_bytes: per stream; the tail is kept and the dropped head counted.
        max_result_bytes: what the result channel takes before it is cut off (the result is then refused).
    """

    timeout_s: float = 60.0
    memory_mb: int | None = 2048
    max_processes: int | None = 64
    cpus: float | None = 1.0
    cpu_s: int | None = None
    file_mb: int | None = 256
    max_open_files: int = 1024
    disk_mb: int | None = 1024
    max_output_bytes: int = 64_000
    max_result_bytes: int = 16 << 20


@dataclass(frozen=True)
class SandboxResult:
    """What a sandboxed run left behind. `returncode` is negative -N when killed by signal N.

    `limit` names the limit that ended the run ("" when none did: a memory limit only when its OOM kill is what
    ended the child); `pressure` names limits reached without ending it (a refused fork, an OOM kill of some
    other process of the tree). `result` is what the child wrote on its result channel (`result_dropped` counts
    bytes past the cap). `signal_from_status` marks a signal read from an init's exit status 128+N, which the
    child could also have exited with: such a signal is reported, but never taken as proof that a limit fired.
    """

    returncode: int | None
    timed_out: bool
    stdout: str
    stderr: str
    stdout_dropped: int
    stderr_dropped: int
    duration_s: float
    limit: str = ""
    result: bytes = b""
    result_dropped: int = 0
    pressure: str = ""
    signal_from_status: bool = False

    def describe_exit(self) -> str:
        """One line saying how the child ended, naming a limit only when it is known to have fired."""
        if self.timed_out:
            return f"timed out after {self.duration_s:.1f} s"
        if self.limit:
            return self.limit
        reason = self._ending()
        return f"{reason}; {self.pressure}" if self.pressure else reason

    def _ending(self) -> str:
        if self.returncode is None:
            return "did not finish"
        if self.returncode < 0:
            number = -self.returncode
            try:
                name = signal.Signals(number).name
            except ValueError:
                return f"killed by signal {number}"
            hint = None if self.signal_from_status else _SIGNAL_HINTS.get(number)  # a status could be feigned
            return f"killed by {name} ({hint or f'signal {number}'})"
        last = next((ln.strip() for ln in reversed(self.stderr.splitlines()) if ln.strip()), "")
        if self.returncode != 0 and last.startswith("MemoryError"):
            return f"exit code {self.returncode} (MemoryError)"  # likely the address-space limit; not proof
        return f"exit code {self.returncode}"


def _within(which: int, soft: int, hard: int) -> tuple[int, int]:
    _, ceiling = resource.getrlimit(which)
    if ceiling == resource.RLIM_INFINITY:
        return soft, hard
    return min(soft, ceiling), min(hard, ceiling)


def preexec_hook(limits: Limits, cgroup: Cgroup | None, uid: int | None,
             keyring: KeyringFilter | None) -> Callable[[], None]:
    """Build the post-fork hook. Everything is resolved before the fork: the child must not import or load.

    Order matters: join the cgroup while still privileged, set the rlimits, drop to `uid`, and only then arm the
    parent-death signal (a change of credentials clears it).
    """
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    parent = os.getpid()
    cores = max(1.0, limits.cpus or 1.0)  # CPU time of a process with several threads grows faster than wall time
    cpu = limits.cpu_s if limits.cpu_s is not None else math.ceil(limits.timeout_s * cores) + 5
    rlimits = [(resource.RLIMIT_CPU, cpu, cpu + 1), (resource.RLIMIT_CORE, 0, 0),  # SIGXCPU, then SIGKILL
               (resource.RLIMIT_NOFILE, limits.max_open_files, limits.max_open_files)]
    if limits.memory_mb is not None:
        rlimits.append((resource.RLIMIT_AS, limits.memory_mb << 20, limits.memory_mb << 20))
    if limits.file_mb is not None:
        rlimits.append((resource.RLIMIT_FSIZE, limits.file_mb << 20, limits.file_mb << 20))
    if uid is not None and cgroup is None and limits.max_processes is not None:
        rlimits.append((resource.RLIMIT_NPROC, limits.max_processes, limits.max_processes))  # per uid: coarse
    # a nested sandbox inherits its parent's limits: never ask for more (raising a hard limit needs a privilege
    # that even root may lack in a container, and the refusal would fail the fork)
    rlimits = [(which, *_within(which, soft, hard)) for which, soft, hard in rlimits]
    procs_files = cgroup.procs_files if cgroup is not None else []

    def hook() -> None:
        pid = str(os.getpid()).encode()
        for path in procs_files:
            fd = os.open(path, os.O_WRONLY)
            try:
                os.write(fd, pid)
            finally:
                os.close(fd)
        for which, soft, hard in rlimits:
            resource.setrlimit(which, (soft, hard))
        if uid is not None:
            os.setgroups([])
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)
        prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        if os.getppid() != parent:  # we died before the death signal was armed
            os._exit(1)
        if keyring is not None:
            keyring.install()

    return hook


def kill_tree(pid: int, cgroup: Cgroup | None) -> None:
    """SIGKILL the child's process group, every descendant still attached to it (even in new sessions), and
    everything in its cgroup (which also holds descendants that were re-parented away from us)."""
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
    if cgroup is not None:
        cgroup.kill_all()


def run_sandboxed(
    argv: Sequence[str],
    *,
    cwd: Path,
    limits: Limits = Limits(),  # noqa: B008 - frozen, so a shared default is safe
    env: Mapping[str, str] | None = None,
    uid: int | None = None,
    channel: ResultChannel | None = None,
    watch_disk: Path | None = None,
    own_env: bool = False,
    keyring: KeyringFilter | None = None,
    status_from_init: bool = False,
    on_stdout: Callable[[bytes], None] | None = None,
) -> SandboxResult:
    """Run `argv` in `cwd` under `limits`; never raises because the child misbehaved.

    `env` defaults to `scrubbed_env()`; secret-looking names are dropped from it either way, and HOME and TMPDIR
    point at `cwd` (unless `own_env`: a jail sets its own). `uid` runs the child as that user (we must be root).
    `channel` hands the child a result pipe; `keyring` refuses it the kernel keyring (`tools.seccomp`).
    `watch_disk` is a directory whose size is held to `disk_mb`. `status_from_init`: the child is an init (bwrap)
    that exits 128+N when its command was killed by signal N. `on_stdout` sees each chunk of the child's stdout as
    it arrives (progress to stream while the run goes on). Pipes are read by `tools.process_io`. Captured
    output never carries the value of a secret this process holds.
    """
    cwd = Path(cwd)
    if not cwd.is_dir():
        raise FileNotFoundError(f"sandbox work dir not found: {cwd}")
    if not argv:
        raise ValueError("run_sandboxed needs a non-empty argv")
    base = env if env is not None else scrubbed_env()
    child_env = {k: str(v) for k, v in base.items() if not is_secret_name(k)}
    if not own_env:
        child_env["HOME"] = child_env["TMPDIR"] = str(cwd.resolve())
    cgroup = Cgroup.create(TreeLimits(limits.memory_mb, limits.max_processes, limits.cpus))
    start = time.monotonic()
    try:
        proc = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=child_env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
            pass_fds=(channel.fd,) if channel is not None else (),
            preexec_fn=preexec_hook(limits, cgroup, uid, keyring),
        )
    except BaseException:
        if cgroup is not None:
            cgroup.remove()
        if channel is not None:
            channel.close()
        raise
    assert proc.stdout is not None and proc.stderr is not None
    out, err = Tail(limits.max_output_bytes), Tail(limits.max_output_bytes)
    tails = {proc.stdout.fileno(): out, proc.stderr.fileno(): err}
    result = Tail(limits.max_result_bytes, keep_head=True)
    if channel is not None:
        channel.close_write()  # only the child may write
        tails[channel.read_fd] = result
    try:
        watchers = {proc.stdout.fileno(): on_stdout} if on_stdout is not None else None
        pump = Pump(proc, lambda: kill_tree(proc.pid, cgroup), start + limits.timeout_s, watch_disk,
                    limits.disk_mb, watchers)
        timed_out = pump.run(tails)
    finally:
        kill_tree(proc.pid, cgroup)  # idempotent: the unreaped child keeps its pid and group id until wait()
        returncode = proc.wait()
        proc.stdout.close()
        proc.stderr.close()
        events = cgroup.events() if cgroup is not None else {}
        if cgroup is not None:
            cgroup.remove()
        if channel is not None:
            channel.close()
    from_init = status_from_init and returncode is not None and 128 < returncode < 128 + 65
    if from_init:
        returncode = 128 - returncode
    limit = pump.limit
    if not limit and returncode == -signal.SIGKILL and "memory" in events:
        limit = events.pop("memory")
    secrets = secret_values()
    return SandboxResult(
        returncode=returncode,
        timed_out=timed_out,
        stdout=out.text(secrets),
        stderr=err.text(secrets),
        stdout_dropped=out.dropped,
        stderr_dropped=err.dropped,
        duration_s=time.monotonic() - start,
        limit=limit,
        result=bytes(result.data),
        result_dropped=result.dropped,
        pressure="; ".join(events.values()),
        signal_from_status=from_init,
    )


