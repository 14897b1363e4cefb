"""Operators: batch runs and plans, the queue, order statuses, cards and batches."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import click

from commands.again import (
    batch_failed,
    command_again,
    done_before,
    interrupted,
    reorder_command,
    report_run,
    store_failed,
    tell_refusals,
)
from commands.running import card_query, card_query_options, run_cards, run_on_workers, run_selection_options
from commands.shared import (
    bureau_connector,
    choose_users,
    connector_options,
    db_option,
    echo_json,
    echo_listing,
    json_option,
    json_text,
    open_listing,
    open_workspace,
    page_options,
    progress_bar,
    selection_options,
    set_option,
    store_at,
    workspace_option,
)
from engine.errors import Unfinished

if TYPE_CHECKING:  # imported where used: `cardflow --help` loads neither the store nor the runtime
    from engine.batch.actions import ActionResult


@click.command()
@click.argument("name")
@run_selection_options
@card_query_options
@click.option("--as", "actor", required=True, metavar="ID", help="The operator running the process.")
@click.option("--production-type", metavar="NAME", help="The production type of the batch (when selection is on).")
@click.option("--batch-id", metavar="ID", help="Name the batch; an existing id resumes (finishes) that batch.")
@click.option("--dry-run", is_flag=True, help="Do everything but write: the bureau is simulated, nothing is kept.")
@click.option("--strict", is_flag=True, help="Refuse the whole batch if any user would be skipped.")
@click.option("--workers", is_flag=True, help="Split the batch into chunk jobs for `cardflow worker` and wait (PostgreSQL).")
@click.option("--detach", is_flag=True, help="With --workers: return the batch id at once instead of waiting.")
@click.option(
    "--chunk-size",
    type=click.IntRange(min=1),
    help="With --workers: users (or cards) per chunk job [default: users: 8 chunks a live worker, "
    "2,000 to 10,000 users each, the last ones smaller; cards: 500].",
)
@set_option
@workspace_option
@db_option
@connector_options
@json_option
def run(
    name: str,
    user_ids: tuple[str, ...],
    card_ids: tuple[int, ...],
    everyone: bool,
    where: str | None,
    trigger: str | None,
    reason: str | None,
    actor: str,
    production_type: str | None,
    batch_id: str | None,
    dry_run: bool,
    strict: bool,
    workers: bool,
    detach: bool,
    chunk_size: int | None,
    sets: tuple[str, ...],
    workspace: str | None,
    db: str | None,
    connector: str | None,
    orders: str | None,
    as_json: bool,
    **filters: Any,
) -> None:
    """Run a process by symbolic name, as --as: for users, or over existing cards.

    A process that creates cards runs for users (--user ID... | --all | --where EXPR over `user`):
    each selected user who meets the prerequisites gets one card, sent on its way as the
    options say; the others are reported as skipped with the prerequisite's message.

    A process that acts on existing cards runs over cards (--card ID... | --all, every card it may
    act on now | --where EXPR over `card` and `user`, the holder), with --trigger T where it fires
    several and --reason TEXT: each card is done or refused with the reason (exit 1 when any is).
    A bulk action finds its cards with filters instead (--state, --card-process, --holder,
    --in-batch, --moved-because, --moved-from, --moved-to; --where narrows them, e.g. by a declared
    field or a user attribute); try it with --dry-run first. `cardflow batches pause ID` pauses it
    after the chunk in work, `cardflow batches resume ID` finishes it.

    With --workers the batch (of users or of cards) is split into chunk jobs that `cardflow worker`
    processes work (PostgreSQL); the command waits with a progress bar, or returns the batch id with --detach.

    Exit 1 when work is left (cards waiting for the card bureau, Ctrl-C): the message gives the
    exact command that finishes the batch. Exit 1 too when the bureau refused every order; when
    it refused some, exit 0 with a line saying how many and the command that orders them again. Exit 2 when the
    store fails midway (a full disk, a restarted server): the message names `check-store` and the
    exact command that resumes the batch.
    """
    from engine.batch.by_name import NamedRun, request_for
    from engine.batch.over_cards import CardRunRequest
    from engine.batch.request import count_selected
    from engine.batch.run import run_batch
    from engine.batch.stopping import StoppedByAnEmail
    from engine.definitions.options import parse_sets
    from engine.errors import Refused

    found = open_workspace(workspace, store=db, batch=batch_id)
    found.process(name)  # an unknown process first, before its options are judged
    chosen = (user_ids, card_ids, everyone, where, trigger, reason, production_type, batch_id, dry_run, strict)
    query = card_query(**filters)
    request = request_for(found, NamedRun(name, actor, *chosen, query=query, overrides=parse_sets(sets, found.scripts)))
    if isinstance(request, CardRunRequest):
        on_workers = (chunk_size, detach) if workers or detach else None
        run_cards(found, request, db=db, connector=connector, orders=orders, as_json=as_json, workers=on_workers)
        return
    selection = request.selection
    engine = store_at(db)
    if workers or detach:
        run_on_workers(found, engine, request, chunk_size, detach, as_json)
        return
    bureau = bureau_connector(connector, orders, found)
    started: list[str] = []

    def announce(batch: str) -> None:
        started.append(batch)
        if not dry_run:  # a plan writes no batch: an id would name nothing
            click.echo(f"cardflow: batch {batch}", err=True)

    shown = sys.stderr.isatty()  # the bar's total is counted only when a bar is shown
    try:
        with progress_bar(count_selected(engine, selection) if shown else None) as advance:
            result = run_batch(
                found,
                engine,
                request,
                bureau,
                keep_results=True if as_json else 101,  # a table is shown for up to 100 users; memory stays flat beyond
                progress=advance,
                started=announce,
            )
    except KeyboardInterrupt:
        raise interrupted(request, started) from None
    except StoppedByAnEmail as stopped:
        if stopped.batch_id is None:
            raise
        raise Refused(f"{stopped.message}: `{command_again({'batch_id': stopped.batch_id})}`") from None
    except Exception as error:  # the store failed mid-batch: say how to resume it
        failed = batch_failed(error, request, started)
        if failed is None:
            raise
        raise failed from error
    report_run(result, dry_run, as_json, found)


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
    found = open_workspace(workspace, store=db)
    request = RunRequest(name, actor or PLANNER["id"], selection, parse_sets(sets, found.scripts), production_type, dry_run=True)
    result = run_batch(found, store_at(db, mode="read"), request, Simulated())
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
    """The batch sync: order every queued card at the card bureau (refused ones become failed).

    Exit 1 when an order got no answer (the cards stay queued; the message gives the command to
    run again), or when the bureau refused every order; when it refused some, exit 0 with a line
    saying how many. Ctrl-C keeps the chunks done and says how to go on; so does a store that
    fails midway (exit 2, naming `check-store`).
    """
    from engine.batch.queue import sync_queue
    from engine.batch.results import Refusals
    from engine.definitions.options import parse_sets
    from engine.report.tables import render_sync

    found = open_workspace(workspace, store=db)
    kept: list[ActionResult] = []
    try:
        results = sync_queue(
            found,
            store_at(db),
            bureau_connector(connector, orders, found),
            limit=limit,
            overrides=parse_sets(sets, found.scripts),
            committed=kept.extend,
        )
    except KeyboardInterrupt:
        raise Unfinished(f"interrupted: {_sync_kept(kept)}, then `{command_again()}` to go on") from None
    except Exception as error:  # the store failed mid-sync: the cards not yet ordered stay queued
        failed = store_failed(error, _sync_kept(kept), f"then `{command_again()}` to go on")
        if failed is None:
            raise
        raise failed from error
    click.echo(json_text([r.as_json() for r in results]) if as_json else render_sync(results))
    refused = [r for r in results if r.order is False]  # an operator orders them again: --as names one
    again = reorder_command(found, [r.dest for r in refused], [r.card for r in refused], {"actor": "OPERATOR"})
    every_refused = tell_refusals(Refusals.of(r.order for r in results), again)
    unanswered = sum(1 for r in results if r.status == "deferred")
    if unanswered:
        raise Unfinished(
            f"{unanswered} order(s) got no answer from the card bureau and stay queued, each a pending call "
            f"(`cardflow calls` shows them; the workers try them again on their own): "
            f"run `{command_again(command=('calls', 'send'), replace={'every': True})}` once it answers"
        )
    if every_refused:
        click.get_current_context().exit(1)


def _sync_kept(kept: list[ActionResult]) -> str:
    """What a batch sync stopped midway keeps: the chunks done, and the cards of the chunk in work queued."""
    calls = command_again(command=("calls", "send"), replace={"every": True})
    return (
        f"{done_before(kept)}; the cards of the chunk in work stay queued, each written with its call or not at all: "
        f"run `{calls}` to send those calls (one sent meanwhile goes again under the same key, which the bureau "
        f"keeps once)"
    )


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
    be asked about stay for the next sync (exit 1, with the command to run again). With SQLite,
    run it from cron; workers run it on the workspace's schedule."""
    from engine.batch.status import sync_order_status
    from engine.definitions.options import parse_sets
    from engine.report.tables import render_actions

    found = open_workspace(workspace, store=db)
    results = sync_order_status(
        found, store_at(db), bureau_connector(connector, orders, found), overrides=parse_sets(sets, found.scripts)
    )
    click.echo(json_text([r.as_json() for r in results]) if as_json else render_actions(results))
    unread = sum(1 for r in results if r.status == "deferred")
    if unread:
        raise Unfinished(
            f"the order status of {unread} card(s) could not be read (see the reasons); they stay where they are: "
            f"run `{command_again()}` again once the bureau answers"
        )


