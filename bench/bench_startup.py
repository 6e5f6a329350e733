"""Start-up benchmark: what a user waits for before the CLI does anything.

Run: `python -m bench.bench_startup` (about half a minute). Each command runs as a fresh interpreter in the
repository root, 10 times after one warm-up, so the figures are the import cost of the entry point: `import
graph.cli`, `asi-evolve --help`, and `asi-evolve status` of a stored run (reading a run never loads LangGraph or
the model stack), plus `import graph.builder` (what a run and `langgraph dev` load).
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RUNS = 10
HISTORY = (
    "Before the layout reshape (the CLI importing the graph, the model client and the OpenAI stack at start), the "
    "same commands took 2867 ms (`import graph.cli`), 2765 ms (`--help`), 3048 ms (`status`) and 2558 ms (`import "
    "graph.builder`) median on this machine, measured back to back with the figures above. Reading a run "
    "(`status`, `best`) and `--help` no longer load LangGraph or the model stack; a run still loads both, so "
    "`import graph.builder` is unchanged within noise."
)
ROOT = Path(__file__).resolve().parents[1]
CLI = "import sys; from graph.cli import main; sys.argv[0] = 'asi-evolve'; main()"


def timed(argv: list[str]) -> list[float]:
    """Wall-clock ms of RUNS fresh runs of argv (after one warm-up), in the repository root."""
    times = []
    for i in range(RUNS + 1):
        started = time.perf_counter()
        subprocess.run(argv, cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if i:
            times.append((time.perf_counter() - started) * 1000)
    return times


def stored_run(folder: Path) -> Path:
    """A one-step offline run of a trivial task to read back."""
    task = folder / "task"
    task.mkdir()
    (task / "initial_program.py").write_text("# EVOLVE-BLOCK-START\nX = 1.0\n# EVOLVE-BLOCK-END\n")
    (task / "evaluator.py").write_text("def evaluate(path):\n    return {'combined_score': 1.0}\n")
    (task / "task.yaml").write_text("name: startup\ndescription: A trivial task.\nsteps: 1\n")
    run_dir = folder / "run"
    subprocess.run([sys.executable, "-c", CLI, "run", str(task), "--run-dir", str(run_dir), "--no-cognition"],
                   cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return run_dir


def run() -> str:
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = stored_run(Path(tmp))
        rows = [
            ("import graph.cli", [sys.executable, "-c", "import graph.cli"]),
            ("asi-evolve --help", [sys.executable, "-c", CLI, "--help"]),
            ("asi-evolve status RUN", [sys.executable, "-c", CLI, "status", str(run_dir)]),
            ("import graph.builder", [sys.executable, "-c", "import graph.builder"]),
        ]
        lines = ["| command | median ms | min ms | max ms |", "|---|---|---|---|"]
        for label, argv in rows:
            times = timed(argv)
            lines.append(f"| `{label}` | {statistics.median(times):.0f} | {min(times):.0f} | {max(times):.0f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(run())
