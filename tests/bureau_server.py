"""A fake card bureau: a real HTTP server on 127.0.0.1 that speaks the protocol of engine/bureau_http.py.

It issues tokens for one client, accepts orders for one organisation, records each order it
accepts and, like a real bureau, deduplicates by Idempotency-Key: a repeated key gets the first
order's id back and records nothing new. A test scripts what the next order calls meet:

    with FakeBureau() as bureau:
        bureau.then(respond(500), accept(delay=2), respond(400, {"message": "unknown layout"}))
        ...  # point CARDFLOW_BUREAU_* at bureau.env(); an order call with no step left is accepted
        bureau.report("GO-00001", "IN_PRODUCTION")  # what GET .../orders/GO-00001 answers from now on

An order's status call answers ORDERED until a test reports another status; an unknown order is a 404.
"""

from __future__ import annotations

import json
import secrets
import threading
import urllib.parse
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Step:
    """What the bureau does with one order call: answer `status` with `body`, or (status None) accept it."""

    status: int | None = None
    body: Any = None
    delay: float = 0.0


def accept(delay: float = 0.0) -> Step:
    """Accept the order (record it first), then wait `delay` seconds before answering."""
    return Step(delay=delay)


def respond(status: int, body: Any = None) -> Step:
    """Answer `status` with `body` (JSON for a dict or list, as is for a str) and record nothing."""
    return Step(status, body)


@dataclass(frozen=True)
class Order:
    """An order the bureau accepted, with what came with it."""

    order_id: str
    key: str
    token: str
    content_type: str
    body: dict[str, Any]


class FakeBureau:
    """The bureau; a context manager that serves it on 127.0.0.1 (a free port) while it is open."""

    client_id = "cardflow-test"
    client_secret = "s3cret-not-for-logs"
    org_id = "org-42"

    def __init__(self, expires_in: int = 3600) -> None:
        self.expires_in = expires_in
        self.orders: list[Order] = []  # accepted, once per idempotency key
        self.keys: list[str] = []  # the Idempotency-Key of every order call that got past authentication
        self.token_requests = 0
        self.tokens: set[str] = set()
        self.statuses: dict[str, dict[str, Any]] = {}  # order id -> what its status call answers
        self._script: deque[Step] = deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.bureau = self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/api"

    def env(self) -> dict[str, str]:
        """The CARDFLOW_BUREAU_* settings that point cardflow at this bureau."""
        return {
            "CARDFLOW_BUREAU_URL": self.url,
            "CARDFLOW_BUREAU_CLIENT_ID": self.client_id,
            "CARDFLOW_BUREAU_CLIENT_SECRET": self.client_secret,
            "CARDFLOW_BUREAU_ORG_ID": self.org_id,
        }

    def then(self, *steps: Step) -> None:
        """Script the next order calls, in order."""
        with self._lock:
            self._script.extend(steps)

    def __enter__(self) -> FakeBureau:
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopping.set()  # wakes the handlers sleeping in accept(delay)
        self._server.shutdown()
        self._server.server_close()  # joins the handler threads

    def token(self, form: dict[str, list[str]]) -> tuple[int, Any]:
        with self._lock:
            self.token_requests += 1
            if form.get("grant_type") != ["client_credentials"]:
                return 400, {"error": "unsupported_grant_type"}
            if form.get("client_id") != [self.client_id] or form.get("client_secret") != [self.client_secret]:
                return 401, {"error": "invalid_client", "error_description": "Client authentication failed."}
            token = secrets.token_hex(16)
            self.tokens.add(token)
        return 200, {"access_token": token, "token_type": "Bearer", "expires_in": self.expires_in}

    def report(self, order_id: str, status: str, reason: str | None = None) -> None:
        """From now on, the status call of `order_id` answers `status` (and `reason`)."""
        with self._lock:
            self.statuses[order_id] = {"orderId": order_id, "status": status, **({"reason": reason} if reason else {})}

    def status(self, org: str, order_id: str, headers: Any) -> tuple[int, Any]:
        if headers.get("Authorization", "").removeprefix("Bearer ") not in self.tokens:
            return 401, {"error": "invalid_token"}
        with self._lock:
            known = any(order.order_id == order_id for order in self.orders)
            if org != self.org_id or not known:
                return 404, {"message": f"unknown order {order_id}"}
            return 200, self.statuses.get(order_id, {"orderId": order_id, "status": "ORDERED"})

    def order(self, org: str, headers: Any, raw: bytes) -> tuple[int, Any]:
        token = headers.get("Authorization", "").removeprefix("Bearer ")
        if token not in self.tokens:
            return 401, {"error": "invalid_token"}
        if org != self.org_id:
            return 404, {"message": f"unknown organisation {org}"}
        key = headers.get("Idempotency-Key")
        if not key:
            return 400, {"message": "an Idempotency-Key header is required"}
        with self._lock:
            self.keys.append(key)
            step = self._script.popleft() if self._script else accept()
            if step.status is not None:
                return step.status, step.body
            first = next((order for order in self.orders if order.key == key), None)
            if first is not None:
                return 201, {"orderId": first.order_id}
            order = Order(f"GO-{len(self.orders) + 1:05d}", key, token, headers.get("Content-Type", ""), json.loads(raw))
            self.orders.append(order)
        if step.delay:
            self._stopping.wait(step.delay)
        return 201, {"orderId": order.order_id}


class _Server(ThreadingHTTPServer):
    daemon_threads = False  # server_close() waits for the handlers: nothing outlives the test
    bureau: FakeBureau


class JsonHandler(BaseHTTPRequestHandler):
    """A handler that answers JSON (or text) and stays quiet; the fake servers' handlers are ones."""

    timeout = 5  # a handler never waits longer than this for a client

    def _answer(self, status: int, body: Any) -> None:
        data = body.encode() if isinstance(body, str) else b"" if body is None else json.dumps(body).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "text/plain" if isinstance(body, str) else "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except OSError:  # the client gave up waiting (the time-out under test)
            pass

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Handler(JsonHandler):
    server: _Server

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        parts = self.path.split("?")[0].strip("/").split("/")
        bureau = self.server.bureau
        if parts == ["api", "oauth", "token"]:
            status, body = bureau.token(urllib.parse.parse_qs(raw.decode("ascii")))
        elif len(parts) == 4 and parts[:2] == ["api", "organisations"] and parts[3] == "orders":
            status, body = bureau.order(urllib.parse.unquote(parts[2]), self.headers, raw)
        else:
            status, body = 404, {"message": f"no such endpoint {self.path}"}
        self._answer(status, body)

    def do_GET(self) -> None:
        parts = self.path.split("?")[0].strip("/").split("/")
        if len(parts) == 5 and parts[:2] == ["api", "organisations"] and parts[3] == "orders":
            org, order_id = urllib.parse.unquote(parts[2]), urllib.parse.unquote(parts[4])
            status, body = self.server.bureau.status(org, order_id, self.headers)
        else:
            status, body = 404, {"message": f"no such endpoint {self.path}"}
        self._answer(status, body)
