"""Launch a training script with the candidate under DeepSpeed, in the jail every candidate runs in.

A trusted evaluator (`isolation: split`) calls `train(program, script, ...)`: the script (the task's fixed
harness) and the candidate program are handed read-only into a jail of their own — own PID and network
namespace, scrubbed environment, the task's memory/process/CPU limits for the whole tree, a wall-clock timeout
that kills every rank, capped logs. `tools/ds_entry.py` starts the training there (CPU: one process over gloo;
GPU: DeepSpeed's launcher with `--num_gpus N`) and sends back what rank 0 wrote to `$ASI_EVOLVE_TRAIN_OUT/
result.bin`; the evaluator scores that, never what the candidate prints.

Progress: a training script prints lines `@asi-progress {"step": .., "loss": .., "tokens_per_s": ..}`; they
are parsed here as they arrive and passed on (to the runner, which writes them to the node's log and the CLI).

The op-extension cache (`TORCH_EXTENSIONS_DIR`) is built once per machine by trusted code (`ensure_extensions`,
before any candidate runs) and shown to the jail read-only, so its one-time JIT build is not paid per candidate
and no candidate can change what the next one loads.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.util
import json
import math
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from tools.jail import jail_from_env
from tools.process_io import LineSplitter
from tools.sandbox import SandboxResult

LAUNCH_ENV = "ASI_EVOLVE_LAUNCH"  # the launcher options, JSON, handed to a trusted evaluator
EXTENSIONS_ENV = "ASI_EVOLVE_TORCH_EXTENSIONS_DIR"
PROGRESS_PREFIX = "@asi-progress "  # as `tools/train_harness.py` prints it
PROGRESS_KEYS = ("step", "steps", "loss", "tokens_per_s", "lr", "elapsed_s")
ENTRY = Path(__file__).with_name("ds_entry.py")
HARNESS = Path(__file__).with_name("train_harness.py")  # `asi_harness` in the jail
_ENTRY_IN_JAIL = ".asi-evolve/ds_entry.py"
_PASSED_TO_GPU_RANKS = ("CUDA_VISIBLE_DEVICES", "TORCH_CUDA_ARCH_LIST", "NCCL_DEBUG")
_WARMUP = """
import deepspeed, torch
model = torch.nn.Linear(4, 4)
config = {"train_micro_batch_size_per_gpu": 1, "zero_optimization": {"stage": 0},
          "optimizer": {"type": "AdamW", "params": {"lr": 1e-3, "torch_adam": True}}}
engine, *_ = deepspeed.initialize(model=model, model_parameters=model.parameters(), config=config)
loss = engine(torch.ones(1, 4)).sum()
engine.backward(loss)
engine.step()
"""

Progress = Callable[[dict[str, Any]], None]


def environment_tag() -> str:
    """Which installation built an extension: torch rebuilds an op whose include paths changed or whose sources
    are newer than its build, so two virtual environments sharing one cache, or one reinstalled at the same path,
    would need a rebuild, which a candidate's jail cannot do. The tag names the environment and when its torch
    and deepspeed were installed (without importing them)."""
    parts = [str(Path(sys.prefix).resolve())]
    for name in ("torch", "deepspeed"):
        spec = importlib.util.find_spec(name)
        origin = spec.origin if spec is not None else None
        parts.append(f"{origin}:{Path(origin).stat().st_mtime_ns}" if origin else f"{name}:missing")
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:10]


def default_extensions_dir() -> Path:
    """`$ASI_EVOLVE_TORCH_EXTENSIONS_DIR`, else one folder per Python environment under the user's cache."""
    configured = os.environ.get(EXTENSIONS_ENV)
    if configured:
        return Path(configured).expanduser()
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "asi-evolve" / "torch_extensions"
    return base / environment_tag()


