"""The Ray executor against a real Ray cluster on this machine (`ray.cluster_utils.Cluster`: a head node without
CPUs and two worker nodes of one CPU each), nodes and worker processes killed while they evaluate."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psutil
import pytest

from knowledge.database import NodeDatabase
from tasks.registry import load_task
from tasks.spec import TaskSpec, load_task_dir
from tests.support.cli import asi
from tests.support.hostile import SNOOP, whole_task
from tests.support.tiny_task import write_tiny_task
from tools.executors import LocalExecutor, make_executor
from tools.jail_view import JAIL_UID
from tools.ray_executor import RayExecutor, RayUnavailable, ray_options
from tools.results import EvalResult

SECRET = "sk-ray-worker-secret-5f1e2d"
# the evaluator takes a few seconds, long enough to kill what runs it
SLOW_EVALUATOR = "import time\n\n\ndef evaluate(program_path):\n    time.sleep(4)\n    return {'combined_score': 1.0}\n"


class RayCluster:
    """A head without CPUs and worker nodes of one CPU; everything Ray writes lives in one temp folder."""

    def __init__(self, root: Path) -> None:
        from ray.cluster_utils import Cluster

        self.root = root
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("TMPDIR", str(root))  # Cluster writes its address for `auto` in $TMPDIR/ray, not /tmp/ray
            self.cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "temp_dir": str(root)})
        self.add_workers(2)

    def add_workers(self, count: int) -> None:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("TMPDIR", str(self.root))  # the workers' temp dirs and unpacked tasks go there too
            for _ in range(count):
                self.cluster.add_node(num_cpus=1, temp_dir=str(self.root))
        self.cluster.wait_for_nodes()

    def remove(self, node_id: str) -> None:
        node = next(n for n in self.cluster.worker_nodes if n.node_id == node_id)
        self.cluster.remove_node(node, allow_graceful=False)


@pytest.fixture(scope="module")
def cluster() -> Iterator[RayCluster]:
    import ray

    root = Path(tempfile.mkdtemp(prefix="ray-", dir="/tmp"))  # short: Ray's socket paths live under it
    root.chmod(0o755)
    (root / "ray").mkdir()
    made = None
    try:
        made = RayCluster(root)
        ray.init(address=made.cluster.address, log_to_driver=False,
                 runtime_env={"env_vars": {"OPENAI_API_KEY": SECRET}})
        yield made
    finally:
        ray.shutdown()
        if made is not None:
            made.cluster.shutdown()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def executor(cluster: RayCluster) -> Iterator[RayExecutor]:
    ray_executor = RayExecutor()  # Ray is already initialised by the fixture: used, never shut down
    yield ray_executor
    ray_executor.close()


def world_readable_tiny(folder: Path) -> TaskSpec:
    write_tiny_task(folder)
    return load_task_dir(folder)


def running(name: str = "asi_evolve_evaluate", seen: frozenset[str] = frozenset(), timeout: float = 60) -> Any:
    """The state of an evaluation task running now (one not in `seen`), once it has been running a second."""
    from ray.util.state import list_tasks

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        tasks = list_tasks(filters=[("name", "=", name), ("state", "=", "RUNNING")], raise_on_missing_output=False)
        fresh = [t for t in tasks if t.task_id + str(t.attempt_number) not in seen and t.node_id]
        if fresh:
            time.sleep(1.5)  # past unpacking and the jail's probe: mid-evaluation
            return fresh[0]
        time.sleep(0.2)
    raise AssertionError("no evaluation started running on the cluster")


def in_background(call: Any) -> Future[EvalResult]:
    return ThreadPoolExecutor(max_workers=1).submit(call)


@pytest.mark.slow
def test_ray_gives_what_the_local_executor_gives_and_fills_the_work_dir(executor: RayExecutor,
                                                                        tmp_path: Path) -> None:
    local = LocalExecutor()
    try:
        for task in (world_readable_tiny(tmp_path / "tiny"), load_task("circle_packing_32")):
            # circle_packing_32's evaluator and program lie in another folder: both travel
            here = local.run(task, task.initial_program, tmp_path / f"{task.name}-local", None)
            there = executor.run(task, task.initial_program, tmp_path / f"{task.name}-ray", None)
            assert here.status == there.status == "ok", (here.error, there.error)
            same = ({**there.metrics, "eval_time_s": 0}, there.score, there.stage)  # but for the clock
            assert same == ({**here.metrics, "eval_time_s": 0}, here.score, here.stage)
            files = {p.relative_to(tmp_path / f"{task.name}-local").as_posix()
                     for p in (tmp_path / f"{task.name}-local").rglob("*") if p.is_file()}
            assert "program.py" in files
            for name in files:
                assert (tmp_path / f"{task.name}-ray" / name).is_file(), name
            assert (tmp_path / f"{task.name}-ray" / "program.py").read_bytes() == task.initial_program.read_bytes()
    finally:
        local.close()


@pytest.mark.slow
def test_the_candidate_runs_in_the_workers_jail(executor: RayExecutor, tmp_path: Path) -> None:
    import ray

    @ray.remote(num_cpus=1)
    def worker_env() -> str | None:
        return os.environ.get("OPENAI_API_KEY")

    assert ray.get(worker_env.remote()) == SECRET  # the worker holds the secret: the jail must keep it away
    program = "import os\nprint('uid', os.getuid())\n" + SNOOP + "def f():\n    return 1.0\n"
    task = whole_task(tmp_path / "snoop", program)
    result = executor.run(task, task.initial_program, None, None)
    assert result.status == "ok", result.error
    assert "PYTHONHASHSEED" in result.stdout_tail, "the candidate did print what it saw"
    assert SECRET not in result.to_json() and "OPENAI_API_KEY" not in result.to_json()
    if os.geteuid() == 0 and executor.support.backend == "bwrap":
        assert f"uid {JAIL_UID}" in result.stdout_tail


@pytest.mark.slow
def test_a_cli_run_on_ray_stores_the_nodes_a_local_run_stores(cluster: RayCluster, tmp_path: Path) -> None:
    task = tmp_path / "tiny"
    write_tiny_task(task)
    sequences = []
    for name, extra in (("local", ()), ("ray", ("--executor", "ray", "--ray-address", cluster.cluster.address))):
        run_dir = tmp_path / name
        proc = asi("run", str(task), "--steps", "3", "--seed", "5", "--run-dir", str(run_dir), *extra, timeout=240)
        assert proc.returncode == 0, proc.stderr
        nodes = NodeDatabase(run_dir / "run.db").nodes()
        sequences.append([(n.trial_key, n.name, n.status, n.score, n.metrics, n.parent_ids) for n in nodes])
        assert (run_dir / "nodes" / nodes[-1].trial_key / "program.py").is_file()
    assert len(sequences[0]) == 4 and sequences[0] == sequences[1]


def slow_task(folder: Path) -> TaskSpec:
    write_tiny_task(folder)
    (folder / "evaluator.py").write_text(SLOW_EVALUATOR)
    return load_task_dir(folder)


@pytest.mark.slow
def test_a_node_dying_mid_evaluation_costs_one_retry_that_is_noted(cluster: RayCluster, executor: RayExecutor,
                                                                   tmp_path: Path) -> None:
    task = slow_task(tmp_path / "slow")
    pending = in_background(lambda: executor.run(task, task.initial_program, None, None))
    victim = running()
    cluster.remove(victim.node_id)
    result = pending.result(timeout=120)
    cluster.add_workers(1)
    assert result.status == "ok" and result.score == 1.0, result.error
    note = result.stderr_tail.splitlines()[0]
    assert "attempt 1 lost (NodeDiedError" in note and victim.node_id[:8] in note and "retried on node" in note
    assert result.notes == (note,)  # what the stored node keeps among its notes


@pytest.mark.slow
def test_an_experiment_lost_twice_is_a_failed_result_naming_where(cluster: RayCluster, executor: RayExecutor,
                                                                  tmp_path: Path) -> None:
    task = slow_task(tmp_path / "slow")
    pending = in_background(lambda: executor.run(task, task.initial_program, None, None))
    first = running()
    psutil.Process(first.worker_pid).kill()  # the worker process dies, its node lives
    second = running(seen=frozenset({first.task_id + str(first.attempt_number)}))
    cluster.remove(second.node_id)  # then the node of the retry dies
    result = pending.result(timeout=120)
    cluster.add_workers(1)
    assert result.status == "failed" and result.score is None
    assert result.error.startswith("the Ray worker running this experiment died twice: attempt 1 lost "
                                   "(WorkerCrashedError"), result.error
    assert f"worker pid {first.worker_pid}" in result.error
    assert "attempt 2 lost (NodeDiedError" in result.error and second.node_id[:8] in result.error
    assert "\n" not in result.error


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("address", ["127.0.0.1:{port}", "ray://127.0.0.1:{port}", "not-an-address"])
def test_an_unreachable_address_is_one_line_at_once(address: str) -> None:
    started = time.monotonic()
    with pytest.raises(RayUnavailable) as caught:
        make_executor("ray", ray_address=address.format(port=_closed_port()))
    assert time.monotonic() - started < 10 and "\n" not in str(caught.value)
    assert isinstance(caught.value, ValueError)  # the CLI shows it in one line, exit 2


def test_auto_without_a_running_cluster_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAY_ADDRESS", f"127.0.0.1:{_closed_port()}")
    with pytest.raises(RayUnavailable, match=r"^no Ray cluster answers at auto"):
        RayExecutor(ray_address="auto")


def test_an_address_for_the_local_executor_is_refused() -> None:
    with pytest.raises(ValueError, match=r"^--ray-address is for --executor ray, not 'local'$"):
        make_executor("local", ray_address="auto")


def test_the_cli_says_an_unreachable_address_in_one_line(tmp_path: Path) -> None:
    task = tmp_path / "tiny"
    write_tiny_task(task)
    proc = asi("run", str(task), "--steps", "1", "--executor", "ray", "--ray-address", f"127.0.0.1:{_closed_port()}",
               "--run-dir", str(tmp_path / "run"), "--no-cognition", timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith("error: no Ray cluster answers at 127.0.0.1:")
    assert "Traceback" not in proc.stderr


def test_resources_come_from_the_task(tmp_path: Path) -> None:
    task = load_task_dir(write_tiny_task(tmp_path / "t", cpus=2, memory_mb=512, resources="{GPU: 1, a100: 2}"))
    assert ray_options(task) == {"num_cpus": 2.0, "num_gpus": 1.0, "memory": 512 << 20, "resources": {"a100": 2.0}}
    split = load_task("circle_packing_32")  # the evaluator's group holds its candidate's: twice the memory
    assert ray_options(split, {"num_gpus": 2}) == {"num_cpus": 1.0, "num_gpus": 2.0, "memory": 2 * 2048 << 20}


def test_ray_is_not_imported_by_the_local_path() -> None:
    code = "import sys, tools.executors, graph.cli; assert 'ray' not in sys.modules, 'ray imported'"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          cwd=Path(__file__).resolve().parents[2])
    assert proc.returncode == 0, proc.stderr
