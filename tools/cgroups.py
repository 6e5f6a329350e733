"""Aggregate limits for a whole process tree: one cgroup per sandboxed run (v1 controllers or the v2 tree).

Per-process rlimits cannot stop three forked children from holding three times the memory limit, or a fork
storm from filling the process table; a cgroup counts the tree as one. Each run gets a fresh group below the
group this process is in, so nested runs (an evaluator that jails its candidate) nest their groups too.
Everything here is best effort by design: where no controller is writable, `Cgroup.create` returns None and the
caller says so once (the rlimits stay as the second fence).
"""

from __future__ import annotations

import itertools
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

_ROOT = Path("/sys/fs/cgroup")
_V1 = ("memory", "pids", "cpu")
_CPU_PERIOD_US = 100_000
_COUNTER = itertools.count()


@dataclass(frozen=True)
class TreeLimits:
    """The limits a cgroup enforces. None: not limited."""

    memory_mb: int | None = None
    max_processes: int | None = None
    cpus: float | None = None


def _own_path(controller: str) -> str:
    """This process's group in `controller` ("" for v2's unified line), from /proc/self/cgroup."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return "/"
    for line in lines:
        _, names, path = line.split(":", 2)
        if controller in names.split(",") or (controller == "" and names == ""):
            return path
    return "/"


def _v1_dirs() -> dict[str, Path]:
    """Writable v1 controller directories for a new child group, keyed by controller."""
    dirs = {}
    for controller in _V1:
        mount = _ROOT / controller
        if not (mount / "cgroup.procs").is_file():
            continue
        own = mount / _own_path(controller).lstrip("/")
        parent = own if own.is_dir() else mount
        if os.access(parent, os.W_OK):
            dirs[controller] = parent
    return dirs


def _v2_dir() -> Path | None:
    """The v2 group to create children in, when it delegates memory and pids to its children."""
    mount = _ROOT if (_ROOT / "cgroup.controllers").is_file() else _ROOT / "unified"
    if not (mount / "cgroup.controllers").is_file():
        return None
    parent = mount / _own_path("").lstrip("/")
    try:
        enabled = (parent / "cgroup.subtree_control").read_text().split()
    except OSError:
        return None
    if {"memory", "pids"} <= set(enabled) and os.access(parent, os.W_OK):
        return parent
    return None


def sweep() -> int:
    """Remove empty groups that runners which are gone (killed, say) left behind; returns how many went."""
    parents = list(_v1_dirs().values())
    v2 = _v2_dir()
    if v2 is not None:
        parents.append(v2)
    removed = 0
    for parent in parents:
        for group in parent.glob("asi-evolve-*-*"):
            owner = group.name.split("-")[2]
            if owner.isdigit() and not Path("/proc", owner).exists() and not _read(group / "cgroup.procs").split():
                try:
                    group.rmdir()
                    removed += 1
                except OSError:
                    pass
    return removed


def _write(path: Path, value: str) -> bool:
    try:
        path.write_text(value)
        return True
    except OSError:
        return False


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def _counter(text: str, key: str) -> int:
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == key and parts[1].isdigit():
            return int(parts[1])
    return 0


class Cgroup:
    """One fresh group (a directory per v1 controller, or one v2 directory) that a run's tree lives in."""

    def __init__(self, dirs: dict[str, Path], v2: bool, limits: TreeLimits) -> None:
        self.dirs = dirs
        self.v2 = v2
        self.limits = limits
        self.procs_files = sorted({str(d / "cgroup.procs") for d in dirs.values()})

    @classmethod
    def create(cls, limits: TreeLimits) -> Cgroup | None:
        """A new group below ours with `limits` applied, or None where cgroups cannot be written."""
        name = f"asi-evolve-{os.getpid()}-{next(_COUNTER)}"
        v2_parent = _v2_dir()
        parents = {"unified": v2_parent} if v2_parent is not None else _v1_dirs()
        if "memory" not in parents and "pids" not in parents and "unified" not in parents:
            return None
        dirs: dict[str, Path] = {}
        for controller, parent in parents.items():
            try:
                (parent / name).mkdir()
            except OSError:
                continue
            dirs[controller] = parent / name
        if not dirs:
            return None
        group = cls(dirs, v2_parent is not None, limits)
        group._apply()
        return group

    def _apply(self) -> None:
        mem, procs, cpus = self.limits.memory_mb, self.limits.max_processes, self.limits.cpus
        if self.v2:
            d = self.dirs["unified"]
            if mem is not None:
                _write(d / "memory.max", str(mem << 20))
                _write(d / "memory.swap.max", "0")
            if procs is not None:
                _write(d / "pids.max", str(procs))
            if cpus is not None:
                _write(d / "cpu.max", f"{int(cpus * _CPU_PERIOD_US)} {_CPU_PERIOD_US}")
            return
        if mem is not None and "memory" in self.dirs:
            d = self.dirs["memory"]
            _write(d / "memory.limit_in_bytes", str(mem << 20))
            _write(d / "memory.memsw.limit_in_bytes", str(mem << 20))  # no escape into swap, where accounted
        if procs is not None and "pids" in self.dirs:
            _write(self.dirs["pids"] / "pids.max", str(procs))
        if cpus is not None and "cpu" in self.dirs:
            _write(self.dirs["cpu"] / "cpu.cfs_period_us", str(_CPU_PERIOD_US))
            _write(self.dirs["cpu"] / "cpu.cfs_quota_us", str(int(cpus * _CPU_PERIOD_US)))

    def controllers(self) -> list[str]:
        """What this group limits, for the sandbox's self-description."""
        if self.v2:
            return ["memory", "pids", "cpu"]
        return sorted(self.dirs)

    def pids(self) -> set[int]:
        found: set[int] = set()
        for procs in self.procs_files:
            found.update(int(p) for p in _read(Path(procs)).split() if p.isdigit())
        return found

    def kill_all(self, within_s: float = 2.0) -> None:
        """SIGKILL every process in the group, again until it is empty (a fork storm races the first pass)."""
        if self.v2:
            _write(self.dirs["unified"] / "cgroup.kill", "1")  # kernels from 5.14 kill the tree in one write
        end = time.monotonic() + within_s
        while True:
            alive = self.pids()
            if not alive or time.monotonic() > end:
                return
            for pid in alive:
                try:
                    os.kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            time.sleep(0.005)

    def counters(self) -> dict[str, int]:
        """How often each aggregate limit was reached so far: OOM kills ("memory"), refused forks ("processes")."""
        if self.v2:
            d = self.dirs["unified"]
            memory, pids = _read(d / "memory.events"), _read(d / "pids.events")
        else:
            memory = _read(self.dirs["memory"] / "memory.oom_control") if "memory" in self.dirs else ""
            pids = _read(self.dirs["pids"] / "pids.events") if "pids" in self.dirs else ""
        return {"memory": _counter(memory, "oom_kill"), "processes": _counter(pids, "max")}

    def events(self, since: dict[str, int] | None = None) -> dict[str, str]:
        """The aggregate limits that were reached during the run ("memory": an OOM kill, "processes": a refused
        fork), each in words for the node's reason; with `since` (earlier `counters()`), only those reached
        after it (a group that serves several runs in turn)."""
        now, before = self.counters(), since or {}
        found = {}
        if now["memory"] > before.get("memory", 0):
            found["memory"] = f"memory limit reached ({self.limits.memory_mb} MB for the whole process tree)"
        if now["processes"] > before.get("processes", 0):
            found["processes"] = f"process limit reached ({self.limits.max_processes} processes)"
        return found

    def remove(self, within_s: float = 2.0) -> None:
        """Kill what is left and delete the group with any groups nested in it (deepest first). A group whose
        last processes are still exiting refuses removal for a moment (EBUSY), so this retries briefly."""
        self.kill_all()
        end = time.monotonic() + within_s
        for d in self.dirs.values():
            nested = sorted((p for p in d.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True)
            for sub in [*nested, d]:
                while not _removed(sub) and time.monotonic() < end:
                    time.sleep(0.005)


def _removed(group: Path) -> bool:
    for pid in _read(group / "cgroup.procs").split():
        try:
            os.kill(int(pid), signal.SIGKILL)
        except (ProcessLookupError, PermissionError, ValueError):
            pass
    try:
        group.rmdir()
    except FileNotFoundError:
        return True
    except OSError:
        return False
    return True
