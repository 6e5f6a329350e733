"""`langgraph dev` serves the graph (what Studio talks to): one short loop through the HTTP API."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from langgraph_sdk import get_sync_client

from graph.context import Context
from knowledge.database import NodeDatabase
from knowledge.samplers.registry import SAMPLERS

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server_log(tmp_path: Path) -> Path:
    return tmp_path / "server.log"


@pytest.fixture
def dev_server(tmp_path: Path, server_log: Path):
    port = free_port()
    env = dict(os.environ, LANGGRAPH_CLI_NO_ANALYTICS="1", LANGGRAPH_NO_VERSION_CHECK="1",
               LANGGRAPH_STRICT_MSGPACK="true")
    log = server_log.open("w")
    binary = Path(sys.executable).parent / "langgraph"
    proc = subprocess.Popen(
        [str(binary), "dev", "--no-browser", "--no-reload", "--host", "127.0.0.1", "--port", str(port)],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 90
        while time.time() < deadline:
            if proc.poll() is not None:
                pytest.fail(f"langgraph dev exited: {(tmp_path / 'server.log').read_text()[-2000:]}")
            try:
                if httpx.get(f"{url}/ok", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        else:
            pytest.fail(f"langgraph dev did not start: {(tmp_path / 'server.log').read_text()[-2000:]}")
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()


def test_langgraph_dev_runs_a_short_loop(dev_server: str, tmp_path: Path) -> None:
    client = get_sync_client(url=dev_server)
    assistants = client.assistants.search(graph_id="asi_evolve")
    assert assistants, "the graph is not registered"
    thread = client.threads.create()
    run_dir = tmp_path / "studio-run"
    state = client.runs.wait(
        thread["thread_id"], "asi_evolve",
        input={"max_steps": 3},
        context={"task": "circle_packing", "run_dir": str(run_dir), "seed": 1},
    )
    assert state["steps"] == 3, state
    assert state["stop_reason"].startswith("step budget reached")
    nodes = NodeDatabase(run_dir / "run.db").nodes()
    assert len(nodes) == 4 and nodes[0].status == "ok"
    assert state["best_score"] == max(n.score for n in nodes if n.score is not None)


def test_a_studio_thread_goes_on_with_a_second_invocation(dev_server: str, tmp_path: Path) -> None:
    """The server reads the loop's records back from its own checkpoints (strict msgpack): a second invocation
    on the thread merges them with the new generation's, which failed when they came back as plain dicts."""
    client = get_sync_client(url=dev_server)
    thread = client.threads.create()
    context = {"task": "circle_packing", "run_dir": str(tmp_path / "again"), "seed": 1, "cognition": False}
    client.runs.wait(thread["thread_id"], "asi_evolve", input={"max_steps": 1}, context=context)
    state = client.runs.wait(thread["thread_id"], "asi_evolve", input={"max_steps": 2}, context=context)
    assert state["steps"] == 2 and state["stop_reason"].startswith("step budget reached"), state


def test_studio_gets_an_input_form_for_the_budget_and_described_context(dev_server: str, server_log: Path) -> None:
    client = get_sync_client(url=dev_server)
    [assistant] = client.assistants.search(graph_id="asi_evolve")
    schemas = client.assistants.get_schemas(assistant["assistant_id"])
    form = schemas["input_schema"]["properties"]
    assert set(form) == {"max_steps", "max_wall_s", "target_score", "lane"}  # lane: a thread of a --lanes run
    assert all(field.get("description") for field in form.values())
    assert {"steps", "best_score", "best_node_id", "stop_reason"} <= set(schemas["output_schema"]["properties"])
    context = schemas["context_schema"]["properties"]
    assert set(context) == set(Context.__dataclass_fields__)
    assert all(field.get("description") for field in context.values())
    assert all(name in context["sampler"]["description"] for name in SAMPLERS)
    log = server_log.read_text()
    assert "typing_extensions.TypedDict" not in log and "Traceback" not in log, log[-3000:]


def test_studio_shows_the_approval_interrupt_and_a_resume_goes_on(dev_server: str, tmp_path: Path) -> None:
    client = get_sync_client(url=dev_server)
    thread = client.threads.create()
    run_dir = tmp_path / "studio-approve"
    context = {"task": "circle_packing", "run_dir": str(run_dir), "seed": 1, "approve": True, "cognition": False}
    client.runs.wait(thread["thread_id"], "asi_evolve", input={"max_steps": 1}, context=context)
    state = client.threads.get_state(thread["thread_id"], subgraphs=True)
    asked = [i["value"] for task in state["tasks"] for i in task.get("interrupts", [])]
    assert len(asked) == 1 and asked[0]["kind"] == "approval" and asked[0]["trial"] == "g0001.0"
    assert asked[0]["diff"].startswith("--- node 1") and "EVOLVE-BLOCK-START" in asked[0]["program"]
    assert len(NodeDatabase(run_dir / "run.db").nodes()) == 1  # only the initial program ran: it waits
    final = client.runs.wait(thread["thread_id"], "asi_evolve", command={"resume": {"action": "skip",
                                                                                    "reason": "not now"}},
                             context=context)
    assert final["stop_reason"].startswith("step budget reached"), final
    nodes = NodeDatabase(run_dir / "run.db").nodes()
    assert [(n.status, n.error) for n in nodes[1:]] == [("vetoed", "skipped at approval: not now")]
