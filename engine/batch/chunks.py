"""A batch worked by several workers: split into chunks (key ranges of users) when it starts, each
chunk worked by one job in one transaction, the batch finished by whichever chunk is done last, in
that chunk's transaction.

A chunk is done once: its row is locked while it is worked and marked done in the transaction of
its cards, and the users it covers are worked with the batch runtime's resume logic, so a job run
twice (a killed worker's job is retried) gives nobody a second card or email.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from math import ceil
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import IntegrityError

from engine.batch.calls import outbox_of
from engine.batch.collector import collector_spared
from engine.batch.prepared import Batch, prepare, refuse_if_any_skipped, selected_users
from engine.batch.request import RunRequest, Selection, check_resumable
from engine.batch.results import BatchResult
from engine.batch.run import BATCH_CHUNK, _finish_calls, _run_chunk
from engine.batch.settled_calls import SettledOrders
from engine.definitions.model import Workspace
from engine.definitions.sandbox import render_session
from engine.errors import UsageError
from engine.outbound.bureau import Connector
from engine.store import batches, chunks, db, gauges, listing, queries
from engine.store.queries import Row


@dataclass(frozen=True)
class Started:
    """A batch split into chunks: its id, the numbers of the chunks still to work, the users in all of them."""

    batch: str
    pending: list[int]
    request: Row
    users: int = 0


def request_as_json(request: RunRequest) -> Row:
    """A run request as a job carries it (JSON)."""
    return {
        "process": request.process,
        "actor": request.actor,
        "selection": request.selection.describe(),
        "overrides": dict(request.overrides),
        "sources": dict(request.sources),
        "production_type": request.production_type,
        "batch_id": request.batch_id,
    }


def request_from_json(data: Row) -> RunRequest:
    """The run request a job carries."""
    selection = data["selection"]
    return RunRequest(
        data["process"],
        data["actor"],
        Selection(tuple(selection["users"]), selection["all"], selection["where"]),
        data["overrides"],
        data["production_type"],
        data["batch_id"],
        sources=data["sources"],
    )


#: Without a chunk size, a batch is cut into this many chunks for each live worker, of BATCH_CHUNK to
#: MAX_CHUNK users: a job costs the queue a few milliseconds whatever its size, so fewer and larger jobs
#: pay off, while each worker still has work until the end (the last chunks smaller: `tapered`).
CHUNKS_A_WORKER = 8
MAX_CHUNK = 10_000
#: A worker is live while its last heartbeat is this recent (seconds).
LIVE_WITHIN = 60.0


def start_chunked(workspace: Workspace, engine: Engine, request: RunRequest, *, chunk: int | None = None) -> Started:
    """Record the batch and its chunks (once; an existing batch id is resumed): nothing is worked here.
    `chunk`: users a chunk, else as many as `chunk_for` gives for the workers live now."""
    if request.dry_run:
        raise UsageError("--dry-run and --workers do not go together: a plan is worked out here, not by workers")
    with engine.begin() as connection:
        batch = prepare(workspace, connection, request)
        batch_id = batch.record["id"]
        existing = queries.get_batch(connection, batch_id)
        if existing is not None:
            _resume_checked(existing, batch)
        if request.strict:
            refuse_if_any_skipped(connection, batch, chunk or BATCH_CHUNK)
        if existing is None:
            batches.add_batch(connection, batch.record)
        known = chunks.chunks_of(connection, batch_id)
        if not known:
            chunks.add_chunks(connection, batch_id, list(_ranges(engine, batch, chunk)))
        elif existing is not None and existing["status"] != "running":
            chunks.reopen_deferred(connection, batch_id)
            batches.reopen_batch(connection, batch_id)
        every = chunks.chunks_of(connection, batch_id)
    with engine.begin() as connection:
        chunks.finish_batch_if_done(connection, batch_id)  # nothing to work: complete at once
    pending = [c["number"] for c in every if c["status"] == chunks.PENDING]
    return Started(batch_id, pending, request_as_json(_named(request, batch_id)), sum(c["users"] for c in every))


def _named(request: RunRequest, batch_id: str) -> RunRequest:
    return replace(request, batch_id=batch_id)


def _ranges(engine: Engine, batch: Batch, chunk: int | None) -> Iterator[tuple[str, str, int]]:
    """The chunks of the selection: (first user id, last user id, users), in id order, no overlap; of
    `chunk` users, else as the workers live now want them (`chunk_for`, smaller towards the end)."""
    page = BATCH_CHUNK if chunk is None else ceil(chunk / ceil(chunk / BATCH_CHUNK))  # a whole number of pages a chunk
    pages = list(_pages(engine, batch, page))
    if chunk is not None:
        yield from merged(pages, chunk)
        return
    live = _live_workers(engine)
    yield from tapered(pages, _chunk_size(sum(users for _, _, users in pages), live), live)


def _pages(engine: Engine, batch: Batch, page: int) -> Iterator[tuple[str, str, int]]:
    """The selection in ranges of at most `page` users: (first user id, last user id, users)."""
    listed = batch.request.selection.users
    if listed:
        ids = sorted(set(listed))
        for start in range(0, len(ids), page):
            part = ids[start : start + page]
            yield part[0], part[-1], len(part)
        return
    if batch.where is None:  # every user: the ranges from the ids alone, no user read
        with db.reading(engine) as connection:
            yield from chunks.user_ranges(connection, page)
        return
    yield from ((users[0]["id"], users[-1]["id"], len(users)) for users in selected_users(engine, batch, page))


def chunk_for(engine: Engine, users: int) -> int:
    """The users a chunk when none is asked for: CHUNKS_A_WORKER chunks for each live worker, of
    BATCH_CHUNK to MAX_CHUNK users (BATCH_CHUNK while no worker is live: any may come)."""
    return _chunk_size(users, _live_workers(engine))


def _chunk_size(users: int, live: int) -> int:
    return BATCH_CHUNK if not live else max(BATCH_CHUNK, min(MAX_CHUNK, ceil(users / (live * CHUNKS_A_WORKER))))


def _live_workers(engine: Engine) -> int:
    with db.reading(engine) as connection:
        return gauges.live_workers(connection, LIVE_WITHIN)


def tapered(ranges: Iterable[tuple[str, str, int]], chunk: int, workers: int) -> Iterator[tuple[str, str, int]]:
    """Consecutive ranges of users (first, last, users) joined into chunks of at least `chunk` users
    (the last one fewer), for several workers smaller towards the end: a chunk needs no more than half
    of each worker's share of the users left (a range at least), so the workers run out of work
    together instead of one waiting for another's last large chunk (100,000 users for two workers,
    pages of 2,000: ten chunks of 8,000, then 6,000, 4,000, 4,000 and three of 2,000). One worker has
    nobody to wait for: its chunks stay whole (`merged`)."""
    ranges = list(ranges)
    left = sum(count for _, _, count in ranges)
    first, last, users = None, "", 0
    for start, end, count in ranges:
        first, last, users = first if first is not None else start, end, users + count
        if users >= (min(chunk, left / (2 * workers)) if workers > 1 else chunk):
            yield first, last, users
            left -= users
            first, users = None, 0
    if first is not None:
        yield first, last, users


def merged(ranges: Iterable[tuple[str, str, int]], chunk: int) -> Iterator[tuple[str, str, int]]:
    """Consecutive ranges of users (first, last, users) joined into chunks of at least `chunk` users
    (the last one fewer): a range of the index is cut a page at a time, as a planner walks a page of
    the index where it might sort the whole table for a larger one."""
    return tapered(ranges, chunk, 1)


class Prepared:
    """The batches a worker has prepared, each for the release it runs: a batch is prepared (its
    process compiled, its actor, selection and record checked against the store) for the first of
    its chunks a worker works, as a plain run prepares it once; its later chunks start from a copy
    (`Batch.again`) of the batch that worked the first, with what it worked out on the way (the
    prerequisites' checks). The last KEEP batches are kept."""

    KEEP = 8

    def __init__(self) -> None:
        self._batches: OrderedDict[tuple[str, str, str], Batch] = OrderedDict()

    def get(self, workspace: Workspace, request: RunRequest) -> Batch | None:
        found = self._batches.get(_key(workspace, request))
        return None if found is None else found.again()

    def keep(self, workspace: Workspace, request: RunRequest, batch: Batch) -> None:
        self._batches[_key(workspace, request)] = batch
        while len(self._batches) > self.KEEP:
            self._batches.popitem(last=False)


def _key(workspace: Workspace, request: RunRequest) -> tuple[str, str, str]:
    return str(workspace.root), workspace.fingerprint, json.dumps(request_as_json(request), sort_keys=True, default=str)


def run_chunk(
    workspace: Workspace, engine: Engine, connector: Connector, request: RunRequest, number: int, prepared: Prepared | None = None
) -> str:
    """Work chunk `number` of a started batch, once; returns what happened ("done", "already done").
    With `prepared`, a batch prepared for an earlier chunk is not prepared again."""
    batch = prepared.get(workspace, request) if prepared is not None else None
    if batch is None:
        with db.reading(engine) as connection:
            batch = prepare(workspace, connection, request)
            existing = queries.get_batch(connection, batch.record["id"])
            known = chunks.chunk_of(connection, batch.record["id"], number)  # this chunk's row alone: a batch may have thousands
        if existing is None or known is None:
            raise UsageError(f"batch {request.batch_id} has no chunk {number}")
        _resume_checked(existing, batch)
        if prepared is not None:
            prepared.keep(workspace, request, batch)
        if known["status"] == chunks.DONE:
            return "already done"
    batch.resumed = True
    with collector_spared(), render_session():
        return _work_with_retry(engine, batch, connector, number)


def _work_with_retry(engine: Engine, batch: Batch, connector: Connector, number: int) -> str:
    """The chunk in one transaction, worked out again if the store refused a second open card; then
    the calls it made, sent once it committed (engine.batch.calls), and the chunk's done mark."""
    outbox = outbox_of(connector)
    for attempt in range(3):
        try:
            with engine.begin() as connection:
                worked = _work(connection, batch, outbox, number)
        except IntegrityError:
            outbox.take()
            if attempt == 2:
                raise
            continue
        if isinstance(worked, str):
            return worked
        users, result, made = worked
        _finish_calls(engine, batch, outbox, users, result, False, made)
        with engine.begin() as connection:
            claimed = chunks.claim_chunk(connection, batch.record["id"], number)
            if claimed is None or claimed["status"] == chunks.DONE:
                return "already done"
            chunks.finish_chunk(connection, batch.record["id"], number, _counts(result))
            chunks.finish_batch_if_done(connection, batch.record["id"])
        return "done"
    raise AssertionError("unreachable")


def _work(
    connection: Connection, batch: Batch, connector: Connector, number: int
) -> str | tuple[list[Row], BatchResult, SettledOrders | None]:
    """Work the chunk and mark it done; or, where its cards made calls, its users, results so far and
    new cards written settled (the mark waits for the calls' answers)."""
    batch_id = batch.record["id"]
    claimed = chunks.claim_chunk(connection, batch_id, number)
    if claimed is None:
        raise UsageError(f"batch {batch_id} has no chunk {number}")
    if claimed["status"] == chunks.DONE:
        return "already done"
    users = _users_of(connection, batch, claimed)
    result = BatchResult(batch_id, batch.process.symbolic_name)
    made = _run_chunk(connection, batch, connector, users, result, False, resumed=True)  # card ids: the store's sequence
    if result.waiting:
        return users, result, made
    chunks.finish_chunk(connection, batch_id, number, _counts(result))
    chunks.finish_batch_if_done(connection, batch_id)  # the batch's last chunk finishes it, in its transaction
    return "done"


def _users_of(connection: Connection, batch: Batch, chunk: Row) -> list[Row]:
    """The selected users in the chunk's key range, in id order."""
    users = chunks.users_between(connection, chunk["first_user"], chunk["last_user"])
    selection = batch.request.selection
    if selection.users:
        wanted = set(selection.users)
        return [user for user in users if user["id"] in wanted]
    where = batch.where
    return [user for user in users if where is None or where.truth({"user": user})[0] is True]


def _counts(result: BatchResult) -> dict[str, Any]:
    skipped = result.counts["skipped"]
    return {"created": result.total - skipped, "skipped": skipped, "deferred": result.counts["deferred"]}


def batch_progress(engine: Engine, batch_id: str) -> tuple[str, int, int]:
    """A batch's status, and the users of its chunks done and in all of them."""
    with db.reading(engine) as connection:
        record = queries.get_batch(connection, batch_id)
        done, total = listing.progress(connection, batch_id).get(batch_id, (0, 0))
    if record is None:
        raise UsageError(f"unknown batch {batch_id}")
    return record["status"], done, total


def wait_for_batch(
    engine: Engine,
    batch_id: str,
    progress: Callable[[int], None] | None = None,
    poll: float = 0.5,
    gave_up: Callable[[], int] | None = None,
) -> Row:
    """Wait until the workers have done every chunk of the batch, woken as each chunk is done; tell
    `progress` the users done as they are done (those done already first); return the batch's
    record. `gave_up` says how many of its chunk jobs failed for good once none is left to run: then
    the wait ends, the record's `failed_jobs` saying how many."""
    seen = 0
    with chunks.done_notices(engine) as wait:  # listening before the first look: no notice is missed
        while True:
            status, done, _total = batch_progress(engine, batch_id)
            if progress and done > seen:
                progress(done - seen)
            seen = max(seen, done)
            failed = gave_up() if gave_up and status == "running" else 0
            if status != "running" or failed:
                with db.reading(engine) as connection:
                    record = queries.get_batch(connection, batch_id)
                assert record is not None
                return {**record, "failed_jobs": failed}
            wait(poll)  # a chunk done (any batch's) ends it early; `poll` is the longest, for jobs that failed


def _resume_checked(existing: Row, batch: Batch) -> None:
    """A started batch is worked on as it was started (process, definitions, options, users)."""
    check_resumable(existing, batch.process.symbolic_name, batch.compiled.fingerprint, batch.request.selection)
    batch.record.update(production_type=existing["production_type"], created_at=existing["created_at"])
