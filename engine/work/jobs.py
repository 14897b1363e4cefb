"""cardflow's jobs on procrastinate, and the worker that runs them.

- `cardflow.chunk`: one chunk of a batch started with `cardflow run --workers`, of users or, for
  a process that acts on existing cards, of cards (idempotent: see `engine.batch.chunks` and
  `engine.batch.card_chunks`).
- the scheduled jobs of the workspace (`schedule.yaml`): `batch-sync` (order queued cards),
  `outbox-send` (deliver pending emails), `orders-sync` (the order status of ordered cards), or
  a process the system runs, by its symbolic name (its triggers alone, as those syncs fire them),
  each a procrastinate periodic task with a lock and a queueing lock of its own, so at most one
  runs, and at most one waits, across all workers.
- `cardflow.retry-stalled`: every few seconds, the jobs of a worker that stopped beating (killed)
  go back to the queue; the job itself is idempotent, so the retry finishes what was lost. A job
  whose twin already waits in the queue (the next run of a scheduled job) is given up (failed)
  instead: the twin does the same work, and the lock the lost job held no longer blocks it.
- `cardflow.remove-old-jobs`: hourly, the jobs that succeeded more than a week ago are removed
  (the queue would otherwise keep a row for every scheduled run).

Jobs run in the worker's threads (`--concurrency N`), each with its own connections to the store;
`engine.work.worker` runs the worker.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine

from engine.batch.card_chunks import OVER_CARDS, card_request_from_json, run_card_chunk
from engine.batch.chunks import Prepared, Started, request_from_json, run_chunk
from engine.definitions.model import Workspace
from engine.errors import UsageError
from engine.outbound.bureau import Connector, DropFolder
from engine.releases.live import Following
from engine.store import queries, tally, task_queue
from engine.work.queue import conninfo, install_schema, require_postgres

CHUNK_TASK = "cardflow.chunk"
STALLED_TASK = "cardflow.retry-stalled"
#: How often the workers look for jobs of a worker that stopped beating (cron, seconds last).
STALLED_CHECK = "* * * * * */5"
CLEANUP_TASK = "cardflow.remove-old-jobs"
#: Finished jobs (and their events) are kept this long, then removed once an hour; failed ones stay.
KEEP_FINISHED_HOURS = 7 * 24

#: How long the queue waits for a connection of its pool, in seconds (a lost store is noticed this soon).
POOL_TIMEOUT = 10.0

log = logging.getLogger(__name__)

Job = Callable[["Runtime"], Any]


#: The batches whose release a worker remembers (the last ones it worked chunks of).
KEPT_RELEASES = 64


@dataclass
class Runtime:
    """What jobs work with: the workspace, the store and the card bureau, the folder emails are
    written to as .eml files (`mail_dir`; None: SMTP from CARDFLOW_SMTP_*, else mail/), whether
    the worker was asked to stop (`stopping`: a long job ends early, its rest left to the next run),
    and, for a worker that runs the store's live release, the releases it follows (`following`)."""

    workspace: Workspace
    engine: Engine
    bureau: Connector
    scheduled: Mapping[str, Job] = field(default_factory=lambda: SCHEDULED)
    mail_dir: str | None = None
    stopping: threading.Event = field(default_factory=threading.Event)
    following: Following | None = None
    #: the batches this worker has prepared for a chunk (engine.batch.chunks.Prepared), and the release each runs
    prepared: Prepared = field(default_factory=Prepared)
    releases: OrderedDict[str, str] = field(default_factory=OrderedDict)

    def follow(self) -> Workspace:
        """The workspace of the next job: the store's live release now, when the worker follows it."""
        if self.following is not None:
            self.workspace = self.following.current()
        return self.workspace

    def of_batch(self, batch_id: str) -> Workspace:
        """The workspace a chunk of batch `batch_id` runs: the release the batch started with."""
        if self.following is None:
            return self.workspace
        fingerprint = self.releases.get(batch_id)
        if fingerprint is None:  # a batch's release never changes: read once
            with self.engine.connect() as connection:
                batch = queries.get_batch(connection, batch_id)
            if batch is None:
                return self.follow()
            fingerprint = self.releases[batch_id] = batch["fingerprint"]
            while len(self.releases) > KEPT_RELEASES:  # jobs of a worker may run side by side: one pop each
                self.releases.popitem(last=False)
        return self.following.of_batch(fingerprint)


