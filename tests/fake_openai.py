"""A loopback server that speaks the OpenAI chat completions API, for tests of the openai backend.

It fakes the world at its real boundary: the backend's real urllib code talks HTTP to it.
``http.server`` in a thread, on 127.0.0.1 and a free port::

    with FakeOpenAI(answer=lambda messages, k: "a haiku") as server:
        backend = OpenAIBackend(base_url=server.base_url, model="fake-model")
        server.script(Reply(status=429, headers={"Retry-After": "0"}))   # the next request only
        ...
        server.requests          # what was asked, Authorization stripped

Endpoints: ``POST /v1/chat/completions`` (honours ``n`` unless ``ignore_n``, like Ollama) and
``GET /v1/models``. With ``api_key`` set, a request without ``Authorization: Bearer <key>`` gets
401. A model not in ``models`` gets 404, as vLLM answers. Scripted replies (``Reply``) are used
first, one per request, in order: any status, headers (Retry-After), a raw body (wrong JSON), a
delay (timeouts), or fixed choice texts.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Sequence

Answer = Callable[[list[dict[str, str]], int], str]  # (messages, choice index) -> text


@dataclass(frozen=True)
class Reply:
    """One scripted answer. ``texts`` None: choices come from the server's ``answer``."""

    status: int = 200
    texts: tuple[str, ...] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None  # sent as the body, as is (malformed responses)
    delay: float = 0.0  # seconds to wait before answering (timeouts)


def echo(messages: list[dict[str, str]], k: int) -> str:
    """The default answer: names the last user message's first line and the choice index."""
    last = next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")
    return f"answer {k} to {last.splitlines()[0] if last else ''}"


class FakeOpenAI:
    def __init__(self, answer: Answer | Sequence[str] = echo, *, api_key: str | None = None,
                 models: Sequence[str] = ("fake-model",), ignore_n: bool = False,
                 delay: Callable[[dict[str, Any]], float] | float = 0.0) -> None:
        self._answer = answer
        self._queue = deque(answer) if not callable(answer) else None
        self.api_key = api_key
        self.models = tuple(models)
        self.ignore_n = ignore_n
        self.delay = delay
        self.requests: list[dict[str, Any]] = []  # {"method", "path", "headers", "body"}
        self._script: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._httpd.daemon_threads = True
        # A short poll interval: shutdown() waits up to one interval, once per test.
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)
        self._stopped = False

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def script(self, *replies: Reply) -> None:
        with self._lock:
            self._script.extend(replies)

    def start(self) -> "FakeOpenAI":
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> "FakeOpenAI":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ answering

    def respond(self, method: str, path: str, headers: dict[str, str], body: Any) -> tuple[Reply, Any]:
        """(reply, JSON payload) for one request; records it first, Authorization stripped."""
        with self._lock:
            self.requests.append({"method": method, "path": path, "body": body,
                                  "headers": {k: v for k, v in headers.items() if k.lower() != "authorization"}})
            scripted = self._script.popleft() if self._script else None
        if self.api_key is not None and headers.get("Authorization") != f"Bearer {self.api_key}":
            return Reply(status=401), _error("Incorrect API key provided.", "invalid_api_key")
        if scripted is not None and (scripted.status != 200 or scripted.raw is not None):
            return scripted, _error(f"scripted HTTP {scripted.status}", "scripted")
        if method == "GET" and path == "/v1/models":
            return Reply(), {"object": "list", "data": [{"id": m, "object": "model"} for m in self.models]}
        if method != "POST" or path != "/v1/chat/completions":
            return Reply(status=404), _error(f"no route {method} {path}", "not_found")
        return self._completion(body, scripted or Reply())

    def _completion(self, body: Any, reply: Reply) -> tuple[Reply, Any]:
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            return Reply(status=400), _error("'messages' is required", "invalid_request_error")
        if body.get("model") not in self.models:
            return Reply(status=404), _error(f"The model `{body.get('model')}` does not exist.", "model_not_found")
        n = 1 if self.ignore_n else int(body.get("n") or 1)
        texts = list(reply.texts) if reply.texts is not None else [self._text(body["messages"], k) for k in range(n)]
        wait = self.delay(body) if callable(self.delay) else self.delay
        choices = [{"index": k, "message": {"role": "assistant", "content": t}, "finish_reason": "stop"}
                   for k, t in enumerate(texts)]
        payload = {"id": "chatcmpl-fake", "object": "chat.completion", "model": body["model"],
                   "choices": choices[::-1],  # out of order on purpose: clients must sort by index
                   "usage": {"prompt_tokens": 10, "completion_tokens": 5 * len(texts), "total_tokens": 10 + 5 * len(texts)}}
        return Reply(delay=reply.delay + wait, headers=reply.headers), payload

    def _text(self, messages: list[dict[str, str]], k: int) -> str:
        if self._queue is None:
            return self._answer(messages, k)
        with self._lock:
            if not self._queue:
                raise RuntimeError("fake server: the queue of canned answers is empty")
            return self._queue.popleft()


def _error(message: str, code: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": code, "code": code}}


def _handler_for(server: FakeOpenAI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            self._answer(None)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            try:
                body = json.loads(raw) if raw else None
            except json.JSONDecodeError:
                body = None
            self._answer(body)

        def _answer(self, body: Any) -> None:
            reply, payload = server.respond(self.command, self.path, dict(self.headers), body)
            if reply.delay:
                time.sleep(reply.delay)
            data = reply.raw if reply.raw is not None else json.dumps(payload).encode("utf-8")
            try:
                self.send_response(reply.status)
                for key, value in {"Content-Type": "application/json", **reply.headers}.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a timeout test): nothing to answer

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep test output clean

    return Handler
