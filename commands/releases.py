"""Administrators: the workspace published as releases in the store, reviewed by a second admin, compared, rolled back."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from commands.shared import (
    F,
    db_option,
    echo_json,
    echo_listing,
    json_option,
    json_text,
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
@click.option("--plan", is_flag=True, help="Publish nothing: plan it against the store (exit 0 no change, 2 changes).")
@click.option(
    "--out", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE", help="With --plan: keep the plan in FILE."
)
@click.option(
    "--plan-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    metavar="FILE",
    help="Publish exactly the plan in FILE (refused when the workspace, the live release or the store changed since).",
)
@click.option("--sample", type=click.IntRange(min=0), default=100, show_default=True, help="Users each process is planned for.")
@click.option("--as", "actor", metavar="ID", help="The admin who publishes (a user of the store holding the role admin).")
@workspace_option
@db_option
@json_option
@click.pass_context
def publish(
    ctx: click.Context,
    message: str,
    plan: bool,
    out: Path | None,
    plan_file: Path | None,
    sample: int,
    actor: str | None,
    workspace: str | None,
    db: str | None,
    as_json: bool,
) -> None:
    """Store the workspace (its processes, rules, lifecycles, templates, roles, connectors, schedule,
    calendar and release.yaml) in the store as an immutable release, named by the hash of its files.

    It is planned against the store first: its files and option values against the live release,
    the open cards it would strand (a process or state gone, a trigger that no longer leaves their
    state), the cards in states whose timers change, and each process's outcomes for --sample users.
    A release that strands cards is refused unless its release.yaml moves them
    (`moves: PROCESS: {OLD_STATE: NEW_STATE}`); they are moved when it goes live.

    With one admin in the store it goes live at once; with more, it waits until a second admin
    approves it (`cardflow release approve ID --as ID`), never the one who published it. A release
    still waiting is replaced by a newer one. The workspace must be valid (`cardflow validate`).

    --plan publishes nothing: it shows the plan (exit 0 when the workspace is the live release, 2
    when anything differs) and --out FILE keeps it; --plan-file FILE publishes exactly that plan.
    """
    from engine.errors import UsageError
    from engine.releases.publishing import publish as publish_release
    from engine.testing.release_plan import plan_release, read_plan, render_plan, require_current

    if plan and plan_file:
        raise UsageError("give --plan (to make a plan) or --plan-file (to publish one), not both")
    if out and not plan:
        raise UsageError("--out keeps a plan: give it with --plan")
    if not plan and actor is None:
        raise UsageError("publish needs --as ID (an admin of the store); --plan shows what it would change")
    found = open_workspace(workspace)
    engine = store_at(db, mode="read" if plan else "write")
    if plan_file:
        kept = read_plan(plan_file)
        require_current(kept, found, engine)
    else:
        kept = plan_release(found, engine, sample).as_json()
    if plan:
        if out:
            out.write_text(json_text(kept) + "\n", encoding="utf-8")
        echo_json(kept) if as_json else click.echo(render_plan(kept))
        ctx.exit(0 if kept["same"] else 2)
    step = publish_release(engine, found, str(actor), message, kept)
    if as_json:
        echo_json(_shown(step.release))
        return
    click.echo(f"published release {step.release['id']}{_parent(step.release)}")
    _tell(step)


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
    from engine.store.releases import release_files, release_log, release_plan
    from engine.testing.release_plan import render_plan

    with open_reading(db) as connection:
        row = find_release(connection, reference)
        files = release_files(connection, row["id"])
        log = release_log(connection, row["id"])
        plan = release_plan(connection, row["id"])
    listed = [{"path": path, "digest": digest(content)[:12], "size": len(content)} for path, content in files.items()]
    if as_json:
        echo_json({**_shown(row), "requested_by": row["requested_by"], "plan": plan, "files": listed, "log": log})
        return
    shown = [*RELEASE_COLUMNS[:5], "requested_by", *RELEASE_COLUMNS[5:]]
    click.echo("\n".join(f"{column}: {row[column] if row[column] is not None else '-'}" for column in shown))
    click.echo(f"files ({len(listed)}):")
    click.echo("\n".join(f"  {entry['path']}  {entry['size']} bytes  {entry['digest']}" for entry in listed))
    click.echo("log:")
    click.echo("\n".join(f"  {entry['at']}  {entry['event']}  {entry['actor'] or ''}".rstrip() for entry in log))
    if plan is not None:
        click.echo("plan (when published):")
        click.echo("\n".join(f"  {line}" for line in render_plan(plan).splitlines()))


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
    from engine.releases.compare import compare, comparison_lines
    from engine.releases.publishing import find_release
    from engine.store.releases import release_files

    with open_reading(db) as connection:
        sides = [find_release(connection, reference)["id"] for reference in (left, right)]
        contents = [(side, release_files(connection, side)) for side in sides]
    comparison = compare(contents[0], contents[1])
    if as_json:
        echo_json({**comparison.as_json(), "same": comparison.same})
    else:
        said = f"releases {sides[0]} and {sides[1]} are the same"
        click.echo(said if comparison.same else "\n".join(comparison_lines(comparison.as_json())))
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
    if step.moved:
        click.echo(f"{step.moved} open card(s) moved as its release.yaml says (`cardflow explain CARD` names the release)")
    if step.live:
        replaced = f"; release {step.replaced} is retired" if step.replaced else ""
        click.echo(f"release {release_id} is live{replaced}: the next command, batch and worker job run it")
    else:
        click.echo(f"release {release_id} waits for a second admin: `cardflow release approve {release_id} --as ID`")


COMMANDS: list[click.Command] = [publish, releases, release]
