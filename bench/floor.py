"""The floor under the framework overhead: what the loop's shape costs before any of ASI-Evolve's own work.

Run: `python -m bench.floor` (about half a minute). Per candidate, 1 worker:
- the loop's LangGraph topology (tally -> Learner -Send-> trial subgraph researcher -> engineer -> launch ->
  engineer -> analyzer -> tally) with nodes that do nothing, carrying a state of the same size as a run's,
  without a checkpointer and with the run's SQLite checkpointer (WAL, `synchronous=NORMAL`, saved in the
  background as a run saves them);
- the fresh process every candidate needs to be isolated from the others: `os.fork()` of a small parent and
  waiting for the child that exits at once (the least a warm evaluation worker can do per candidate);
- one model call through the client stack a run uses (LangChain's `ChatOpenAI`), and a bare HTTP POST for
  comparison, less the model server's own time making the reply.
Their sum is what no lever inside the framework can take away while the state machine, the model stack and the
per-candidate isolation stay as they are (a candidate makes one model call, two with the analyzer).
"""

from __future__ import annotations

import operator
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Annotated, TypedDict

from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.graph import END, START, StateGraph
from langgraph.types import Send

STEPS = 200
NOTE = (
    "What the floor says about the targets: a lean candidate (one model call) cannot cost the controller less "
    "than the checkpointed LangGraph row for its number of workers plus the LangChain row, however lean our own "
    "code becomes, because both run in the controller's one interpreter (the fork runs in the evaluation "
    "worker). Three times OpenEvolve's candidates per minute leaves 60,000 / (3 × its rate) ms per candidate for "
    "everything: 3.4 ms, for example, when OpenEvolve makes 5,800 a minute."
)
PROGRAM = "x = 1.0\n" * 120  # about the instant task's program: a kilobyte of text in the trial's state


class Loop(TypedDict, total=False):
    max_steps: int
    steps: Annotated[int, operator.add]
    generation: int
    best: float


class Trial(TypedDict, total=False):
    key: str
    program: str
    score: float
    analysis: str


def trial_graph():
    g = StateGraph(Trial)
    g.add_node("researcher", lambda s: {"program": PROGRAM + s["key"]})
    g.add_node("engineer", lambda s: {})
    g.add_node("launch", lambda s: {"score": 0.5})
    g.add_node("analyzer", lambda s: {"analysis": "no change"})
    g.add_edge(START, "researcher")
    g.add_edge("researcher", "engineer")  # the engineer runs twice: before the launch and after it
    g.add_conditional_edges("engineer", lambda s: "analyzer" if "score" in s else "launch", ["launch", "analyzer"])
    g.add_edge("launch", "engineer")
    g.add_edge("analyzer", END)
    return g.compile(checkpointer=False)


def loop_graph(checkpointer, workers: int = 1):
    trial = trial_graph()

    def run_trial(state: dict) -> dict:
        trial.invoke({"key": state["key"]})
        return {"steps": 1}

    b = StateGraph(Loop)
    b.add_node("tally", lambda s: {"best": 0.5})
    b.add_node("learner", lambda s: {"generation": s.get("generation", 0) + 1})
    b.add_node("trial", run_trial)
    b.add_edge(START, "tally")
    b.add_conditional_edges("tally", lambda s: END if s.get("steps", 0) >= s["max_steps"] else "learner",
                            ["learner", END])
    b.add_conditional_edges("learner", lambda s: [Send("trial", {"key": f"g{s['generation']}.{k}"})
                                                  for k in range(workers)], ["trial"])
    b.add_edge("trial", "tally")
    return b.compile(checkpointer=checkpointer)


