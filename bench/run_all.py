"""`make bench`: run every benchmark and write their tables to docs/benchmarks.md.

Benchmarks measure; tests assert. Nothing here runs in the test suite.
"""

from __future__ import annotations

import os
import platform
from importlib import metadata
from pathlib import Path

from bench import (
    bench_retrieval,
    bench_sampling,
    bench_sandbox,
    bench_startup,
    floor,
    lanes,
    loop_profile,
    peers,
    ray_overhead,
    scale,
)

DOC = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"


def machine() -> str:
    """The CPU, its cores and the versions the figures depend on."""
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.machine()) if Path("/proc/cpuinfo").exists() else ""
    versions = ", ".join(f"{name} {_version(name)}" for name in ("langgraph", "torch", "faiss-cpu"))
    return f"{os.cpu_count()} CPU cores ({model or platform.machine()}), Python {platform.python_version()}, {versions}"


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def main() -> None:
    sections = [
        ("Framework overhead per candidate", "Where a candidate's time goes in a whole run with an instant evaluator "
         "and an instant model (target: ≤ 10 ms framework overhead per candidate, flat as the run grows).",
         loop_profile.run(), loop_profile.HISTORY),
        ("The floor under the overhead", "What the loop's shape costs before any of ASI-Evolve's own work: its "
         "LangGraph topology with nodes that do nothing, the fork each candidate's isolation needs, one model "
         "call through LangChain (`python -m bench.floor`).", floor.run(), floor.NOTE),
        ("Against OpenEvolve", "Both frameworks on the same OpenEvolve-style task with an instant evaluator, "
         "driven by the same local mutation server, alternating run by run (`python -m bench.peers`; target: "
         "≥ 3× OpenEvolve's candidates per minute over 1,000 iterations, the same result for the same seed).",
         peers.run(plot_to=DOC.with_name("benchmarks-peers.png")), ""),
        ("At scale and in parallel", "A 10,000-node run: time between stored nodes and checkpoint bytes as it "
         "grows (targets: flat), the controller's memory, resuming it (target: ≤ 3 s); and parallel efficiency "
         "with K workers and 1-second evaluations (target: ≥ 90%). `python -m bench.scale`.", scale.run(),
         scale.HISTORY),
        ("Asynchronous lanes", "Slot utilisation with K = 4 slots and evaluations varying 10× (0.3-3 s, "
         "`bench/tasks/varied`): generations of K parallel trials against K lanes, 60 offline steps each (target: "
         "≥ 90%). `python -m bench.lanes`.", lanes.run(4, 60), lanes.NOTE),
        ("Parent sampling", "Per-call time of `sample()` after observing N synthetic nodes, state size and the cost of "
         "saving/loading it (targets: ≤ 2 ms per sample at 100k nodes).", bench_sampling.run(), ""),
        ("Cognition retrieval", "FAISS search per query over N items (flat up to 10k, HNSW above), the full search "
         "including SQLite, and MiniLM query embedding (target: ≤ 5 ms per retrieval at 100k items).",
         bench_retrieval.run(), ""),
        ("Sandbox overhead", "Median, p90 and min ms per trivial evaluation with bubblewrap namespaces and with "
         "process limits only, plus the bare process layer and one `run_candidate` (100 runs each).",
         bench_sandbox.run(), bench_sandbox.HISTORY),
        ("Ray executor overhead", "Median, p90 and min ms per trivial evaluation through `--executor ray` (a local Ray "
         "instance of this machine) and through the local executor, with and without warm workers (20 runs each; "
         "`python -m bench.ray_overhead`).", ray_overhead.run(), ""),
        ("Start-up", "Wall-clock ms of a fresh interpreter running each entry point in the repository root (10 runs "
         "after a warm-up): what a user waits for before the CLI does anything.", bench_startup.run(),
         bench_startup.HISTORY),
    ]
    lines = ["# Benchmarks", "", f"Written by `make bench` on {machine()}. Timings in milliseconds unless stated.",
             ""]
    for title, note, table, history in sections:
        lines += [f"## {title}", "", note, "", table.strip(), ""] + ([history.strip(), ""] if history else [])
    DOC.write_text("\n".join(lines))
    print(f"wrote {DOC}")


if __name__ == "__main__":
    main()
