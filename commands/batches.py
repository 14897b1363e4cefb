"""Batches: the list, and pausing and resuming a bulk action (a run over the cards filters find)."""

from __future__ import annotations

from typing import Any

import click

from commands.running import run_cards
from commands.shared import (
    connector_options,
    db_option,
    echo_json,
    echo_listing,
    json_option,
    open_listing,
    open_workspace,
    page_options,
    store_at,
    workspace_option,
)


@click.group(invoke_without_command=True)
@page_options
@db_option
@json_option
@click.pass_context
def batches(ctx: click.Context, limit: int | None, offset: int, db: str | None, as_json: bool) -> None:
    """List the batches run so far, with their status (running = incomplete, resume with --batch-id;
    paused: `cardflow batches resume ID`).

    For a run over cards (one with a TRIGGER), CREATED counts the cards it did and SKIPPED those it
    refused. For a batch worked by workers (`run --workers`), `progress` is the users of its chunks done
    out of all its users (--json: {"done": N, "users": M}; null for a batch run by `run` alone);
    the status becomes `complete` when the last chunk is done."""
    if ctx.invoked_subcommand is not None:
        return
    from engine.records import json_fields
    from engine.report import listings

    columns = list(json_fields("batch"))
    with open_listing(db) as reads:
        echo_listing(listings.batches(reads, limit=limit, offset=offset), as_json, columns, _batch_cells)


def _batch_cells(batch: dict[str, Any]) -> list[Any]:
    shown = batch["progress"] and "{done}/{users}".format(**batch["progress"])
    return [*(batch[column] for column in batch if column != "progress"), shown]


@batches.command("pause")
@click.argument("batch_id", metavar="ID")
@click.option("--as", "actor", required=True, metavar="ID", help="Who pauses it (one who may start its process).")
@workspace_option
@db_option
@json_option
def pause(batch_id: str, actor: str, workspace: str | None, db: str | None, as_json: bool) -> None:
    """Pause a running bulk action (a run over cards, from the console or `cardflow run`): it stops
    after the chunk in work, on whichever machine runs it, and waits paused until
    `cardflow batches resume ID` finishes it."""
    from engine.batch.bulk import pause as pause_batch

    found = open_workspace(workspace, store=db)
    batch = pause_batch(found, store_at(db), batch_id, actor)
    shown = {key: batch[key] for key in ("id", "process", "status", "paused_by")}
    if as_json:
        echo_json(shown)
    else:
        click.echo(f"batch {batch_id} is paused by {actor}; it stops after the chunk in work")


@batches.command("resume")
@click.argument("batch_id", metavar="ID")
@click.option("--as", "actor", required=True, metavar="ID", help="Who resumes it (one who may start its process).")
@workspace_option
@db_option
@connector_options
@json_option
def resume(
    batch_id: str, actor: str, workspace: str | None, db: str | None, connector: str | None, orders: str | None, as_json: bool
) -> None:
    """Finish a paused (or stopped) bulk action as it was asked: the same cards, trigger, reason and
    options; the cards it moved already are not fired again. Exit 1 when any card is refused."""
    from engine.batch.bulk import resumed
    from engine.store.db import reading

    found = open_workspace(workspace, store=db, batch=batch_id)
    engine = store_at(db)
    with reading(engine) as connection:
        request = resumed(found, connection, batch_id, actor)
    run_cards(found, request, db=db, connector=connector, orders=orders, as_json=as_json)


COMMANDS: list[click.Command] = [batches]
