"""A real OpenAI-compatible `/v1/embeddings` HTTP server for tests, answering deterministic vectors."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def hash_vector(text: str, dim: int) -> list[float]:
    """A deterministic, unnormalised vector for `text` (what the fake-free test server answers)."""
    digest = hashlib.sha256(text.encode()).digest() * (dim // 32 + 1)
    return [float(b) - 127.5 for b in digest[:dim]]


@dataclass
class ServerLog:
    requests: list[dict] = field(default_factory=list)
    auth_headers: list[str | None] = field(default_factory=list)


@contextmanager
def embedding_server(dim: int, status: int = 200) -> Iterator[tuple[str, ServerLog]]:
    """A real HTTP server on a free port speaking POST /v1/embeddings; yields (base_url, log)."""
    log = ServerLog()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            log.requests.append(body)
            log.auth_headers.append(self.headers.get("Authorization"))
            if self.path != "/v1/embeddings" or status != 200:
                payload, code = {"error": {"message": "no such route or forced failure"}}, status
            else:
                rows = [{"object": "embedding", "index": i, "embedding": hash_vector(t, dim)}
                        for i, t in enumerate(body["input"])]
                payload, code = {"object": "list", "data": rows[::-1], "model": body["model"]}, 200  # out of order
            data = json.dumps(payload).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1", log
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
