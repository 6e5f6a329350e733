"""A warm evaluation worker, run inside the jail: import the evaluator once, evaluate each candidate in a fork.

`python -u pool_worker.py EVALUATOR WORK_ROOT` with a socket fd in `$ASI_EVOLVE_POOL_FD`. Standalone (stdlib and
its sibling `eval_child.py` only): it runs in the jail, never in the runner. It is the PID namespace's init
(bubblewrap `--as-pid-1`), so a candidate cannot kill or stop it; it is not dumpable, so a candidate cannot
trace it or open its descriptors; it ignores SIGINT. Per request it forks a child that gets a fresh work dir, the
request's environment and rlimits, its own session and pipes for stdout, stderr and the result, and nothing else
of the worker's descriptors. When the child has ended (or its clock ran out) every other process of the
namespace is killed and reaped, and /tmp, /dev/shm and the work area are emptied, so nothing one candidate
leaves behind reaches the next. The reply says whether that sweep succeeded; a worker that could not clean up
is replaced by the runner.

Messages are length-prefixed JSON both ways; byte fields travel base64-encoded.
"""

from __future__ import annotations

import base64
import ctypes
import json
import os
import resource
import select
import signal
import socket
import stat
import struct
import sys
import time
from pathlib import Path

try:
    import eval_child  # in the jail: the sibling file
except ImportError:  # imported by the runner for the message framing
    from tools import eval_child

POOL_FD_ENV = "ASI_EVOLVE_POOL_FD"
IDLE_EXIT_S = 120.0  # a worker nobody asked for this long exits (the runner starts another when needed)
SWEEP_S = 2.0
_PR_SET_DUMPABLE = 4
_HEADER = struct.Struct(">I")
_READ = 1 << 16


def send(sock: socket.socket, message: dict) -> None:
    data = json.dumps(message).encode()
    sock.sendall(_HEADER.pack(len(data)) + data)


def receive(sock: socket.socket) -> dict | None:
    """The next message, or None when the other side closed the socket."""
    head = _exactly(sock, _HEADER.size)
    if head is None:
        return None
    body = _exactly(sock, _HEADER.unpack(head)[0])
    return None if body is None else json.loads(body)


