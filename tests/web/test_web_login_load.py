"""The log-in throttle through the real server: uvicorn on 127.0.0.1, wrong passwords sent in parallel
over HTTP, and a signed-in user's pages meanwhile."""

from __future__ import annotations

import statistics
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from http.cookiejar import CookieJar
from typing import Any

import anyio
import pytest
import uvicorn
from console_helpers import PASSWORD, csrf_in
from sqlalchemy import Engine

from engine.store import accounts
from engine.web.app import create_app
from engine.web.console import Console
from engine.web.serving import listen

ATTACKERS = 48
DEADLINE = 20.0


class Browser:
    """One visitor of the live console: its own cookies, plain HTTP through urllib."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))

    def get(self, path: str) -> tuple[int, str]:
        return self._open(urllib.request.Request(self.base + path))

    def log_in(self, user: str, password: str) -> int:
        """Post the log-in form; the status of its answer (a redirect is followed to the home page: 200)."""
        fields = {"user": user, "password": password, "lang": "en", "csrf": csrf_in(self.get("/login")[1])}
        return self._open(urllib.request.Request(self.base + "/login", urllib.parse.urlencode(fields).encode()))[0]

    def _open(self, request: urllib.request.Request) -> tuple[int, str]:
        try:
            with self.opener.open(request, timeout=60) as answer:
                return answer.status, answer.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()


class Counting:
    """The console's app, counting the log-in forms that reached it."""

    def __init__(self, app: Any) -> None:
        self.app, self.log_ins = app, 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"] == "/login":
            self.log_ins += 1
        await self.app(scope, receive, send)


@pytest.fixture
def live(make_console: Callable[[], Console]) -> Iterator[tuple[str, Counting]]:
    """The console served by uvicorn on a free port of 127.0.0.1, waiting as it would in production."""
    console = make_console()
    console.sleep = anyio.sleep  # the real wait
    app = Counting(create_app(console))
    sock = listen("127.0.0.1", 0)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=1))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    wait_until(lambda: server.started)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}", app
    server.should_exit = True
    thread.join(DEADLINE)
    sock.close()


def wait_until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + DEADLINE
    while not condition():
        assert time.monotonic() < deadline, "the condition did not come true in time"
        time.sleep(0.01)


def timed(browser: Browser, path: str) -> float:
    start = time.monotonic()
    assert browser.get(path)[0] == 200
    return time.monotonic() - start


def test_parallel_wrong_passwords_do_not_stall_a_signed_in_users_pages(live: tuple[str, Counting], store: Engine) -> None:
    """48 wrong passwords sent at once, to accounts already waiting 30 s, leave other users' pages answering as fast as before."""
    base, app = live
    with store.begin() as connection:
        for _ in range(8):  # three free failures, then 1, 2 … 16 s: the next attempt of each waits 30 s
            accounts.log_in(connection, "op2", "wrong password")
            accounts.log_in(connection, "ap2", "wrong password")
    good = Browser(base)
    assert good.log_in("op1", PASSWORD) == 200
    baseline = statistics.median(timed(good, "/options") for _ in range(5))
    attackers = [Browser(base) for _ in range(ATTACKERS)]
    for attacker in attackers:
        attacker.get("/login")  # connected, as a browser would be
    statuses: list[int] = []
    threads = [
        threading.Thread(target=lambda b=b, n=n: statuses.append(b.log_in(("op2", "ap2")[n % 2], "wrong password")), daemon=True)
        for n, b in enumerate(attackers)
    ]
    for thread in threads:
        thread.start()
    wait_until(lambda: app.log_ins == ATTACKERS + 1)
    during = [timed(good, "/options") for _ in range(5)]
    assert max(during) < 25 * baseline + 1.0, (baseline, during)
    wait_until(lambda: len(statuses) >= ATTACKERS - 2)
    assert statuses.count(429) >= ATTACKERS - 2
