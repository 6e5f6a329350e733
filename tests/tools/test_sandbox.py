"""The sandbox against misbehaving children: timeouts, orphans, floods, memory/CPU/file limits, secrets."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from tools.child_env import python_argv, scrubbed_env
from tools.sandbox import Limits, SandboxResult, run_sandboxed


def _py(tmp_path: Path, code: str, limits: Limits = Limits(), **kwargs: object) -> SandboxResult:  # noqa: B008
    script = tmp_path / "child.py"
    script.write_text(textwrap.dedent(code))
    return run_sandboxed(python_argv(script), cwd=tmp_path, limits=limits, **kwargs)  # type: ignore[arg-type]


def _wait_for_pid(path: Path, within: float = 5.0) -> int:
    end = time.monotonic() + within
    while time.monotonic() < end:
        if path.is_file() and path.read_text().strip():
            return int(path.read_text())
        time.sleep(0.02)
    raise AssertionError(f"{path.name} was never written")


def _gone(pid: int, within: float = 1.0) -> bool:
    """Dead (or a zombie waiting for a reaper) within `within` seconds."""
    end = time.monotonic() + within
    while True:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        if time.monotonic() > end:
            return False
        time.sleep(0.02)


def _assert_gone(pid: int, within: float = 1.0) -> None:
    if not _gone(pid, within):
        os.kill(pid, signal.SIGKILL)  # leave no process of ours behind, then fail
        raise AssertionError(f"process {pid} survived the sandbox")


def test_exit_codes_and_signals_are_reported(tmp_path: Path) -> None:
    ok = _py(tmp_path, "print('hello')")
    assert (ok.returncode, ok.timed_out, ok.stdout) == (0, False, "hello\n")
    assert ok.describe_exit() == "exit code 0"
    three = _py(tmp_path, "import sys; sys.exit(3)")
    assert three.returncode == 3 and three.describe_exit() == "exit code 3"
    term = _py(tmp_path, "import os, signal; os.kill(os.getpid(), signal.SIGTERM)")
    assert term.returncode == -signal.SIGTERM and term.describe_exit() == "killed by SIGTERM (signal 15)"


def test_crash_keeps_the_traceback(tmp_path: Path) -> None:
    res = _py(tmp_path, "def f():\n    raise ValueError('boom')\nf()\n")
    assert res.returncode == 1
    assert "Traceback" in res.stderr and "ValueError: boom" in res.stderr


def test_timeout_kills_the_grandchild(tmp_path: Path) -> None:
    code = """
    import subprocess, time
    sleeper = subprocess.Popen(["sleep", "100"])
    open("grandchild.pid", "w").write(str(sleeper.pid))
    time.sleep(100)
    """
    start = time.monotonic()
    res = _py(tmp_path, code, Limits(timeout_s=1.5))
    assert res.timed_out and res.returncode == -signal.SIGKILL
    assert time.monotonic() - start < 5
    assert res.describe_exit().startswith("timed out after 1.")
    _assert_gone(_wait_for_pid(tmp_path / "grandchild.pid"))


def test_timeout_kills_a_grandchild_that_left_the_process_group(tmp_path: Path) -> None:
    code = """
    import subprocess, time
    sleeper = subprocess.Popen(["sleep", "100"], start_new_session=True)
    open("escapee.pid", "w").write(str(sleeper.pid))
    time.sleep(100)
    """
    res = _py(tmp_path, code, Limits(timeout_s=1.5))
    assert res.timed_out
    _assert_gone(_wait_for_pid(tmp_path / "escapee.pid"))


def test_background_leftovers_of_a_finished_child_are_killed(tmp_path: Path) -> None:
    start = time.monotonic()
    res = run_sandboxed(["bash", "-c", "sleep 100 & echo $! > bg.pid; echo done"], cwd=tmp_path)
    assert time.monotonic() - start < 3, "a background process holding our pipes must not stall us"
    assert res.returncode == 0 and res.stdout == "done\n" and not res.timed_out
    _assert_gone(_wait_for_pid(tmp_path / "bg.pid"))


def test_child_that_closes_its_pipes_still_times_out(tmp_path: Path) -> None:
    start = time.monotonic()
    res = run_sandboxed(["bash", "-c", "exec >&- 2>&-; sleep 100"], cwd=tmp_path, limits=Limits(timeout_s=1))
    assert res.timed_out and time.monotonic() - start < 4


def test_killing_the_runner_kills_the_child(tmp_path: Path) -> None:
    runner = tmp_path / "runner.py"
    runner.write_text(
        textwrap.dedent(
            """
            import sys
            from pathlib import Path
            from tools.sandbox import Limits, run_sandboxed
            code = "import os, time; open('child.pid', 'w').write(str(os.getpid())); time.sleep(100)"
            run_sandboxed([sys.executable, "-c", code], cwd=Path(sys.argv[1]), limits=Limits(timeout_s=100))
            """
        )
    )
    outer = subprocess.Popen([sys.executable, str(runner), str(tmp_path)], cwd=Path(__file__).parents[2])
    try:
        child = _wait_for_pid(tmp_path / "child.pid")
        outer.kill()
        outer.wait()
        _assert_gone(child, within=2.0)  # PR_SET_PDEATHSIG takes the child down with its runner
    finally:
        outer.kill()


def test_memory_limit_stops_a_big_allocation(tmp_path: Path) -> None:
    res = _py(tmp_path, "block = bytearray(1024 ** 3)\nprint('allocated')", Limits(memory_mb=256))
    assert res.returncode != 0 and "allocated" not in res.stdout
    assert "MemoryError" in res.stderr
    assert res.describe_exit() == "exit code 1 (MemoryError)"


def test_cpu_limit_kills_a_busy_loop(tmp_path: Path) -> None:
    start = time.monotonic()
    res = _py(tmp_path, "while True:\n    pass\n", Limits(timeout_s=30, cpu_s=1))
    assert not res.timed_out
    assert res.returncode in (-signal.SIGXCPU, -signal.SIGKILL)
    assert time.monotonic() - start < 8
    assert "SIGXCPU" in res.describe_exit() or "SIGKILL" in res.describe_exit()


def test_file_size_limit(tmp_path: Path) -> None:
    res = _py(tmp_path, "open('big.bin', 'wb').write(b'x' * (2 << 20))", Limits(file_mb=1))
    assert res.returncode != 0 and "File too large" in res.stderr
    assert (tmp_path / "big.bin").stat().st_size <= 1 << 20


def test_output_flood_keeps_the_tail(tmp_path: Path) -> None:
    code = """
    import sys
    sys.stdout.write(("y" * 99 + "\\n") * 500_000)
    print("LAST LINE")
    """
    start = time.monotonic()
    res = _py(tmp_path, code)
    assert time.monotonic() - start < 10
    assert res.returncode == 0
    assert len(res.stdout.encode()) <= Limits().max_output_bytes
    assert res.stdout_dropped > 0
    assert res.stdout_dropped + len(res.stdout.encode()) == 50_000_000 + len("LAST LINE\n")
    assert res.stdout.endswith("y\nLAST LINE\n")


def test_stderr_cap_counts_dropped_bytes(tmp_path: Path) -> None:
    res = _py(tmp_path, "import sys; sys.stderr.write('x' * 900 + 'TAIL')", Limits(max_output_bytes=100))
    assert res.stderr == "x" * 96 + "TAIL"
    assert res.stderr_dropped == 804 and res.stdout_dropped == 0


def test_api_keys_never_reach_the_child(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("GITHUB_TOKEN", "ghp-test")
    monkeypatch.setenv("SOME_UNLISTED_VAR", "1")
    show = "import json, os; print(json.dumps(dict(os.environ)))"
    seen = json.loads(_py(tmp_path, show).stdout)
    assert not {"OPENAI_API_KEY", "GITHUB_TOKEN", "SOME_UNLISTED_VAR"} & set(seen)
    assert seen["PYTHONHASHSEED"] == "0" and seen["OMP_NUM_THREADS"] == "1"

    extra = scrubbed_env(extra={"OPENAI_API_KEY": "sk-test", "db_password": "p", "TASK_FLAG": "on"})
    assert "OPENAI_API_KEY" not in extra and "db_password" not in extra and extra["TASK_FLAG"] == "on"
    seen = json.loads(_py(tmp_path, show, env=extra).stdout)
    assert seen["TASK_FLAG"] == "on" and "OPENAI_API_KEY" not in seen

    raw = {"PATH": os.environ["PATH"], "ANTHROPIC_API_KEY": "sk-raw", "AWS_CREDENTIALS": "c"}
    seen = json.loads(_py(tmp_path, show, env=raw).stdout)
    assert "ANTHROPIC_API_KEY" not in seen and "AWS_CREDENTIALS" not in seen


def test_home_tmpdir_and_cwd_are_the_work_dir(tmp_path: Path) -> None:
    code = "import os, tempfile; print(os.environ['HOME']); print(tempfile.gettempdir()); print(os.getcwd())"
    lines = _py(tmp_path, code).stdout.splitlines()
    assert lines == [str(tmp_path.resolve())] * 3


def test_missing_work_dir_is_a_programmer_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="work dir not found"):
        run_sandboxed(["true"], cwd=tmp_path / "nope")


def test_describe_exit_names_the_likely_limit() -> None:
    def result(code: int | None, timed_out: bool = False, stderr: str = "") -> SandboxResult:
        return SandboxResult(code, timed_out, "", stderr, 0, 0, 5.0)

    assert result(-signal.SIGKILL, timed_out=True).describe_exit() == "timed out after 5.0 s"
    assert result(-signal.SIGKILL).describe_exit() == "killed by SIGKILL (signal 9)", "no guessing"
    assert result(-signal.SIGXCPU).describe_exit() == "killed by SIGXCPU (CPU time limit)"
    assert result(1, stderr="MemoryError\n").describe_exit() == "exit code 1 (MemoryError)"
    assert result(None).describe_exit() == "did not finish"
    assert result(1, stderr="print('MemoryError')\nValueError\n").describe_exit() == "exit code 1", "last line"
    from_init = SandboxResult(-signal.SIGXCPU, False, "", "", 0, 0, 1.0, signal_from_status=True)
    assert from_init.describe_exit() == "killed by SIGXCPU (signal 24)", "an exit status 152 proves no CPU limit"
    pressed = SandboxResult(-signal.SIGSEGV, False, "", "", 0, 0, 1.0, pressure="process limit reached (8 processes)")
    assert pressed.describe_exit() == "killed by SIGSEGV (signal 11); process limit reached (8 processes)"
    limited = SandboxResult(-signal.SIGKILL, False, "", "", 0, 0, 1.0, limit="memory limit reached (9 MB)")
    assert limited.describe_exit() == "memory limit reached (9 MB)"
