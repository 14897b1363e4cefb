"""Operators: users, batch runs and plans, the queue, cards and batches; abort and retry."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from commands.shared import (
    action_command,
    bureau_connector,
    choose_users,
    connector_options,
    db_option,
    echo_json,
    json_option,
    json_text,
    open_reading,
    open_workspace,
    progress_bar,
    selection_options,
    set_option,
    store_at,
    workspace_option,
)


@click.group()
def users() -> None:
    """Users in the store: import them from CSV, JSON or YAML; list them."""


@users.command("import")
@click.argument("file", type=click.Path(path_type=Path))
@db_option
def users_import(file: Path, db: str | None) -> None:
    """Import users (id, name, email, state, roles, any other attribute); re-import updates them.

    CSV: a header row; roles separated by spaces or semicolons. JSON/YAML: a list of users
    (or a mapping with `users:`). The file is checked whole before anything is written.
    """
    from engine.store.queries import upsert_users
    from engine.store.users import read_users

    rows = read_users(file)
    engine = store_at(db)
    with engine.begin() as connection:
        upsert_users(connection, rows)
    click.echo(f"imported {len(rows)} user(s) from {file}")


@users.command("list")
@db_option
@json_option
def users_list(db: str | None, as_json: bool) -> None:
    """List the users of the store."""
    from engine.report.tables import table
    from engine.store.queries import iter_users

    with open_reading(db) as connection:
        rows = [user for chunk in iter_users(connection) for user in chunk]
    if as_json:
        echo_json(rows)
        return
    click.echo(
        table(["id", "name", "email", "state", "roles"], [[u["id"], u["name"], u["email"], u["state"], u["roles"]] for u in rows])
    )


@click.command()
@click.argument("name")
@selection_options
@click.option("--as", "actor", required=True, metavar="ID", help="The operator running the process.")
@click.option("--production-type", metavar="NAME", help="The production type of the batch (when selection is on).")
@click.option("--batch-id", metavar="ID", help="Name the batch; an existing id resumes (finishes) that batch.")
@click.option("--dry-run", is_flag=True, help="Do everything but write: the bureau is simulated, nothing is kept.")
@click.option("--strict", is_flag=True, help="Refuse the whole batch if any user would be skipped.")
@click.option("--workers", is_flag=True, help="Split the batch into chunk jobs for `cardflow worker` and wait (PostgreSQL).")
@click.option("--detach", is_flag=True, help="With --workers: return the batch id at once instead of waiting.")
@click.option(
    "--chunk-size", type=click.IntRange(min=1), default=2000, show_default=True, help="With --workers: users per chunk job."
)
@set_option
@workspace_option
@db_option
@connector_options
@json_option
def run(
    name: str,
    user_ids: tuple[str, ...],
    everyone: bool,
    where: str | None,
    actor: str,
    production_type: str | None,
    batch_id: str | None,
    dry_run: bool,
    strict: bool,
    workers: bool,
    detach: bool,
    chunk_size: int,
    sets: tuple[str, ...],
    workspace: str | None,
    db: str | None,
    connector: str | None,
    orders: str | None,
    as_json: bool,
) -> None:
    """Run a batch process by symbolic name for the selected users, as operator --as.

    Each selected user who meets the prerequisites gets one card, sent on its way as the
    options say; the others are reported as skipped with the prerequisite's message.
    With --workers the batch is split into chunk jobs that `cardflow worker` processes work
    (PostgreSQL); the command waits with a progress bar, or returns the batch id with --detach.
    """
    from engine.batch.request import RunRequest, count_selected
    from engine.batch.run import run_batch
    from engine.definitions.options import parse_sets
    from engine.outbound.bureau import Simulated
    from engine.report.tables import render_batch

    selection = choose_users(user_ids, everyone, where)
    found = open_workspace(workspace)
    request = RunRequest(name, actor, selection, parse_sets(sets, found.scripts), production_type, batch_id, dry_run, strict)
    engine = store_at(db)
    if workers or detach:
        _run_on_workers(found, engine, request, chunk_size, detach, as_json)
        return
    bureau = Simulated() if dry_run else bureau_connector(connector, orders)
    with progress_bar(count_selected(engine, selection)) as advance:
        result = run_batch(
            found,
            engine,
            request,
            bureau,
            keep_results=True if as_json else 101,  # a table is shown for up to 100 users; memory stays flat beyond
            progress=advance,
            started=lambda batch: click.echo(f"cardflow: batch {batch}", err=True),
        )
    if as_json:
        click.echo(json_text(result.as_json()))
    else:
        from engine.report.tables import render_plan

        click.echo(render_plan(result) if dry_run else render_batch(result))


def _run_on_workers(found: Any, engine: Any, request: Any, chunk: int, detach: bool, as_json: bool) -> None:
    """Split the batch into chunk jobs for the workers; wait for them unless `detach`."""
    from engine.batch.chunks import start_chunked, wait_for_batch
    from engine.work.jobs import defer_chunks
    from engine.work.queue import require_postgres

    require_postgres(engine)
    started = start_chunked(found, engine, request, chunk=chunk)
    defer_chunks(engine, started)
    if detach:
        summary = {"batch": started.batch, "status": "running", "chunks": len(started.pending)}
        click.echo(
            json_text(summary) if as_json else f"batch {started.batch}: {len(started.pending)} chunk(s) queued for workers"
        )
        return
    click.echo(f"cardflow: batch {started.batch} ({len(started.pending)} chunk(s) for `cardflow worker`)", err=True)
    with progress_bar(started.users) as advance:
        record = wait_for_batch(engine, started.batch, advance)
    summary = {key: record[key] for key in ("id", "process", "status", "created", "skipped")}
    summary = {"batch": summary.pop("id"), **summary}
    click.echo(json_text(summary) if as_json else " ".join(f"{key}: {value}" for key, value in summary.items()))
    if record["status"] != "complete":
        click.echo(
            f"cardflow: batch {started.batch} is {record['status']}; run it again with --batch-id {started.batch}", err=True
        )
        click.get_current_context().exit(1)


@click.command()
@click.argument("name")
@selection_options
@click.option("--as", "actor", metavar="ID", help="The operator who would run it (default: a planner with the operator role).")
@click.option("--production-type", metavar="NAME", help="The production type of the batch (when selection is on).")
@set_option
@workspace_option
@db_option
@json_option
def plan(
    name: str,
    user_ids: tuple[str, ...],
    everyone: bool,
    where: str | None,
    actor: str | None,
    production_type: str | None,
    sets: tuple[str, ...],
    workspace: str | None,
    db: str | None,
    as_json: bool,
) -> None:
    """What `run` would do to each user, writing nothing: card state, emails, bureau orders.

    The bureau is simulated (it accepts every order). Takes the same selection as `run`.
    """
    from engine.batch.request import PLANNER, RunRequest
    from engine.batch.run import run_batch
    from engine.definitions.options import parse_sets
    from engine.outbound.bureau import Simulated
    from engine.report.tables import render_plan

    selection = choose_users(user_ids, everyone, where)
    found = open_workspace(workspace)
    request = RunRequest(name, actor or PLANNER["id"], selection, parse_sets(sets, found.scripts), production_type, dry_run=True)
    result = run_batch(found, store_at(db), request, Simulated())
    if as_json:
        echo_json(
            {
                "process": result.process,
                "summary": dict(sorted(result.counts.items())),
                "results": [r.as_json() for r in result.results],
            }
        )
        return
    click.echo(render_plan(result))


@click.group()
def queue() -> None:
    """The queue of card orders waiting for the batch sync."""


@queue.command("run")
@click.option("--limit", type=click.IntRange(min=1), help="Order at most N cards.")
@set_option
@workspace_option
@db_option
@connector_options
@json_option
def queue_run(
    limit: int | None,
    sets: tuple[str, ...],
    workspace: str | None,
    db: str | None,
    connector: str | None,
    orders: str | None,
    as_json: bool,
) -> None:
    """The batch sync: order every queued card at the card bureau (refused ones become failed)."""
    from engine.batch.actions import sync_queue
    from engine.definitions.options import parse_sets
    from engine.report.tables import render_actions

    found = open_workspace(workspace)
    results = sync_queue(
        found, store_at(db), bureau_connector(connector, orders), limit=limit, overrides=parse_sets(sets, found.scripts)
    )
    click.echo(json_text([r.as_json() for r in results]) if as_json else render_actions(results))


@click.group()
def orders() -> None:
    """Card orders at the card bureau."""


@orders.command("sync")
@set_option
@workspace_option
@db_option
@connector_options
@json_option
def orders_sync(
    sets: tuple[str, ...], workspace: str | None, db: str | None, connector: str | None, orders: str | None, as_json: bool
) -> None:
    """Update card order: ask the bureau for the status of ordered cards and move each on
    (in production, produced, or failed with the bureau's reason). Cards the bureau could not
    be asked about stay for the next sync. With SQLite, run it from cron; workers run it on the
    workspace's schedule."""
    from engine.batch.status import sync_order_status
    from engine.definitions.options import parse_sets
    from engine.report.tables import render_actions

    found = open_workspace(workspace)
    results = sync_order_status(
        found, store_at(db), bureau_connector(connector, orders), overrides=parse_sets(sets, found.scripts)
    )
    click.echo(json_text([r.as_json() for r in results]) if as_json else render_actions(results))


@click.command()
@click.option("--user", metavar="ID", help="Only this user's cards.")
@click.option("--state", metavar="STATE", help="Only cards in this state.")
@click.option("--process", metavar="NAME", help="Only cards of this process.")
@click.option("--batch", metavar="ID", help="Only cards of this batch.")
@db_option
@json_option
def cards(user: str | None, state: str | None, process: str | None, batch: str | None, db: str | None, as_json: bool) -> None:
    """List cards, oldest first."""
    from engine.report.tables import card_row, table
    from engine.store.queries import find_cards

    with open_reading(db) as connection:
        rows = [card_row(c) for c in find_cards(connection, user=user, state=state, process=process, batch=batch)]
    if as_json:
        echo_json(rows)
        return
    columns = ["id", "user", "process", "state", "production_type", "batch", "updated_at"]
    click.echo(table(columns, [[r[c] for c in columns] for r in rows]))


@click.command()
@db_option
@json_option
def batches(db: str | None, as_json: bool) -> None:
    """List the batches run so far, with their status (running = incomplete, resume with --batch-id).

    For a batch worked by workers (`run --workers`), `progress` is the users of its chunks done
    out of all its users (--json: {"done": N, "users": M}; null for a batch run by `run` alone);
    the status becomes `complete` when the last chunk is done."""
    from engine.report.tables import table
    from engine.store.chunks import progress
    from engine.store.queries import list_batches

    with open_reading(db) as connection:
        done = progress(connection)
        rows = [
            {
                **{k: b[k] for k in ("id", "process", "actor", "status", "created", "skipped", "created_at")},
                "progress": dict(zip(("done", "users"), done[b["id"]], strict=True)) if b["id"] in done else None,
            }
            for b in list_batches(connection)
        ]
    if as_json:
        echo_json(rows)
        return
    shown = [{**r, "progress": "{done}/{users}".format(**r["progress"]) if r["progress"] else None} for r in rows]
    click.echo(table(list(shown[0]) if shown else ["id"], [list(r.values()) for r in shown]))


abort = action_command("abort", "Abort cards: a queued order (operator), or your own open request (requester).")
retry = action_command("retry", "Order failed cards at the bureau again (operator role).")


COMMANDS: list[click.Command] = [users, run, plan, queue, orders, cards, batches, abort, retry]
