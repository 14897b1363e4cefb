"""A batch planned chunk by chunk without writing (engine.batch.run's chunks on a read-only connection),
each user's emails rendered: what `diff` compares between two configurations in lockstep."""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import Engine

from engine.batch.prepared import prepare, selected_users
from engine.batch.request import RunRequest
from engine.batch.results import BatchResult, UserResult
from engine.batch.run import _run_chunk
from engine.definitions.model import Workspace
from engine.definitions.options import EffectiveOptions
from engine.outbound.bureau import Connector
from engine.store import db, queries
from engine.store.queries import Row


class Planner:
    """Plans a batch chunk by chunk without writing, each user's emails rendered: for comparing two
    configurations in lockstep."""

    def __init__(self, workspace: Workspace, engine: Engine, request: RunRequest, connector: Connector) -> None:
        self.engine, self.connector = engine, connector
        with db.reading(engine) as connection:
            self.batch = prepare(workspace, connection, request)

    @property
    def options(self) -> EffectiveOptions:
        return self.batch.options

    def users(self, chunk: int = queries.CHUNK) -> Iterator[list[Row]]:
        """The selected users, a chunk at a time."""
        return selected_users(self.engine, self.batch, chunk)

    def plan(self, users: list[Row]) -> list[UserResult]:
        """What the run would do for these users."""
        result = BatchResult(self.batch.record["id"], self.batch.process.symbolic_name, True)
        with db.reading(self.engine) as connection:
            _run_chunk(connection, self.batch, self.connector, users, result, True, plan=True, rendered=True)
        return result.results
