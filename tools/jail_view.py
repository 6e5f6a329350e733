"""The jail's file system and privileges as bubblewrap arguments: what a jailed command sees, and as whom.

The view is the system's read-only directories, a few files of /etc, the interpreter's prefixes, the paths a
caller shows (task folder, data), fresh size-capped tmpfs at /tmp, /dev/shm and the work dir, and the inputs
bound read-only into the work dir. As root, the command is dropped to `JAIL_UID` on the host with setpriv (no
capabilities, `no_new_privs`); otherwise a user namespace maps it.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

WORK = "/sandbox/work"
JAIL_UID = 65534
_SYSTEM = ("usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32")
_ETC = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "alternatives", "localtime", "passwd", "group",
        "nsswitch.conf", "ssl", "ca-certificates")


class ViewError(ValueError):
    """A path cannot be shown in the jail; the message is one line."""


def _bwrap_prefix(as_init: bool = False) -> list[str]:
    """bwrap's namespace and privilege flags; as root the jail drops to `JAIL_UID` on the host with setpriv.
    `as_init` makes the command the PID namespace's init (no signal from inside the jail reaches it)."""
    argv = ["bwrap", "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
            "--die-with-parent", "--new-session", "--clearenv", *(["--as-pid-1"] if as_init else [])]
    if os.geteuid() != 0:
        argv += ["--unshare-user", "--uid", str(JAIL_UID), "--gid", str(JAIL_UID), "--disable-userns"]
    return argv


def _privilege_drop() -> list[str]:
    if os.geteuid() != 0:
        return []
    caps = ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", "--cap-add", "CAP_SETPCAP"]
    setpriv = shutil.which("setpriv") or "/usr/bin/setpriv"
    return [*caps, "--", setpriv, f"--reuid={JAIL_UID}", f"--regid={JAIL_UID}", "--clear-groups",
            "--no-new-privs", "--bounding-set=-all", "--inh-caps=-all"]


def interpreter_paths() -> list[Path]:
    """What this interpreter needs to run: its prefixes and any site directories outside them."""
    roots = {Path(p).resolve() for p in (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix)}
    for entry in sys.path:
        if entry and ("site-packages" in entry or "dist-packages" in entry) and Path(entry).is_dir():
            roots.add(Path(entry).resolve())
    roots.add(Path(sys.executable).parent.resolve())
    return _outermost(roots)


def _outermost(paths: set[Path]) -> list[Path]:
    kept: list[Path] = []
    for path in sorted(paths, key=lambda p: len(p.parts)):
        if not any(path.is_relative_to(k) for k in kept):
            kept.append(path)
    return kept


class _View:
    """bwrap arguments building the jail's file system; parents of mount points are made traversable (bwrap
    would create them mode 0700, which the jail's uid cannot enter)."""

    def __init__(self) -> None:
        self.argv: list[str] = []
        self.dirs: set[str] = {"/"}

    def parents(self, dest: str) -> None:
        parts = Path(dest).parts
        for i in range(2, len(parts)):
            sub = str(Path(*parts[:i]))
            if sub not in self.dirs:
                self.dirs.add(sub)
                self.argv += ["--perms", "0755", "--dir", sub]

    def add(self, *args: str) -> None:
        self.parents(args[-1])
        self.dirs.add(args[-1])
        self.argv += list(args)


def _system_view(view: _View) -> None:
    for name in _SYSTEM:
        path = Path("/") / name
        if path.is_symlink():
            view.add("--symlink", os.readlink(path), str(path))
        elif path.is_dir():
            view.add("--ro-bind", str(path), str(path))
    for name in _ETC:
        if Path("/etc", name).exists():
            view.add("--ro-bind", f"/etc/{name}", f"/etc/{name}")


def bwrap_argv(command: Sequence[str], inputs: Mapping[str, Path], ro_paths: Mapping[Path, Path],
               env: Mapping[str, str], cwd: str, disk_mb: int | None, devices: Sequence[str] = (),
               as_init: bool = False) -> list[str]:
    """The bwrap command line running `command` with `inputs` in the work dir and `ro_paths` (jail path ->
    host source) read-only, the interpreter and the system beside them. `devices` (e.g. the GPU's
    `/dev/nvidia*`) are shown in the jail's otherwise minimal /dev; `as_init` runs the command as the PID
    namespace's init."""
    size = str((disk_mb or 1024) << 20)
    view = _View()
    _system_view(view)
    view.add("--proc", "/proc")
    view.add("--dev", "/dev")
    for device in devices:
        if Path(device).exists():
            view.add("--dev-bind", device, device)
    view.add("--perms", "1777", "--size", size, "--tmpfs", "/tmp")
    view.add("--perms", "1777", "--size", size, "--tmpfs", "/dev/shm")
    sources = {path: path for path in interpreter_paths()} | dict(ro_paths)
    for path in _outermost(set(sources)):
        if path.is_relative_to("/sandbox"):
            raise ViewError(f"cannot show {path} in the jail: /sandbox is the jail's own")
        view.add("--ro-bind", str(sources[path]), str(path))
    view.add("--perms", "0777", "--size", size, "--tmpfs", WORK)
    for rel, src in sorted(inputs.items()):
        parts = Path(rel).parts
        for i in range(1, len(parts)):
            sub = f"{WORK}/{'/'.join(parts[:i])}"
            if sub not in view.dirs:
                view.add("--perms", "0777", "--dir", sub)
        view.add("--ro-bind", str(Path(src).resolve()), f"{WORK}/{rel}")
    if cwd and f"{WORK}/{cwd}" not in view.dirs:
        view.add("--perms", "0777", "--dir", f"{WORK}/{cwd}")
    argv = _bwrap_prefix(as_init) + view.argv
    for key, value in {**env, "HOME": WORK, "TMPDIR": "/tmp"}.items():
        argv += ["--setenv", key, value]
    argv += ["--chdir", f"{WORK}/{cwd}".rstrip("/")]
    return argv + _privilege_drop() + ["--", *command]



def world_readable(path: Path) -> bool:
    try:
        mode = path.stat().st_mode
    except OSError:
        return True  # nothing to hide: the evaluator will say it is missing
    return mode & (0o005 if path.is_dir() else 0o004) == (0o005 if path.is_dir() else 0o004)


def shown_paths(ro_paths: Sequence[Path], work: Path, uid: int | None) -> dict[Path, Path]:
    """Jail path -> host source for each read-only path. A folder the jail uid may not read (a private temp
    dir, say) is shown as a readable copy made in `work`, so the jail never needs more rights than `o+rX`."""
    shown: dict[Path, Path] = {}
    for i, raw in enumerate(ro_paths):
        path = Path(raw).resolve()
        if uid is None or world_readable(path) or not path.exists():
            shown[path] = path
            continue
        copy = work / ".shown" / str(i)
        if path.is_dir():
            shutil.copytree(path, copy, symlinks=True)
        else:
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, copy)
        for item in [copy, *copy.rglob("*")]:
            if not item.is_symlink():
                item.chmod(item.stat().st_mode | (0o555 if item.is_dir() else 0o444))
        shown[path] = copy
    return shown