def _exactly(sock: socket.socket, size: int) -> bytes | None:
    chunks, left = [], size
    while left:
        chunk = sock.recv(min(left, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


class _Capture:
    """One of the child's pipes: the last `cap` bytes (or the first, for the result) and what was dropped."""

    def __init__(self, fd: int, cap: int, keep_head: bool = False) -> None:
        self.fd, self.cap, self.keep_head = fd, cap, keep_head
        self.data, self.dropped = bytearray(), 0

    def read(self) -> bool:
        """Read what is there; False at EOF."""
        chunk = os.read(self.fd, _READ)
        if not chunk:
            return False
        self.data += chunk
        excess = len(self.data) - self.cap
        if excess > 0:
            self.dropped += excess
            if self.keep_head:
                del self.data[self.cap:]
            else:
                del self.data[:excess]
        return True


def _child(module: object, request: dict, work: Path, ends: tuple[int, int, int]) -> int:
    """In the fork: become a fresh evaluation and run it; returns the exit code."""
    out, err, result = ends
    os.setsid()
    ctypes.CDLL(None).prctl(_PR_SET_DUMPABLE, 1, 0, 0, 0)  # as a fresh process would be; the worker stays not
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(out, 1)
    os.dup2(err, 2)
    os.closerange(3, result)  # the worker's socket and the read ends
    os.closerange(result + 1, 1 << 16)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    os.chdir(work)
    os.environ.clear()
    os.environ.update(request["env"])
    os.environ.update({"HOME": str(work), "TMPDIR": "/tmp", "PWD": str(work)})
    cpu = int(request["cpu_s"])
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    if request.get("memory_mb"):
        limit = int(request["memory_mb"]) << 20
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    for name in ("numpy", "torch"):  # a fork copies their generators: each candidate gets its own, as before
        lib = sys.modules.get(name)
        try:
            if name == "numpy" and lib is not None:
                lib.random.seed()
            elif lib is not None:
                lib.seed()
        except Exception:  # noqa: BLE001 - a half-imported library keeps its state
            pass
    return eval_child.call(module, request["function"], request["program"], result)


def _sweep(areas: list[Path]) -> bool:
    """Kill and reap every other process of the namespace, then empty the writable areas; True when clean."""
    end = time.monotonic() + SWEEP_S
    while True:
        try:
            os.kill(-1, signal.SIGKILL)
        except ProcessLookupError:
            break  # nothing left to signal
        except PermissionError:
            pass
        _reap()
        if time.monotonic() > end:
            return False
        time.sleep(0.0005)
    _reap()
    clean = True
    for area in areas:
        clean = _empty(area) and clean
    return clean


def _empty(area: Path) -> bool:
    """Remove everything in `area` that the jail's uid made; what the jail itself put there (mount points,
    the folders leading to them) stays, and is searched for what a candidate put inside."""
    try:
        entries = list(os.scandir(area))
    except OSError:
        return not area.exists()
    clean = True
    for entry in entries:
        path = Path(entry.path)
        if os.path.ismount(path):
            continue
        try:
            mine = entry.stat(follow_symlinks=False).st_uid == os.getuid()
        except OSError:
            continue
        if mine:
            clean = _remove(path) and clean
        elif entry.is_dir(follow_symlinks=False):
            clean = _empty(path) and clean
    return clean


def _reap() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _remove(path: Path) -> bool:
    """Remove what a candidate left, giving back the owner's rights it may have taken away first."""
    try:
        if path.is_dir() and not path.is_symlink():
            os.chmod(path, stat.S_IRWXU)
            for entry in os.scandir(path):
                _remove(Path(entry.path))
            os.rmdir(path)
        else:
            path.unlink()
    except OSError:
        pass
    return not os.path.lexists(path)


def evaluate(module: object, request: dict, work: Path, areas: list[Path]) -> dict:
    work.mkdir(mode=0o700)
    pipes = [os.pipe() for _ in range(3)]
    start = time.monotonic()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            code = _child(module, request, work, (pipes[0][1], pipes[1][1], pipes[2][1]))
        finally:
            for stream in (sys.stdout, sys.stderr):
                try:
                    stream.flush()
                except Exception:  # noqa: BLE001, S110 - exiting anyway
                    pass
            os._exit(code)
    for _, write in pipes:
        os.close(write)
    caps = [_Capture(pipes[0][0], request["max_output"]), _Capture(pipes[1][0], request["max_output"]),
            _Capture(pipes[2][0], request["max_result"], keep_head=True)]
    pidfd = os.pidfd_open(pid)
    deadline = start + float(request["timeout_s"])
    timed_out, status = False, None
    open_caps = {c.fd: c for c in caps}
    while status is None:
        left = deadline - time.monotonic()
        if left <= 0:
            timed_out = True
            break
        ready, _, _ = select.select([pidfd, *open_caps], [], [], left)
        for fd in ready:
            if fd == pidfd:
                status = os.waitpid(pid, 0)[1]
            elif not open_caps[fd].read():
                del open_caps[fd]
    try:
        os.killpg(pid, signal.SIGKILL)
    except OSError:
        pass
    if status is None:
        status = os.waitpid(pid, 0)[1]
    duration = time.monotonic() - start
    try:
        clean = _sweep(areas)  # every holder of the pipes is gone: read them to the end
    except (OSError, RecursionError):  # a tree too deep to walk: this worker is replaced
        clean = False
    for cap in list(open_caps.values()):
        while cap.read():
            pass
    for cap in caps:
        os.close(cap.fd)
    os.close(pidfd)
    code = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)

    def b64(data: bytearray) -> str:
        return base64.b64encode(bytes(data)).decode()

    return {"returncode": code, "timed_out": timed_out, "duration_s": duration, "clean": clean,
            "stdout": b64(caps[0].data), "stderr": b64(caps[1].data), "stdout_dropped": caps[0].dropped,
            "stderr_dropped": caps[1].dropped, "result": b64(caps[2].data), "result_dropped": caps[2].dropped}


def main(argv: list[str]) -> int:
    evaluator, root = Path(argv[0]), Path(argv[1])
    sock = socket.socket(fileno=int(os.environ.pop(POOL_FD_ENV)))
    ctypes.CDLL(None).prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    areas = [root, Path("/tmp"), Path("/dev/shm")]
    try:
        module = eval_child.prepare(evaluator.resolve())
    except BaseException as exc:  # noqa: BLE001 - the runner falls back to one process per evaluation
        send(sock, {"ready": False, "error": eval_child._one_line(exc)})
        return 1
    send(sock, {"ready": True})
    while True:
        waiting, _, _ = select.select([sock], [], [], IDLE_EXIT_S)
        if not waiting:
            return 0
        request = receive(sock)
        if request is None:
            return 0
        send(sock, evaluate(module, request, root / "candidate", areas))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
