"""Find tasks by name or folder: the built-in ones live next to this file, one folder each.

A built-in name wins over a folder of the same name in the working directory; write `./name` to load the
folder instead.
"""

from __future__ import annotations

from pathlib import Path

from tasks.foreign import SHAPES, infer_task
from tasks.spec import TaskError, TaskSpec, load_task_dir, task_from_mapping, with_config, with_params

BUILTIN_DIR: Path = Path(__file__).parent


def builtin_tasks() -> list[str]:
    """Names of the built-in tasks (subfolders holding a task.yaml), sorted."""
    return sorted(p.name for p in BUILTIN_DIR.iterdir() if (p / "task.yaml").is_file())


def load_task(name_or_path: str | Path, config: str | None = None, params: tuple[str, ...] = ()) -> TaskSpec:
    """Load a built-in task by name, or a task folder by path (absolute or relative to the working directory),
    with its variant `config` applied (None: the task's default variant, if it names one), then the
    `KEY=VALUE` overrides of its params.

    Raises `TaskError` (one line) for an unknown name, an invalid folder or an unknown variant.
    """
    text = str(name_or_path)
    builtin = builtin_tasks()
    if isinstance(name_or_path, str) and text in builtin:
        return with_params(with_config(load_task_dir(BUILTIN_DIR / text), config), params)
    path = Path(name_or_path).expanduser()
    if isinstance(name_or_path, Path) or path.exists() or _looks_like_path(text):
        return with_params(with_config(load_folder(path), config), params)
    raise TaskError(f"unknown task {text!r} (built-in: {', '.join(builtin)}; or give a task folder path)")


def load_folder(folder: Path) -> TaskSpec:
    """A task folder in any shape it may come in: ours (`task.yaml`), OpenEvolve's or ASI-Evolve's."""
    folder = folder.resolve()
    if not folder.is_dir() or (folder / "task.yaml").is_file():
        return load_task_dir(folder)
    raw = infer_task(folder)
    if raw is None:
        raise TaskError(f"not a task folder: {folder} (expected {SHAPES})")
    origin = folder / "config.yaml" if (folder / "config.yaml").is_file() else folder
    return task_from_mapping(folder, raw, origin)


def _looks_like_path(text: str) -> bool:
    return "/" in text or "\\" in text or text.startswith((".", "~"))
