"""Emails: the outbox, its delivery, and a template previewed."""

from __future__ import annotations

import click

from commands.again import command_again
from commands.shared import (
    db_option,
    echo_json,
    echo_listing,
    json_option,
    open_listing,
    open_reading,
    open_workspace,
    page_options,
    store_at,
    workspace_option,
)


@click.group(invoke_without_command=True)
@click.option("--status", type=click.Choice(["pending", "sent", "failed"]), help="Only emails with this status.")
@page_options
@db_option
@json_option
@click.pass_context
def outbox(ctx: click.Context, status: str | None, limit: int | None, offset: int, db: str | None, as_json: bool) -> None:
    """The emails waiting to be sent, and those sent (read a page at a time, without their bodies)."""
    if ctx.invoked_subcommand is not None:
        return
    from engine.report.tables import outbox_row
    from engine.store import listing

    with open_listing(db) as reads:
        rows = map(outbox_row, listing.outbox(reads, status=status, limit=limit, offset=offset))
        echo_listing(
            rows,
            as_json,
            ["id", "template", "to", "status", "card"],
            lambda r: [r[k] for k in ("id", "template", "to", "status", "card")],
        )


@outbox.command("send")
@click.option("--limit", type=click.IntRange(min=1), help="Send at most N emails.")
@click.option("--to-dir", metavar="DIR", help="Write .eml files to DIR instead of SMTP.")
@click.option("--now", "ignore_backoff", is_flag=True, help="Ignore the back-off: try every pending email now.")
@db_option
@json_option
@click.pass_context
def outbox_send(
    ctx: click.Context, limit: int | None, to_dir: str | None, ignore_backoff: bool, db: str | None, as_json: bool
) -> None:
    """Deliver pending emails over SMTP, or as .eml files.

    SMTP settings: CARDFLOW_SMTP_HOST, _PORT, _USER, _PASSWORD, _STARTTLS, _FROM. With --to-dir DIR,
    or when no SMTP host is set, each email is written as DIR/<id>.eml (default DIR: mail/).
    A failed email stays pending with its error and a next attempt (exponential back-off);
    after the last attempt it is marked failed. Exits 1 if any email could not be sent, and
    prints the commands that send it.
    """
    from engine.outbound.delivery import Folder, send_outbox, transport_for
    from engine.report.tables import table

    transport = transport_for(to_dir)
    results = send_outbox(store_at(db), transport, limit=limit, ignore_backoff=ignore_backoff)
    written = sum(r.status == "sent" for r in results)
    if isinstance(transport, Folder) and written:  # not mailed: an operator who forgot the SMTP host must not think so
        why = "" if to_dir else " (no SMTP host is set: CARDFLOW_SMTP_HOST; --to-dir DIR names the folder)"
        click.echo(f"cardflow: {written} email(s) written as .eml files in {transport.folder}/, not mailed{why}", err=True)
    if as_json:
        echo_json([r.as_json() for r in results])
    elif results:
        click.echo(
            table(["id", "template", "to", "status", "error"], [[r.id, r.template, r.to, r.status, r.error] for r in results])
        )
    else:
        click.echo("nothing to send")
    _tell_unsent([r.status for r in results])
    ctx.exit(1 if any(r.status != "sent" for r in results) else 0)


def _tell_unsent(statuses: list[str]) -> None:
    """Say how to send again what this delivery left: the exact commands."""
    pending, failed = statuses.count("pending"), statuses.count("failed")
    if pending:
        again = command_again({"ignore_backoff": True})
        click.echo(
            f"cardflow: {pending} email(s) stay pending, each tried again when its back-off ends: `{again}` tries them now",
            err=True,
        )
    if failed:
        requeue = command_again({"every_failed": True}, command=("outbox", "retry"))
        click.echo(
            f"cardflow: {failed} email(s) failed for good: `{requeue}` gives them a new round of attempts, "
            "then `outbox send` delivers them",
            err=True,
        )


@outbox.command("retry")
@click.argument("ids", nargs=-1, type=int)
@click.option("--failed", "every_failed", is_flag=True, help="Every failed email.")
@db_option
@json_option
def outbox_retry(ids: tuple[int, ...], every_failed: bool, db: str | None, as_json: bool) -> None:
    """Re-queue failed emails (by id, or --failed for all) for a new round of attempts, due now.

    Their attempts and error history are kept (`outbox --json` shows them).
    """
    from engine.errors import UsageError
    from engine.outbound.delivery import retry_emails

    if bool(ids) == every_failed:
        raise UsageError("name the emails to retry (outbox retry ID...) or give --failed, not both")
    requeued = retry_emails(store_at(db), None if every_failed else list(ids))
    if as_json:
        echo_json({"requeued": requeued})
    else:
        click.echo(
            f"re-queued {len(requeued)} email(s){': ' + ', '.join(map(str, requeued)) if requeued else ''}; "
            "`cardflow outbox send` delivers them"
        )


@click.command()
@click.argument("template")
@click.option("--card", type=int, help="Render with the context of this card of the store.")
@click.option("--sample", is_flag=True, help="Render with sample data (the default).")
@click.option("--locale", metavar="LOCALE", help="Render the templates of this locale (e.g. sv), when present.")
@workspace_option
@db_option
def preview(template: str, card: int | None, sample: bool, locale: str | None, workspace: str | None, db: str | None) -> None:
    """Render an email template (subject, text, HTML) with sample data or a card's data."""
    from engine.outbound.preview import preview_context, render_preview

    found = open_workspace(workspace, store=db)
    if card is not None:
        with open_reading(db) as connection:
            context, card_locale = preview_context(found, template, connection, card)
    else:
        context, card_locale = preview_context(found, template, None, None)
    click.echo(render_preview(found, template, context, locale or card_locale))


COMMANDS: list[click.Command] = [outbox, preview]
