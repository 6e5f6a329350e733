"""Where a candidate's time goes: a whole run with an instant evaluator and an instant model, timed per component.

Run: `python -m bench.loop_profile [--steps 200]`. Each configuration runs in a fresh interpreter (start-up and
imports are part of what a user waits for), drives a real run of the instant task (`bench/tasks/instant`, an
OpenEvolve-style folder) against the local mutation server (`bench.mutation_server`) with durable checkpoints and
the sandbox on, and times the components by wrapping their classes' methods: sandboxed evaluation, cognition
retrieval and insight write-back, model calls with their ledger, LangGraph checkpoint writes, the node store and
the novelty index; the rest of the wall time is the graph and the agents themselves. Only the outermost call
of each component is timed, so nothing counts twice.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import psutil

from knowledge.embedding_cache import CACHE_ENV

TASK = Path(__file__).resolve().parent / "tasks" / "instant"
COMPONENTS = {  # bucket -> (module, class, methods)
    "sandboxed evaluation": ("tools.executors", "LocalExecutor", ("run",)),
    "cognition retrieval": ("knowledge.cognition", "CognitionBase", ("search", "search_many", "search_vectors")),
    "insight write-back": ("knowledge.cognition", "CognitionBase", ("add", "add_many")),
    "model calls + ledger": ("agents.models.client", "LLMClient", ("complete",)),
    "checkpoint writes (in the background)": ("langgraph.checkpoint.sqlite", "SqliteSaver", ("put", "put_writes")),
    "node store": ("knowledge.database", "NodeDatabase", ("add", "get", "get_by_trial_key", "nodes",
                                                             "nodes_since", "best", "count", "counts_by_status",
                                                             "get_meta", "set_meta")),
    "novelty index": ("knowledge.novelty", "NoveltyIndex", ("twin", "similar", "claim", "observe")),
}
BACKGROUND = {"checkpoint writes (in the background)"}  # saved while the next step runs: off the loop's path
HISTORY = """Each lever, measured back to back with this profile on this machine (200 steps, 1 worker, ms per candidate;
run-to-run noise is about ±10%):

| lever | what it cut | before | after |
|---|---|---:|---:|
| one SQLite connection per thread, kept (was one a call) | node store ms (connections) | 24.5 (30.3) | 3.3 (0.1) |
| checkpoints commit with `synchronous=NORMAL` (WAL) | checkpoint writes ms | 24.3 | 15.2 |
| warm evaluation workers (`tools.eval_pool`) | sandboxed evaluation ms | 138.8 | 11.8 |
| embeddings remembered: in memory per run, on disk per machine | cognition retrieval ms | 31.5 | 12.1 |
| all of them | framework overhead ms, default / no cognition, no analyzer | 260.7 / 198.7 | 63.2 / 42.2 |
| loop checkpoints only, in the background (below) | overhead ms, default / no cognition | 76.5 / 62.4 | 63.8 / 51.5 |

The last lever: the trial subgraph saves no checkpoints of its own, the loop's are saved while the next step
runs (`durability="async"`), and the evaluator's function list is read once per file; per candidate 10.6
checkpoints, 28.4 write rows and 33.6 KB became 3.0, 11.0 and 6.1 KB. It was measured on a later day when
this machine ran the same code about 1.5× slower (the previous row's 42.2 ms read 68-76 ms), and after the
profile's memory watcher was slowed from one process-tree scan every 50 ms to one every 0.5 s: the scans had
taken 8% of the machine's two cores from the run they measured (with them, the "before" figures read 67.8-75.8 ms
with no cognition).

