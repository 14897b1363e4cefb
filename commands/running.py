"""What `cardflow run NAME` does beside parsing: the options of both kinds of run (for users, over
cards) and which belong to which process, the run over cards with its report, and a batch handed to workers."""

from __future__ import annotations

import sys
from typing import Any

import click

from commands.again import batch_failed, command_again, interrupted, reorder_refused, tell_refusals
from commands.shared import F, bureau_connector, json_text, progress_bar, store_at
from engine.batch.card_filters import QUERY_FLAGS
from engine.errors import Unfinished


def run_selection_options(function: F) -> F:
    """--user ID... | --card ID... | --all | --where EXPR, --trigger and --reason: what `run` is for, either kind."""
    function = click.option(
        "--reason", metavar="TEXT", help="Over cards: why, kept in each card's history (needed where the trigger says so)."
    )(function)
    function = click.option("--trigger", metavar="T", help="Over cards: the trigger to fire, where the process fires several.")(
        function
    )
    function = click.option(
        "--where",
        metavar="EXPR",
        help="The users matching EXPR (e.g. \"user.department == 'Sales'\"); over cards, the cards matching EXPR, "
        "which reads `card` and `user` (the holder), e.g. \"card.state == 'STATE' and user.department == 'Sales'\".",
    )(function)
    function = click.option(
        "--all", "everyone", is_flag=True, help="Every user in the store; over cards, every card the process may act on now."
    )(function)
    function = click.option("--card", "card_ids", multiple=True, type=int, metavar="ID", help="Over cards: a card (repeatable).")(
        function
    )
    return click.option("--user", "user_ids", multiple=True, metavar="ID", help="A user (repeatable).")(function)


#: Each filter of a bulk action (engine.store.pages.CardQuery's fields; its flag is QUERY_FLAGS'): what it takes and says.
_DAY = click.DateTime(formats=["%Y-%m-%d"])
_FILTER_HELP: dict[str, tuple[str, Any, str]] = {
    "process": ("NAME", None, "Over cards: only cards of process NAME (a filter; filters select on their own)."),
    "state": ("STATE", None, "Over cards: only cards in STATE (a filter)."),
    "holder": ("ID", None, "Over cards: only the cards of user ID (a filter)."),
    "batch": ("ID", None, "Over cards: only the cards batch ID made (a filter)."),
    "reason": ("TEXT", None, "Over cards: only cards moved into their state for the reason TEXT (a filter)."),
    "moved_from": ("DATE", _DAY, "Over cards: only cards last moved on or after DATE."),
    "moved_to": ("DATE", _DAY, "Over cards: only cards last moved on or before DATE."),
}


def card_query_options(function: F) -> F:
    """The filters of a bulk action over cards: --card-process, --state, --holder, --in-batch,
    --moved-because, --moved-from, --moved-to; --where narrows what they find."""
    for field, (metavar, kind, text) in reversed(_FILTER_HELP.items()):
        function = click.option(QUERY_FLAGS[field], metavar=metavar, type=kind, help=text)(function)
    return function


def card_query(**given: Any) -> Any:
    """The query the filter flags give (by their parameters' names), or None when none is given."""
    from engine.store.pages import CardQuery

    values = {field: given[flag.lstrip("-").replace("-", "_")] for field, flag in QUERY_FLAGS.items()}
    days = {field: values[field].date() for field in ("moved_from", "moved_to") if values[field]}
    return CardQuery(**{**values, **days}) or None


def run_cards(
    found: Any,
    request: Any,
    *,
    db: str | None,
    connector: str | None,
    orders: str | None,
    as_json: bool,
    workers: tuple[int | None, bool] | None = None,
) -> None:
    """Run an action process over the cards `request` selects; report each card, exit 1 when any was refused.
    With `workers` (the chunk size, and whether to detach), the cards are left to `cardflow worker` in chunk jobs."""
    from engine.batch.over_cards import run_over_cards
    from engine.batch.selected_cards import count_selected

    engine = store_at(db)
    if workers is not None:
        run_on_workers(found, engine, request, *workers, as_json, over_cards=True)
        return
    bureau = bureau_connector(connector, orders, found)
    started: list[str] = []

    def announce(batch: str) -> None:
        started.append(batch)
        if not request.dry_run:  # a dry run writes no batch: an id would name nothing
            click.echo(f"cardflow: batch {batch}", err=True)

    shown = sys.stderr.isatty()  # the bar's total is counted only when a bar is shown
    try:
        with progress_bar(count_selected(found, engine, request) if shown else None) as advance:
            keep = True if as_json else 101  # a table is shown for up to 100 cards; memory stays flat beyond
            result = run_over_cards(found, engine, request, bureau, progress=advance, started=announce, keep_results=keep)
    except KeyboardInterrupt:
        raise interrupted(request, started) from None
    except Exception as error:  # the store failed midway: say how to resume the batch
        failed = batch_failed(error, request, started)
        if failed is None:
            raise
        raise failed from error
    _report(result, as_json, found, filtered=bool(request.selection.query))


