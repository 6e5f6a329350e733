"""A seccomp filter for jailed children: the kernel keyring is not namespaced, so its system calls are refused.

Keys live outside every namespace: without this, a candidate could read the runner's session keyring, or leave
keys in its uid's user keyring for the next candidate to find. `add_key`, `request_key` and `keyctl` fail with
EPERM; so does any system call of a foreign ABI (x32, i386 on x86_64), which could reach the same calls by other
numbers. The filter is a classic BPF program built here (no libseccomp), installed in the child before it execs.
"""

from __future__ import annotations

import ctypes
import errno
import platform
import struct

_PR_SET_NO_NEW_PRIVS = 38
_PR_SET_SECCOMP = 22
_SECCOMP_MODE_FILTER = 2
_RET_ALLOW = 0x7FFF0000
_RET_EPERM = 0x00050000 | errno.EPERM
_LD_ABS_W, _JEQ_K, _JGE_K, _RET_K = 0x20, 0x15, 0x35, 0x06
_X32_BIT = 0x40000000
# machine -> (AUDIT_ARCH_*, add_key, request_key, keyctl, whether x32 numbers exist)
_ARCHES = {
    "x86_64": (0xC000003E, 248, 249, 250, True),
    "aarch64": (0xC00000B7, 217, 218, 219, False),
}
# machine -> shmget, semget, msgget, mq_open: IPC objects outlive their creator within an IPC namespace, which
# the candidates of one warm worker share (`tools.pool_worker`), so there they are refused too
_PERSISTENT_IPC = {"x86_64": (29, 64, 68, 240), "aarch64": (194, 190, 186, 180)}


class _Filter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte), ("jf", ctypes.c_ubyte), ("k", ctypes.c_uint)]


class _Program(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_Filter))]


def keyring_filter(machine: str | None = None, persistent_ipc: bool = False) -> bytes | None:
    """The filter as bytes (8 per instruction), or None on an architecture it does not know. With
    `persistent_ipc`, System V IPC objects and POSIX message queues are refused as well."""
    machine = machine or platform.machine()
    arch = _ARCHES.get(machine)
    if arch is None:
        return None
    audit, *numbers, has_x32 = arch
    if persistent_ipc:
        numbers += _PERSISTENT_IPC[machine]
    body = [(_LD_ABS_W, 0, 0, 4), (_JEQ_K, 1, 0, audit), (_RET_K, 0, 0, _RET_EPERM), (_LD_ABS_W, 0, 0, 0)]
    if has_x32:
        body.append((_JGE_K, len(numbers) + 1, 0, _X32_BIT))  # x32 numbers: to the EPERM at the end
    for i, number in enumerate(numbers):
        body.append((_JEQ_K, len(numbers) - i, 0, number))  # a match jumps over the rest and ALLOW
    body += [(_RET_K, 0, 0, _RET_ALLOW), (_RET_K, 0, 0, _RET_EPERM)]
    return b"".join(struct.pack("HBBI", *instruction) for instruction in body)


class KeyringFilter:
    """The filter, prepared before a fork so that installing it in the child only makes two `prctl` calls."""

    def __init__(self, persistent_ipc: bool = False) -> None:
        raw = keyring_filter(persistent_ipc=persistent_ipc)
        self.available = raw is not None
        count = len(raw) // 8 if raw else 0
        self._instructions = (_Filter * count).from_buffer_copy(raw) if raw else None
        self._program = _Program(count, ctypes.cast(self._instructions, ctypes.POINTER(_Filter)))
        self._prctl = ctypes.CDLL(None, use_errno=True).prctl

    def install(self) -> None:
        """In the child: refuse the keyring from now on, for it and everything it starts. Without privilege the
        kernel wants `no_new_privs` first, which the jail sets anyway."""
        if not self.available:
            return
        self._prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
        if self._prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(self._program), 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "cannot install the seccomp filter")