With the seed corpus's embeddings on disk, a run no longer loads MiniLM before its first evaluation (start-up to
the first evaluation 10.2 s before, 2.8 s after); the model loads for the first retrieval instead. The model
server's analyses name each change and its score, so every node's analysis is new text, embedded the first time
the node is a context node and remembered after. A trial subgraph without checkpoints is not drawn as a subgraph
(`get_graph(xray=True)`) nor inspectable step by step, so the graph Studio serves keeps them; a run's graph does
not need them (a trial a kill cut short is re-run whole, its model calls replayed from the ledger)."""
CONFIGS = {
    "default": {"cognition": True, "use_analyzer": True, "warm": True},
    "no cognition, no analyzer": {"cognition": False, "use_analyzer": False, "warm": True},
    "default, no warm workers": {"cognition": True, "use_analyzer": True, "warm": False},
}


class Timers:
    """Wall time per component, counting only the outermost call per thread (a method calling its siblings)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self._depth = threading.local()
        self._lock = threading.Lock()
        self.first_eval: float | None = None
        self.stored: list[float] = []  # perf_counter when each node was stored
        self.late: dict[str, float] = defaultdict(float)  # seconds from the `steady_from`-th stored node on
        self.steady_from = 0
        self.connects = 0

    def wrap(self, owner: type, name: str, bucket: str) -> None:
        original = getattr(owner, name)
        timers = self

        @functools.wraps(original)
        def timed(*args: Any, **kwargs: Any) -> Any:
            depth = getattr(timers._depth, bucket, 0)
            setattr(timers._depth, bucket, depth + 1)
            start = time.perf_counter()
            if bucket == "sandboxed evaluation" and timers.first_eval is None:
                timers.first_eval = start
            try:
                return original(*args, **kwargs)
            finally:
                setattr(timers._depth, bucket, depth)
                if depth == 0 and timers.first_eval is not None and start >= timers.first_eval:  # not start-up
                    with timers._lock:
                        timers.seconds[bucket] += time.perf_counter() - start
                        if timers.steady_from and len(timers.stored) >= timers.steady_from:
                            timers.late[bucket] += time.perf_counter() - start
                        timers.calls[bucket] += 1
                        if bucket == "node store" and name == "add":
                            timers.stored.append(time.perf_counter())

        setattr(owner, name, timed)

    def install(self) -> None:
        import importlib

        for bucket, (module, cls, methods) in COMPONENTS.items():
            owner = getattr(importlib.import_module(module), cls)
            for method in methods:
                self.wrap(owner, method, bucket)
        original = sqlite3.connect

        def counted(*args: Any, **kwargs: Any) -> sqlite3.Connection:
            self.connects += 1
            return original(*args, **kwargs)

        sqlite3.connect = counted  # type: ignore[assignment]


class PeakMemory:
    """The largest summed RSS of this process and its descendants, sampled every 0.5 s (a scan of the process
    tree takes a few ms of a core; sampling every 50 ms took 8% of this 2-core machine from the run it measures)."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        me = psutil.Process()
        while not self._stop.wait(0.5):
            total = 0
            for proc in [me, *me.children(recursive=True)]:
                try:
                    total += proc.memory_info().rss
                except psutil.Error:
                    pass
            self.peak = max(self.peak, total)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def checkpoint_stats(run_dir: Path) -> dict[str, float]:
    with sqlite3.connect(run_dir / "checkpoints.db") as conn:
        checkpoints, cp_bytes = conn.execute(
            "SELECT COUNT(*), COALESCE(SUM(LENGTH(checkpoint) + LENGTH(metadata)), 0) FROM checkpoints").fetchone()
        writes, w_bytes = conn.execute("SELECT COUNT(*), COALESCE(SUM(LENGTH(value)), 0) FROM writes").fetchone()
    return {"checkpoints": checkpoints, "writes": writes, "bytes": cp_bytes + w_bytes}


def warm_corpus() -> None:
    """Embed the seed corpus into this run's (fresh) machine cache, untimed: a machine that ran a task before."""
    from knowledge.embedding_cache import cached
    from knowledge.embeddings import make_embedder
    from knowledge.ingest import chunk_file, iter_corpus_files
    from knowledge.task_store import seed_corpus
    from tasks.registry import load_task

    files = iter_corpus_files(seed_corpus(load_task(str(TASK))))
    cached(make_embedder("minilm")).embed([d.content for f in files for d in chunk_file(f)])


def child(config: dict[str, Any]) -> dict[str, Any]:
    """One profiled run in this interpreter (started for it); returns its figures."""
    before_main = time.time() - psutil.Process().create_time()  # the interpreter's own start
    opened = time.perf_counter()
    timers = Timers()
    timers.install()
    from bench.mutation_server import ServerProcess
    from graph.budget import Budget
    from graph.context import Context
    from graph.runner import start_run

    steps = config["steps"]
    timers.steady_from = steps // 2 + 1  # the second half: one-time costs (a model's first load) are behind
    with tempfile.TemporaryDirectory(prefix="asi-evolve-profile-") as tmp, ServerProcess(seed=0) as server:
        run_dir = Path(tmp) / "run"
        context = Context(task=str(TASK), run_dir=str(run_dir), seed=0, workers=config["workers"],
                          models=("mutation",), base_urls=(server.base_url,), cognition=config["cognition"],
                          use_analyzer=config["use_analyzer"], warm_workers=config["warm"])
        with PeakMemory() as memory:
            start = time.perf_counter()
            state = start_run(context, Budget(max_steps=steps))
            wall = time.perf_counter() - start
        stats = checkpoint_stats(run_dir)
        model = server.figures()
    stored = timers.stored
    candidates = len(stored)
    loop_wall = stored[-1] - (timers.first_eval or start)
    gaps = [b - a for a, b in zip(stored, stored[1:], strict=False)]
    half = len(gaps) // 2
    late_n = max(1, candidates - timers.steady_from)
    return {
        "steps": state.get("steps"), "best": state.get("best_score"), "candidates": candidates,
        "wall_s": wall, "startup_s": before_main + (timers.first_eval or start) - opened,
        "second_node_s": before_main + (stored[1] if len(stored) > 1 else stored[-1]) - opened,
        "ms_per_candidate": 1e3 * loop_wall / max(1, candidates),
        "ms_first_half": 1e3 * statistics.fmean(gaps[:half]) if half else None,
        "ms_last_half": 1e3 * statistics.fmean(gaps[half:]) if half else None,
        "median_gap_ms": 1e3 * statistics.median(gaps) if gaps else None,
        "components_ms": {k: 1e3 * v / late_n for k, v in timers.late.items()},
        "connects_per_candidate": timers.connects / max(1, candidates),
        "checkpoints_per_candidate": stats["checkpoints"] / max(1, candidates),
        "writes_per_candidate": stats["writes"] / max(1, candidates),
        "checkpoint_kb_per_candidate": stats["bytes"] / 1024 / max(1, candidates),
        "peak_mb": memory.peak / 2**20,
        "model_calls": model["calls"],
        "model_server_ms": 1e3 * model["busy_s"] / max(1, candidates),
    }