def _report(result: Any, as_json: bool, workspace: Any, *, filtered: bool = False) -> None:
    """Print the run over cards; say what is left for the bureau (exit 1) and how many cards were refused (exit 1)."""
    from engine.report.tables import render_card_run

    click.echo(json_text(result.as_json()) if as_json else render_card_run(result))
    if filtered and not result.total:  # a typo in --moved-because finds nothing: say where the right words are
        click.echo(
            "cardflow: the filters found no card this process can act on now; `cardflow cards --state STATE` lists "
            "the cards of a state, and `cardflow incidents` gives the reasons cards were moved for, word for word",
            err=True,
        )
    if result.paused_by:
        raise Unfinished(
            f"batch {result.batch} was paused by {result.paused_by} after {result.total} card(s); "
            f"resume it with `cardflow batches resume {result.batch} --as YOU`"
        )
    refused = [(r.dest, r.card) for r in result.results if r.order is False]
    acts_on = tuple(workspace.process(result.process).acts_on)
    tell_refusals(result.refusals, *reorder_refused(workspace, refused, result.refusals, "cardflow incidents", of=acts_on))
    if result.unanswered and not result.dry_run:
        stopped = f"{result.stopped}: " if result.stopped else ""
        raise Unfinished(
            f"{stopped}batch {result.batch} is incomplete: {result.unanswered} card(s) wait for the card bureau; "
            f"resume with `{command_again({'batch_id': result.batch})}`"
        )
    refused = result.counts["refused"]
    if refused:
        click.echo(f"cardflow: {refused} card(s) refused, the reasons are in the results", err=True)
        click.get_current_context().exit(1)


def run_on_workers(
    found: Any, engine: Any, request: Any, chunk: int | None, detach: bool, as_json: bool, *, over_cards: bool = False
) -> None:
    """Split the batch (of users, or `over_cards`) into chunk jobs for the workers; wait for them unless `detach`."""
    from engine.batch.card_chunks import start_card_chunks
    from engine.batch.chunks import start_chunked, wait_for_batch
    from engine.work.jobs import defer_chunks, failed_chunks
    from engine.work.queue import require_postgres

    require_postgres(engine)
    started = (start_card_chunks if over_cards else start_chunked)(found, engine, request, chunk=chunk)
    defer_chunks(engine, started)
    if detach:
        summary = {"batch": started.batch, "status": "running", "chunks": len(started.pending)}
        click.echo(
            json_text(summary) if as_json else f"batch {started.batch}: {len(started.pending)} chunk(s) queued for workers"
        )
        return
    click.echo(f"cardflow: batch {started.batch} ({len(started.pending)} chunk(s) for `cardflow worker`)", err=True)
    with progress_bar(started.users) as advance:
        record = wait_for_batch(engine, started.batch, advance, gave_up=lambda: failed_chunks(engine, started.batch))
    summary = {key: record[key] for key in ("id", "process", "status", "created", "skipped")}
    summary = {"batch": summary.pop("id"), **summary}
    click.echo(json_text(summary) if as_json else " ".join(f"{key}: {value}" for key, value in summary.items()))
    if record["status"] != "complete":
        again = command_again({"batch_id": started.batch}, drop=("detach",))
        if record["failed_jobs"]:
            why = "the workers' log says why, e.g. a worker whose workspace differs; the chunks done are kept"
            click.echo(f"cardflow: {record['failed_jobs']} chunk job(s) of batch {started.batch} failed for good ({why}); "
                       f"once that is fixed, run it again with `{again}`", err=True)  # fmt: skip
            click.get_current_context().exit(1)
        click.echo(f"cardflow: batch {started.batch} is {record['status']}; run it again with `{again}`", err=True)
        click.get_current_context().exit(1)
    if over_cards and record["skipped"]:
        _tell_refused_on_workers(record["skipped"])


def _tell_refused_on_workers(refused: int) -> None:
    """Cards the workers refused: how many, and the dry run that gives the reason of each card left (exit 1)."""
    plan = command_again({"dry_run": True}, drop=("workers", "detach", "chunk_size", "batch_id", "as_json"))
    click.echo(f"cardflow: {refused} card(s) refused; `{plan}` gives the reason for each card left", err=True)
    click.get_current_context().exit(1)
