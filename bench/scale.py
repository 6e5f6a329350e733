"""How the loop holds up as a run grows, and how well K workers keep busy.

Run: `python -m bench.scale [--nodes 10000]` (part of `make bench`). One run of the instant task
(`bench/tasks/instant`) through the CLI against the local mutation server, 2 workers, no cognition and no
Analyzer (the configuration whose overhead is the framework's own), durable checkpoints and the sandbox on:
ms between stored nodes around node 100, 1,000 and 10,000; checkpoint bytes per candidate around step 100 and
step 5,000; the controller's peak memory; then `resume --steps 1` of the finished run, timed. And runs of a task
whose evaluation takes exactly one second (`bench/tasks/sleepy`) with K workers: parallel efficiency is the
ideal time (candidates × 1 s / K) over the time the loop took.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil

from bench.mutation_server import ServerProcess
from knowledge.database import NodeDatabase

ROOT = Path(__file__).resolve().parents[1]
INSTANT = ROOT / "bench" / "tasks" / "instant"
SLEEPY = ROOT / "bench" / "tasks" / "sleepy"
LEAN = ("--no-cognition", "--no-analyzer")


HISTORY = """Before and after, on this machine (not back to back: between the two runs the machine itself ran about
1.5× faster, the first window's 33.6 ms became 22.3; two runs after):

| lever | ms between nodes: from node 100 / last 100 | `resume --steps 1` s |
|---|---:|---:|
| before: `best()` sorted every ok node, 3 calls a generation | 33.6 / 59.9 (+78%) | 4.85 |
| an index answers `best()`; the progress bar keeps one store open | 22.3 / 35.9, 29.9 / 36.5 | 3.11, 3.59 |
| sampler state saved at marks; failures counted incrementally | 30.7 / 28.8 (before: 41.0 / 28.4) | 3.44 (3.55) |

`best()` at 10,000 nodes took 9.58 ms before the index (`nodes_best`) and 0.05 ms after.

The last lever, measured back to back (the figures in brackets are the run just before it): the Learner wrote
the sampler's whole state every generation (UCB1 at 10,000 nodes: 228 KB, 5.2-7 ms of JSON and a write, per
generation of 2 candidates); it now writes it when the nodes it has seen cross a mark, every 512 nodes at
10,000 (every 64 below 2,048), so about 0.03 ms a generation; a resumed sampler restores the last save and
replays the nodes since. The progress line's failure count read every node's status at each tally (0.7 ms at
10,000) and now reads only the new ones. Windows of 100 nodes moved by ±30% between runs of the same code on
this machine (the run before the lever read 41.0, 18.7 and 28.4 ms at nodes 100, 1,000 and 10,000), which is
more than what these levers change, so the table now also gives windows of 1,000 nodes."""


class ControllerMemory:
    """Peak RSS of one process (the controller, not its evaluation workers), sampled every 0.5 s."""

    def __init__(self, pid: int) -> None:
        self.peak = 0
        self._proc = psutil.Process(pid)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._stop.wait(0.5):
            try:
                self.peak = max(self.peak, self._proc.memory_info().rss)
            except psutil.Error:
                return

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak


def cli(*args: str, base_url: str) -> list[str]:
    return [sys.executable, "-m", "graph.cli", *args, "--model", "mutation", "--base-url", base_url]


def run_cli(argv: list[str]) -> tuple[float, int]:
    """Run the CLI to its end; (wall seconds, peak controller RSS bytes). Raises RuntimeError on failure."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    started = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    memory = ControllerMemory(proc.pid)
    _, err = proc.communicate()
    wall = time.perf_counter() - started
    peak = memory.stop()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[3:5])} failed: {(err.strip().splitlines() or ['?'])[-1]}")
    return wall, peak


def gaps_around(stored: list[float], node: int, window: int = 100) -> float | None:
    """Mean ms between stored nodes over the `window` nodes from `node` on (or the last `window`)."""
    start = min(node, len(stored) - window - 1)
    if start < 1:
        return None
    part = stored[start:start + window + 1]
    return 1e3 * (part[-1] - part[0]) / (len(part) - 1)


def checkpoint_kb(run_dir: Path, step: int, workers: int, window: int = 100) -> float | None:
    """KB of checkpoints and pending writes per candidate over the `window` candidates from loop step `step` (a
    generation of `workers` trials is about three supersteps: tally, learner, trial)."""
    first, last = 3 * step // workers, 3 * (step + window) // workers
    with sqlite3.connect(run_dir / "checkpoints.db") as conn:
        ids = conn.execute("SELECT checkpoint_id, LENGTH(checkpoint) + LENGTH(metadata) FROM checkpoints "
                           "WHERE json_extract(metadata, '$.step') BETWEEN ? AND ?", (first, last - 1)).fetchall()
        if not ids:
            return None
        marks = ",".join("?" * len(ids))
        (writes,) = conn.execute(f"SELECT COALESCE(SUM(LENGTH(value)), 0) FROM writes WHERE checkpoint_id IN "
                                 f"({marks})", [i for i, _ in ids]).fetchone()
    return (sum(n for _, n in ids) + writes) / 1024 / window


