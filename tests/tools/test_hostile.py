"""Hostile programs against the jail: each is contained, recorded with its reason, and the host is unharmed.

Every case is bounded (small limits, short timeouts), so a broken sandbox fails the test, not the machine.
"""

from __future__ import annotations

import ctypes
import json
import platform
import socket
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tasks.registry import load_task
from tests.support.hostile import FORKED_MEMORY, SNOOP, HostGuard, whole_task
from tools.eval_pool import EvalPool
from tools.evaluation import evaluate_program, jail_limits
from tools.jail import JAIL_ENV, JailSupport, policy_env, run_candidate
from tools.jail_view import interpreter_paths
from tools.results import EvalResult

CIRCLES = load_task("circle_packing")
INITIAL_SCORE = 2.2644268467705064


@pytest.fixture(params=["one-off", "warm"])
def pool(request: pytest.FixtureRequest) -> Iterator[EvalPool | None]:
    """Each whole-evaluator attack runs once in a process of its own and once in a warm worker (closed before
    the host is checked: a worker outliving its pool would be a leftover too)."""
    if request.param == "one-off":
        yield None
        return
    warm = EvalPool()
    yield warm
    warm.close()


def _whole(tmp_path: Path, support: JailSupport, program: str, timeout_s: float | None = None,
           pool: EvalPool | None = None, **manifest: object) -> EvalResult:
    task = whole_task(tmp_path / "task", program, **manifest)
    res = evaluate_program(task, task.initial_program, timeout_s=timeout_s, support=support, pool=pool)
    if pool is not None:
        assert not pool.refused(), pool.refused()
    return res


def _circles(tmp_path: Path, support: JailSupport, extra: str) -> EvalResult:
    """The built-in task (`isolation: split`) with hostile code run when the candidate is imported."""
    program = tmp_path / "candidate.py"
    program.write_text(CIRCLES.initial_program.read_text() + "\n" + textwrap.dedent(extra))
    return evaluate_program(CIRCLES, program, support=support)


def test_infinite_loop_times_out(tmp_path: Path, support: JailSupport, guard: HostGuard, pool: EvalPool | None) -> None:
    res = _whole(tmp_path, support, "while True:\n    pass\n", timeout_s=2, pool=pool)
    assert res.status == "timeout" and res.error == "timed out after 2 s"


def test_fork_storm_with_setsid_child_and_daemon_dies_with_the_jail(
    tmp_path: Path, support: JailSupport, guard: HostGuard, pool: EvalPool | None, marker: str
) -> None:
    program = f"""
    import os, subprocess, time
    subprocess.Popen(["sleep", "60", "{marker}"], start_new_session=True)
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            os.execvp("sleep", ["sleep", "60", "{marker}-daemon"])
        os._exit(0)
    forked = 0
    for _ in range(200):
        try:
            pid = os.fork()
        except OSError:
            break
        if pid == 0:
            time.sleep(60)
            os._exit(0)
        forked += 1
    def f():
        return float(forked)
    """
    res = _whole(tmp_path, support, program, pool=pool)
    assert res.status == "ok", res.error
    assert res.score is not None and res.score < 32, "the process limit holds the whole tree"


def test_huge_allocation_is_a_memory_error(
    tmp_path: Path, support: JailSupport, guard: HostGuard, pool: EvalPool | None
) -> None:
    res = _whole(tmp_path, support, "block = bytearray(50 * 2**30)\ndef f():\n    return 1.0\n", pool=pool)
    assert res.status == "failed" and res.error == "MemoryError", res.error


def test_memory_limit_holds_across_forked_children(
    tmp_path: Path, support: JailSupport, guard: HostGuard, pool: EvalPool | None
) -> None:
    if "memory" not in support.cgroup:
        pytest.skip("no memory cgroup here")
    res = _whole(tmp_path, support, FORKED_MEMORY, memory_mb=512, pool=pool)
    if res.status == "ok":
        assert res.score is not None and res.score < 3, "three children held 900 MB under a 512 MB limit"
    else:
        assert res.error.startswith("memory limit reached (512 MB"), res.error


