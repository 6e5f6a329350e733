"""An instant OpenAI-compatible model for benchmarks: every prompt is answered with a mutation of its program.

Why: to compare frameworks (and to time our own model path) without a model's latency or its randomness, both
sides must see the same proposal distribution. The server finds the program a prompt asks to improve — the fenced
block after a "Current Program" or "(parent)" heading, else the first fenced block holding an EVOLVE-BLOCK — and
answers with one of the offline researcher's mutations of it (constant perturbation, statement edit, crossover
with the prompt's other programs) as SEARCH/REPLACE blocks, which OpenEvolve and ASI-Evolve both read. The
mutation is a function of (server seed, prompt text), so a framework that sends the same prompts gets the same
answers. A prompt asking for an analysis gets a short one naming the change and its score.

    with MutationServer(seed=0) as server:
        ...  # point the framework at server.base_url
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from agents.strategies.protocols import ResearchContext
from agents.strategies.researcher_offline import OfflineResearcher
from knowledge.records import Node

_FENCE = re.compile(r"```[\w+-]*\n(.*?)```", re.S)
_TARGET_HEADING = re.compile(r"^#+ .*(current program|\(parent\))", re.I | re.M)
_LINE = re.compile(r"^(Name|Status|Score): *(.*)$", re.M)


def analysis_reply(prompt: str) -> str:
    """A short analysis naming the change and its outcome (so each node's analysis is its own text)."""
    said = dict(_LINE.findall(prompt))
    return (f"ANALYSIS:\nThe change '{said.get('Name', '?')}' ended {said.get('Status', '?')} with score "
            f"{said.get('Score', '?')}; compare it with the parent before building on it.\nINSIGHTS:\n- none\n")


def _node(program: str, node_id: int) -> Node:
    return Node(trial_key=f"prompt{node_id}", generation=0, parent_ids=(), name="", motivation="", program=program,
                edit="", metrics={}, score=None, analysis="", status="ok", id=node_id)


def programs_in(prompt: str) -> tuple[str | None, list[str]]:
    """(the program to improve, the other programs shown) of a prompt; None when it holds no program."""
    blocks = [(m.start(), m.group(1)) for m in _FENCE.finditer(prompt) if "EVOLVE-BLOCK-START" in m.group(1)]
    if not blocks:
        return None, []
    heading = _TARGET_HEADING.search(prompt)
    after = [b for b in blocks if heading is not None and b[0] > heading.start()]
    target = (after or blocks)[0]
    return target[1], [code for start, code in blocks if start != target[0]]


def mutation_reply(prompt: str, seed: int, researcher: OfflineResearcher | None = None) -> str:
    """The reply to one prompt: NAME/MOTIVATION/EDITS with SEARCH/REPLACE blocks, or an analysis."""
    program, others = programs_in(prompt)
    if program is None or "ANALYSIS:" in prompt.split("Reply format")[-1]:
        return analysis_reply(prompt)
    digest = hashlib.sha256(f"{seed}\n{prompt}".encode()).hexdigest()[:16]
    ctx = ResearchContext(task_name="", task_description="", parent=_node(program, 1),
                          inspirations=tuple(_node(code, i + 2) for i, code in enumerate(others)), seed=digest)
    try:
        proposal = (researcher or OfflineResearcher()).propose(ctx)
    except ValueError:  # nothing editable: answer with no edit, which both frameworks count as a failed proposal
        return "NAME: no change\nMOTIVATION:\nNothing to edit.\n"
    return f"NAME: {proposal.name}\nMOTIVATION:\n{proposal.motivation}\nEDITS:\n{proposal.edit}"


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # headers and body: no ACK wait

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
        pass

    def do_GET(self) -> None:  # noqa: N802
        self._json(200, {"object": "list", "data": [{"id": "mutation", "object": "model", "owned_by": "bench"}]})

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            self._json(400, {"error": {"message": "body is not JSON", "type": "invalid_request_error"}})
            return
        started = time.perf_counter()
        prompt = "\n".join(str(m.get("content", "")) for m in body.get("messages", []))
        content = mutation_reply(prompt, self.server.seed, self.server.researcher)
        with self.server.lock:
            self.server.calls += 1
            self.server.busy_s += time.perf_counter() - started
            number = self.server.calls
        words_in, words_out = len(prompt.split()), len(content.split())
        self._json(200, {
            "id": f"chatcmpl-{number}", "object": "chat.completion", "created": 0, "model": body.get("model", ""),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": words_in, "completion_tokens": words_out, "total_tokens": words_in + words_out},
        })

    def do_DELETE(self) -> None:  # noqa: N802 - the figures of a server in another process
        with self.server.lock:
            self._json(200, {"calls": self.server.calls, "busy_s": self.server.busy_s})

    def _json(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, seed: int) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.seed = seed
        self.researcher = OfflineResearcher()
        self.lock = threading.Lock()
        self.calls = 0
        self.busy_s = 0.0  # time spent making replies: the model's own time, not the client's


class MutationServer:
    """The server on a free local port, in a background thread, for the life of a `with` block."""

    def __init__(self, seed: int = 0) -> None:
        self._server = _Server(seed)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    @property
    def calls(self) -> int:
        return self._server.calls

    @property
    def busy_s(self) -> float:
        return self._server.busy_s

    def __enter__(self) -> MutationServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


class ServerProcess:
    """The server in a process of its own (so its work does not share the client's interpreter), for a `with`."""

    def __init__(self, seed: int = 0) -> None:
        root = Path(__file__).resolve().parents[1]
        env = {**os.environ, "PYTHONPATH": str(root)}
        self._proc = subprocess.Popen([sys.executable, "-m", "bench.mutation_server", "--seed", str(seed)],
                                      stdout=subprocess.PIPE, text=True, env=env, cwd=root)
        assert self._proc.stdout is not None
        self.base_url = self._proc.stdout.readline().strip()
        if not self.base_url.startswith("http"):
            self.close()
            raise RuntimeError("the mutation server did not start")

    def figures(self) -> dict[str, float]:
        """{"calls": replies made, "busy_s": seconds spent making them}."""
        request = urllib.request.Request(self.base_url.rsplit("/v1", 1)[0] + "/stats", method="DELETE")
        with urllib.request.urlopen(request, timeout=10) as reply:
            return json.loads(reply.read())

    def close(self) -> None:
        self._proc.terminate()
        self._proc.wait(timeout=10)

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def main() -> None:
    """`python -m bench.mutation_server [--seed N]`: print the base URL, serve on a free port until killed."""
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with MutationServer(args.seed) as server:
        print(server.base_url, flush=True)
        threading.Event().wait()


if __name__ == "__main__":
    main()
