"""Administrators: the workspace published as releases in the store, reviewed by a second admin, compared, rolled back."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from commands.shared import (
    F,
    db_option,
    echo_json,
    echo_listing,
    json_option,
    open_reading,
    open_workspace,
    store_at,
    workspace_option,
)

RELEASE_COLUMNS = ["id", "parent", "status", "published_by", "published_at", "approved_by", "message", "fingerprint"]


def _as_option(doing: str) -> Callable[[F], F]:
    said = f"The admin who {doing} (a user of the store holding the role admin)."
    return click.option("--as", "actor", required=True, metavar="ID", help=said)


@click.command()
@click.option("--message", "-m", default="", metavar="TEXT", help="What the release changes, for those who review it.")
@click.option(
    "--plan", is_flag=True, help="Publish nothing: show what differs from the live release (exit 0 nothing, 2 changes)."
)
@click.option("--as", "actor", metavar="ID", help="The admin who publishes (a user of the store holding the role admin).")
@workspace_option
@db_option
@json_option
@click.pass_context
def publish(
    ctx: click.Context, message: str, plan: bool, actor: str | None, workspace: str | None, db: str | None, as_json: bool
) -> None:
    """Store the workspace (its processes, rules, lifecycles, templates, roles, connectors, schedule and
    calendar) in the store as an immutable release, named by the hash of its files.

    With one admin in the store it goes live at once; with more, it waits until a second admin
    approves it (`cardflow release approve ID --as ID`), never the one who published it. A release
    still waiting is replaced by a newer one. The workspace must be valid (`cardflow validate`).
    --plan compares the workspace with the live release instead: files and option values, exit 0
    when they are the same, 2 when anything differs."""
    from engine.errors import UsageError
    from engine.releases.publishing import publish as publish_release

    found = open_workspace(workspace)
    if plan:
        ctx.exit(_plan(found, db, as_json))
    if actor is None:
        raise UsageError("publish needs --as ID (an admin of the store); --plan shows what it would change")
    step = publish_release(store_at(db), found, actor, message)
    if as_json:
        echo_json(_shown(step.release))
        return
    click.echo(f"published release {step.release['id']}{_parent(step.release)}")
    _tell(step)


def _plan(found: Any, db: str | None, as_json: bool) -> int:
    from engine.releases.compare import compare
    from engine.releases.contents import address, workspace_files
    from engine.store.releases import LIVE, release_files, release_with_status

    files = workspace_files(found.root)
    with open_reading(db) as connection:
        live = release_with_status(connection, LIVE)
        before = release_files(connection, live["id"]) if live else {}
    comparison = compare((live["id"] if live else "(none)", before), (address(files), files))
    if as_json:
        echo_json({**comparison.as_json(), "same": comparison.same})
    elif comparison.same:
        click.echo(f"the workspace is release {comparison.left}, live: nothing to publish")
    else:
        click.echo(_render(comparison))
    return 0 if comparison.same else 2


@click.command()
@db_option
@json_option
def releases(db: str | None, as_json: bool) -> None:
    """The releases in the store, the newest first: pending (waiting for a second admin), live (what
    every command, worker and the console run), retired."""
    from engine.store.releases import release_rows

    with open_reading(db) as connection:
        rows = [_shown(row) for row in release_rows(connection)]
    echo_listing(rows, as_json, RELEASE_COLUMNS, lambda row: [row[column] for column in RELEASE_COLUMNS])


@click.group()
def release() -> None:
    """One release: show it, compare two, approve one that waits, make an earlier one live again."""


@release.command("show")
@click.argument("reference", metavar="ID")
@db_option
@json_option
def show(reference: str, db: str | None, as_json: bool) -> None:
    """A release (its id, a unique start of it, `live` or `pending`): who published and approved it,
    its files, and what happened to it when."""
    from engine.releases.contents import digest
    from engine.releases.publishing import find_release
    from engine.store.releases import release_files, release_log

    with open_reading(db) as connection:
        row = find_release(connection, reference)
        files = release_files(connection, row["id"])
        log = release_log(connection, row["id"])
    listed = [{"path": path, "digest": digest(content)[:12], "size": len(content)} for path, content in files.items()]
    if as_json:
        echo_json({**_shown(row), "files": listed, "log": log})
        return
    click.echo("\n".join(f"{column}: {row[column] if row[column] is not None else '-'}" for column in RELEASE_COLUMNS))
    click.echo(f"files ({len(listed)}):")
    click.echo("\n".join(f"  {entry['path']}  {entry['size']} bytes  {entry['digest']}" for entry in listed))
    click.echo("log:")
    click.echo("\n".join(f"  {entry['at']}  {entry['event']}  {entry['actor'] or ''}".rstrip() for entry in log))


@release.command("diff")
@click.argument("left", metavar="A")
@click.argument("right", metavar="B")
@db_option
@json_option
@click.pass_context
def diff(ctx: click.Context, left: str, right: str, db: str | None, as_json: bool) -> None:
    """What changes from release A to release B (ids, unique starts, `live` or `pending`): the files
    added, removed and changed (a unified diff each), and the option values that differ, each with
    where it is set on either side. Exit 0 when they are the same, 1 when they differ."""
    from engine.releases.compare import compare
    from engine.releases.publishing import find_release
    from engine.store.releases import release_files

    with open_reading(db) as connection:
        sides = [find_release(connection, reference)["id"] for reference in (left, right)]
        contents = [(side, release_files(connection, side)) for side in sides]
    comparison = compare(contents[0], contents[1])
    if as_json:
        echo_json({**comparison.as_json(), "same": comparison.same})
    else:
        click.echo(_render(comparison) if not comparison.same else f"releases {sides[0]} and {sides[1]} are the same")
    ctx.exit(0 if comparison.same else 1)


@release.command("approve")
@click.argument("reference", metavar="ID")
@_as_option("approves")
@db_option
@json_option
def approve(reference: str, actor: str, db: str | None, as_json: bool) -> None:
    """Approve a release that waits (four-eyes: not by the admin who asked for it): it goes live, and
    the release live before is retired. The next command, batch and worker job runs it."""
    from engine.releases.publishing import approve as approve_release

    step = approve_release(store_at(db), reference, actor)
    echo_json(_shown(step.release)) if as_json else _tell(step)


@release.command("activate")
@click.argument("reference", metavar="ID")
@_as_option("asks for it")
@db_option
@json_option
def activate(reference: str, actor: str, db: str | None, as_json: bool) -> None:
    """Make an earlier (retired) release live again: a rollback, reviewed as a publish is (with more than
    one admin it waits for a second one's approval)."""
    from engine.releases.publishing import activate as activate_release

    step = activate_release(store_at(db), reference, actor)
    echo_json(_shown(step.release)) if as_json else _tell(step)


def _shown(row: dict[str, Any]) -> dict[str, Any]:
    """A release as `releases --json` gives it."""
    return {column: row[column] for column in RELEASE_COLUMNS}


def _parent(row: dict[str, Any]) -> str:
    return f" (after {row['parent']})" if row["parent"] else " (the first)"


def _tell(step: Any) -> None:
    release_id = step.release["id"]
    if step.superseded:
        click.echo(f"release {step.superseded} no longer waits: this one replaces it")
    if step.live:
        replaced = f"; release {step.replaced} is retired" if step.replaced else ""
        click.echo(f"release {release_id} is live{replaced}: the next command, batch and worker job run it")
    else:
        click.echo(f"release {release_id} waits for a second admin: `cardflow release approve {release_id} --as ID`")


def _render(comparison: Any) -> str:
    lines = [f"from {comparison.left} to {comparison.right}:"]
    lines += [f"  added    {path}" for path in comparison.added]
    lines += [f"  removed  {path}" for path in comparison.removed]
    lines += [f"  changed  {path}" for path in comparison.changed]
    for option in comparison.options:
        lines.append(
            f"  option {option['variable']}: {_value(option['left'])} ({option['left_source']})"
            f" -> {_value(option['right'])} ({option['right_source']})"
        )
    for unified in comparison.changed.values():
        lines += ["", *unified]
    return "\n".join(lines)


def _value(value: Any) -> str:
    import json

    return json.dumps(value)


COMMANDS: list[click.Command] = [publish, releases, release]