def grow(nodes: int, workers: int = 2) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="asi-evolve-scale-") as tmp, ServerProcess(seed=0) as server:
        run_dir = Path(tmp) / "run"
        wall, peak = run_cli(cli("run", str(INSTANT), "--run-dir", str(run_dir), "--steps", str(nodes),
                                 "--workers", str(workers), "--seed", "0", *LEAN, base_url=server.base_url))
        stored = sorted(n.created_at for n in NodeDatabase(run_dir / "run.db").nodes())
        resume_wall, _ = run_cli([sys.executable, "-m", "graph.cli", "resume", str(run_dir), "--steps", "1"])
        db_mb = sum(p.stat().st_size for p in run_dir.glob("*.db*")) / 2**20
        return {
            "nodes": len(stored), "wall_s": wall, "peak_mb": peak / 2**20, "resume_s": resume_wall, "db_mb": db_mb,
            "ms_at": {n: gaps_around(stored, n) for n in (100, 1000, nodes)},
            "ms_1000": {n: gaps_around(stored, n, 1000) for n in (1000, nodes)},  # steadier than 100 nodes
            "kb_at": {s: checkpoint_kb(run_dir, s, workers) for s in (100, min(5000, nodes - 100))},
        }


def efficiency(workers: int, generations: int = 6) -> dict[str, float]:
    """Parallel efficiency with `workers` trials a generation and 1-second evaluations."""
    with tempfile.TemporaryDirectory(prefix="asi-evolve-parallel-") as tmp, ServerProcess(seed=0) as server:
        run_dir = Path(tmp) / "run"
        run_cli(cli("run", str(SLEEPY), "--run-dir", str(run_dir), "--steps", str(generations * workers),
                    "--workers", str(workers), "--seed", "0", *LEAN, base_url=server.base_url))
        stored = sorted(n.created_at for n in NodeDatabase(run_dir / "run.db").nodes())
    loop = stored[-1] - stored[0]  # from the initial program's node: every later one is a trial of K in parallel
    ideal = (len(stored) - 1) * 1.0 / workers
    return {"candidates": len(stored) - 1, "loop_s": loop, "ideal_s": ideal, "efficiency": ideal / loop}


def run(nodes: int = 10000, ks: tuple[int, ...] = (1, 2, 4)) -> str:
    big = grow(nodes)
    ms = big["ms_at"]
    kb = big["kb_at"]
    lines = [f"| {big['nodes']:,}-node run, 2 workers, no cognition, no analyzer | figure |", "|---|---:|"]
    for n, value in ms.items():
        where = "the last 100 nodes" if n == nodes else f"the 100 from node {n:,}"
        lines.append(f"| ms between stored nodes, {where} | {'–' if value is None else f'{value:.1f}'} |")
    for n, value in big["ms_1000"].items():
        where = "the last 1,000 nodes" if n == nodes else f"the 1,000 from node {n:,}"
        lines.append(f"| ms between stored nodes, {where} | {'–' if value is None else f'{value:.1f}'} |")
    for s, value in kb.items():
        lines.append(f"| checkpoint KB per candidate, the 100 from step {s:,} | "
                     f"{'–' if value is None else f'{value:.2f}'} |")
    lines += [f"| whole run: wall s / run directory's databases MB | {big['wall_s']:.0f} / {big['db_mb']:.1f} |",
              f"| controller peak memory MB (without the evaluation workers) | {big['peak_mb']:.0f} |",
              f"| `resume --steps 1` of the finished run, wall s (start-up, load, one candidate) | "
              f"{big['resume_s']:.2f} |"]
    eff = {k: efficiency(k) for k in ks}
    lines += ["", "| 1-second evaluations | " + " | ".join(f"K = {k}" for k in ks) + " |",
              "|---|" + "---:|" * len(ks),
              "| candidates / loop s / ideal s | " + " | ".join(
                  f"{e['candidates']} / {e['loop_s']:.1f} / {e['ideal_s']:.1f}" for e in eff.values()) + " |",
              "| **parallel efficiency** (ideal ÷ loop) | " + " | ".join(
                  f"{100 * e['efficiency']:.0f}%" for e in eff.values()) + " |"]
    spread = [v for v in big["ms_1000"].values() if v is not None]
    if len(spread) > 1:
        lines += ["", f"From the 1,000 nodes after node 1,000 to the last 1,000 of {nodes:,} the time between "
                  f"stored nodes changes by {100 * (spread[-1] / spread[0] - 1):+.0f}% (windows of 100 nodes "
                  "swing by ±30% with the machine's own hiccups)."]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nodes", type=int, default=10000)
    parser.add_argument("--k", type=int, action="append", help="workers for the efficiency runs (repeatable)")
    args = parser.parse_args()
    print(run(args.nodes, tuple(args.k or (1, 2, 4))))


if __name__ == "__main__":
    main()
