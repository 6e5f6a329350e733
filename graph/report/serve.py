"""`asi-evolve serve`: the report of a run that is still going, redrawn as nodes arrive.

A small local HTTP server with two routes: `/` is the report (rebuilt only when the run stored something new)
and `/version` says what the run holds now; the page asks for it every few seconds and reloads when it changed,
keeping its scroll position and the node page it shows. It reads the run database only (SQLite lets a reader
in beside the running loop) and serves nothing else, on 127.0.0.1 unless told otherwise.
"""

from __future__ import annotations

import json
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from graph.report.report import build_report, run_version

POLL_MS = 2000


class LiveReport:
    """The run's page, rebuilt when its version changes; one build at a time."""

    def __init__(self, run_dir: Path, poll_ms: int = POLL_MS) -> None:
        self.run_dir = Path(run_dir)
        self.poll_ms = poll_ms
        self._lock = threading.Lock()
        self._page: tuple[str, str] | None = None  # (version, html)

    def version(self) -> str:
        return run_version(self.run_dir)

    def page(self) -> str:
        with self._lock:
            current = self.version()
            if self._page is None or self._page[0] != current:
                html, built = build_report(self.run_dir, live={"poll_ms": self.poll_ms})
                self._page = (built, html)
            return self._page[1]


def _handler(live: LiveReport) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            path = self.path.split("?", 1)[0]
            try:
                if path in ("/", "/index.html"):
                    self._send(HTTPStatus.OK, "text/html; charset=utf-8", live.page().encode())
                elif path == "/version":
                    body = json.dumps({"version": live.version()}).encode()
                    self._send(HTTPStatus.OK, "application/json", body)
                else:
                    self._send(HTTPStatus.NOT_FOUND, "text/plain", b"not found\n")
            except Exception as exc:  # a run dir that vanished, a database mid-upgrade: say so, keep serving
                message = f"the report could not be built: {type(exc).__name__}: {exc}\n"
                self._send(HTTPStatus.INTERNAL_SERVER_ERROR, "text/plain; charset=utf-8", message.encode())

        def _send(self, status: HTTPStatus, kind: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - quiet: the page polls
            pass

    return Handler


def make_server(run_dir: Path, host: str = "127.0.0.1", port: int = 8765,
                poll_ms: int = POLL_MS) -> ThreadingHTTPServer:
    """A server for the run's live view (not started); OSError when the port is taken."""
    live = LiveReport(run_dir, poll_ms)
    live.page()  # a run that cannot be read fails here, before anyone is told to open the page
    server = ThreadingHTTPServer((host, port), _handler(live))
    server.daemon_threads = True
    return server
