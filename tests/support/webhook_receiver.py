"""A webhook receiver on loopback: a real HTTP server in a thread that records what it is
sent and answers as a test tells it to.

    with Receiver.running() as receiver:
        receiver.fail_next(3)           # three 500s, then 204s
        ...
        [request] = receiver.requests
        Webhook(secret).verify(request.body, request.headers)
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks import Webhook


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def webhook_id(self) -> str:
        return self.headers["webhook-id"]

    def verified(self, secret: str) -> Any:
        """The payload, once `standardwebhooks` verified its signature with `secret`."""
        return Webhook(secret).verify(self.body, self.headers)


@dataclass
class Answer:
    status: int = 204
    body: bytes = b""
    headers: dict[str, str] | None = None
    delay_seconds: float = 0.0


class Receiver:
    def __init__(self) -> None:
        self.requests: list[Received] = []
        self._answers: list[Answer] = []
        self.default = Answer()
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def url(self, path: str = "/hook") -> str:
        return f"http://{self.host}{path}"

    def answer(self, *answers: Answer) -> None:
        """The next answers, in order; then `default`."""
        with self._lock:
            self._answers.extend(answers)

    def fail_next(self, times: int, status: int = 500) -> None:
        self.answer(*(Answer(status, b"not now") for _ in range(times)))

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        """The requests, once at least `count` have arrived."""
        deadline = time.monotonic() + timeout
        with self._arrived:
            while len(self.requests) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{len(self.requests)} requests arrived, not {count}")
                self._arrived.wait(left)
            return list(self.requests)

    def _next_answer(self) -> Answer:
        with self._lock:
            return self._answers.pop(0) if self._answers else self.default

    def _record(self, received: Received) -> None:
        with self._arrived:
            self.requests.append(received)
            self._arrived.notify_all()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length)
                headers = {key.lower(): value for key, value in self.headers.items()}
                answer = receiver._next_answer()
                receiver._record(Received(self.path, headers, body))
                if answer.delay_seconds:
                    time.sleep(answer.delay_seconds)
                self.send_response(answer.status)
                for key, value in (answer.headers or {}).items():
                    self.send_header(key, value)
                self.send_header("content-length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler

    @classmethod
    @contextmanager
    def running(cls) -> Iterator[Receiver]:
        receiver = cls()
        thread = threading.Thread(target=receiver._server.serve_forever, daemon=True)
        thread.start()
        try:
            yield receiver
        finally:
            receiver._server.shutdown()
            receiver._server.server_close()
