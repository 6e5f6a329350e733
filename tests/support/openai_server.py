"""A real OpenAI-compatible HTTP server for tests: scripted replies, failures on demand, every request recorded.

Why a real server: the model plumbing (langchain-openai → openai → httpx → socket) is exercised end to end —
authentication headers, timeouts, status codes, usage accounting — without a network or an API key.

    with FakeOpenAIServer(["NAME: x ...", rate_limited(), "NAME: y ..."]) as server:
        spec = ModelSpec("fake-model", base_url=server.base_url)

Each POST /v1/chat/completions consumes the next script entry (in arrival order); an exhausted script answers
HTTP 400 (not retried by clients) so a test that asks more than it scripted fails loudly. `reply_fn` replaces the
script with a function of the request JSON returning a content string or a `Reply`.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Reply:
    """One scripted answer.

    Attributes:
        content: the assistant message text (status 200 only).
        status: HTTP status; non-200 answers carry an OpenAI-style JSON error body.
        delay_s: seconds to wait before answering (past the client's timeout: a timeout).
        finish_reason: "stop", or "length" for a reply truncated at max_tokens.
        garbage: answer 200 with a body that is not JSON.
        prompt_tokens, completion_tokens: reported usage; None counts words (deterministic).
        retry_after: a Retry-After header (seconds) on an error answer.
    """

    content: str = ""
    status: int = 200
    delay_s: float = 0.0
    finish_reason: str = "stop"
    garbage: bool = False
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    retry_after: float | None = None


def rate_limited(retry_after: float | None = None) -> Reply:
    return Reply(status=429, retry_after=retry_after)


def server_error() -> Reply:
    return Reply(status=500)


def slow(content: str, delay_s: float) -> Reply:
    return Reply(content=content, delay_s=delay_s)


def truncated(content: str) -> Reply:
    return Reply(content=content, finish_reason="length")


def garbage() -> Reply:
    return Reply(garbage=True)


@dataclass(frozen=True)
class Request:
    """One request the server received."""

    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any] | None

    def header(self, name: str) -> str | None:
        """A header value by case-insensitive name."""
        return self.headers.get(name.lower())

    def prompt_text(self) -> str:
        """All message contents of a chat request, joined (for asserting what the model was told)."""
        messages = (self.body or {}).get("messages", [])
        return "\n".join(str(m.get("content", "")) for m in messages)


@dataclass
class _State:
    script: list[Reply]
    reply_fn: Callable[[dict[str, Any]], str | Reply] | None
    api_key: str | None
    models: tuple[str, ...]
    requests: list[Request] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    stopping: threading.Event = field(default_factory=threading.Event)


def _words(text: str) -> int:
    return len(text.split())


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - silence stderr logging
        pass

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        state = self.server.state
        self._record(None)
        if not self._authorised():
            return
        if self.path.rstrip("/") != "/v1/models":
            self._json(404, _error(f"no route {self.path}", "not_found"))
            return
        data = [{"id": name, "object": "model", "created": 0, "owned_by": "tests"} for name in state.models]
        self._json(200, {"object": "list", "data": data})

    def do_POST(self) -> None:  # noqa: N802 - stdlib name
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        try:
            body = json.loads(raw or b"{}")
        except json.JSONDecodeError:
            body = None
        self._record(body)
        if not self._authorised():
            return
        if self.path.rstrip("/") != "/v1/chat/completions" or not isinstance(body, dict):
            self._json(404, _error(f"no route {self.path} (or a body that is not JSON)", "not_found"))
            return
        reply = self._next_reply(body)
        if reply is None:
            self._json(400, _error("fake server: script exhausted", "invalid_request_error"))
            return
        if reply.delay_s and self.server.state.stopping.wait(reply.delay_s):
            return
        if reply.status != 200:
            kind = "rate_limit_exceeded" if reply.status == 429 else "server_error"
            extra = {} if reply.retry_after is None else {"Retry-After": f"{reply.retry_after:g}"}
            self._json(reply.status, _error(f"scripted HTTP {reply.status}", kind), extra)
            return
        if reply.garbage:
            self._send(200, b"<html>502 bad gateway, definitely not JSON", "application/json")
            return
        prompt = "\n".join(str(m.get("content", "")) for m in body.get("messages", []))
        usage_in = reply.prompt_tokens if reply.prompt_tokens is not None else _words(prompt)
        usage_out = reply.completion_tokens if reply.completion_tokens is not None else _words(reply.content)
        self._json(
            200,
            {
                "id": f"chatcmpl-{len(self.server.state.requests)}",
                "object": "chat.completion",
                "created": 0,
                "model": body.get("model", ""),
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": reply.content},
                        "finish_reason": reply.finish_reason,
                    }
                ],
                "usage": {
                    "prompt_tokens": usage_in,
                    "completion_tokens": usage_out,
                    "total_tokens": usage_in + usage_out,
                },
            },
        )

    # -- helpers -------------------------------------------------------------------------------------------

    def _record(self, body: dict[str, Any] | None) -> None:
        state = self.server.state
        headers = {name.lower(): value for name, value in self.headers.items()}
        with state.lock:
            state.requests.append(Request(self.command, self.path, headers, body))

    def _authorised(self) -> bool:
        key = self.server.state.api_key
        if key is None or self.headers.get("Authorization") == f"Bearer {key}":
            return True
        self._json(401, _error("Incorrect API key provided.", "invalid_api_key"))
        return False

    def _next_reply(self, body: dict[str, Any]) -> Reply | None:
        state = self.server.state
        if state.reply_fn is not None:
            answer = state.reply_fn(body)
            return answer if isinstance(answer, Reply) else Reply(content=answer)
        with state.lock:
            return state.script.pop(0) if state.script else None

    def _json(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(payload).encode(), "application/json", headers)

    def _send(self, status: int, data: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        try:
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout) before the answer came


def _error(message: str, code: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": code, "code": code, "param": None}}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    state: _State


class FakeOpenAIServer:
    """An OpenAI-compatible server on a free local port, running in a background thread.

    Args:
        script: replies in order (strings are plain 200 answers).
        reply_fn: if given, answers every chat request from its JSON body instead of the script.
        api_key: if given, requests without `Authorization: Bearer <api_key>` get HTTP 401.
        models: ids listed by GET /v1/models.
    """

    def __init__(
        self,
        script: Iterable[str | Reply] = (),
        *,
        reply_fn: Callable[[dict[str, Any]], str | Reply] | None = None,
        api_key: str | None = None,
        models: Iterable[str] = ("fake-model",),
    ) -> None:
        replies = [Reply(content=item) if isinstance(item, str) else item for item in script]
        self._state = _State(replies, reply_fn, api_key, tuple(models))
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("server not started")
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    @property
    def requests(self) -> list[Request]:
        with self._state.lock:
            return list(self._state.requests)

    def chat_requests(self) -> list[Request]:
        return [r for r in self.requests if r.method == "POST"]

    def remaining(self) -> int:
        with self._state.lock:
            return len(self._state.script)

    def start(self) -> FakeOpenAIServer:
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.state = self._state
        httpd = self._httpd
        self._thread = threading.Thread(
            target=lambda: httpd.serve_forever(poll_interval=0.02), name="fake-openai", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._state.stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