def require_absolute_folders(runtime: Runtime, schedules: Mapping[str, str]) -> None:
    """Every folder a worker writes to (the drop folder; the .eml folder when it delivers emails
    without SMTP) is an absolute path, so the files land in the same place whatever folder, on
    whatever machine, the worker was started in; a relative one is a usage error."""
    from engine.outbound.delivery import Folder, transport_for

    if isinstance(runtime.bureau, DropFolder) and not runtime.bureau.folder.is_absolute():
        raise UsageError(
            f"a worker writes orders only to an absolute folder, the same wherever it is started: "
            f"'{runtime.bureau.folder}' is relative; give --orders /PATH (or CARDFLOW_ORDERS=/PATH)"
        )
    mail = transport_for(runtime.mail_dir) if OUTBOX_SEND in schedules else None
    if isinstance(mail, Folder) and not mail.folder.is_absolute():
        raise UsageError(
            f"a worker writes emails (.eml files, without SMTP) only to an absolute folder, the same wherever it is "
            f"started: '{mail.folder}' is relative; give --to-dir /PATH (or CARDFLOW_MAIL_DIR=/PATH), or CARDFLOW_SMTP_HOST"
        )


def open_queue(engine: Engine) -> Any:
    """procrastinate's app on the store's database, its tables created if missing (PostgreSQL only)."""
    require_postgres(engine)
    install_schema(engine)
    import procrastinate

    return procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=conninfo(engine), timeout=POOL_TIMEOUT))


def failed_chunks(engine: Engine, batch_id: str) -> int:
    """How many chunk jobs of the batch failed for good (their retries spent), once none of them is
    left to run; 0 while any waits or runs."""
    waiting, failed = task_queue.jobs_of_batch(engine, CHUNK_TASK, batch_id)
    return 0 if waiting else failed


def defer_chunks(engine: Engine, started: Started) -> int:
    """Put a job on the store's queue for every pending chunk of a started batch; returns how many were new."""
    app = open_queue(engine)
    with app.open():
        return defer_chunks_on(app, started)


def defer_chunks_on(app: Any, started: Started) -> int:
    """Put a job on `app`'s (open) queue for every pending chunk of a started batch; returns how many were new.

    Each job has a queueing lock of its own, so deferring the same batch again (a resumed batch)
    adds no second job for a chunk still waiting. The jobs of a batch started afresh go in one
    statement; where one of them waits already, they are deferred one at a time."""
    from procrastinate.exceptions import AlreadyEnqueued

    def deferrer(number: int) -> Any:
        return app.configure_task(CHUNK_TASK, queueing_lock=f"{started.batch}:{number}")

    jobs = [deferrer(n).make_new_job(batch=started.batch, number=n, request=started.request) for n in started.pending]
    if not jobs:
        return 0
    try:
        app.job_manager.batch_defer_jobs(jobs)
        return len(jobs)
    except AlreadyEnqueued:
        pass
    added = 0
    for number in started.pending:
        try:
            deferrer(number).defer(batch=started.batch, number=number, request=started.request)
        except AlreadyEnqueued:
            continue
        added += 1
    return added


def build_app(runtime: Runtime, schedules: Mapping[str, str], *, stalled_after: float) -> Any:
    """The app a worker runs on the store's queue; see `register_jobs`."""
    return register_jobs(open_queue(runtime.engine), runtime, schedules, stalled_after=stalled_after)


def register_jobs(app: Any, runtime: Runtime, schedules: Mapping[str, str], *, stalled_after: float) -> Any:
    """Give `app` the jobs: the chunk job, the scheduled jobs on their cron expressions, the stalled-job retry."""

    def chunk(batch: str, number: int, request: dict[str, Any]) -> str:
        with tally.job(CHUNK_TASK):
            done = work_chunk(runtime, request, number, runtime.of_batch(batch))
        log.info("batch %s, chunk %s: %s", batch, number, done, extra={"batch": batch})
        return done

    app.task(name=CHUNK_TASK, retry=3)(chunk)
    for name, cron in schedules.items():
        _schedule(app, runtime, name, cron)

    async def retry_stalled(timestamp: int) -> None:
        for job in await app.job_manager.get_stalled_jobs(seconds_since_heartbeat=stalled_after):
            await _retry_or_give_up(app, job)

    task = app.task(name=STALLED_TASK, queueing_lock=STALLED_TASK)(retry_stalled)
    app.periodic(cron=STALLED_CHECK, periodic_id="stalled")(task)

    async def remove_old_jobs(timestamp: int) -> None:
        await app.job_manager.delete_old_jobs(nb_hours=KEEP_FINISHED_HOURS)

    cleanup = app.task(name=CLEANUP_TASK, queueing_lock=CLEANUP_TASK)(remove_old_jobs)
    app.periodic(cron="7 * * * *", periodic_id="cleanup")(cleanup)
    return app