@dataclass(frozen=True)
class DeepSpeedOptions:
    """How a training is launched.

    Attributes:
        num_gpus: GPUs per training; 0 trains on the CPU over gloo ("auto" in task.yaml: every visible GPU).
        zero_stage: ZeRO stage of the optimizer state partitioning (0 to 3).
        bf16: train in bfloat16 ("auto": on GPUs only).
        gradient_clipping: global gradient-norm clip (0: none).
        extensions_dir: the op-extension cache, shared by every run on this machine.
    """

    num_gpus: int = 0
    zero_stage: int = 0
    bf16: bool = False
    gradient_clipping: float = 1.0
    extensions_dir: str = field(default_factory=lambda: str(default_extensions_dir()))

    @classmethod
    def resolve(cls, raw: Mapping[str, Any] | None) -> DeepSpeedOptions:
        """Options from task.yaml's `launcher_options` (or a tool call): "auto" values resolved on this machine;
        ValueError in one line for a bad one."""
        data = dict(raw or {})
        unknown = set(data) - {f for f in cls.__dataclass_fields__}
        if unknown:
            raise ValueError(f"unknown deepspeed option(s): {', '.join(sorted(unknown))} "
                             f"(choose from: {', '.join(cls.__dataclass_fields__)})")
        gpus = data.get("num_gpus", 0)
        if gpus == "auto":
            gpus = visible_gpus()
        if isinstance(gpus, bool) or not isinstance(gpus, int) or gpus < 0:
            raise ValueError(f"deepspeed num_gpus must be a count or 'auto', not {data['num_gpus']!r}")
        stage = data.get("zero_stage", 2 if gpus else 0)
        if stage not in (0, 1, 2, 3):
            raise ValueError(f"deepspeed zero_stage must be 0, 1, 2 or 3, not {stage!r}")
        bf16 = data.get("bf16", "auto")
        bf16 = gpus > 0 if bf16 == "auto" else bool(bf16)
        clip = float(data.get("gradient_clipping", 1.0))
        if not math.isfinite(clip) or clip < 0:
            raise ValueError(f"deepspeed gradient_clipping must be >= 0, not {clip}")
        where = str(Path(data["extensions_dir"]).expanduser()) if data.get("extensions_dir") else None
        return cls(gpus, stage, bf16, clip, where or str(default_extensions_dir()))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> DeepSpeedOptions:
        raw = (os.environ if environ is None else environ).get(LAUNCH_ENV)
        return cls.resolve(json.loads(raw) if raw else None)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    def ds_config(self) -> dict[str, Any]:
        """The DeepSpeed config's launch part; the training script adds batch size and optimizer."""
        config: dict[str, Any] = {"zero_optimization": {"stage": self.zero_stage}, "steps_per_print": 10**9,
                                  "bf16": {"enabled": self.bf16}}
        if self.gradient_clipping:
            config["gradient_clipping"] = self.gradient_clipping
        return config


@dataclass(frozen=True)
class TrainingRun:
    """What a launched training left: the jail's record, the progress it reported and its result file."""

    sandbox: SandboxResult
    progress: tuple[dict[str, Any], ...]

    @property
    def result(self) -> bytes:
        return self.sandbox.result

    def failure(self) -> str:
        """One line saying why the training gave no result ("" when it ended well): how it ended and its last
        error line (library warnings skipped)."""
        box = self.sandbox
        if box.timed_out:
            return f"training timed out after {box.duration_s:.0f} s"
        if box.returncode == 0 and box.result:
            return ""
        ending = box.describe_exit() if box.returncode != 0 else "no result written"
        lines = [ln.strip() for ln in box.stderr.splitlines() if ln.strip() and not _is_warning(ln)]
        errors = [ln for ln in lines if "Error" in ln or "Exception" in ln or "error" in ln]
        last = (errors or lines or [""])[-1][:300]
        return f"training failed ({ending}): {last}" if last else f"training failed ({ending})"


def _is_warning(line: str) -> bool:
    text = line.strip()
    return text.startswith(("[W", "[I", "[WARNING]", "[INFO]")) or "Warning:" in text or "UserWarning" in text


