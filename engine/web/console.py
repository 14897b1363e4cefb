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
from engine.outbound.bureau import Connector
from engine.web.jobs import Jobs
from engine.web.throttle import Throttle


@dataclass
class Console:
    """What the console serves: one workspace, one store, one bureau connector."""

    workspace: Workspace
    engine: Engine
    connector: Connector
    secret: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    secure_cookies: bool = False
    sleep: Callable[[float], Awaitable[None]] = anyio.sleep
    throttle: Throttle = field(default_factory=Throttle)
    jobs: Jobs = field(default_factory=Jobs)


def console_of(request: Request) -> Console:
    """The Console the application was built for (a FastAPI dependency)."""
    found: Console = request.app.state.console
    return found
