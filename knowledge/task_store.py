"""Where cognition bases live: a run's (in its run directory) and a task's standing one, shared by its runs.

A run's base keeps its items in the run's `run.db` and its FAISS index beside it, and starts from the seed corpus
(the global corpus and the task's `knowledge/` folder) and the task's standing base.

`asi-evolve knowledge add --task T` adds literature to it; runs started with `--share-insights` add their
Analyzer's insights to it. It lives in `$ASI_EVOLVE_KNOWLEDGE_HOME/<task>/`, by default in the user's data
directory (`$XDG_DATA_HOME/asi-evolve/knowledge`, else `~/.local/share/asi-evolve/knowledge`) — never relative to
the directory a command happens to run in. Several runs may write to it at once (each database call is its own
transaction; the FAISS cache catches up with rows others stored).
"""

from __future__ import annotations

import os
from pathlib import Path

from knowledge.cognition import CognitionBase, CognitionDraft
from knowledge.embeddings import Embedder
from knowledge.ingest import GLOBAL_CORPUS
from knowledge.storage import Location
from tasks.spec import TaskSpec

HOME_ENV = "ASI_EVOLVE_KNOWLEDGE_HOME"


def knowledge_home() -> Path:
    """The folder holding every task's standing base (absolute)."""
    configured = os.environ.get(HOME_ENV, "").strip()
    if configured:
        return Path(configured).expanduser().resolve()
    data = os.environ.get("XDG_DATA_HOME", "").strip() or str(Path.home() / ".local" / "share")
    return Path(data).expanduser().resolve() / "asi-evolve" / "knowledge"


def task_store_dir(task_name: str) -> Path:
    return knowledge_home() / task_name


def open_task_store(task_name: str, embedder: Embedder) -> CognitionBase:
    """The task's standing base (created empty if missing)."""
    folder = task_store_dir(task_name)
    folder.mkdir(parents=True, exist_ok=True)
    return CognitionBase(folder / "cognition.db", folder / "cognition.faiss", embedder)


def import_task_store(cognition: CognitionBase, task_name: str) -> int:
    """Copy the standing base's items into a run's base, origins kept (exact duplicates skipped); how many."""
    folder = task_store_dir(task_name)
    if not (folder / "cognition.db").exists():
        return 0
    store = open_task_store(task_name, cognition.embedder)
    drafts = [CognitionDraft(i.content, i.source, i.tags, i.origin) for i in store.items()]
    return len(cognition.add_many(drafts))


def open_cognition(run_dir: Path, embedder, location: Location | None = None) -> CognitionBase:
    """The run's cognition base: items in its database (`run.db` unless `location` names another), the FAISS
    index in the run directory (a cache, rebuilt from the stored vectors when missing)."""
    return CognitionBase(location or run_dir / "run.db", run_dir / "cognition.faiss", embedder)


def seed_corpus(task: TaskSpec) -> list[Path]:
    """Human priors every run starts from: the global corpus and the task's knowledge folder."""
    return [p for p in (GLOBAL_CORPUS, task.knowledge_dir) if p is not None and p.exists()]
