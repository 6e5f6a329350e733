"""Experiments on a Ray cluster: `--executor ray [--ray-address auto|HOST:PORT|ray://HOST:PORT]`.

Why: one machine's cores bound how many candidates a run evaluates at once; a cluster lends many. Each experiment
is one Ray task that probes the jail of the node it lands on and runs `tools.evaluation.evaluate_program` there,
the candidate in that machine's jail, exactly as `LocalExecutor` does at home.

- Nothing of the driver's file system is assumed on a worker: the program text and the task's files travel
  (`tools.task_bundle`, unpacked once per machine), the work dir is the worker's own, and its small files come
  back into the driver's `work_dir` when one is given. Every machine needs this project installed (the same
  version) and, for tasks with data, its own `$ASI_EVOLVE_DATA_DIR`. Launch options are passed as given (a
  path in them, such as the rdkit launcher's feature cache, names the worker's file system).
- An evaluation reserves the task's `cpus` (1 when unset), `memory_mb` (twice with `isolation: split`: the
  evaluator's group holds its candidate's), the GPUs its launch or `launcher_options` name (`num_gpus`) and the
  task's `resources` (Ray custom resources; `GPU`/`CPU` there too). A request no live node can hold fails at once.
- A worker process or node lost mid-evaluation (`WorkerCrashedError`, `NodeDiedError`, ...) costs one retry:
  Ray's own retries are off so the lost attempt is recorded, at the head of the result's `stderr_tail` (the
  node's stderr.txt); lost twice, the result is failed with a reason naming where. Other Ray errors fail at once.
- Training progress is not streamed: `on_progress` receives the events (the last 10,000) after the evaluation.
- Ray is imported and connected on the first `run`, once per process (thread-safe); "" starts a local instance
  that `close` shuts down, a cluster connected to is never shut down, and a Ray this process had already
  initialised (a notebook, a test) is used as it is. An address nothing answers at fails when the executor is
  made, in one line (Ray itself would wait for minutes, then exit the process).
- Each machine keeps the tasks it unpacked in `$TMPDIR/asi-evolve-ray-<uid>/` (a few KB per task and version);
  a worker killed mid-evaluation leaves its temporary work dir behind.
"""

from __future__ import annotations

import logging
import os
import socket
import tempfile
import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

from tasks.spec import TaskSpec
from tools.deepspeed_launch import Progress
from tools.eval_pool import EvalPool
from tools.evaluation import PROGRAM_NAME, evaluate_program
from tools.jail import JailSupport, probe_support
from tools.results import EvalResult
from tools.task_bundle import BundleError, collect_files, pack_task, private_cache, rerooted, unpack, write_files

ATTEMPTS = 2
CONNECT_TIMEOUT_S = 5.0
MAX_EVENTS = 10_000
LOST = ("WorkerCrashedError", "NodeDiedError", "LocalRayletDiedError", "ObjectLostError", "TaskUnschedulableError",
        "OutOfMemoryError", "OutOfDiskError")  # the attempt died with its worker or node, not with the candidate


class RayUnavailable(ValueError):
    """Ray cannot be reached or started; the message is one line (the CLI shows it, exit 2)."""


_connect_lock = threading.Lock()
# Ray starts its local processes with a parent-death signal, which fires when the *thread* that started them ends;
# the graph's threads come and go, so a long-lived thread of ours starts them (as `tools.eval_pool` does its jails)
_starter = ThreadPoolExecutor(max_workers=1, thread_name_prefix="asi-evolve-ray")


