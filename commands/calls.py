"""External calls: those pending, answered or cancelled, and sending the pending ones again."""

from __future__ import annotations

import click

from commands.again import command_again
from commands.shared import (
    bureau_connector,
    connector_options,
    db_option,
    echo_json,
    echo_listing,
    json_option,
    open_reading,
    open_workspace,
    store_at,
    workspace_option,
)
from engine.errors import Unfinished

COLUMNS = ["id", "card", "call", "status", "outcome", "attempts", "next_attempt_at", "message"]


@click.group(invoke_without_command=True)
@click.option("--status", type=click.Choice(["pending", "answered", "cancelled"]), help="Only calls with this status.")
@click.option("--card", type=int, metavar="ID", help="Only the calls of this card.")
@db_option
@json_option
@click.pass_context
def calls(ctx: click.Context, status: str | None, card: int | None, db: str | None, as_json: bool) -> None:
    """The external calls transitions made (`invoke`), oldest first. A call is written with the state
    change that makes it and sent once that commits, under its idempotency key; one the other side
    did not answer stays pending, with its attempts and when it is tried next.

    --json: [{id, card, call, key, status, outcome, reference, attempts, next_attempt_at, message}]
    """
    if ctx.invoked_subcommand is not None:
        return
    from engine.store import calls as stored

    with open_reading(db) as connection:
        rows = (_row(found) for found in stored.listing(connection, status=status, card=card))
        echo_listing(rows, as_json, COLUMNS, lambda r: [r[k] for k in COLUMNS])


def _row(found: dict[str, object]) -> dict[str, object]:
    return {
        "id": found["id"],
        "card": found["card_id"],
        "call": f"{found['connector']}.{found['operation']}",
        "key": found["idempotency_key"],
        "status": found["status"],
        "outcome": found["outcome"],
        "reference": found["reference"],
        "attempts": found["attempts"],
        "next_attempt_at": found["next_attempt_at"] if found["status"] == "pending" else None,
        "message": found["message"],
    }


@calls.command("send")
@click.option("--now", "every", is_flag=True, help="Ignore the back-off: try every pending call now.")
@click.option("--limit", type=click.IntRange(min=1), help="Send at most N calls.")
@workspace_option
@db_option
@connector_options
@json_option
def calls_send(
    every: bool,
    limit: int | None,
    workspace: str | None,
    db: str | None,
    connector: str | None,
    orders: str | None,
    as_json: bool,
) -> None:
    """Send the pending calls that are due (after a crash, or after the other side did not answer),
    then finish what each waits for: the trigger that made it is fired again with the answer, so the
    card moves as its guards say. A call whose card left that state meanwhile is cancelled unsent.
    Exit 1 when a call still got no answer (it stays pending, tried again later)."""
    from engine.batch.calls_due import send_due
    from engine.report.tables import table
    from engine.store import calls as stored

    found = open_workspace(workspace, store=db)
    engine = store_at(db)
    results = send_due(found, engine, bureau_connector(connector, orders, found), every=every, limit=limit)
    with engine.connect() as connection:
        waiting, first = stored.pending(connection)
    again = command_again(replace={"every": True}, drop=("limit",))
    if as_json:
        echo_json([result.as_json() for result in results])
    elif results:
        rows = [[r.call, r.card, r.status, r.outcome or "-", r.to or "-", r.message or ""] for r in results]
        click.echo(table(["call", "card", "status", "outcome", "to", "message"], rows))
    else:
        click.echo(
            f"no call is due: {waiting} pending, the first due at {first} (`{again}` sends them now)"
            if waiting
            else "no call is pending"
        )
    unanswered = sum(1 for result in results if result.status == "pending")
    if unanswered:
        raise Unfinished(
            f"{unanswered} call(s) got no answer and stay pending, tried again with back-off from {first} "
            f"(by the workers, or cron): run `{again}` once the other side answers"
        )


COMMANDS: list[click.Command] = [calls]
