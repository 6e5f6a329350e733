"""`make bench`: run every benchmark and write their tables to docs/benchmarks.md.

Benchmarks measure; tests assert. Nothing here runs in the test suite.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path

from bench import bench_retrieval, bench_sampling, bench_sandbox, bench_startup

DOC = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"


def main() -> None:
    sections = [
        ("Parent sampling", "Per-call time of `sample()` after observing N synthetic nodes, state size and the cost of "
         "saving/loading it (targets: ≤ 2 ms per sample at 100k nodes).", bench_sampling.run()),
        ("Cognition retrieval", "FAISS search per query over N items (flat up to 10k, HNSW above), the full search "
         "including SQLite, and MiniLM query embedding (target: ≤ 5 ms per retrieval at 100k items).",
         bench_retrieval.run()),
        ("Sandbox overhead", "Median, p90 and min ms per trivial evaluation with bubblewrap namespaces and with "
         "process limits only, plus the bare process layer and one `run_candidate` (100 runs each).",
         bench_sandbox.run()),
        ("Start-up", "Wall-clock ms of a fresh interpreter running each entry point in the repository root (10 runs "
         "after a warm-up): what a user waits for before the CLI does anything.", bench_startup.run()),
    ]
    lines = ["# Benchmarks", "", f"Written by `make bench` on {os.cpu_count()} CPU cores ({platform.machine()}, "
             f"Python {platform.python_version()}). Timings in milliseconds unless stated.", ""]
    for title, note, table in sections:
        lines += [f"## {title}", "", note, "", table.strip(), ""]
    DOC.write_text("\n".join(lines))
    print(f"wrote {DOC}")


if __name__ == "__main__":
    main()