class RayExecutor:
    """Runs each evaluation as a Ray task on whichever node has room; see the module's docstring."""

    def __init__(self, sandbox: str | None = None, warm: bool = True, ray_address: str | None = "") -> None:
        self.support: JailSupport = probe_support(sandbox or None)  # this machine's; each worker probes its own
        self.sandbox = sandbox or None
        self.warm = warm
        self.address = (ray_address or "").strip()
        check_address(self.address)
        self._started = False
        self._remote: Any = None
        self._feasible: set[str] = set()
        self._bundles: dict[str, tuple[str, str, list[Any]]] = {}
        self._lock = threading.Lock()

    def run(self, task: TaskSpec, program_path: Path, work_dir: Path | None, timeout_s: float | None, *,
            launch: Mapping[str, Any] | None = None, on_progress: Progress | None = None,
            seed: int = 0) -> EvalResult:
        program = Path(program_path).read_bytes()  # raises for a missing program, as the local executor does
        ray = self._connect()
        options = ray_options(task, launch)
        problem = self._unschedulable(ray, options)
        if problem:
            return EvalResult("failed", None, error=problem)
        try:
            digest, anchor, holder = self._bundle(ray, task)
        except BundleError as exc:
            return EvalResult("failed", None, error=str(exc))
        args = (task, digest, anchor, holder, program, timeout_s, self.sandbox, self.warm,
                dict(launch) if launch else None, seed, on_progress is not None, work_dir is not None)
        lost: list[str] = []
        lost_types = tuple(getattr(ray.exceptions, name) for name in LOST)
        for attempt in range(1, ATTEMPTS + 1):
            ref = self._remote.options(**options).remote(*args)
            try:
                reply = ray.get(ref)
            except lost_types as exc:
                lost.append(f"attempt {attempt} lost ({type(exc).__name__}{_where(ray, ref)}): {_first_sentence(exc)}")
                continue
            except ray.exceptions.RayError as exc:
                cause = getattr(exc, "cause", None) or exc
                return EvalResult("failed", None, error=_first_line(f"ray: {type(cause).__name__}: {cause}"),
                                  stderr_tail="\n".join(lost))
            return _finish(reply, lost, program, work_dir, on_progress)
        return EvalResult("failed", None, error=f"the Ray worker running this experiment died twice: {'; '.join(lost)}",
                          stderr_tail="\n".join(lost), notes=tuple(lost))

    def close(self) -> None:
        """Shut down the local Ray instance this executor started; a cluster connected to keeps running."""
        with _connect_lock:
            if self._started:
                import ray

                ray.shutdown()
                self._started = False

    def _connect(self) -> Any:
        with _connect_lock:
            import ray

            if not ray.is_initialized():
                where = f"the Ray cluster at {self.address}" if self.address else "a local Ray instance"
                try:
                    _starter.submit(ray.init, address=self.address or "local", log_to_driver=False,
                                    logging_level=logging.ERROR).result()
                except (Exception, SystemExit) as exc:  # Ray exits the process when the GCS never answers
                    raise RayUnavailable(_first_line(f"cannot start or reach {where}: {exc}")) from None
                self._started = not self.address
            if self._remote is None:
                self._remote = ray.remote(max_retries=0)(asi_evolve_evaluate)
            return ray

    def _bundle(self, ray: Any, task: TaskSpec) -> tuple[str, str, list[Any]]:
        """The task's files in the object store, put there once per task (workers fetch them once per machine)."""
        key = task.model_dump_json()
        with self._lock:
            if key not in self._bundles:
                bundle = pack_task(task)
                self._bundles[key] = (bundle.digest, bundle.anchor, [ray.put(bundle)])  # a list: the ref travels
            return self._bundles[key]

    def _unschedulable(self, ray: Any, options: dict[str, Any]) -> str:
        """One line when no live node could ever hold the request (Ray would queue it forever), else ""."""
        need = {"CPU": options["num_cpus"], "GPU": options["num_gpus"], "memory": options["memory"],
                **options.get("resources", {})}
        need = {name: amount for name, amount in need.items() if amount}
        key = repr(sorted(need.items()))
        if key in self._feasible:
            return ""
        for node in ray.nodes():
            if node.get("Alive") and all(node.get("Resources", {}).get(k, 0) >= v for k, v in need.items()):
                self._feasible.add(key)
                return ""
        shown = ", ".join(f"memory {v / 2**20:g} MiB" if k == "memory" else f"{k} {v:g}" for k, v in need.items())
        return f"no live node of the Ray cluster has {shown} for one evaluation"


def check_address(address: str) -> None:
    """A one-line `RayUnavailable` now when nothing listens at a cluster address ("" starts a local instance)."""
    if not address or address == "local":
        return
    target = address
    if address == "auto":
        try:
            from ray._private.services import canonicalize_bootstrap_address_or_die
        except ImportError:  # a Ray without it: ray.init will say what is wrong
            return
        try:
            target = canonicalize_bootstrap_address_or_die("auto")
        except Exception as exc:
            raise RayUnavailable(_first_line(f"--ray-address auto found no running Ray cluster: {exc}")) from None
    host, sep, port = target.removeprefix("ray://").rpartition(":")
    if not sep or not host or not port.isdigit():
        raise RayUnavailable(f"--ray-address wants auto, HOST:PORT or ray://HOST:PORT, not {address!r}")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        raise RayUnavailable(f"no Ray cluster answers at {address} ({exc.strerror or exc}); start one with "
                             "'ray start --head' or give its address") from None


