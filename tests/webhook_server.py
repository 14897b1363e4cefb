"""A webhook receiver: a real HTTP server on 127.0.0.1 that records every POST it gets. A test scripts
what the next calls meet, as tests/bureau_server.py does for the bureau:

    with FakeReceiver() as receiver:
        receiver.then(respond(500), accept(delay=2), respond(400, {"message": "unknown card"}))
        ...  # point the connector at receiver.url; a call with no step left is accepted
        receiver.deliveries  # every POST that arrived, answered or not

Like a careful receiver it acts once per Idempotency-Key (`taken`), whatever arrives twice.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from dataclasses import dataclass
from http.server import ThreadingHTTPServer
from typing import Any

from bureau_server import JsonHandler, Step, accept, respond

__all__ = ["Delivery", "FakeReceiver", "accept", "respond"]


@dataclass(frozen=True)
class Delivery:
    """One POST that arrived: its key, operation, signature and JSON body."""

    key: str
    operation: str
    signature: str | None
    raw: bytes

    @property
    def body(self) -> Any:
        return json.loads(self.raw)


class FakeReceiver:
    """The receiver; a context manager that serves it on 127.0.0.1 (a free port) while it is open."""

    def __init__(self) -> None:
        self.deliveries: list[Delivery] = []
        self.taken: dict[str, Delivery] = {}  # what it acted on, once per key
        self._script: deque[Step] = deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.receiver = self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/hook"

    def then(self, *steps: Step) -> None:
        with self._lock:
            self._script.extend(steps)

    def __enter__(self) -> FakeReceiver:
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()

    def receive(self, headers: Any, raw: bytes) -> tuple[int, Any]:
        delivery = Delivery(
            headers.get("Idempotency-Key", ""), headers.get("X-Cardflow-Operation", ""), headers.get("X-Cardflow-Signature"), raw
        )
        with self._lock:
            self.deliveries.append(delivery)
            step = self._script.popleft() if self._script else accept()
            if step.status is not None:
                return step.status, step.body
            first = self.taken.setdefault(delivery.key, delivery)
            reference = f"R-{list(self.taken).index(first.key) + 1:05d}"
        if step.delay:
            self._stopping.wait(step.delay)
        return 200, {"id": reference}


class _Server(ThreadingHTTPServer):
    daemon_threads = False  # server_close() waits for the handlers: nothing outlives the test
    receiver: FakeReceiver


class _Handler(JsonHandler):
    server: _Server

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self._answer(*self.server.receiver.receive(self.headers, raw))