def profile(steps: int, workers: int, **config: Any) -> dict[str, Any]:
    """Run one configuration in a fresh interpreter and return its figures. Its embedding cache is a fresh file
    holding the seed corpus (embedded by another process, untimed): a machine that has run a task before."""
    payload = json.dumps({"steps": steps, "workers": workers, **config})
    with tempfile.TemporaryDirectory(prefix="asi-evolve-profile-cache-") as cache:
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
               CACHE_ENV: str(Path(cache) / "embeddings.db")}
        if config.get("cognition"):
            subprocess.run([sys.executable, "-m", "bench.loop_profile", "--warm-cache"], env=env, check=True)
        out = subprocess.run([sys.executable, "-m", "bench.loop_profile", "--child", payload], capture_output=True,
                             text=True, env=env, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"profiled run failed: {out.stderr.strip().splitlines()[-1:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def table(results: dict[str, dict[str, Any]]) -> str:
    names = list(results)
    head = f"| per candidate ({next(iter(results.values()))['candidates']} stored, 1 worker) | " + " | ".join(names)
    lines = [head + " |", "|---|" + "---:|" * len(names)]

    def row(label: str, fmt: str, get) -> None:
        cells = []
        for name in names:
            value = get(results[name])
            cells.append("–" if value is None else format(value, fmt))
        lines.append(f"| {label} | " + " | ".join(cells) + " |")

    row("**framework overhead ms per candidate**, median (wall − the model's own reply time)", ".1f",
        lambda r: r["median_gap_ms"] - r["model_server_ms"])
    row("median ms between stored nodes", ".1f", lambda r: r["median_gap_ms"])
    row("wall ms per candidate: mean over the run / first half / second half", "s",
        lambda r: f"{r['ms_per_candidate']:.1f} / {r['ms_first_half']:.1f} / {r['ms_last_half']:.1f}")
    row("second half, by component:", "s", lambda r: "")
    for bucket in COMPONENTS:
        row(f"  {bucket} ms", ".1f", lambda r, b=bucket: r["components_ms"].get(b, 0.0))
        if bucket == "model calls + ledger":
            row("    of which the model server making its replies ms", ".1f", lambda r: r["model_server_ms"])
    row("  rest (graph, agents) ms", ".1f",
        lambda r: r["ms_last_half"] - sum(v for k, v in r["components_ms"].items() if k not in BACKGROUND))
    row("SQLite connections opened", ".1f", lambda r: r["connects_per_candidate"])
    row("checkpoints / write rows", "s",
        lambda r: f"{r['checkpoints_per_candidate']:.1f} / {r['writes_per_candidate']:.1f}")
    row("checkpoint KB", ".1f", lambda r: r["checkpoint_kb_per_candidate"])
    row("start-up s: to the first evaluation / to the second stored node", "s",
        lambda r: f"{r['startup_s']:.1f} / {r['second_node_s']:.1f}")
    row("peak memory, process tree MB", ".0f", lambda r: r["peak_mb"])
    row("best score", ".4f", lambda r: r["best"])
    return "\n".join(lines)


def run(steps: int = 200, only: list[str] | None = None) -> str:
    results = {name: profile(steps, 1, **config) for name, config in CONFIGS.items() if not only or name in only}
    return table(results) + (
        f"\n\nThe instant task (`bench/tasks/instant`) for {steps} steps against the local mutation server, durable "
        "checkpoints (SQLite) and the sandbox on. Components are the summed wall time of their outermost calls per "
        "stored candidate over the run's second half (one-time costs such as loading MiniLM for the first retrieval "
        "are in the first); the rest is what the graph and the agents spend between them. Checkpoints are saved on "
        "LangGraph's background thread while the next step runs, so their time is shown but not subtracted.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--only", action="append", choices=list(CONFIGS), help="a configuration (repeatable)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--warm-cache", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.warm_cache:
        warm_corpus()
        return
    if args.child:
        print(json.dumps(child(json.loads(args.child))))
        return
    print(run(args.steps, args.only))


if __name__ == "__main__":
    main()