def test_disk_fill_stops_at_the_limits_and_leaves_the_host_clean(
    tmp_path: Path, support: JailSupport, guard: HostGuard, pool: EvalPool | None, marker: str
) -> None:
    program = f"""
    import os
    chunk = b"x" * 2**20
    written = 0
    for folder in (".", "/tmp", "/dev/shm", "/", "/usr", "{tmp_path}"):
        try:
            with open(os.path.join(folder, "{marker}.bin"), "wb") as out:
                for _ in range(200):
                    out.write(chunk)
                    out.flush()
                    written += 1
        except OSError:
            pass
    def f():
        return float(written)
    """
    res = _whole(tmp_path, support, program, disk_mb=16, pool=pool)
    assert res.status == "ok", res.error
    assert res.score is not None and res.score <= 3 * 16, "work dir, /tmp and /dev/shm hold 16 MB each"
    assert not list(tmp_path.rglob(f"{marker}*")), "nothing was written outside the jail"


def test_evaluator_task_folder_and_host_files_cannot_be_written(
    tmp_path: Path, support: JailSupport, guard: HostGuard, pool: EvalPool | None
) -> None:
    task_dir = tmp_path / "task"
    victims = [task_dir / "evaluator.py", task_dir / "initial_program.py", tmp_path / "outside.txt"]
    program = f"""
    import os
    cheat = "def evaluate(path):\\n    return {{'combined_score': 999.0}}\\n"
    wrote = 0
    for victim in {[str(v) for v in victims]!r}:
        try:
            with open(victim, "w") as out:
                out.write(cheat)
            wrote += 1
        except OSError:
            pass
    def f():
        return float(wrote)
    """
    res = _whole(tmp_path, support, program, pool=pool)
    assert (res.status, res.score) == ("ok", 0.0)
    assert "999" not in (task_dir / "evaluator.py").read_text() and not (tmp_path / "outside.txt").exists()
    honest = whole_task(tmp_path / "task2", "def f():\n    return 2.5\n")
    assert evaluate_program(honest, honest.initial_program, support=support).score == 2.5


def test_no_network_not_even_loopback(
    tmp_path: Path, support: JailSupport, guard: HostGuard, pool: EvalPool | None
) -> None:
    tcp = socket.socket()
    tcp.bind(("127.0.0.1", 0))
    tcp.listen(1)
    tcp.settimeout(0.5)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    udp.settimeout(0.5)
    program = f"""
    import socket
    reached = 0
    try:
        socket.create_connection(("127.0.0.1", {tcp.getsockname()[1]}), timeout=2).close()
        reached += 1
    except OSError:
        pass
    try:
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"dns?", ("127.0.0.1", {udp.getsockname()[1]}))
    except OSError:
        pass
    try:
        socket.getaddrinfo("example.com", 53)
        reached += 1
    except OSError:
        pass
    def f():
        return float(reached)
    """
    try:
        res = _whole(tmp_path, support, program, pool=pool)
        with pytest.raises(TimeoutError):
            tcp.accept()
        with pytest.raises(TimeoutError):
            udp.recvfrom(64)
    finally:
        tcp.close()
        udp.close()
    assert (res.status, res.score) == ("ok", 0.0)


