"""Operators: users, batch runs and plans, the queue, cards and batches; abort and retry."""

from __future__ import annotations

import sys
from pathlib import Path

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
    """Users in the store: import them from CSV, JSON or YAML; list them; console passwords and API tokens."""


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


@users.command("password")
@click.argument("user_id", metavar="ID")
@click.option("--stdin", "from_stdin", is_flag=True, help="Read the password from the first line of standard input.")
@db_option
def users_password(user_id: str, from_stdin: bool, db: str | None) -> None:
    """Set the console password of user ID (prompted twice, or read with --stdin); kept as an argon2 hash."""
    from engine.store.accounts import set_password

    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    engine = store_at(db)
    with engine.begin() as connection:
        set_password(connection, user_id, password)
    click.echo(f"password set for {user_id}")


@users.command("token")
@click.argument("user_id", metavar="ID")
@db_option
def users_token(user_id: str, db: str | None) -> None:
    """Make a new API token for user ID and print it (only its hash is kept: it is shown once)."""
    from engine.store.accounts import issue_token

    engine = store_at(db)
    with engine.begin() as connection:
        click.echo(issue_token(connection, user_id))


@click.command()
@click.argument("name")
@selection_options
@click.option("--as", "actor", required=True, metavar="ID", help="The operator running the process.")
@click.option("--production-type", metavar="NAME", help="The production type of the batch (when selection is on).")
@click.option("--batch-id", metavar="ID", help="Name the batch; an existing id resumes (finishes) that batch.")
@click.option("--dry-run", is_flag=True, help="Do everything but write: the bureau is simulated, nothing is kept.")
@click.option("--strict", is_flag=True, help="Refuse the whole batch if any user would be skipped.")
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
    """List the batches run so far, with their status (running = incomplete, resume with --batch-id)."""
    from engine.report.tables import table
    from engine.store.queries import list_batches

    with open_reading(db) as connection:
        rows = [
            {k: b[k] for k in ("id", "process", "actor", "status", "created", "skipped", "created_at")}
            for b in list_batches(connection)
        ]
    if as_json:
        echo_json(rows)
        return
    click.echo(table(list(rows[0]) if rows else ["id"], [list(r.values()) for r in rows]))


abort = action_command("abort", "Abort cards: a queued order (operator), or your own open request (requester).")
retry = action_command("retry", "Order failed cards at the bureau again (operator role).")


COMMANDS: list[click.Command] = [users, run, plan, queue, cards, batches, abort, retry]
