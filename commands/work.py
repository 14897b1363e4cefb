"""Workers (PostgreSQL): `cardflow worker` works the chunks of batches and the workspace's scheduled jobs."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from commands.shared import (
    bureau_connector,
    connector_options,
    db_option,
    log_format_option,
    open_workspace,
    store_at,
    workspace_option,
)

if TYPE_CHECKING:
    from sqlalchemy import Engine


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
@click.option(
    "--metrics-port",
    type=click.IntRange(1, 65535),
    metavar="PORT",
    help="Serve Prometheus metrics at http://HOST:PORT/metrics (this worker's jobs and transitions; "
    "the store's cards, emails, timers and queue).",
)
@click.option(
    "--metrics-host", default="127.0.0.1", show_default=True, metavar="HOST", help="The address --metrics-port listens on."
)
@log_format_option
@workspace_option
@db_option
@connector_options
def worker(
    concurrency: int,
    stalled_after: float,
    give_up_after: float,
    name: str | None,
    to_dir: str | None,
    metrics_port: int | None,
    metrics_host: str,
    log_format: str,
    workspace: str | None,
    db: str | None,
    connector: str | None,
    orders: str | None,
) -> None:
    """Work batch chunks (`run --workers`) and the scheduled jobs of the workspace (PostgreSQL only).

    Any number of workers, on any number of machines, may share a store; each runs the store's
    live release (`cardflow publish`), looked at again between jobs, and works a batch's chunks
    under the release the batch started with (a release that changes schedule.yaml reschedules the jobs
    when the workers restart); given --workspace, it runs that folder instead (then every worker
    needs the same files). The scheduled jobs (batch sync, outbox delivery, order-status sync) run on the
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
    from engine.releases.live import Following
    from engine.report.logs import log_to_stderr, say
    from engine.work.jobs import Runtime, require_absolute_folders
    from engine.work.queue import require_postgres
    from engine.work.worker import run_worker

    engine = store_at(db)
    require_postgres(engine)
    queue = ["procrastinate", "psycopg", "asyncio"]  # the queue, its connection pool, its event loop
    log_to_stderr(log_format, "cardflow worker: ", ["engine", *queue], work=["engine", "procrastinate.worker"])
    found = open_workspace(workspace, store=db)
    following = None if workspace else Following(engine, found)
    runtime = Runtime(found, engine, bureau_connector(connector, orders, found), mail_dir=to_dir, following=following)
    schedules = found.schedules
    require_absolute_folders(runtime, schedules)
    if metrics_port is not None:
        _serve_metrics(engine, metrics_host, metrics_port, log_format)
    shown = ", ".join(f"{job} '{cron}'" for job, cron in schedules.items()) or "none"
    say(log_format, f"worker started (concurrency {concurrency}; scheduled jobs: {shown})")
    run_worker(runtime, schedules, concurrency=concurrency, stalled_after=stalled_after, name=name, give_up_after=give_up_after)
    say(log_format, "worker stopped")


def _serve_metrics(engine: Engine, host: str, port: int, log_format: str) -> None:
    from engine.errors import UsageError
    from engine.report.logs import say
    from engine.report.metrics import serve_metrics

    try:
        serve_metrics(engine, port, host)
    except OSError as error:
        said = f"--metrics-port {port}: cannot listen on {host}:{port} ({error.strerror})"
        raise UsageError(f"{said}; choose another port") from None
    say(log_format, f"metrics at http://{host}:{port}/metrics")


COMMANDS: list[click.Command] = [worker]
