"""What the CLI shows while a run goes and when it stops: the progress line and the one-screen summary.

The progress line reads step, best and last score from the tally the graph streams, and failures and model
cost from the run database, each counted incrementally (only rows stored since the last tally are read, so the
line costs the same at node 10 and node 10,000). The ETA is rich's estimate from the pace of recent steps.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from agents.models.ledger import CallLedger
from graph.budget import INITIAL_INVALID
from graph.runner import RunError, run_database, run_status
from knowledge.database import NodeDatabase
from knowledge.storage import exists

err = Console(stderr=True)
out = Console(markup=False, highlight=False, soft_wrap=True)


def fmt(score: float | None) -> str:
    return "-" if score is None else f"{score:.10g}"


class LoopProgress:
    """A rich progress bar fed by the graph's tally updates (step, best, last score, failures, cost, ETA) and,
    for tasks that train, by the training progress the launcher streams (node, step, loss, tokens/s)."""

    def __init__(self, run_dir: Path, total: int) -> None:
        self.location = run_database(Path(run_dir))
        self._db: NodeDatabase | None = None
        self._ledger: CallLedger | None = None
        self._seen_upto, self._failures = 0, 0  # counted incrementally: a count over all nodes grows with the run
        self._calls_upto, self._cost = 0, 0.0
        self.progress = Progress(
            TextColumn("[bold]step"), MofNCompleteColumn(), BarColumn(bar_width=24),
            TextColumn("best {task.fields[best]}  last {task.fields[last]}  failures {task.fields[failures]}"
                       "{task.fields[cost]}"),
            TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(compact=True),
            TextColumn("{task.fields[training]}"),
            console=err, transient=False,
        )
        self.task_id = self.progress.add_task("loop", total=total, best="-", last="-", failures=0, cost="",
                                              training="")

    def __enter__(self) -> LoopProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    @property
    def elapsed_s(self) -> float | None:
        """Seconds since the display started (what the progress line shows as elapsed)."""
        return self.progress.tasks[0].elapsed

    def __call__(self, update: dict[str, Any]) -> None:
        if self._db is None and exists(self.location):  # opened once: a store is a connection and a schema check
            self._db = NodeDatabase(self.location)
            self._ledger = CallLedger(self.location)
        for node_id, status in self._db.statuses_since(self._seen_upto) if self._db is not None else ():
            self._seen_upto, self._failures = node_id, self._failures + (status != "ok")
        if self._ledger is not None:
            cost, _, self._calls_upto = self._ledger.totals_since(self._calls_upto)
            self._cost += cost
        last = update.get("last")
        self.progress.update(
            self.task_id, completed=update.get("steps", 0), best=fmt(update.get("best_score")),
            last=f"{fmt(last.score)} ({last.status})" if last else "-", failures=self._failures,
            cost=f"  cost ${self._cost:.4f}" if self._calls_upto else "",
        )

    def training(self, event: dict[str, Any]) -> None:
        parts = [f"train {event.get('node', '')}", str(event.get("phase", ""))]
        if "step" in event:
            parts.append(f"{event['step']}/{event['steps']}" if "steps" in event else str(event["step"]))
        if "loss" in event:
            parts.append(f"loss {event['loss']:.4g}")
        if "tokens_per_s" in event:
            parts.append(f"{event['tokens_per_s']:,.0f} tok/s")
        # the phase is the training script's text: shown as text, never read as rich markup
        self.progress.update(self.task_id, training=escape("  ".join(p for p in parts if p)))


def shares_text(group: dict[str, Any]) -> str:
    """Design-source shares of one group of `run_status`'s `design_sources` as `novel 80%, experience 20%`."""
    return ", ".join(f"{k} {v:.0%}" for k, v in group["shares"].items() if v)


def summary_lines(status: dict[str, Any], state: dict[str, Any], run_dir: Path,
                  elapsed_s: float | None = None) -> list[str]:
    """The end-of-run summary: why it stopped, best against initial and reference, what the nodes came to,
    the pace, where the ideas came from, the task length, the model spend and where to look next."""
    reason = state.get("stop_reason") or "stopped"
    lines = [f"stopped: {reason}"]
    line = f"best score {fmt(status['best_score'])} (node {status['best_node_id']})"
    line += f", initial {fmt(status['initial_score'])}"
    if status.get("reference_score") is not None:
        line += f", reference {status['reference_score']!r} ({status['reference_label']})"
    lines.append(line)
    counts = ", ".join(f"{k} {v}" for k, v in status["counts"].items() if v)
    pace = f" · this invocation {elapsed_s:.0f} s" if elapsed_s is not None else ""
    lines.append(f"nodes {status['nodes']}: {counts}{pace}")
    sources = status.get("design_sources")
    if sources and sources["all"]["total"]:
        best = shares_text(sources["best"]) or "-"
        lines.append(f"design sources: {shares_text(sources['all'])} (best nodes: {best})")
    for axis, text in status.get("task_length_lines", []):
        lines.append(f"{axis}: {text}")
    if status.get("model_calls"):
        lines.append(f"model calls {status['model_calls']}, tokens {status['model_tokens']}, "
                     f"cost ${status['model_cost']:.4f}")
    lines.append(f"run stored in {run_dir}")
    lines.append(f"see it: asi-evolve report {run_dir}")
    return lines


def finish(state: dict[str, Any], run_dir: Path, elapsed_s: float | None = None) -> None:
    """Print the summary of a run that stopped (`elapsed_s`: how long this invocation took, waiting for people
    included); a run whose initial program failed is a one-line error."""
    status = run_status(run_dir, details=True)
    reason = state.get("stop_reason") or "stopped"
    if status["best_score"] is None and reason.startswith(INITIAL_INVALID):
        raise RunError(f"{reason} (run stored in {run_dir})")  # nothing to evolve from: one line, exit 2
    for line in summary_lines(status, state, run_dir, elapsed_s):
        out.print(line)