@click.command()
@click.option("--user", metavar="ID", help="Only this user's cards.")
@click.option("--state", metavar="STATE", help="Only cards in this state.")
@click.option("--process", metavar="NAME", help="Only cards of this process.")
@click.option("--batch", metavar="ID", help="Only cards of this batch.")
@page_options
@workspace_option
@db_option
@json_option
def cards(
    user: str | None,
    state: str | None,
    process: str | None,
    batch: str | None,
    limit: int | None,
    offset: int,
    workspace: str | None,
    db: str | None,
    as_json: bool,
) -> None:
    """List cards, oldest first (read a page at a time); an unknown --state or --process (in the workspace) is an error."""
    from engine.report import listings

    if state is not None or process is not None:
        open_workspace(workspace, valid=False, store=db).require_names(state=state, process=process)
    columns = ["id", "user", "process", "state", "production_type", "batch", "updated_at"]
    with open_listing(db) as reads:
        found = listings.cards(reads, user=user, state=state, process=process, batch=batch, limit=limit, offset=offset)
        if found.bureau:  # orders the bureau did not answer: how many, and the last error
            columns.append("bureau")
        echo_listing(found.rows, as_json, columns, lambda r: [_card_cell(r, column) for column in columns])


def _card_cell(row: dict[str, Any], column: str) -> Any:
    if column != "bureau":
        return row[column]
    bureau = row.get("bureau")
    return bureau and f"{bureau['unanswered']} unanswered: {bureau['last_error']}"


COMMANDS: list[click.Command] = [run, plan, queue, orders, cards]