def visible_gpus() -> int:
    """CUDA devices this machine shows (0 without torch's CUDA build or a driver)."""
    try:
        import torch
    except ImportError:
        return 0
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def parse_progress(line: str) -> dict[str, Any] | None:
    """A progress line's known numeric fields, or None for any other line."""
    if not line.startswith(PROGRESS_PREFIX):
        return None
    try:
        raw = json.loads(line[len(PROGRESS_PREFIX):])
    except ValueError:
        return None
    if not isinstance(raw, dict):
        return None
    event = {k: raw[k] for k in PROGRESS_KEYS
             if isinstance(raw.get(k), int | float) and not isinstance(raw.get(k), bool) and math.isfinite(raw[k])}
    if isinstance(raw.get("phase"), str):  # printable only: no terminal escapes from a candidate
        event["phase"] = "".join(c for c in raw["phase"] if c.isprintable())[:40]
    return event or None


def format_progress(event: Mapping[str, Any]) -> str:
    """A progress event as the line a trusted evaluator passes on to the runner."""
    return PROGRESS_PREFIX + json.dumps(dict(event), sort_keys=True)


class LaunchError(RuntimeError):
    """The launcher itself cannot run (DeepSpeed missing, its op build failed): one line, no candidate at fault."""


def ensure_extensions(options: DeepSpeedOptions, timeout_s: float = 900.0) -> None:
    """Build DeepSpeed's CPU op extensions into the shared cache once per machine (trusted code, no candidate).

    A marker names the DeepSpeed and torch versions the cache was built with; a lock keeps concurrent runs from
    building it twice. `LaunchError` in one line when the build fails or overruns `timeout_s`.
    """
    if options.num_gpus:
        return  # with torch's Adam nothing is JIT-built on GPUs
    cache = Path(options.extensions_dir)
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise LaunchError(f"cannot use {cache} for DeepSpeed's op cache: {exc.strerror}") from None
    marker = cache / f".ready-{_versions()}"
    if marker.is_file():
        return
    with (cache / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if marker.is_file():
            return
        env = {**os.environ, "TORCH_EXTENSIONS_DIR": str(cache), "RANK": "0", "LOCAL_RANK": "0", "WORLD_SIZE": "1",
               "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(free_port()), "DS_ACCELERATOR": "cpu"}
        with tempfile.TemporaryDirectory(prefix="asi-evolve-ds-warmup-") as tmp:
            try:
                done = subprocess.run([sys.executable, "-c", _WARMUP], cwd=tmp, env=env, capture_output=True,
                                      text=True, timeout=timeout_s)
            except subprocess.TimeoutExpired:
                raise LaunchError(f"DeepSpeed's CPU op build took over {timeout_s:.0f} s (cache {cache})") from None
        if done.returncode != 0:
            last = next((ln for ln in reversed(done.stderr.splitlines()) if ln.strip()), "no output")
            raise LaunchError(f"DeepSpeed could not build its CPU ops in {cache}: {last.strip()}")
        for path in [cache, *cache.rglob("*")]:  # the jail's uid reads it
            if not path.is_symlink():
                path.chmod(path.stat().st_mode | (0o555 if path.is_dir() else 0o444))
        marker.touch()


def _versions() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"deepspeed{version('deepspeed')}-torch{version('torch')}-env{environment_tag()}"
    except PackageNotFoundError as exc:
        raise LaunchError(f"{exc.name} is not installed (pip install deepspeed)") from None


def train(program: str | os.PathLike[str], script: str | os.PathLike[str], *, files: Mapping[str, Path] | None = None,
          args: Sequence[str] = (), timeout_s: float | None = None, options: DeepSpeedOptions | None = None,
          on_progress: Progress | None = None) -> TrainingRun:
    """Train `script` (run with the candidate as `program.py` beside it) under DeepSpeed in the jail.

    `files` are further read-only inputs (data, the fixed model harness), named relative to the work dir;
    `args` go to the script, which may `import asi_harness` (`tools/train_harness.py`: the candidate, the
    DeepSpeed config, progress lines, the result file). Progress
    lines go to `on_progress`, else they are printed for the runner. Never raises for what the candidate did.
    """
    options = options or DeepSpeedOptions.from_env()
    jail = jail_from_env()
    if timeout_s is not None:
        jail = replace(jail, limits=replace(jail.limits, timeout_s=timeout_s))
    ensure_extensions(options)
    report = on_progress or (lambda event: print(format_progress(event), flush=True))
    seen: list[dict[str, Any]] = []

    def line(text: str) -> None:
        event = parse_progress(text)
        if event is not None:
            seen.append(event)
            report(event)

    with tempfile.TemporaryDirectory(prefix="asi-evolve-train-") as tmp:
        work = Path(tmp)
        os.chmod(work, 0o755)
        staged = work / ".in"
        staged.mkdir()
        config = staged / "ds_config.json"
        config.write_text(json.dumps(options.ds_config(), indent=2))
        shutil.copy2(program, staged / "program.py")
        inputs = {"program.py": staged / "program.py", "ds_config.json": config, _ENTRY_IN_JAIL: ENTRY,
                  "asi_harness.py": HARNESS,
                  Path(script).name: Path(script), **(files or {})}
        cache = Path(options.extensions_dir)
        if not options.num_gpus and cache.is_dir():
            inputs[".asi-evolve/torch_extensions"] = cache
        run_dir = work / "run"
        run_dir.mkdir()
        orders = {"script": Path(script).name, "args": list(map(str, args)), "num_gpus": options.num_gpus,
                  "master_port": free_port(),
                  "extensions": jail.where(run_dir, ".asi-evolve/torch_extensions")
                  if ".asi-evolve/torch_extensions" in inputs else ""}
        env = {"ASI_EVOLVE_DS_ENTRY": json.dumps(orders), "ASI_EVOLVE_DS_CONFIG": "ds_config.json",
               **{k: os.environ[k] for k in _PASSED_TO_GPU_RANKS if options.num_gpus and k in os.environ}}
        threads = max(1, math.floor(jail.limits.cpus or 1))
        env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
        devices = _gpu_devices() if options.num_gpus else ()
        # bwrap's jail has its own /dev/shm and the jail uid's leftovers are removed by `Jail.run`; only a
        # candidate running as the runner's own user leaves files here that nothing else would remove
        shared_shm = jail.support.backend != "bwrap" and jail.support.uid is None
        before, started = (_shm_entries(), time.time()) if shared_shm else (set(), 0.0)
        try:
            sandbox = jail.run([sys.executable, "-u", _ENTRY_IN_JAIL], work=run_dir, inputs=inputs, env=env,
                               devices=devices, on_stdout=LineSplitter(line))
        finally:
            if shared_shm:
                _remove_shm_leftovers(before, started)
    return TrainingRun(sandbox, tuple(seen))


def _gpu_devices() -> list[str]:
    return sorted(str(p) for p in Path("/dev").glob("nvidia*"))


def _shm_entries() -> set[str]:
    try:
        return set(os.listdir("/dev/shm"))
    except OSError:
        return set()


def _remove_shm_leftovers(before: set[str], since: float) -> None:
    """DeepSpeed's shared-memory files a training left in the host's /dev/shm: named like DeepSpeed's, ours, and
    new since the training started. (Parallel trainings as the runner's own user share this folder; only the
    jail's own uid or namespace keeps them apart.)"""
    for name in _shm_entries() - before:
        if name.startswith(("deepspeed", "ds_", "shm_", "torch_")) or "deepspeed" in name.lower():
            path = Path("/dev/shm") / name
            try:
                info = path.lstat()
                if info.st_uid != os.getuid() or info.st_ctime < since - 1:
                    continue
                shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()
            except OSError:
                continue
