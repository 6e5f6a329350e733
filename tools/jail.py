"""The jail every candidate runs in, and the call a trusted evaluator uses to run its candidate there.

With bubblewrap (`bwrap`) the command gets its own PID, network, IPC, UTS and mount namespaces, an
unprivileged uid (65534 on the host when we are root, else inside a user namespace), no capabilities and
`no_new_privs`, a read-only view of the system and the interpreter only, a private size-capped `/tmp`,
`/dev/shm` and work dir, and nothing of the task folder, data, runs or home but the paths it is handed. When the
namespace's init dies, every process in it dies. Without bubblewrap the `limits` backend keeps what the process
layer gives (`tools.sandbox`: cgroup, rlimits, another uid when we are root and the interpreter allows it), and
the missing isolation is reported by `JailSupport.warnings`, never silently.

Inside the jail the work dir is `WORK` (bwrap) or a host directory (limits); commands name their inputs
relative to it. A result goes back over the channel whose fd number is in `$ASI_EVOLVE_RESULT_FD`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from tools.cgroups import Cgroup, TreeLimits, sweep
from tools.child_env import scrubbed_env
from tools.eval_child import RESULT_FD_ENV
from tools.jail_view import JAIL_UID, WORK, bwrap_argv, shown_paths, world_readable
from tools.process_io import ResultChannel
from tools.sandbox import Limits, SandboxResult, run_sandboxed
from tools.seccomp import KeyringFilter

JAIL_ENV = "ASI_EVOLVE_JAIL"
SANDBOX_ENV = "ASI_EVOLVE_SANDBOX"  # force a backend: bwrap | limits
BACKENDS = ("bwrap", "limits")


class JailError(ValueError):
    """The jail cannot be set up as asked (a forced backend is missing); the message is one line."""


@dataclass(frozen=True)
class JailSupport:
    """What this machine's jail can do, probed once per run. JSON-able: it travels to trusted evaluators.

    Attributes:
        backend: "bwrap" (namespaces) or "limits" (process limits only).
        uid: the uid candidates run as on the host, None when they run as the runner's user.
        cgroup: the controllers holding a whole tree to its limits (empty: per-process rlimits only).
        warnings: what is missing, in words the user sees once per run and in `status`.
    """

    backend: str
    uid: int | None
    cgroup: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()

    def describe(self) -> str:
        how = "bubblewrap namespaces" if self.backend == "bwrap" else "process limits only (no namespaces)"
        who = f"uid {self.uid}" if self.uid is not None else "the runner's uid"
        tree = ", ".join(self.cgroup) if self.cgroup else "none"
        return f"{how}; candidates run as {who}; cgroup limits: {tree}"

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class Jail:
    """Runs commands in the jail `support` describes, under `limits`."""

    support: JailSupport
    limits: Limits = field(default_factory=Limits)
    keyring: KeyringFilter = field(default_factory=KeyringFilter, compare=False, repr=False)

    def where(self, work: Path, rel: str) -> str:
        """The path the jailed command sees for `rel` in its work dir (`work` is the host dir given to `run`)."""
        return f"{WORK}/{rel}" if self.support.backend == "bwrap" else str(Path(work).resolve() / rel)

    def run(self, command: Sequence[str], *, work: Path, inputs: Mapping[str, Path] | None = None,
            ro_paths: Sequence[Path] = (), env: Mapping[str, str] | None = None, cwd: str = "",
            timeout_s: float | None = None, devices: Sequence[str] = (),
            on_stdout: Callable[[bytes], None] | None = None) -> SandboxResult:
        """Run `command` in a fresh work dir holding `inputs` (relative name -> host file or folder, read-only).

        `work` is an existing host directory of the caller's (the limits backend's work dir; bwrap's is a tmpfs).
        `ro_paths` are visible read-only at their own paths. `cwd` is relative to the work dir. `devices` are
        device files the command may use (GPUs); `on_stdout` sees its stdout as it comes.
        """
        limits = self.limits if timeout_s is None else replace(self.limits, timeout_s=timeout_s)
        channel = ResultChannel()
        values = scrubbed_env({**(env or {}), RESULT_FD_ENV: str(channel.fd)})
        try:
            if self.support.backend == "bwrap":
                shown = shown_paths(ro_paths, work, self.support.uid)
                argv = bwrap_argv(command, inputs or {}, shown, values, cwd, limits.disk_mb, devices)
                return run_sandboxed(argv, cwd=work, limits=limits, env={"PATH": os.defpath}, channel=channel,
                                     own_env=True, keyring=self.keyring, status_from_init=True,
                                     on_stdout=on_stdout)
            return self._limited(command, work, inputs or {}, ro_paths, values, cwd, limits, channel, on_stdout)
        finally:
            channel.close()  # idempotent: run_sandboxed closed it unless setting up failed first

    def _limited(self, command: Sequence[str], work: Path, inputs: Mapping[str, Path], ro_paths: Sequence[Path],
                 env: dict[str, str], cwd: str, limits: Limits, channel: ResultChannel,
                 on_stdout: Callable[[bytes], None] | None = None) -> SandboxResult:
        for rel, src in inputs.items():
            dest = work / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            if Path(src).is_dir():
                dest.symlink_to(Path(src).resolve(), target_is_directory=True)
            else:
                shutil.copy2(src, dest)
                dest.chmod(0o444)
        run_dir = work / cwd
        run_dir.mkdir(parents=True, exist_ok=True)
        uid = self.support.uid
        if uid is not None and not all(world_readable(Path(p)) for p in ro_paths):
            uid = None  # the jail uid could not read the task: run as ours (README: keep task folders readable)
        if uid is not None:
            for path in [work, *work.rglob("*")]:
                if not path.is_symlink():
                    os.chown(path, uid, uid)
        env = {**env, "HOME": str(work.resolve()), "TMPDIR": str(work.resolve())}
        started = time.time()
        try:
            return run_sandboxed(command, cwd=run_dir, limits=limits, env=env, uid=uid, channel=channel,
                                 watch_disk=work, own_env=True, keyring=self.keyring, on_stdout=on_stdout)
        finally:
            if uid is not None:
                _remove_leftovers(uid, started)


def _remove_leftovers(uid: int, since: float) -> None:
    """Files the jail uid left in the shared temp dirs during the run (the limits backend has no private ones)."""
    for shared in (Path("/dev/shm"), Path(tempfile.gettempdir())):
        try:
            entries = list(os.scandir(shared))
        except OSError:
            continue
        for entry in entries:
            try:
                info = entry.stat(follow_symlinks=False)
                if info.st_uid == uid and info.st_ctime >= since - 1:
                    if entry.is_dir(follow_symlinks=False):
                        shutil.rmtree(entry.path, ignore_errors=True)
                    else:
                        os.unlink(entry.path)
            except OSError:
                continue


def requested_backend(requested: str | None, env: Mapping[str, str] | None = None) -> str:
    """The backend asked for: `requested`, else `$ASI_EVOLVE_SANDBOX`, else auto; JailError when unknown."""
    env = os.environ if env is None else env
    value = requested or env.get(SANDBOX_ENV) or "auto"
    if value not in ("auto", *BACKENDS):
        raise JailError(f"unknown sandbox '{value}' (choose from: auto, {', '.join(BACKENDS)})")
    return value


def probe_support(requested: str | None = None) -> JailSupport:
    """Find what the jail can do here by trying it: bwrap if it runs this interpreter, else process limits.

    `requested` (or `$ASI_EVOLVE_SANDBOX`) forces a backend; a forced bwrap that cannot run raises `JailError`.
    """
    requested = requested_backend(requested)
    sweep()  # groups of runners that were killed before they could remove them
    group = Cgroup.create(TreeLimits(memory_mb=64, max_processes=8))
    cgroup = tuple(group.controllers()) if group is not None else ()
    if group is not None:
        group.remove()
    warnings: list[str] = []
    if not cgroup:
        warnings.append("cgroups are not writable: memory and process limits hold per process, not per tree")
    problem = _bwrap_problem(cgroup) if requested != "limits" else "not requested"
    if problem == "":
        return JailSupport("bwrap", JAIL_UID if os.geteuid() == 0 else None, cgroup, tuple(warnings))
    if requested == "bwrap":
        raise JailError(f"the bubblewrap sandbox was asked for but {problem}")
    uid = JAIL_UID if os.geteuid() == 0 and _runs_as(JAIL_UID) else None
    why = f"bubblewrap {problem}" if requested == "auto" else "the limits sandbox was chosen"
    warnings.insert(0, f"{why}: candidates run without namespaces (they can reach the network, see other "
                       "processes and read what the runner's files allow); install bubblewrap "
                       "('apt install bubblewrap') for isolation")
    if uid is None:
        warnings.append("candidates run as the runner's own user")
    return JailSupport("limits", uid, cgroup, tuple(warnings))


def _bwrap_problem(cgroup: tuple[str, ...]) -> str:
    if shutil.which("bwrap") is None:
        return "is not installed"
    support = JailSupport("bwrap", None, cgroup)
    with tempfile.TemporaryDirectory(prefix="asi-evolve-probe-") as tmp:
        res = Jail(support, Limits(timeout_s=20)).run([sys.executable, "-c", "pass"], work=Path(tmp))
    if res.returncode == 0:
        return ""
    last = next((ln.strip() for ln in reversed(res.stderr.splitlines()) if ln.strip()), res.describe_exit())
    return f"does not run here ({last})"


def _runs_as(uid: int) -> bool:
    """Whether this interpreter starts as `uid` (its files may sit in a home only we can read)."""
    with tempfile.TemporaryDirectory(prefix="asi-evolve-probe-") as tmp:
        os.chmod(tmp, 0o755)
        try:
            res = run_sandboxed([sys.executable, "-c", "pass"], cwd=Path(tmp), uid=uid, limits=Limits(timeout_s=20))
        except (OSError, subprocess.SubprocessError):  # the exec itself was refused
            return False
    return res.returncode == 0


def policy_env(support: JailSupport, limits: Limits) -> str:
    """The JSON a trusted evaluator's `run_candidate` reads from `$ASI_EVOLVE_JAIL`."""
    return json.dumps({"support": support.to_dict(), "limits": asdict(limits)}, sort_keys=True)


