"""A real OpenAI-compatible HTTP server on 127.0.0.1 for tests of the judge and the LLM rewriter.

It speaks the ``POST /v1/chat/completions`` wire format the ``openai`` client uses, so the code under test runs
its real client, retries and parsing. Each test passes a ``respond(request_json)`` function returning
- a string: the assistant message (status 200);
- an integer: that HTTP error status (to test retries and authentication failures);
- a :class:`Reply`: any fault a real endpoint shows (a ``Retry-After`` header, a body that is not JSON, a
  response that arrives late or never, a connection dropped without a response).

``authorizations`` keeps each request's ``Authorization`` header; ``max_in_flight`` records the most requests the server was answering at the same time, so a test can check the
concurrency a client really used.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Reply:
    """One scripted answer: ``content`` (status 200) or an error ``status``, after ``delay`` seconds.

    ``raw`` replaces the whole body (e.g. truncated JSON with status 200); ``drop`` closes the connection without
    any response; ``headers`` are added (e.g. ``{"Retry-After": "1"}``).
    """

    content: str | None = None
    status: int = 200
    delay: float = 0.0
    raw: str | None = None
    drop: bool = False
    headers: dict[str, str] = field(default_factory=dict)


Responder = Callable[[dict[str, Any]], "str | int | Reply"]


def _completion(body: dict[str, Any], number: int, content: str | None) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-{number}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", "test-model"),
        "choices": [
            {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}
        ],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }


class OpenAICompatibleServer:
    """Context manager: ``with OpenAICompatibleServer(respond) as server: server.base_url``."""

    def __init__(self, respond: Responder):
        self.respond = respond
        self.requests: list[dict[str, Any]] = []
        self.authorizations: list[str | None] = []
        self.max_in_flight = 0
        self._in_flight = 0
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = (
                "HTTP/1.1"  # keep-alive, as real endpoints: a dropped connection is then visible
            )

            def log_message(self, *args: Any) -> None:  # keep pytest output clean
                return

            def do_POST(self) -> None:  # noqa: N802 (http.server API)
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                with outer._lock:
                    outer.requests.append(body)
                    outer.authorizations.append(self.headers.get("Authorization"))
                    number = len(outer.requests)
                    outer._in_flight += 1
                    outer.max_in_flight = max(outer.max_in_flight, outer._in_flight)
                try:
                    self._answer(body, number)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (its timeout)
                    self.close_connection = True
                finally:
                    with outer._lock:
                        outer._in_flight -= 1

            def _answer(self, body: dict[str, Any], number: int) -> None:
                if not self.path.rstrip("/").endswith("/chat/completions"):
                    return self._send(404, json.dumps({"error": {"message": f"no route {self.path}"}}))
                answer = outer.respond(body)
                reply = answer if isinstance(answer, Reply) else Reply()
                if isinstance(answer, str):
                    reply = Reply(content=answer)
                elif isinstance(answer, int):
                    reply = Reply(status=answer)
                time.sleep(reply.delay)
                if reply.drop:
                    self.close_connection = True
                    return None
                if reply.raw is not None:
                    payload = reply.raw
                elif reply.status == 200:
                    payload = json.dumps(_completion(body, number, reply.content))
                else:
                    error = {"message": f"test server error {reply.status}", "type": "server_error"}
                    payload = json.dumps({"error": error})
                return self._send(reply.status, payload, reply.headers)

            def _send(self, status: int, payload: str, headers: dict[str, str] | None = None) -> None:
                data = payload.encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def __enter__(self) -> OpenAICompatibleServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._server.shutdown()
        self._server.server_close()