def per_candidate_ms(checkpointed: bool, folder: Path, workers: int = 1) -> float:
    """Median ms between tallies over a STEPS-candidate run of the no-op loop, per candidate (a generation of
    `workers` trials is one gap)."""
    saver = False  # none at all (no `durability` to apply)
    if checkpointed:
        conn = sqlite3.connect(folder / f"checkpoints-{workers}.db", check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        saver = SqliteSaver(conn)
    graph = loop_graph(saver, workers)
    stamps: list[float] = []
    config = {"configurable": {"thread_id": "floor"}, "recursion_limit": 10 * STEPS}
    durability = {"durability": "async"} if checkpointed else {}
    for chunk in graph.stream({"max_steps": STEPS}, config, stream_mode="updates", **durability):
        if "tally" in chunk:
            stamps.append(time.perf_counter())
    gaps = [(b - a) * 1000 for a, b in zip(stamps, stamps[1:], strict=False)]
    return statistics.median(gaps) / workers


FORK_LOOP = """
import os, statistics, time
times = []
for _ in range(200):
    started = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    times.append((time.perf_counter() - started) * 1000)
print(statistics.median(times))
"""


def fork_ms() -> float:
    """Median ms for a small interpreter (nothing imported) to fork and reap a child that exits at once."""
    out = subprocess.run([sys.executable, "-S", "-c", FORK_LOOP], check=True, capture_output=True, text=True)
    return float(out.stdout)


def model_call_ms(calls: int = 100) -> tuple[float, float]:
    """Median ms of one chat completion against the local mutation server, less the server's own time making the
    reply: (a kept-alive HTTP POST with httpx, LangChain's `ChatOpenAI.invoke`)."""
    import httpx
    from langchain_openai import ChatOpenAI

    from bench.mutation_server import ServerProcess

    prompt = "Name: change\nStatus: ok\nScore: 0.5\nReply format: ANALYSIS: ..."
    body = {"model": "mutation", "messages": [{"role": "user", "content": prompt}], "temperature": 0.7}
    with ServerProcess(seed=0) as server, httpx.Client(base_url=server.base_url, timeout=30) as http:
        chat = ChatOpenAI(model="mutation", base_url=server.base_url, api_key="none", max_retries=0, timeout=30)

        def timed(call) -> float:
            call()  # warm-up: connection, first request
            server.figures()
            times = []
            for _ in range(calls):
                started = time.perf_counter()
                call()
                times.append((time.perf_counter() - started) * 1000)
            busy_ms = 1000 * server.figures()["busy_s"] / calls
            return statistics.median(times) - busy_ms

        raw = timed(lambda: http.post("/chat/completions", json=body).raise_for_status())
        langchain = timed(lambda: chat.invoke(prompt))
    return raw, langchain


def run() -> str:
    with tempfile.TemporaryDirectory() as tmp:
        per_candidate_ms(False, Path(tmp))  # warm-up: imports, first compile
        bare = per_candidate_ms(False, Path(tmp))
        saved = per_candidate_ms(True, Path(tmp))
        saved_2 = per_candidate_ms(True, Path(tmp), workers=2)
    forked = fork_ms()
    raw, langchain = model_call_ms()
    rows = [
        ("the loop's LangGraph topology, no-op nodes, no checkpointer", bare),
        ("the same with the run's SQLite checkpointer (in the background)", saved),
        ("the same, 2 trials a generation (per candidate)", saved_2),
        ("`os.fork()` of a bare interpreter and reaping the child (per-candidate isolation, least)", forked),
        ("one model call, kept-alive HTTP POST (httpx), less the server's reply time", raw),
        ("one model call through LangChain (`ChatOpenAI.invoke`), less the server's reply time", langchain),
        ("**sum: LangGraph with checkpoints + fork + one LangChain call**", saved + forked + langchain),
    ]
    lines = ["| per candidate, 1 worker unless stated | ms |", "|---|---:|"]
    lines += [f"| {name} | {value:.2f} |" for name, value in rows]
    lines += ["", f"{STEPS} candidates, median ms between tallies; the state carries a kilobyte of program text as "
              "a run's does. The warm evaluation worker's whole call (fork in the jail, load the candidate, run "
              "the evaluator, send the result back) is in the sandbox table below."]
    return "\n".join(lines)


if __name__ == "__main__":
    print(run())