def jail_from_env(environ: Mapping[str, str] | None = None) -> Jail:
    """The jail the runner described in `$ASI_EVOLVE_JAIL`; probed here when it is absent (standalone use)."""
    raw = (os.environ if environ is None else environ).get(JAIL_ENV)
    if not raw:
        return Jail(probe_support())
    data = json.loads(raw)
    support = data["support"]
    support = JailSupport(support["backend"], support["uid"], tuple(support["cgroup"]), tuple(support["warnings"]))
    return Jail(support, Limits(**data["limits"]))


def run_candidate(program: str | os.PathLike[str], *, code: str | None = None, args: Sequence[str] = (),
                  files: Mapping[str, Path] | None = None, timeout_s: float | None = None) -> SandboxResult:
    """Run a candidate program in the jail, for an evaluator that must not trust it (`isolation: split`).

    The program is `program.py` in the jail's work dir, read-only; `files` are handed to it the same way. With
    `code`, the interpreter runs `python -c code program.py *args` (a driver that imports the candidate), else
    `python program.py *args`. What the driver writes to the fd in `$ASI_EVOLVE_RESULT_FD` is `.result`.
    """
    jail = jail_from_env()
    with tempfile.TemporaryDirectory(prefix="asi-evolve-candidate-") as tmp:
        work = Path(tmp)
        os.chmod(work, 0o755)
        staged = work / ".in"
        staged.mkdir()
        shutil.copy2(program, staged / "program.py")
        inputs = {"program.py": staged / "program.py", **(files or {})}
        head = [sys.executable, "-u", "-c", code] if code is not None else [sys.executable, "-u"]
        run_dir = work / "run"
        run_dir.mkdir()
        return jail.run([*head, "program.py", *map(str, args)], work=run_dir, inputs=inputs, timeout_s=timeout_s)
