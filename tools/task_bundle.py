"""What travels between a driver and another machine that evaluates for it: the task's files and the work dir's.

Why: on a cluster (`tools.ray_executor`) the driver's paths may not exist where the evaluation runs. The task
folder (and an evaluator or initial program kept outside it) is shipped as bytes, unpacked once per machine
under a folder named by its content hash, and the `TaskSpec` is re-rooted there; the small files the evaluation
leaves in its work dir come back the same way. No Ray here: plain data, checked and written safely.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tasks.spec import TaskSpec

MAX_TASK_BYTES = 64 << 20  # a task folder larger than this belongs on each machine ($ASI_EVOLVE_DATA_DIR)
MAX_FILE_BYTES = 1 << 20  # one file of the work dir brought back
MAX_RETURN_BYTES = 16 << 20  # all of them
SKIPPED = frozenset({"__pycache__", ".git"})
LEFT_OUT = "left_out_files.txt"  # written in the driver's work dir when files stayed on the worker


class BundleError(ValueError):
    """A task cannot be shipped to another machine; the message is one line."""


@dataclass(frozen=True)
class TaskBundle:
    """A task's files: `(path relative to anchor, mode, bytes)`; `digest` names the content."""

    digest: str
    anchor: str
    files: tuple[tuple[str, int, bytes], ...]


def pack_task(task: TaskSpec, limit: int = MAX_TASK_BYTES) -> TaskBundle:
    """The task folder, the evaluator's folder and the initial program (where they lie outside it), relative to
    their common ancestor so that paths between them still hold on the other side."""
    folders = [task.root.resolve()]
    if task.evaluator is not None and not _inside(task.evaluator.resolve().parent, folders):
        folders.append(task.evaluator.resolve().parent)
    singles = [] if _inside(task.initial_program.resolve(), folders) else [task.initial_program.resolve()]
    anchor = Path(os.path.commonpath([*folders, *(p.parent for p in singles)]))
    files: dict[str, tuple[int, bytes]] = {}
    total = 0
    for path in [*_walk(folders), *singles]:
        rel = path.relative_to(anchor).as_posix()
        if rel in files:
            continue
        data = path.read_bytes()
        total += len(data)
        if total > limit:
            raise BundleError(f"task {task.name}: its folder holds more than {limit >> 20} MiB, too much to ship to "
                              f"each evaluation (keep large data under $ASI_EVOLVE_DATA_DIR on every machine)")
        files[rel] = (stat.S_IMODE(path.stat().st_mode), data)
    digest = hashlib.sha256()
    for rel, (mode, data) in sorted(files.items()):
        digest.update(f"{rel}\0{mode}\0{len(data)}\0".encode())
        digest.update(data)
    entries = tuple((rel, mode, data) for rel, (mode, data) in sorted(files.items()))
    return TaskBundle(digest.hexdigest()[:32], str(anchor), entries)


def _inside(path: Path, folders: list[Path]) -> bool:
    return any(path == folder or folder in path.parents for folder in folders)


def _walk(folders: list[Path]):
    """Regular files under the folders (links to files followed, linked folders not; caches skipped)."""
    for folder in folders:
        for here, dirs, names in os.walk(folder):
            dirs[:] = sorted(d for d in dirs if d not in SKIPPED)
            for name in sorted(names):
                path = Path(here) / name
                if path.is_file():
                    yield path


def unpack(bundle: TaskBundle, cache: Path) -> Path:
    """The bundle's files under `cache/<digest>` (written once per machine, world-readable: the jail's uid reads
    the task, and the same paths keep warm workers warm across evaluations)."""
    target = cache / bundle.digest
    if target.is_dir():
        return target
    staging = Path(tempfile.mkdtemp(prefix=".unpack-", dir=cache))
    for rel, mode, data in bundle.files:
        path = staging / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        path.chmod((mode | 0o444) & 0o755)
    for folder in [staging, *(p for p in staging.rglob("*") if p.is_dir())]:
        folder.chmod(0o755)
    try:
        staging.rename(target)
    except OSError:  # another evaluation on this machine unpacked it first
        shutil.rmtree(staging, ignore_errors=True)
    return target


def private_cache(root: Path) -> Path:
    """`root`, made if missing, refused unless it is ours and no one else may write it (it lies in a shared
    temp dir, and a trusted evaluator runs from it)."""
    root.mkdir(mode=0o755, exist_ok=True)
    info = root.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o022:
        raise BundleError(f"{root} is not a private folder of uid {os.getuid()}; remove it and try again")
    return root


def rerooted(task: TaskSpec, anchor: str, base: Path) -> TaskSpec:
    """The task with its paths moved from under `anchor` to under `base` (paths elsewhere are left as they are)."""

    def moved(path: Path | None) -> Path | None:
        if path is None:
            return None
        try:
            return base / Path(path).resolve().relative_to(anchor)
        except ValueError:
            return path

    return task.model_copy(update={"root": moved(task.root), "initial_program": moved(task.initial_program),
                                   "evaluator": moved(task.evaluator), "knowledge_dir": moved(task.knowledge_dir)})


def collect_files(work: Path) -> tuple[list[tuple[str, bytes]], list[str]]:
    """The work dir's regular files that fit the caps, and one line per file left out (links and devices a
    candidate made are never followed)."""
    files: list[tuple[str, bytes]] = []
    left: list[str] = []
    total = 0
    for here, dirs, names in os.walk(work):
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED)
        for name in sorted(names):
            path = Path(here) / name
            rel = path.relative_to(work).as_posix()
            try:
                info = path.lstat()
                if not stat.S_ISREG(info.st_mode):
                    continue
                if info.st_size > MAX_FILE_BYTES or total + info.st_size > MAX_RETURN_BYTES:
                    cap = MAX_FILE_BYTES if info.st_size > MAX_FILE_BYTES else MAX_RETURN_BYTES
                    left.append(f"{rel}: {info.st_size} bytes, over the {cap >> 20} MiB brought back")
                    continue
                data = path.read_bytes()
            except OSError as exc:
                left.append(f"{rel}: unreadable ({exc.strerror or exc})")
                continue
            total += len(data)
            files.append((rel, data))
    return files, left


def write_files(work_dir: Path, files: list[tuple[str, bytes]], left: list[str], where: str) -> None:
    """Write what came back into the driver's work dir; `LEFT_OUT` names what stayed on the worker."""
    root = work_dir.resolve()
    for rel, data in files:
        path = (root / rel).resolve()
        if root not in path.parents:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    if left:
        lines = [f"files of this evaluation left on {where}:", *left]
        (root / LEFT_OUT).write_text("\n".join(lines) + "\n")
