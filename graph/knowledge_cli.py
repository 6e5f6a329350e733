"""`asi-evolve knowledge …`: add literature to, search and list a cognition base.

`--run-dir D` works on a run's own base. `--task T` works on the task's standing base (the global corpus, the
task's `knowledge/` folder, whatever was added with `knowledge add --task T` and the insights of runs started
with `--share-insights`); every new run of the task starts from it. Where it lives: `knowledge.task_store`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from graph.runner import load_run_config, run_database
from knowledge.cognition import CognitionBase
from knowledge.embedding_cache import cached
from knowledge.embeddings import make_embedder
from knowledge.ingest import ingest, iter_corpus_files
from knowledge.task_store import open_cognition, open_task_store, seed_corpus
from tasks.registry import load_task
from tasks.spec import TaskSpec

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Add, search and list cognition items.")
out = Console(markup=False, highlight=False, soft_wrap=True)

TaskOpt = Annotated[str | None, typer.Option("--task", help="Work on the task's standing knowledge base.")]
RunOpt = Annotated[Path | None, typer.Option("--run-dir", help="Work on this run's cognition base.")]


def open_seeded_store(task: TaskSpec, embedder_spec: str = "minilm") -> CognitionBase:
    """The task's standing base, seeded from the global corpus and the task's knowledge folder."""
    base = open_task_store(task.name, cached(make_embedder(embedder_spec)))
    ingest(base, seed_corpus(task))
    return base


def _open(task: str | None, run_dir: Path | None) -> CognitionBase:
    if (task is None) == (run_dir is None):
        raise ValueError("give exactly one of --task T and --run-dir D")
    if run_dir is not None:
        context, _ = load_run_config(run_dir)
        return open_cognition(Path(run_dir), cached(make_embedder(context.embedder)), run_database(Path(run_dir)))
    return open_seeded_store(load_task(task))


@app.command("add")
def add(
    paths: Annotated[list[Path], typer.Argument(help="Markdown, text, JSONL or PDF files, or folders of them.")],
    task: TaskOpt = None,
    run_dir: RunOpt = None,
) -> None:
    """Chunk and ingest literature into a cognition base."""
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise ValueError(f"not found: {', '.join(missing)}")
    files = iter_corpus_files(paths)
    if not files:
        raise ValueError("no Markdown, text, JSONL or PDF file among the given paths")
    base = _open(task, run_dir)
    added = ingest(base, files)
    out.print(f"added {added} items from {len(files)} files ({base.count()} items in all)")


@app.command("search")
def search(
    query: Annotated[str, typer.Argument(help="What to look for.")],
    k: Annotated[int, typer.Option("-k", min=1, help="How many items.")] = 5,
    task: TaskOpt = None,
    run_dir: RunOpt = None,
) -> None:
    """Items most similar to QUERY, best first."""
    for hit in _open(task, run_dir).search(query, k=k):
        item = hit.item
        out.print(f"[{hit.score:.3f}] #{item.id} {item.origin} {item.source}")
        out.print("    " + item.content.replace("\n", "\n    "))


@app.command("list")
def list_items(
    task: TaskOpt = None,
    run_dir: RunOpt = None,
    origin: Annotated[str | None, typer.Option(help="Only 'prior' or 'analyzer' items.")] = None,
) -> None:
    """Every item of a cognition base, oldest first."""
    if origin not in (None, "prior", "analyzer"):
        raise ValueError(f"unknown origin '{origin}' (prior or analyzer)")
    for item in _open(task, run_dir).items(origin=origin):
        first = item.content.strip().splitlines()[0] if item.content.strip() else ""
        out.print(f"#{item.id} {item.origin:8} {item.source}: {first[:100]}")
