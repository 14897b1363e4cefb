"""Timers on states: those armed, and firing the due ones."""

from __future__ import annotations

import click

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

COLUMNS = ["id", "card", "process", "state", "due", "action"]


@click.group(invoke_without_command=True)
@click.option("--due-before", metavar="DATE", help="Only the timers due before this ISO 8601 date or time.")
@db_option
@json_option
@click.pass_context
def timers(ctx: click.Context, due_before: str | None, db: str | None, as_json: bool) -> None:
    """The armed timers, first due first. A timer is armed when a card enters a state that declares
    it (`timers:` under the state: `after: P3D`, `fire: TRIGGER`) and dropped when the card leaves
    the state; `cardflow timers run` fires the due ones. CARDFLOW_NOW moves every command's clock.

    --json: [{id, card, process, state, due, action}]
    """
    if ctx.invoked_subcommand is not None:
        return
    from engine.clock import moment, stamp
    from engine.errors import UsageError
    from engine.store import timers as stored

    if due_before is not None:
        try:
            due_before = stamp(moment(due_before))
        except ValueError:
            example = "as 2026-12-10 or 2026-12-10T09:00:00Z"
            raise UsageError(f"--due-before {due_before!r} is not an ISO 8601 date or time ({example})") from None

    with open_reading(db) as connection:
        rows = (_row(found) for found in stored.listing(connection, due_before=due_before))
        echo_listing(rows, as_json, COLUMNS, lambda r: [r[k] for k in COLUMNS])


def _row(found: dict[str, object]) -> dict[str, object]:
    return {
        "id": found["id"],
        "card": found["card_id"],
        "process": found["process"],
        "state": found["state"],
        "due": found["due_at"],
        "action": f"{_what(str(found['trigger']))} (the timer at {found['location']})",
    }


def _what(trigger: str) -> str:
    from engine.definitions.declared import is_own_trigger

    return "run its effects" if is_own_trigger(trigger) else f"fire {trigger}"


@timers.command("run")
@click.option("--limit", type=click.IntRange(min=1), help="Fire at most N timers.")
@workspace_option
@db_option
@connector_options
@json_option
def timers_run(
    limit: int | None, workspace: str | None, db: str | None, connector: str | None, orders: str | None, as_json: bool
) -> None:
    """Fire every timer that is due: its trigger on its card, as the system, once (two commands at once
    never fire one twice); the audit row says "fired by the timer at FILE:LINE, due T". A repeating
    timer arms its next firing. Run it from cron (or let the workers run it). Exit 1 when a timer's
    trigger was refused (the timer is marked refused, with why)."""
    from engine.batch.timers_due import fire_due
    from engine.report.tables import table

    found = open_workspace(workspace, store=db)
    results = fire_due(found, store_at(db), bureau_connector(connector, orders, found), limit=limit)
    if as_json:
        echo_json([result.as_json() for result in results])
    elif results:
        rows = [[r.timer, r.card, r.trigger, r.due, r.status, r.to or "-", r.message or ""] for r in results]
        click.echo(table(["timer", "card", "trigger", "due", "status", "to", "message"], rows))
    else:
        click.echo("no timer is due")
    refused = [r for r in results if r.status == "refused"]
    if refused:
        raise Unfinished(f"{len(refused)} timer(s) were refused: {refused[0].message}")


COMMANDS: list[click.Command] = [timers]
