"""Slot utilisation when evaluation times vary 10x: generations of K parallel trials against K asynchronous lanes.

Run: `python -m bench.lanes [--k 4] [--steps 40]` (part of `make bench`). The task `bench/tasks/varied` waits 0.3
to 3 s per evaluation (log-uniform, fixed by the program's text). Utilisation is evaluation time over K slots times
the window (`utilisation`): a generation waits for its slowest trial, a lane plans its next trial as soon as its last
one is stored. The whole run includes the end, where slots fall idle as the budget runs out in either mode.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from knowledge.database import NodeDatabase

NOTE = """Steady: from the initial program's node until the first slot ran out of work for good (the budget's
last tickets were taken); the whole run adds the end, where the last trials finish one by one in either mode. In a
lane the time between two evaluations (storing a node, the lane's checkpoint, the Learner and the Researcher) is
the rest: about 5% of a 1.1 s mean evaluation here."""
ROOT = Path(__file__).resolve().parents[1]
VARIED = ROOT / "bench" / "tasks" / "varied"
LEAN = ("--no-cognition", "--no-analyzer")


def utilisation(mode: str, k: int, steps: int) -> dict[str, float]:
    """One offline run in `mode` ("workers" or "lanes") with K slots. Utilisation is evaluation seconds over K
    slots times the window: the whole run (from the initial program's node to the last node), and its steady
    part (until the first slot ran out of work for good: after that the budget has nothing left to give it)."""
    with tempfile.TemporaryDirectory(prefix="asi-evolve-lanes-") as tmp:
        run_dir = Path(tmp) / "run"
        argv = [sys.executable, "-m", "graph.cli", "run", str(VARIED), "--run-dir", str(run_dir), "--steps",
                str(steps), f"--{mode}", str(k), "--seed", "0", *LEAN]
        subprocess.run(argv, check=True, capture_output=True, cwd=ROOT)
        nodes = NodeDatabase(run_dir / "run.db").nodes()
    initial, trials = nodes[0], nodes[1:]
    evals = []  # (start, end) of each evaluation: it ends where the analysis before storing began
    for n in trials:
        end = n.created_at - n.timings.get("analyze_s", 0.0)
        evals.append((end - n.timings.get("eval_s", 0.0), end))
    begin, last = initial.created_at, max(n.created_at for n in trials)
    steady_end = sorted(e for _, e in evals)[-k]  # the first slot that ran out of work: the budget was taken

    def busy(until: float) -> float:
        return sum(max(0.0, min(e, until) - max(s, begin)) for s, e in evals)

    return {"trials": len(trials), "loop_s": last - begin, "busy_s": busy(last),
            "whole": busy(last) / (k * (last - begin)), "steady": busy(steady_end) / (k * (steady_end - begin))}


def run(k: int = 4, steps: int = 40) -> str:
    rows = ["| K slots, evaluations 0.3-3 s | trials | loop s | evaluation s | utilisation, steady | whole run |",
            "|---|---:|---:|---:|---:|---:|"]
    modes = (("workers", f"generations of {k} (`--workers {k}`)"), ("lanes", f"{k} lanes (`--lanes {k}`)"))
    for mode, label in modes:
        found = utilisation(mode, k, steps)
        rows.append(f"| {label} | {found['trials']} | {found['loop_s']:.1f} | {found['busy_s']:.1f} | "
                    f"**{100 * found['steady']:.0f}%** | {100 * found['whole']:.0f}% |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--k", type=int, default=4)
    parser.add_argument("--steps", type=int, default=40)
    args = parser.parse_args()
    print(run(args.k, args.steps))


if __name__ == "__main__":
    main()
