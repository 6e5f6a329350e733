"""ASI-Evolve and OpenEvolve side by side on this machine, driven by the same model server.

Run: `python -m bench.peers` (part of `make bench`). OpenEvolve is installed from PyPI into a virtual environment
of its own (`$ASI_EVOLVE_PEERS_DIR`, default `$XDG_CACHE_HOME/asi-evolve/peers`), so neither framework's packages
touch the other's. Both run the same OpenEvolve-style task folder (`bench/tasks/instant`: an instant evaluator)
against one local mutation server (`bench.mutation_server`), each in a fresh process, alternating run by run.
ASI-Evolve runs through its CLI as a user would (durable checkpoints, sandbox, warm workers).

With `--base-url URL --model NAME` both are pointed at a real OpenAI-compatible endpoint instead (the key, if
one is needed, in `$OPENAI_API_KEY`), to compare what they find with a real model.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
INSTANT = ROOT / "bench" / "tasks" / "instant"
WINDOW = 100  # stored programs at each end of a run whose mean gap is shown
CIRCLES = ROOT / "bench" / "tasks" / "circle_packing"  # an evaluation that does real work (26 circles checked)
OPENEVOLVE = "openevolve==0.4.1"
DRIVER = ROOT / "bench" / "peer_openevolve.py"
ASI_CONFIGS = {"ASI-Evolve (default)": (), "ASI-Evolve (no cognition, no analyzer)": ("--no-cognition",
                                                                                      "--no-analyzer")}


def peers_dir() -> Path:
    if os.environ.get("ASI_EVOLVE_PEERS_DIR"):
        return Path(os.environ["ASI_EVOLVE_PEERS_DIR"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "asi-evolve" / "peers"


def openevolve_python() -> Path:
    """The interpreter of OpenEvolve's own environment, made (from PyPI) the first time. Raises RuntimeError."""
    venv = peers_dir() / OPENEVOLVE.replace("==", "-")
    python = venv / "bin" / "python"
    if python.exists() and (venv / ".installed").exists():
        return python
    base = getattr(sys, "_base_executable", sys.executable)
    steps = ([base, "-m", "venv", "--clear", str(venv)],
             [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", OPENEVOLVE])
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"cannot install {OPENEVOLVE}: {(done.stderr.strip().splitlines() or ['?'])[-1]}")
    (venv / ".installed").write_text(OPENEVOLVE + "\n")
    return python


@contextmanager
def model_server(seed: int, base_url: str | None) -> Iterator[str]:
    if base_url:
        yield base_url
        return
    from bench.mutation_server import ServerProcess

    with ServerProcess(seed=seed) as server:
        yield server.base_url


def run_openevolve(python: Path, task: Path, iterations: int, workers: int, seed: int, base_url: str,
                   model: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="peer-openevolve-") as out:
        argv = [str(python), str(DRIVER), str(task), "--base-url", base_url, "--model", model, "--iterations",
                str(iterations), "--workers", str(workers), "--seed", str(seed), "--out", out]
        started = time.time()
        done = subprocess.run(argv, capture_output=True, text=True, check=False, cwd=out)
        wall = time.time() - started
    if done.returncode != 0:
        raise RuntimeError(f"openevolve failed: {(done.stderr.strip().splitlines() or ['?'])[-1]}")
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    return {**figures, "wall_s": wall, "iterations": iterations}


def run_asi(flags: tuple[str, ...], task: Path, iterations: int, workers: int, seed: int, base_url: str,
            model: str) -> dict[str, Any]:
    from knowledge.database import NodeDatabase

    with tempfile.TemporaryDirectory(prefix="peer-asi-evolve-") as tmp:
        run_dir = Path(tmp) / "run"
        argv = [sys.executable, "-m", "graph.cli", "run", str(task), "--run-dir", str(run_dir), "--steps",
                str(iterations), "--workers", str(workers), "--seed", str(seed), "--model", model, "--base-url",
                base_url, *flags]
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        if os.environ.get("OPENAI_API_KEY"):
            env.setdefault("ASI_EVOLVE_API_KEY", os.environ["OPENAI_API_KEY"])
        started = time.time()
        done = subprocess.run(argv, capture_output=True, text=True, check=False, cwd=ROOT, env=env)
        wall = time.time() - started
        if done.returncode != 0:
            raise RuntimeError(f"asi-evolve failed: {(done.stderr.strip().splitlines() or ['?'])[-1]}")
        nodes = NodeDatabase(run_dir / "run.db").nodes()
    scores = [n.score for n in nodes if n.score is not None]
    return {
        "framework": "asi-evolve", "wall_s": wall, "iterations": iterations,
        "stored_at": sorted(n.created_at - started for n in nodes), "programs": len(nodes),
        "distinct": len({hashlib.sha256(n.program.encode()).hexdigest() for n in nodes if n.program}),
        "best": max(scores) if scores else None,
        "sequence": [(n.trial_key, hashlib.sha256(n.program.encode()).hexdigest(), n.status, n.score)
                     for n in nodes],
    }


def rate(fig: dict[str, Any]) -> dict[str, float | None]:
    """Iterations per minute over the whole process, and mean ms between stored programs, first and last WINDOW
    (a shorter run's first and last halves)."""
    at = fig["stored_at"]
    gaps = [b - a for a, b in zip(at, at[1:], strict=False)]
    window = min(WINDOW, max(1, len(gaps) // 2))
    return {
        "per_min": 60 * fig["iterations"] / fig["wall_s"],
        "first_ms": 1e3 * statistics.fmean(gaps[:window]) if gaps else None,
        "last_ms": 1e3 * statistics.fmean(gaps[-window:]) if gaps else None,
    }


def measure(iterations: int, workers: int, seed: int, python: Path, base_url: str | None, model: str,
            task: Path = INSTANT) -> dict[str, dict[str, Any]]:
    """One run of each framework (OpenEvolve first, then each ASI-Evolve configuration), each with a fresh
    model server of the same seed."""
    runs: dict[str, dict[str, Any]] = {}
    with model_server(seed, base_url) as url:
        runs["OpenEvolve"] = run_openevolve(python, task, iterations, workers, seed, url, model)
    for name, flags in ASI_CONFIGS.items():
        with model_server(seed, base_url) as url:
            runs[name] = run_asi(flags, task, iterations, workers, seed, url, model)
    return runs


def _shown(task: Path) -> str:
    return str(task.relative_to(ROOT)) if task.is_relative_to(ROOT) else task.name


def _cell(value: float | None, fmt: str) -> str:
    return "–" if value is None else format(value, fmt)


def speed_table(results: dict[str, dict[str, dict[str, Any]]]) -> str:
    names = list(next(iter(results.values())))
    lines = ["| run | " + " | ".join(names) + " | ASI-Evolve default / lean ÷ OpenEvolve |",
             "|---|" + "---:|" * (len(names) + 1)]
    for label, runs in results.items():
        rates = {n: rate(runs[n]) for n in names}
        base = rates["OpenEvolve"]["per_min"]
        cells = [f"{runs[n]['wall_s']:.1f} s, {rates[n]['per_min']:.0f}/min ({_cell(rates[n]['first_ms'], '.0f')}"
                 f" → {_cell(rates[n]['last_ms'], '.0f')} ms)" for n in names]
        ratio = " / ".join(f"{rates[n]['per_min'] / base:.2f}×" for n in names[1:])
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {ratio} |")
    return "\n".join(lines)


def first_of(seeds: dict[int, dict[str, dict[str, Any]]]) -> dict[str, Any]:
    return next(iter(seeds[0].values()))


def same_result(a: dict[str, Any], b: dict[str, Any]) -> str:
    """Whether two runs of one framework with the same seed gave the same result, in words."""
    if "sequence" in a:
        return "yes: the same nodes" if a["sequence"] == b["sequence"] else "no"
    if a["best"] == b["best"] and a["distinct"] == b["distinct"]:
        return "same best score and number of programs"
    return f"no: best {a['best']!r} vs {b['best']!r}, {a['distinct']} vs {b['distinct']} distinct programs"


def quality_table(seeds: dict[int, dict[str, dict[str, Any]]], again: dict[str, dict[str, Any]],
                  parallel: tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]) -> str:
    names = list(next(iter(seeds.values())))
    lines = [f"| {first_of(seeds)['iterations']} iterations, 1 worker | " + " | ".join(names) + " |",
             "|---|" + "---:|" * len(names)]
    best = {n: [seeds[s][n]["best"] for s in seeds] for n in names}
    def median(values: list[float | None]) -> str:
        known = [v for v in values if v is not None]
        return _cell(statistics.median(known) if known else None, ".4f")

    lines.append("| best score, median of seeds " + ", ".join(map(str, seeds)) + " | " + " | ".join(
        f"{median(best[n])} ({', '.join(_cell(b, '.4f') for b in best[n])})" for n in names) + " |")
    lines.append("| distinct programs stored, the initial one included (seed 0) | " + " | ".join(
        str(seeds[0][n]["distinct"]) for n in names) + " |")
    lines.append("| seed 0 run again: same result | " + " | ".join(
        same_result(seeds[0][n], again[n]) for n in names) + " |")
    lines.append("| seed 0 with 2 workers run again: same result | " + " | ".join(
        same_result(parallel[0][n], parallel[1][n]) for n in names) + " |")
    return "\n".join(lines)


def plot(runs: dict[str, dict[str, Any]], title: str, path: Path, window: int = 50) -> None:
    """ms between stored programs along the run, a moving mean over `window`, one line per framework."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    figure, axes = pyplot.subplots(figsize=(7.5, 3.6), dpi=100)
    for name, fig in runs.items():
        at = fig["stored_at"]
        gaps = [1e3 * (b - a) for a, b in zip(at, at[1:], strict=False)]
        means = [statistics.fmean(gaps[max(0, i - window + 1):i + 1]) for i in range(len(gaps))]
        axes.plot(range(1, len(means) + 1), means, label=name, linewidth=1.4)
    axes.set_xlabel("stored programs")
    axes.set_ylabel(f"ms between stored programs\n(mean of the last {window})")
    axes.set_title(title, fontsize=10)
    axes.set_ylim(bottom=0)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path)
    pyplot.close(figure)


def run(base_url: str | None = None, model: str = "mutation", short: bool = False, n: int = 200,
        task: Path = INSTANT, plot_to: Path | None = None) -> str:
    """Every table: speed at `n` iterations with 1 and 2 workers, at 1,000 (`n` when `short`) with 2 and, for the
    instant task, on circle packing with 2; best score over seeds 0-2 at `n`, and seed 0 once more with 1 and
    with 2 workers. With `plot_to`, the longest run of `task` is drawn there."""
    try:
        python = openevolve_python()
    except RuntimeError as exc:
        return f"Not measured on this machine: {exc}."
    long_n = n if short else 1000
    speed = {
        f"{n} iterations, 1 worker": measure(n, 1, 0, python, base_url, model, task),
        f"{n} iterations, 2 workers": measure(n, 2, 0, python, base_url, model, task),
    }
    if long_n != n:
        speed[f"{long_n} iterations, 2 workers"] = measure(long_n, 2, 0, python, base_url, model, task)
    longest = next(reversed(speed))
    if task == INSTANT:
        speed[f"{n} iterations, 2 workers, circle packing"] = measure(n, 2, 0, python, base_url, model, CIRCLES)
    seeds = {0: speed[f"{n} iterations, 1 worker"]}
    for seed in (1, 2):
        seeds[seed] = measure(n, 1, seed, python, base_url, model, task)
    again = measure(n, 1, 0, python, base_url, model, task)
    parallel_again = measure(n, 2, 0, python, base_url, model, task)
    drawn = ""
    if plot_to is not None:
        plot(speed[longest], f"{longest}, {_shown(task)}", plot_to)
        drawn = f"![ms between stored programs along the {longest} run]({plot_to.name})"
    return "\n\n".join([
        speed_table(speed),
        "Each cell: wall time of the whole process (start-up included), iterations per minute over it, and the "
        f"mean ms between stored programs over the first and the last {WINDOW} (halves of a shorter run). "
        "OpenEvolve stores only the iterations "
        "whose reply gave a new program; ASI-Evolve stores every iteration as a node (a failed or repeated "
        f"proposal too). OpenEvolve {OPENEVOLVE.split('==')[1]} from PyPI in its own environment; task "
        f"`{_shown(task)}`" + (f" (circle packing: `{_shown(CIRCLES)}`); " if task == INSTANT else "; ")
        + (f"both against {base_url}, model {model}." if base_url else
           "both against the mutation server, a fresh one per run."),
        *([drawn] if drawn else []),
        quality_table(seeds, again, (speed[f"{n} iterations, 2 workers"], parallel_again)),
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base-url", help="a real OpenAI-compatible endpoint instead of the mutation server")
    parser.add_argument("--model", default="mutation", help="the model name to ask for at --base-url")
    parser.add_argument("--iterations", type=int, default=200, help="iterations of each run but the long one")
    parser.add_argument("--short", action="store_true", help="no 1,000-iteration run (a quick look)")
    parser.add_argument("--task", type=Path, default=INSTANT, help="an OpenEvolve-style task folder")
    parser.add_argument("--plot", type=Path, help="draw the longest run into this PNG file")
    args = parser.parse_args()
    if not (args.task / "initial_program.py").is_file() or not (args.task / "evaluator.py").is_file():
        parser.error(f"{args.task}: not an OpenEvolve-style task folder (initial_program.py, evaluator.py)")
    print(run(args.base_url, args.model, args.short, args.iterations, args.task.resolve(), args.plot))


if __name__ == "__main__":
    main()