def work_chunk(runtime: Runtime, request: dict[str, Any], number: int, workspace: Workspace | None = None) -> str:
    """Work one chunk of a batch: of users, or of cards for a run over cards (its request says which),
    under `workspace` (the release the batch started with), else the runtime's."""
    found = workspace or runtime.workspace
    if request.get("over") == OVER_CARDS:
        return run_card_chunk(found, runtime.engine, runtime.bureau, card_request_from_json(request), number)
    return run_chunk(found, runtime.engine, runtime.bureau, request_from_json(request), number, runtime.prepared)


async def _retry_or_give_up(app: Any, job: Any) -> None:
    """Put the job of a stopped worker back on the queue; if the same job already waits there (its
    queueing lock: the next run of a scheduled job, a chunk deferred again), give this one up as
    failed instead, so the waiting one, which does the same work, goes ahead."""
    from procrastinate.exceptions import UniqueViolation
    from procrastinate.jobs import Status
    from procrastinate.manager import QUEUEING_LOCK_CONSTRAINT

    try:
        await app.job_manager.retry_job(job)
    except UniqueViolation as twin:
        if twin.constraint_name != QUEUEING_LOCK_CONSTRAINT:
            raise
        log.warning("job %s of a stopped worker given up: the same job (%s) already waits", job.id, job.queueing_lock)
        await app.job_manager.finish_job(job, status=Status.FAILED, delete_job=False)
        return
    log.warning("retrying job %s of a stopped worker", job.id)


def _schedule(app: Any, runtime: Runtime, name: str, cron: str) -> None:
    job = scheduled_job(runtime, name)

    def scheduled(timestamp: int) -> None:
        with tally.job(f"cardflow.{name}"):
            runtime.follow()
            job(runtime)

    task = app.task(name=f"cardflow.{name}", lock=f"cardflow.{name}", queueing_lock=f"cardflow.{name}")(scheduled)
    app.periodic(cron=cron, periodic_id=name)(task)


def batch_sync(runtime: Runtime) -> None:
    """The scheduled batch sync: order every queued card at the bureau."""
    from engine.batch.queue import sync_queue

    sync_queue(runtime.workspace, runtime.engine, runtime.bureau)


def outbox_send(runtime: Runtime) -> None:
    """Scheduled outbox delivery: every pending email that is due (.eml files in --to-dir, else SMTP from CARDFLOW_SMTP_*)."""
    from engine.outbound.delivery import send_outbox, transport_for

    send_outbox(runtime.engine, transport_for(runtime.mail_dir), stop=runtime.stopping.is_set)


def orders_sync(runtime: Runtime) -> None:
    """The scheduled order-status sync: move ordered cards on as the bureau reports their orders."""
    from engine.batch.status import sync_order_status

    sync_order_status(runtime.workspace, runtime.engine, runtime.bureau)


def calls_send(runtime: Runtime) -> None:
    """The scheduled sending of pending calls: those due again after no answer, or left by a crash."""
    from engine.batch.calls_due import send_due

    send_due(runtime.workspace, runtime.engine, runtime.bureau)


def timers_run(runtime: Runtime) -> None:
    """The scheduled firing of the timers that are due, each once (workers side by side skip the one
    another holds)."""
    from engine.batch.timers_due import fire_due

    fire_due(runtime.workspace, runtime.engine, runtime.bureau)


def scheduled_job(runtime: Runtime, name: str) -> Job:
    """The job a schedule names: a command (`runtime.scheduled`), else a process the system runs
    (the workspace checked the name), whose triggers it fires as the syncs would, for it alone."""
    return runtime.scheduled.get(name) or _system_process(name)


def _system_process(name: str) -> Job:
    def run(runtime: Runtime) -> None:
        from engine.batch.queue import sync_queue
        from engine.batch.status import sync_order_status

        sync_queue(runtime.workspace, runtime.engine, runtime.bureau, only=name)
        sync_order_status(runtime.workspace, runtime.engine, runtime.bureau, only=name)

    return run


#: The scheduled job that delivers emails (the one that may write .eml files).
OUTBOX_SEND = "outbox-send"
SCHEDULED: dict[str, Job] = {
    "batch-sync": batch_sync,
    OUTBOX_SEND: outbox_send,
    "orders-sync": orders_sync,
    "calls-send": calls_send,
    "timers-run": timers_run,
}
