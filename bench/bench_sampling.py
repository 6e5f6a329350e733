"""Sampler benchmark: observe cost and sample() latency at 1k, 10k and 100k nodes, plus the cost of saving state.

Run: `python -m bench.bench_sampling` (about a minute on 2 cores). Each sampler observes one synthetic run
incrementally (short multi-line programs, ~15% failed trials, random scores and metrics, parents drawn mostly
from recent nodes, children in their parent's island); at each size it times sample(k=1) over 300 calls with
rising generations (so island migrations are included), sample(k=8), and a JSON save + restore of the state.
"""

from __future__ import annotations

import json
import random
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from knowledge.records import Node
from knowledge.samplers.base import Sampler
from knowledge.samplers.registry import make_sampler

SIZES = (1_000, 10_000, 100_000)
SAMPLE_CALLS = 300
TARGET_MS = 2.0
CONFIGS: dict[str, dict[str, Any]] = {
    "greedy": {},
    "random": {},
    "ucb1": {},
    "map_elites": {"features": ["program_length", "edit_distance"]},
    "map_elites curiosity": {"features": ["metric:a", "metric:b"], "selection": "curiosity"},
    "islands": {"islands": 4, "migration_interval": 10},
    "pareto": {"objectives": [{"name": "a", "goal": "max"}, {"name": "b", "goal": "min"}]},
}


def synthetic_nodes(count: int, seed: int = 0, islands: int = 4) -> list[Node]:
    """A run-shaped node sequence: node 1 is the seed program; each later node edits one line of a parent drawn
    mostly from the recent scored nodes of its island (children go to islands round-robin, as picks do)."""
    rng = random.Random(seed)
    base = [f"x{i} = {i}" for i in range(8)]
    nodes = [_node(1, (), "\n".join(base), 0.5, "ok", None, rng)]
    scored: list[list[Node]] = [[nodes[0]] for _ in range(islands)]
    for node_id in range(2, count + 1):
        island = node_id % islands
        pool = scored[island]
        parent = pool[-1 - rng.randrange(min(500, len(pool)))] if rng.random() < 0.7 else rng.choice(pool)
        lines = parent.program.splitlines()
        at = rng.randrange(len(lines))
        if len(lines) < 16 and rng.random() < 0.3:
            lines.insert(at, f"y{rng.randrange(100)} = {rng.random():.3f}")
        else:
            lines[at] = f"x{at} = {rng.random():.3f}"
        status = "ok" if rng.random() < 0.85 else rng.choice(("failed", "timeout", "invalid"))
        node = _node(node_id, (parent.id,), "\n".join(lines), rng.random(), status, island, rng)
        nodes.append(node)
        if status == "ok":
            pool.append(node)
    return nodes


def _node(node_id: int, parents: tuple[int, ...], program: str, score: float, status: str, island: int | None,
          rng: random.Random) -> Node:
    ok = status == "ok"
    metrics = {"a": rng.random(), "b": rng.random(), "combined_score": score} if ok else {}
    return Node(
        trial_key=f"b{node_id}", generation=node_id // 8, parent_ids=parents, name="", motivation="",
        program=program, edit="", metrics=metrics, score=score if ok else None, analysis="",
        status=status, island=island, id=node_id, created_at=0.0,  # type: ignore[arg-type]
    )


def _timed(call: Callable[[], Any]) -> tuple[Any, float]:
    """The call's result and its wall time in milliseconds."""
    start = time.perf_counter()
    result = call()
    return result, (time.perf_counter() - start) * 1e3


def _sample_times(sampler: Sampler, k: int, generations: range) -> list[float]:
    """Milliseconds of one sample(k) per generation, each with its own seeded rng (as the Learner does)."""
    times = []
    for generation in generations:
        rng = random.Random(generation)
        start = time.perf_counter()
        sampler.sample(k, rng, generation)
        times.append((time.perf_counter() - start) * 1e3)
    return times


def _inspiration_times(sampler: Sampler, parent_id: int, calls: int) -> list[float]:
    times = []
    for call in range(calls):
        rng = random.Random(call)
        start = time.perf_counter()
        sampler.inspirations(parent_id, 4, rng)
        times.append((time.perf_counter() - start) * 1e3)
    return times


def _measure(label: str, params: dict[str, Any], nodes: list[Node]) -> list[list[str]]:
    name = label.split()[0]
    sampler: Sampler = make_sampler(name, **params)
    rows, fed, generation = [], 0, 1
    for size in SIZES:
        batch = nodes[fed:size]
        _, observe_ms = _timed(lambda b=batch: [sampler.observe(node) for node in b])
        fed = size
        generation = max(generation, batch[-1].generation + 1)  # the loop's next generation (migrations due)
        single = _sample_times(sampler, 1, range(generation, generation + SAMPLE_CALLS))
        generation += SAMPLE_CALLS
        eight = _sample_times(sampler, 8, range(generation, generation + 50))
        generation += 50
        inspire = _inspiration_times(sampler, sampler.sample(1, random.Random(0), generation)[0].parent_id, 50)
        text, save_ms = _timed(lambda: json.dumps(sampler.state_dict()))
        fresh = make_sampler(name, **params)
        _, load_ms = _timed(lambda f=fresh, t=text: f.load_state_dict(json.loads(t)))
        assert fresh.state_dict() == sampler.state_dict()
        p95 = statistics.quantiles(single, n=20)[-1]
        rows.append([
            label, f"{size:,}", f"{observe_ms * 1e3 / len(batch):.1f}", f"{statistics.median(single):.3f}",
            f"{p95:.3f}", f"{statistics.median(eight):.3f}", f"{statistics.median(inspire):.3f}",
            f"{len(text) / 1e6:.2f}", f"{save_ms:.0f}", f"{load_ms:.0f}",
        ])
    return rows


def run() -> str:
    """Benchmark every sampler and return the results as a Markdown table."""
    nodes = synthetic_nodes(max(SIZES))
    header = [
        "sampler", "nodes", "observe µs/node", "sample k=1 median ms", "k=1 p95 ms", "k=8 median ms",
        "inspirations ms", "state MB", "save ms", "load ms",
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for label, params in CONFIGS.items():
        for row in _measure(label, params, nodes):
            lines.append("| " + " | ".join(row) + " |")
            print(lines[-1], file=sys.stderr, flush=True)
    return "\n".join(lines)


if __name__ == "__main__":
    print(run())