def ray_options(task: TaskSpec, launch: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """What one evaluation of `task` reserves on the cluster (`.options()` of the Ray task)."""
    extra = {str(name): float(amount) for name, amount in task.resources.items()}
    given = {**task.launcher_options, **(launch or {})}.get("num_gpus", 0)
    gpus = float(given) if isinstance(given, int | float) and not isinstance(given, bool) else 0.0
    memory_mb = task.memory_mb * (2 if task.isolation == "split" else 1)
    options: dict[str, Any] = {"num_cpus": extra.pop("CPU", task.cpus or 1.0),
                               "num_gpus": max(gpus, extra.pop("GPU", 0.0)), "memory": memory_mb << 20}
    if extra:
        options["resources"] = extra
    return options


def _finish(reply: dict[str, Any], lost: list[str], program: bytes, work_dir: Path | None,
            on_progress: Progress | None) -> EvalResult:
    result: EvalResult = reply["result"]
    if lost:
        note = f"[ray executor] {'; '.join(lost)}; retried on {reply['where']}"
        result = replace(result, stderr_tail=note + "\n" + result.stderr_tail, notes=(*result.notes, note))
    if work_dir is not None:
        work_dir.mkdir(parents=True, exist_ok=True)
        (work_dir / PROGRAM_NAME).write_bytes(program)
        write_files(work_dir, reply["files"], reply["left"], reply["where"])
    for event in reply["events"] if on_progress is not None else ():
        on_progress(event)
    return result


def _where(ray: Any, ref: Any) -> str:
    """" on node IP (id), worker pid N" from Ray's state API, best effort ("" where it cannot tell)."""
    try:
        from ray.util.state import get_task

        attempts = get_task(ref, timeout=5) or []
        found = attempts[-1] if isinstance(attempts, list) else attempts
        ips = {n["NodeID"]: n.get("NodeManagerAddress", "?") for n in ray.nodes()}
        node = found.node_id or ""
        return f" on node {ips.get(node, '?')} ({node[:8]}), worker pid {found.worker_pid}" if node else ""
    except Exception:  # the state API needs the dashboard; a reason without the place is still a reason
        return ""


def _first_line(text: Any) -> str:
    return next((line.strip() for line in str(text).splitlines() if line.strip()), str(text).strip())


def _first_sentence(exc: BaseException) -> str:
    line = _first_line(exc)
    return line.split(". ")[0].rstrip(".") if ". " in line else line


# ---- on the worker --------------------------------------------------------------------------------------------

_worker: dict[str, Any] = {}  # per worker process: the probed jails, the warm pool
_worker_lock = threading.Lock()


def asi_evolve_evaluate(task: TaskSpec, digest: str, anchor: str, holder: list[Any], program: bytes,
                        timeout_s: float | None, sandbox: str | None, warm: bool, launch: dict[str, Any] | None,
                        seed: int, progress: bool, keep_files: bool) -> dict[str, Any]:
    """The Ray task: evaluate `program` for `task` on this node, in this node's jail; what the driver needs back."""
    import ray

    cache = private_cache(Path(tempfile.gettempdir()) / f"asi-evolve-ray-{os.getuid()}")
    base = cache / digest
    if not base.is_dir():  # the first evaluation of this task on this machine fetches its files
        base = unpack(ray.get(holder[0]), cache)
    local = rerooted(task, anchor, base)
    with _worker_lock:  # a Ray worker process serves one task at a time, and many over its life
        if f"jail:{sandbox}" not in _worker:
            _worker[f"jail:{sandbox}"] = probe_support(sandbox)
        if warm and "pool" not in _worker:
            _worker["pool"] = EvalPool()
    support, pool = _worker[f"jail:{sandbox}"], _worker["pool"] if warm else None
    node = ray.get_runtime_context().get_node_id()
    where = f"node {ray.util.get_node_ip_address()} ({node[:8]}), worker pid {os.getpid()}"
    events: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="asi-evolve-ray-eval-") as tmp:
        path = Path(tmp) / "candidate" / PROGRAM_NAME
        path.parent.mkdir()
        path.write_bytes(program)
        work = Path(tmp) / "work"
        result = evaluate_program(local, path, work_dir=work, timeout_s=timeout_s, support=support, launch=launch,
                                  on_progress=events.append if progress else None, seed=seed, pool=pool)
        files, left = collect_files(work) if keep_files else ([], [])
    return {"result": result, "events": events[-MAX_EVENTS:], "files": files, "left": left, "where": where}
