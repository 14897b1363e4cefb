"""Workers (PostgreSQL): `cardflow worker` works the chunks of batches and the workspace's scheduled jobs."""

from __future__ import annotations

import click

from commands.shared import bureau_connector, connector_options, db_option, open_workspace, store_at, workspace_option


@click.command()
@click.option("--concurrency", type=click.IntRange(min=1), default=1, show_default=True, help="Jobs worked at once.")
@click.option(
    "--stalled-after",
    type=click.FloatRange(min=1),
    default=30.0,
    show_default=True,
    metavar="SECONDS",
    help="A worker silent this long is taken for dead; its jobs are worked again.",
)
@click.option(
    "--give-up-after",
    type=click.FloatRange(min=1),
    default=300.0,
    show_default=True,
    metavar="SECONDS",
    help="A store lost this long (the worker reconnects meanwhile) ends the worker with exit 1, for a supervisor to restart it.",
)
@click.option("--name", metavar="NAME", help="The worker's name in procrastinate's tables (default: cardflow).")
@click.option(
    "--to-dir",
    envvar="CARDFLOW_MAIL_DIR",
    metavar="/DIR",
    help="The scheduled outbox delivery writes .eml files to this absolute folder instead of SMTP "
    "(needed without CARDFLOW_SMTP_HOST).",
)
@workspace_option
@db_option
@connector_options
def worker(
    concurrency: int,
    stalled_after: float,
    give_up_after: float,
    name: str | None,
    to_dir: str | None,
    workspace: str | None,
    db: str | None,
    connector: str | None,
    orders: str | None,
) -> None:
    """Work batch chunks (`run --workers`) and the scheduled jobs of the workspace (PostgreSQL only).

    Any number of workers, on any number of machines, may share a store; every worker needs the
    same workspace. The scheduled jobs (batch sync, outbox delivery, order-status sync) run on the
    cron expressions of the workspace's schedule.yaml, at most one of each at a time across all
    workers. SIGTERM (or Ctrl-C) stops the worker once its current jobs are done (the outbox
    delivery stops between two emails); a worker that is killed loses nothing: its jobs are worked
    again by another worker. A worker that loses the store (PostgreSQL restarted) reconnects and
    carries on; after --give-up-after seconds without it, it exits 1 for a supervisor to restart
    it. With SQLite there are no workers: run `queue run`, `outbox send` and `orders sync` from cron.

    Every folder a worker writes to is absolute, the same wherever it is started: the drop folder
    (--orders or CARDFLOW_ORDERS, with the drop-folder connector) and, for the scheduled outbox
    delivery without SMTP, the .eml folder (--to-dir or CARDFLOW_MAIL_DIR); a relative one is exit 2.
    """
    from engine.work.jobs import Runtime, require_absolute_folders
    from engine.work.queue import require_postgres
    from engine.work.worker import run_worker

    engine = store_at(db)
    require_postgres(engine)
    _log_to_stderr()
    found = open_workspace(workspace)
    runtime = Runtime(found, engine, bureau_connector(connector, orders, found), mail_dir=to_dir)
    schedules = found.schedules
    require_absolute_folders(runtime, schedules)
    shown = ", ".join(f"{job} '{cron}'" for job, cron in schedules.items()) or "none"
    click.echo(f"cardflow: worker started (concurrency {concurrency}; scheduled jobs: {shown})", err=True)
    run_worker(runtime, schedules, concurrency=concurrency, stalled_after=stalled_after, name=name, give_up_after=give_up_after)
    click.echo("cardflow: worker stopped", err=True)


def _log_to_stderr() -> None:
    """What the queue reports of warnings and failed jobs goes to stderr, one line each (the traceback
    only with CARDFLOW_DEBUG)."""
    import logging
    import os

    class _OneLine(logging.Formatter):
        def format(self, record: logging.LogRecord) -> str:
            if not os.environ.get("CARDFLOW_DEBUG"):
                record.exc_info, record.exc_text = None, None
            return super().format(record)

    handler = logging.StreamHandler()
    handler.setFormatter(_OneLine("cardflow worker: %(message)s"))
    for name in ("procrastinate", "psycopg", "asyncio"):  # the queue, its connection pool, its event loop
        queue_log = logging.getLogger(name)
        queue_log.setLevel(logging.WARNING)
        queue_log.addHandler(handler)
    logging.getLogger("engine").addHandler(handler)


COMMANDS: list[click.Command] = [worker]
