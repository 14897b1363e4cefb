"""Watching the site: `cardflow incidents`, what needs a person."""

from __future__ import annotations

import click

from commands.shared import db_option, echo_json, json_option, open_reading, open_workspace, workspace_option
from engine.errors import Unfinished

COLUMNS = ["kind", "count", "oldest", "what", "actions"]


@click.command()
@click.option(
    "--waiting-longer-than",
    "waiting",
    default="P14D",
    show_default=True,
    envvar="CARDFLOW_WAITING_LONGER_THAN",
    metavar="DURATION",
    help="A card not moved for longer than this ISO 8601 duration (P14D, PT36H), with no timer to move it, waits "
    "too long; a batch running since before it has stopped.",
)
@workspace_option
@db_option
@json_option
def incidents(waiting: str, workspace: str | None, db: str | None, as_json: bool) -> None:
    """What needs a person, grouped, each group with its count, its oldest moment and the commands that apply:
    cards in a state the workspace marks `incident:` (an order the bureau refused), by the trigger and
    reason that brought them there; cards waiting too long; calls with no answer; emails that failed;
    batches that stopped; timer firings refused. Exit 1 when there is any, 0 when there is none.

    --json: [{kind, count, oldest, what, ..., actions}] (kind: cards, waiting, calls, emails, batches, timers)
    """
    from engine.report.incidents import incidents_in, waiting_since

    since = waiting_since(waiting, "--waiting-longer-than")
    found = open_workspace(workspace, store=db)
    with open_reading(db) as connection:
        groups = incidents_in(found, connection, since)
    if as_json:
        echo_json([group.as_json() for group in groups])
    elif not groups:
        click.echo("nothing needs a person")
    for group in groups if not as_json else ():
        click.echo(f"{group.kind}: {group.count}, the oldest {group.oldest}: {group.what}")
        for key, value in group.details.items():
            if value is not None:
                click.echo(f"  {key}: {', '.join(value) if isinstance(value, list) else value}")
        for action in group.actions:
            click.echo(f"  $ {action}")
    if groups:
        raise Unfinished(f"{len(groups)} group(s) need a person ({sum(group.count for group in groups)} in all)")


COMMANDS: list[click.Command] = [incidents]