def test_killing_the_parent_or_every_process_it_can_reach_harms_nothing(
    tmp_path: Path, support: JailSupport, guard: HostGuard, pool: EvalPool | None
) -> None:
    attack = """
    import os, signal
    refused = 0
    for victim in (os.getppid(), 1, -1):
        try:
            os.kill(victim, signal.SIGKILL)
        except OSError:
            refused += 1
    def f():
        return float(refused)
    """
    res = _whole(tmp_path, support, attack, pool=pool)
    if pool is None:
        assert (res.status, res.score) == ("ok", 3.0), "the jail's init and the runner are out of its reach"
        return
    # in a warm worker the parent is the worker, the namespace's init: the kernel takes the signal and drops it
    assert (res.status, res.score) == ("ok", 1.0), res.error
    workers = {w.proc.pid for idle in pool._idle.values() for w in idle if w.proc is not None}
    honest = whole_task(tmp_path / "task", "def f():\n    return 2.5\n")
    assert evaluate_program(honest, honest.initial_program, support=support, pool=pool).score == 2.5
    assert workers and workers == {w.proc.pid for idle in pool._idle.values() for w in idle if w.proc is not None}


def test_killing_its_own_group_is_a_failed_node_with_the_signal(
    tmp_path: Path, support: JailSupport, guard: HostGuard, pool: EvalPool | None
) -> None:
    attack = "import os, signal\nos.killpg(0, signal.SIGKILL)\n"
    res = _whole(tmp_path, support, attack + "def f():\n    return 1.0\n", pool=pool)
    assert res.status == "failed" and res.error == "killed by SIGKILL (signal 9)", res.error
    split = _circles(tmp_path, support, attack)
    assert split.status == "invalid" and "killed by SIGKILL (signal 9)" in split.error, split.error
    assert "memory" not in split.error


def test_segfault_is_named(tmp_path: Path, support: JailSupport, guard: HostGuard, pool: EvalPool | None) -> None:
    res = _whole(tmp_path, support, "import ctypes\nctypes.string_at(0)\ndef f():\n    return 1.0\n", pool=pool)
    assert res.status == "failed" and res.error.startswith("killed by SIGSEGV (signal 11)"), res.error


def test_a_gigabyte_on_stdout_and_stderr_keeps_the_tails(tmp_path: Path, support: JailSupport,
                                                         guard: HostGuard, pool: EvalPool | None) -> None:
    program = """
    import os
    chunk = b"y" * 2**20
    for _ in range(512):
        os.write(1, chunk)
        os.write(2, chunk)
    print("LAST LINE")
    def f():
        return 1.0
    """
    res = _whole(tmp_path, support, program, timeout_s=60, pool=pool)
    assert (res.status, res.score) == ("ok", 1.0)
    assert len(res.stdout_tail) <= 64_000 and res.stdout_tail.endswith("LAST LINE\n")
    assert len(res.stderr_tail) <= 64_000


