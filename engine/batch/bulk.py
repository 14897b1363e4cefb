"""Bulk actions: a run over the cards a query finds (engine.store.pages.CardQuery, with `where` for
declared fields and user attributes), which a person may pause and resume.

Pausing marks the batch `paused` in the store, with who did it; the run that works it (on any
machine) stops after the chunk in work and leaves the batch paused. Resuming runs the batch again as
it was asked (its process, selection, trigger, reason and options are in its row): the cards it
moved are not fired again, the others are.
"""

from __future__ import annotations

import json

from sqlalchemy import Connection, Engine

from engine.batch.card_request import CardRunRequest, CardSelection
from engine.batch.offers import require_may_start
from engine.batch.request import require_actor
from engine.definitions.model import Workspace
from engine.definitions.options import recorded_overrides
from engine.errors import Refused, UsageError
from engine.store import batches, chunks, queries
from engine.store.queries import Row


def pause(workspace: Workspace, engine: Engine, batch_id: str, actor_id: str) -> Row:
    """Pause the running batch over cards `batch_id` as `actor_id` (who may start its process); its row after."""
    with engine.begin() as connection:
        batch = _run_over_cards(connection, batch_id)
        actor = require_actor(connection, actor_id, "any", "pausing a batch")
        require_may_start(workspace.process(batch["process"]), actor)
        if chunks.chunks_of(connection, batch_id):
            raise UsageError(f"batch {batch_id} is worked by `cardflow worker` in chunk jobs, which cannot be paused")
        if not batches.pause_batch(connection, batch_id, actor["id"]):
            raise Refused(f"batch {batch_id} is {batch['status']}, not running: there is nothing to pause")
        return {**batch, "status": batches.PAUSED, "paused_by": actor["id"]}


def resumed(workspace: Workspace, connection: Connection, batch_id: str, actor_id: str) -> CardRunRequest:
    """The run that finishes batch `batch_id` (paused, or stopped short) as `actor_id`, as it was asked."""
    batch = _run_over_cards(connection, batch_id)
    if batch["status"] == "complete":
        raise Refused(f"batch {batch_id} is complete: there is nothing to resume")
    workspace.process(batch["process"])  # a process no longer in the workspace: a usage error that names it
    overrides, sources = recorded_overrides(workspace.scripts, batch["options"])
    selection = CardSelection.described(json.loads(batch["selection"]))
    return CardRunRequest(
        batch["process"], actor_id, selection, batch["trigger"], batch["reason"],
        batch_id=batch_id, overrides=overrides, sources=sources,
    )  # fmt: skip


def _run_over_cards(connection: Connection, batch_id: str) -> Row:
    """The row of batch `batch_id`, a run over cards."""
    batch = queries.get_batch(connection, batch_id)
    if batch is None:
        raise UsageError(f"unknown batch {batch_id}: `cardflow batches` lists them")
    if batch["trigger"] is None:
        raise UsageError(
            f"batch {batch_id} created cards for users: it is not paused or resumed here; "
            f"`cardflow run {batch['process']} ... --batch-id {batch_id}` finishes it"
        )
    return batch
