"""Reading a sandboxed child's pipes: capped tails, the result channel, and the loop that watches the clock.

Pipes are multiplexed with a selector in the calling thread rather than read by threads: no reader can be left
blocked on a pipe that an escaped descendant still holds open.
"""

from __future__ import annotations

import os
import selectors
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from tools.child_env import redact

_READ_CHUNK = 1 << 16
_DRAIN_GRACE_S = 1.0  # how long to wait for pipe EOF once the child is gone
_POLL_S = 0.05  # how often the deadline and the child's exit are checked
_DISK_CHECK_S = 0.25  # how often a watched work dir is measured


class ResultChannel:
    """A pipe for the child's result: the child gets the write end (its number is `fd`), we keep the read end."""

    def __init__(self) -> None:
        self.read_fd, self.fd = os.pipe()
        os.set_inheritable(self.fd, True)

    def close_write(self) -> None:
        """Once the child holds the write end: EOF then comes when the last holder is gone."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def close(self) -> None:
        """Close both ends; safe to repeat (a closed number is never closed again: it may be reused)."""
        self.close_write()
        if self.read_fd >= 0:
            os.close(self.read_fd)
            self.read_fd = -1


class Tail:
    """A bounded byte buffer keeping the last `cap` bytes and counting what fell off the front."""

    def __init__(self, cap: int, keep_head: bool = False) -> None:
        self.cap = cap
        self.keep_head = keep_head
        self.data = bytearray()
        self.dropped = 0

    def add(self, chunk: bytes) -> None:
        self.data += chunk
        excess = len(self.data) - self.cap
        if excess > 0:
            if self.keep_head:
                del self.data[self.cap :]
            else:
                del self.data[:excess]
            self.dropped += excess

    def text(self, secrets: Sequence[str] = ()) -> str:
        return redact(self.data.decode("utf-8", errors="replace"), secrets)


def dir_bytes(path: Path) -> int:
    """Bytes held by the regular files under `path` (links not followed)."""
    total = 0
    stack = [str(path)]
    while stack:
        try:
            entries = list(os.scandir(stack.pop()))
        except OSError:
            continue
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                elif entry.is_file(follow_symlinks=False):
                    total += entry.stat(follow_symlinks=False).st_blocks * 512
            except OSError:
                continue
    return total


def _exited(pid: int) -> bool:
    """Whether the child has exited, without reaping it: its pid (and so its group id) stays reserved."""
    try:
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True


class Pump:
    """Read the pipes until the child is gone and they reach EOF; kill at the deadline or the disk limit."""

    def __init__(self, proc: subprocess.Popen[bytes], kill: Callable[[], None], deadline: float,
                 watch_disk: Path | None, disk_mb: int | None,
                 watchers: dict[int, Callable[[bytes], None]] | None = None) -> None:
        self.proc, self.kill, self.deadline = proc, kill, deadline
        self.watchers = watchers or {}  # fd -> called with each chunk read from it, as it arrives
        self.watch = watch_disk if disk_mb is not None else None
        self.disk_bytes = (disk_mb or 0) << 20
        self.next_disk_check = 0.0
        self.limit = ""

    def _over_disk(self, now: float) -> bool:
        if self.watch is None or now < self.next_disk_check:
            return False
        self.next_disk_check = now + _DISK_CHECK_S
        if dir_bytes(self.watch) > self.disk_bytes:
            self.limit = f"disk limit reached ({self.disk_bytes >> 20} MB in the work dir)"
            return True
        return False

    def run(self, tails: dict[int, Tail]) -> bool:
        """True if the deadline killed the child."""
        proc, timed_out = self.proc, False
        ended_at: float | None = None  # when the child exited or was killed
        with selectors.DefaultSelector() as sel:
            for fd in tails:
                os.set_blocking(fd, False)
                sel.register(fd, selectors.EVENT_READ)
            while True:
                now = time.monotonic()
                if ended_at is None:
                    if _exited(proc.pid):
                        self.kill()  # leftovers of a finished child must not linger
                        ended_at = now
                    elif now >= self.deadline or self._over_disk(now):
                        timed_out = now >= self.deadline
                        self.kill()
                        ended_at = now
                open_fds = sel.get_map()
                if ended_at is not None and (not open_fds or now - ended_at >= _DRAIN_GRACE_S):
                    return timed_out
                if not open_fds:  # the child closed its pipes but runs on
                    time.sleep(min(_POLL_S, max(0.0, self.deadline - now)))
                    continue
                for key, _ in sel.select(timeout=_POLL_S):
                    try:
                        chunk = os.read(key.fd, _READ_CHUNK)
                    except BlockingIOError:
                        continue
                    if chunk:
                        tails[key.fd].add(chunk)
                        watcher = self.watchers.get(key.fd)
                        if watcher is not None:
                            watcher(chunk)
                    else:
                        sel.unregister(key.fd)


class LineSplitter:
    """Feeds whole lines of a stream read in chunks to `on_line`; a line longer than `max_line` is dropped."""

    def __init__(self, on_line: Callable[[str], None], max_line: int = 8192) -> None:
        self.on_line, self.max_line = on_line, max_line
        self.pending = b""
        self.skipping = False  # inside a line already too long

    def __call__(self, chunk: bytes) -> None:
        data = self.pending + chunk
        *lines, self.pending = data.split(b"\n")
        for raw in lines:
            if not self.skipping and len(raw) <= self.max_line:
                self.on_line(raw.decode("utf-8", errors="replace"))
            self.skipping = False
        if len(self.pending) > self.max_line:
            self.pending, self.skipping = b"", True
