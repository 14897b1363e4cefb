"""What the console serves (one workspace, one store, one bureau connector, its session secret, its
log-in throttle and its background batches), and how a route finds it."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import anyio
from fastapi import Request
from sqlalchemy import Engine

from engine.definitions.model import Workspace
from engine.errors import UsageError
from engine.outbound.bureau import Connector
from engine.releases.live import Following
from engine.web.jobs import Jobs
from engine.web.throttle import Throttle

MIN_SECRET = 32  # bytes: a session key an attacker cannot guess (`secrets.token_urlsafe(32)` makes 43)


@dataclass
class Console:
    """What the console serves: one workspace, one store, one bureau connector. Following the
    store's releases (`following`), its workspace is the live release, looked at before each request."""

    workspace: Workspace
    engine: Engine
    connector: Connector
    secret: str = field(default_factory=lambda: session_secret(None))
    secure_cookies: bool = False
    sleep: Callable[[float], Awaitable[None]] = anyio.sleep
    throttle: Throttle = field(default_factory=Throttle)
    jobs: Jobs = field(default_factory=Jobs)
    following: Following | None = None

    async def follow(self) -> None:
        """Run the store's live release from this request on (a batch started before keeps its own)."""
        if self.following is not None:
            self.workspace = await anyio.to_thread.run_sync(self.following.current)


def console_of(request: Request) -> Console:
    """The Console the application was built for (a FastAPI dependency)."""
    found: Console = request.app.state.console
    return found


def session_secret(given: str | None) -> str:
    """The key that signs session cookies: `given` ($CARDFLOW_SECRET_KEY) when it is long enough to
    resist guessing (at least MIN_SECRET bytes), else a usage error; a new random key when none is given."""
    if not given:
        return secrets.token_urlsafe(32)
    if len(given.encode()) < MIN_SECRET:
        raise UsageError(
            f"CARDFLOW_SECRET_KEY is {len(given.encode())} bytes; a session key needs at least {MIN_SECRET} "
            "(make one with: python3 -c 'import secrets; print(secrets.token_urlsafe(32))')"
        )
    return given