def test_keys_cannot_be_read_through_proc_or_inherited_fds(
    tmp_path: Path, support: JailSupport, guard: HostGuard, pool: EvalPool | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = f"sk-hostile-{uuid.uuid4().hex}"
    monkeypatch.setenv("OPENAI_API_KEY", key)
    res = _whole(tmp_path, support, SNOOP + "def f():\n    return 1.0\n", pool=pool)
    assert res.status == "ok" and "/proc" not in res.stderr_tail, res.error
    assert "PYTHONHASHSEED" in res.stdout_tail, "the candidate did print what it saw"
    assert key not in res.to_json() and "OPENAI_API_KEY" not in res.to_json()


def test_a_split_candidate_sees_nothing_of_the_task_or_data(
    tmp_path: Path, support: JailSupport, guard: HostGuard, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data"
    (data / "held_out").mkdir(parents=True)
    (data / "held_out" / "answers.json").write_text("{}")
    monkeypatch.setenv("ASI_EVOLVE_DATA_DIR", str(data))
    monkeypatch.setenv(JAIL_ENV, policy_env(support, jail_limits(CIRCLES, 20)))
    hidden = [str(CIRCLES.root), str(CIRCLES.evaluator), str(data), str(tmp_path)]
    homes = [str(Path.home()), str(Path.cwd())]
    program = tmp_path / "walker.py"
    program.write_text(
        "import json, os\n"
        f"print(json.dumps([[os.path.exists(p) for p in {hidden!r}], [sorted(os.listdir(p)) if os.path.isdir(p) "
        f"else [] for p in {homes!r}]]))\n"
    )
    res = run_candidate(program, timeout_s=20)
    assert res.returncode == 0, res.stderr
    seen, listed = json.loads(res.stdout)
    assert seen == [False] * len(hidden)
    for home, names in zip(homes, listed, strict=True):  # only the folders leading to the interpreter
        leads = {p.relative_to(home).parts[0] for p in interpreter_paths() if p.is_relative_to(home)}
        assert set(names) <= leads, f"{home} shows {names}"


def test_faking_the_score_by_patching_numpy_fails(tmp_path: Path, support: JailSupport, guard: HostGuard) -> None:
    extra = """
    _np = __import__("numpy")
    _table = getattr(_np, "__dict__")
    _table["sum"] = lambda *args, **kwargs: 99.0
    _real = construct_packing
    def construct_packing(n):
        centers, radii = _real(n)
        return centers, radii * 2  # overlapping: only a fooled checker would accept it
    """
    res = _circles(tmp_path, support, extra)
    assert res.status == "invalid" and res.score is None and "violations in all" in res.error, res.error


def test_writing_result_files_and_fds_fakes_nothing(tmp_path: Path, support: JailSupport, guard: HostGuard) -> None:
    extra = """
    import json as _json, os as _os
    _fake = _json.dumps({"metrics": {"combined_score": 99.0, "valid": True}})
    _stage = "_".join([".asi", "evolve", "stage"])  # the old stage-result file (spelt so the static scan lets it by)
    for _folder in (".", "/tmp", _os.environ.get("HOME", ".")):
        for _name in (_stage + "1.json", _stage + "2.json", "results.json"):
            try:
                open(_os.path.join(_folder, _name), "w").write(_fake)
            except OSError:
                pass
    for _fd in map(int, _os.listdir("/proc/self/fd")):
        try:
            _os.write(_fd, _fake.encode())
        except OSError:
            pass
    _os._exit(0)
    """
    res = _circles(tmp_path, support, extra)
    assert res.status == "invalid" and res.score is None, res


def test_racing_the_result_from_a_helper_process_fakes_nothing(
    tmp_path: Path, support: JailSupport, guard: HostGuard
) -> None:
    extra = """
    import json as _json, os as _os, time as _time
    _fake = _json.dumps({"metrics": {"combined_score": 99.0, "valid": True}})
    _stage = "_".join([".asi", "evolve", "stage"])  # the old stage-result file (spelt so the static scan lets it by)
    if _os.fork() == 0:
        _os.setsid()
        _end = _time.time() + 3
        while _time.time() < _end:
            _home = _os.environ.get("HOME", ".")
            for _name in (_stage + "2.json", "results.json", _os.path.join(_home, _stage + "2.json")):
                try:
                    open(_name, "w").write(_fake)
                except OSError:
                    pass
            _time.sleep(0.01)
        _os._exit(0)
    """
    res = _circles(tmp_path, support, extra)
    assert res.status == "ok" and res.score == INITIAL_SCORE, res


KEYRING = """
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
ADD_KEY, KEYCTL = {add_key}, {keyctl}
reached = []
for ring in (-3, -4, -5):  # session, user, user-session keyring
    found = libc.syscall(KEYCTL, 10, ring, b"user", b"runner_secret", 0)  # KEYCTL_SEARCH
    if found > 0:
        buf = ctypes.create_string_buffer(256)
        libc.syscall(KEYCTL, 11, found, buf, 256)  # KEYCTL_READ
        reached.append(buf.value.decode())
    if libc.syscall(ADD_KEY, b"user", b"planted", b"evil", 4, ring) > 0:
        reached.append(f"planted in {{ring}}")
print(reached)
def f():
    return float(len(reached))
"""


@pytest.mark.parametrize("warm", [False, True], ids=["one-off", "warm"])
def test_the_kernel_keyring_is_out_of_reach(tmp_path: Path, support: JailSupport, guard: HostGuard,
                                            warm: bool) -> None:
    numbers = {"x86_64": (248, 250), "aarch64": (217, 219)}.get(platform.machine())
    if numbers is None:
        pytest.skip("keyring system call numbers unknown for this architecture")
    add_key, keyctl = numbers
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    secret = f"keyring-{uuid.uuid4().hex}".encode()
    script = (f"import ctypes, os, sys\nlibc = ctypes.CDLL(None)\nlibc.syscall({keyctl}, 1, None)\n"
              f"libc.syscall({add_key}, b'user', b'runner_secret', {secret!r}, {len(secret)}, -3)\n")
    # the runner's session keyring holds a secret: run the evaluation from a process that joined one
    runner = tmp_path / "runner.py"
    runner.write_text(script + textwrap.dedent(f"""
        from tasks.spec import load_task_dir
        from tools.eval_pool import EvalPool
        from tools.evaluation import evaluate_program
        from tools.jail import probe_support
        task = load_task_dir({str(tmp_path / "task")!r})
        pool = EvalPool() if {warm!r} else None
        print(evaluate_program(task, task.initial_program, support=probe_support("bwrap"), pool=pool).to_json())
        assert pool is None or not pool.refused(), pool.refused()
    """))
    whole_task(tmp_path / "task", KEYRING.format(add_key=add_key, keyctl=keyctl))
    proc = subprocess.run([sys.executable, str(runner)], capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).parents[2])
    assert proc.returncode == 0, proc.stderr
    res = EvalResult.from_json(proc.stdout.strip().splitlines()[-1])
    assert (res.status, res.score) == ("ok", 0.0), res
    assert secret.decode() not in proc.stdout


@pytest.mark.parametrize(
    ("payload", "status", "error"),
    [
        ('{"metrics": {"combined_score": ' + "9" * 400 + "}}", "invalid", "no finite combined_score"),
        ("[" * 5000, "failed", "garbled evaluator result"),
        ('{"metrics": ' + "[" * 900 + "]" * 900 + "}", "failed", "the evaluator wrote no metrics"),
    ],
    ids=["huge-int", "deep-garbage", "deep-valid-json"],
)
def test_garbage_on_the_result_channel_is_a_node_not_a_crash(
    tmp_path: Path, support: JailSupport, guard: HostGuard, pool: EvalPool | None, payload: str, status: str, error: str
) -> None:
    program = f"""
    import os
    for fd in map(int, os.listdir("/proc/self/fd")):  # whatever number the result pipe has
        try:
            if fd > 2 and os.readlink(f"/proc/self/fd/{{fd}}").startswith("pipe:"):
                os.write(fd, {payload!r}.encode())
        except OSError:
            pass
    os._exit(0)
    """
    res = _whole(tmp_path, support, program, pool=pool)
    assert res.status == status and res.error.startswith(error), res.error


def test_a_limit_reached_without_ending_the_child_is_named_beside_its_signal(
    tmp_path: Path, support: JailSupport, guard: HostGuard, pool: EvalPool | None
) -> None:
    program = """
    import os, signal, time
    for _ in range(100):
        try:
            if os.fork() == 0:
                time.sleep(5)
                os._exit(0)
        except OSError:
            break
    os.kill(os.getpid(), signal.SIGSEGV)
    """
    res = _whole(tmp_path, support, program, pool=pool)
    assert res.status == "failed"
    assert res.error == "killed by SIGSEGV (signal 11); process limit reached (32 processes)"


def test_open_files_are_capped_per_process(
    tmp_path: Path, support: JailSupport, guard: HostGuard, pool: EvalPool | None
) -> None:
    program = """
    import os
    held = []
    try:
        for _ in range(100_000):
            held.append(os.open("/dev/null", os.O_RDONLY))
    except OSError:
        pass
    def f():
        return float(len(held))
    """
    res = _whole(tmp_path, support, program, pool=pool)
    assert res.status == "ok" and res.score is not None and res.score < 1024, res
