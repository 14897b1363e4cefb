"""Administrators: check definitions, read processes and options, draw machines, start a workspace."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from commands.shared import (
    STORE_KEY,
    db_option,
    echo_json,
    json_option,
    open_reading,
    open_workspace,
    options_from,
    set_option,
    workspace_option,
)


@click.command()
@workspace_option
@db_option
@json_option
@click.pass_context
def validate(ctx: click.Context, workspace: str | None, db: str | None, as_json: bool) -> None:
    """Check every process and option script (and release.yaml); print FILE:LINE:COL: CODE message.

    With a store (--db or CARDFLOW_DB) also warn (W240) of each user attribute the workspace reads
    that no user in the store has. Exits 0 when there is no error (warnings aside), 1 when there are.
    """
    from engine.definitions.release_moves import read_moves

    found = open_workspace(workspace, valid=False, render_templates=True)
    diagnostics = list(found.diagnostics) + read_moves(found.root, found)[1]
    if db is not None:
        from engine.diagnostics import sort_unique

        diagnostics = sort_unique(diagnostics + _store_warnings(found, db))
    if as_json:
        echo_json([item.as_json() for item in diagnostics])
    else:
        for item in diagnostics:
            click.echo(str(item))
    errors = sum(1 for item in diagnostics if item.severity == "error")
    summary = f"{len(found.processes)} processes, {len(found.scripts)} option scripts in {found.root}"
    click.echo(f"cardflow: {errors} error(s); {summary}" if errors else f"cardflow: ok; {summary}", err=True)
    ctx.exit(1 if errors else 0)


def _store_warnings(found: Any, db: str) -> list[Any]:
    """The W240 warnings of the workspace against the users of the store `db`; none, with a note on
    stderr, when it is not (yet) a cardflow store: validate judges the workspace, the store only helps."""
    from engine.batch.attributes import store_warnings
    from engine.errors import CardflowError

    try:
        with open_reading(db) as connection:
            return store_warnings(found, connection)
    except CardflowError as error:
        click.echo(f"cardflow: {error.message}; the users were not checked (W240)", err=True)
        return []


@click.command()
@workspace_option
@json_option
def processes(workspace: str | None, as_json: bool) -> None:
    """List the processes of the workspace by symbolic name."""
    from engine.report.tables import process_row, table

    rows = [process_row(process) for process in open_workspace(workspace).processes.values()]
    if as_json:
        echo_json(rows)
        return
    columns = ["symbolic_name", "kind", "name", "actor", "outcome"]
    click.echo(table(columns, [[row[c] for c in columns] for row in rows]))


@click.command()
@click.argument("name")
@workspace_option
@set_option
@json_option
def show(name: str, workspace: str | None, sets: tuple[str, ...], as_json: bool) -> None:
    """Show one process: metadata, every trigger and who fires it, options with their values, states, transitions."""
    from engine.report.tables import process_detail, render_detail

    found = open_workspace(workspace)
    detail = process_detail(found.process(name), options_from(found, sets), found.processes.values())
    click.echo(render_detail(detail)) if not as_json else echo_json(detail)


@click.command()
@workspace_option
@set_option
@json_option
def options(workspace: str | None, sets: tuple[str, ...], as_json: bool) -> None:
    """Show every option variable's effective value and where it came from.

    SOURCE is `default`, the FILE:LINE of a `value:` in rules/, or `--set`; SCRIPT is the option
    script that declares it (two scripts may name an option alike).
    """
    from engine.report.tables import option_rows, table

    rows = option_rows(options_from(open_workspace(workspace), sets))
    if as_json:
        echo_json(rows)
        return
    columns = ["variable", "value", "source", "script", "option"]
    click.echo(table(columns, [[r[column] for column in columns] for r in rows]))


@click.command()
@click.argument("name")
@click.option("--format", "form", type=click.Choice(["mermaid", "dot"]), default="mermaid", show_default=True)
@workspace_option
@set_option
def graph(name: str, form: str, workspace: str | None, sets: tuple[str, ...]) -> None:
    """Draw the compiled machine of a batch process under the effective options.

    Transitions that the options rule out are left out; guards the options decide are
    dropped from the labels, so what remains is what can happen at run time.
    """
    from engine.definitions.compile import compile_process
    from engine.errors import UsageError
    from engine.report.graphs import dot, mermaid

    found = open_workspace(workspace)
    process = found.process(name)
    if process.kind != "batch":
        targets = ", ".join(process.acts_on)
        raise UsageError(f"{name} is an action process with no machine of its own; it acts on {targets}")
    compiled = compile_process(process, options_from(found, sets), found.fingerprint)
    click.echo(mermaid(compiled) if form == "mermaid" else dot(compiled))


@click.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
def init(directory: Path) -> None:
    """Copy the reference workspace into DIRECTORY for a site to edit."""
    from engine.definitions.workspace import init_workspace

    for path in init_workspace(directory):
        click.echo(f"created {path}")


@click.command("check-store")
@click.option("--upgrade", is_flag=True, help="Upgrade an older store to this cardflow's schema first (keep a backup).")
@db_option
@json_option
@click.pass_context
def check_store(ctx: click.Context, upgrade: bool, db: str | None, as_json: bool) -> None:
    """Check the store: every page and index (SQLite's integrity_check), its schema version, tables and columns.

    Only reads the store (unless --upgrade). Exits 0 when it is whole, 1 with one line per problem.
    """
    from engine.store.checks import store_location
    from engine.store.health import check_store as problems_of
    from engine.store.health import upgrade_store

    location = ctx.meta[STORE_KEY] = store_location(db)
    if upgrade:
        click.echo(f"cardflow: the store {location} is at schema version {upgrade_store(location)}", err=True)
    problems = problems_of(location)
    if as_json:
        echo_json({"store": location, "problems": problems})
    for problem in [] if as_json else problems:
        click.echo(f"{location}: {problem}")
    click.echo(
        f"cardflow: {len(problems)} problem(s) in the store {location}"
        if problems
        else f"cardflow: ok; the store {location} is whole",
        err=True,
    )
    ctx.exit(1 if problems else 0)


@click.command("upgrade-workspace")
@workspace_option
@json_option
def upgrade_workspace(workspace: str | None, as_json: bool) -> None:
    """Rewrite a workspace of the old shape in place: add `invoke: bureau.order` after each guard
    that reads the bureau's answer without declaring the call (comments and layout kept).

    Prints each change (--json: [{file, line, col, transition, added}]); a second run changes
    nothing. Refuses (exit 1, nothing written) a workspace with other errors.
    """
    from engine.definitions.files import locate
    from engine.definitions.upgrade import upgrade_workspace as upgrade
    from engine.errors import WorkspaceInvalid

    root = locate(workspace)
    try:
        changes = upgrade(root)
    except WorkspaceInvalid as refused:
        for found in [] if as_json else refused.details:  # the diagnostics first, as `validate` prints them
            click.echo(f"{found['file']}:{found['line']}:{found['col']}: {found['code']} {found['message']}")
        raise
    if as_json:
        echo_json([change.as_json() for change in changes])
    else:
        for change in changes:
            click.echo(str(change))
    summary = f"{len(changes)} transition(s) now declare their call" if changes else "nothing to change"
    click.echo(f"cardflow: {summary} in {root}", err=True)


COMMANDS: list[click.Command] = [check_store, validate, processes, show, options, graph, init, upgrade_workspace]
