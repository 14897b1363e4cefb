"""The `cardflow` command line: parse, call the engine, render, exit (0 ok, 1 content, 2 usage)."""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from engine.errors import CardflowError

F = Callable[..., Any]


class CardflowGroup(click.Group):
    """Turns every error into a one-line message and an exit code; never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except CardflowError as error:
            click.echo(f"cardflow: {error.message}", err=True)
            ctx.exit(error.exit_code)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except BrokenPipeError:  # the reader went away (| head): stop quietly
            sys.stderr.close()
            ctx.exit(1)
        except Exception as error:  # the promise: no traceback reaches a user
            if os.environ.get("CARDFLOW_DEBUG"):
                raise
            click.echo(f"cardflow: internal error: {type(error).__name__}: {error} (CARDFLOW_DEBUG=1 shows more)", err=True)
            ctx.exit(2)


def workspace_option(function: F) -> F:
    return click.option(
        "--workspace",
        envvar="CARDFLOW_WORKSPACE",
        type=click.Path(file_okay=False),
        help="Workspace folder (processes/, rules/, templates/email/). Default: the current folder if it "
        "holds processes/, else the reference workspace shipped with cardflow.",
    )(function)


def json_option(function: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print stable JSON for scripts.")(function)


def set_option(function: F) -> F:
    return click.option(
        "--set",
        "sets",
        multiple=True,
        metavar="VAR=VALUE",
        help="Override an option for this command; VALUE is YAML flow (false, [a, b]). Repeatable.",
    )(function)


def _workspace(path: str | None, *, valid: bool = True) -> Any:
    from engine.definitions.workspace import load_workspace, locate

    workspace = load_workspace(locate(path))
    _started_up()
    return workspace.require_valid() if valid else workspace


def _started_up() -> None:
    """Start-up is over (the imports are done, the workspace or the store is open): `main` kept
    the cyclic garbage collector off until now, as start-up allocates much and frees little."""
    gc.enable()


def _options(workspace: Any, sets: tuple[str, ...]) -> Any:
    from engine.definitions.options import effective_options, parse_sets

    return effective_options(workspace.scripts, parse_sets(sets, workspace.scripts))


def _echo_json(data: Any) -> None:
    from engine.report.tables import to_json

    click.echo(to_json(data))


@click.group(cls=CardflowGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="cardflow")
def cli() -> None:
    """cardflow: declarative card processes for an identity manager.

    Administrators describe processes (processes/*.yaml) and options (rules/*.yaml);
    `cardflow validate` checks them and points at the line. Operators run processes by
    symbolic name; approvers decide requests; testers plan, test and diff outcomes.

    Exit codes: 0 success, 1 content problem (diagnostics, refusals, differences),
    2 usage error or unusable input.
    """


@cli.command()
@workspace_option
@json_option
@click.pass_context
def validate(ctx: click.Context, workspace: str | None, as_json: bool) -> None:
    """Check every process and option script; print FILE:LINE:COL: CODE message.

    Exits 0 when there is no error, 1 when there are diagnostics.
    """
    found = _workspace(workspace, valid=False)
    if as_json:
        _echo_json([item.as_json() for item in found.diagnostics])
    else:
        for item in found.diagnostics:
            click.echo(str(item))
    errors = sum(1 for item in found.diagnostics if item.severity == "error")
    summary = f"{len(found.processes)} processes, {len(found.scripts)} option scripts in {found.root}"
    click.echo(f"cardflow: {errors} error(s); {summary}" if errors else f"cardflow: ok; {summary}", err=True)
    ctx.exit(1 if errors else 0)


@cli.command()
@workspace_option
@json_option
def processes(workspace: str | None, as_json: bool) -> None:
    """List the processes of the workspace by symbolic name."""
    from engine.report.tables import process_row, table

    rows = [process_row(process) for process in _workspace(workspace).processes.values()]
    if as_json:
        _echo_json(rows)
        return
    columns = ["symbolic_name", "kind", "name", "actor", "outcome"]
    click.echo(table(columns, [[row[c] for c in columns] for row in rows]))


@cli.command()
@click.argument("name")
@workspace_option
@set_option
@json_option
def show(name: str, workspace: str | None, sets: tuple[str, ...], as_json: bool) -> None:
    """Show one process: metadata, options with their values, states and transitions."""
    from engine.report.tables import process_detail, render_detail

    found = _workspace(workspace)
    detail = process_detail(found.process(name), _options(found, sets))
    click.echo(render_detail(detail)) if not as_json else _echo_json(detail)


@cli.command()
@workspace_option
@set_option
@json_option
def options(workspace: str | None, sets: tuple[str, ...], as_json: bool) -> None:
    """Show every option variable's effective value and where it came from.

    SOURCE is `default`, the FILE:LINE of a `value:` in rules/, or `--set`.
    """
    from engine.report.tables import option_rows, table

    rows = option_rows(_options(_workspace(workspace), sets))
    if as_json:
        _echo_json(rows)
        return
    click.echo(
        table(["variable", "value", "source", "option"], [[r["variable"], r["value"], r["source"], r["option"]] for r in rows])
    )


@cli.command()
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

    found = _workspace(workspace)
    process = found.process(name)
    if process.kind != "batch":
        targets = ", ".join(process.acts_on)
        raise UsageError(f"{name} is an action process with no machine of its own; it acts on {targets}")
    compiled = compile_process(process, _options(found, sets), found.fingerprint)
    click.echo(mermaid(compiled) if form == "mermaid" else dot(compiled))


@cli.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
def init(directory: Path) -> None:
    """Copy the reference workspace into DIRECTORY for a site to edit."""
    from engine.definitions.workspace import init_workspace

    for path in init_workspace(directory):
        click.echo(f"created {path}")


def db_option(function: F) -> F:
    return click.option(
        "--db",
        envvar="CARDFLOW_DB",
        metavar="PATH|URL",
        help="The store: an SQLite file (default cardflow.db here) or a database URL.",
    )(function)


def connector_options(function: F) -> F:
    function = click.option(
        "--connector",
        envvar="CARDFLOW_CONNECTOR",
        type=click.Choice(["dropfolder", "http", "simulated"]),
        help="How orders reach the card bureau: a drop folder (default), the bureau's HTTP API (CARDFLOW_BUREAU_* settings), "
        "or simulated (accepts every order, sends nothing: for rehearsals).",
    )(function)
    return click.option(
        "--orders", envvar="CARDFLOW_ORDERS", metavar="DIR", help="Drop folder for orders (default: orders/ here)."
    )(function)


def selection_options(function: F) -> F:
    """--user ID... | --all | --where EXPR: which users a run (or plan) is for."""
    example = "user.department == 'Sales'"
    function = click.option("--where", metavar="EXPR", help=f'The users matching EXPR, e.g. "{example}".')(function)
    function = click.option("--all", "everyone", is_flag=True, help="Every user in the store.")(function)
    return click.option("--user", "user_ids", multiple=True, metavar="ID", help="A user (repeatable).")(function)


def _selection(user_ids: tuple[str, ...], everyone: bool, where: str | None) -> Any:
    from engine.batch.request import Selection
    from engine.errors import UsageError

    if sum((bool(user_ids), everyone, where is not None)) != 1:
        raise UsageError("choose the users with exactly one of --user, --all or --where")
    return Selection(tuple(user_ids), everyone, where)


def _store(location: str | None) -> Any:
    """The store, closed when the command ends (so SQLite folds its write-ahead log back into the file)."""
    from engine.store.queries import open_store

    engine = open_store(location)
    _started_up()
    context = click.get_current_context(silent=True)
    if context is not None:
        context.call_on_close(engine.dispose)
    return engine


def _reading(location: str | None) -> Any:
    from engine.store.db import reading

    return reading(_store(location))


def _connector(name: str | None, orders: str | None) -> Any:
    from engine.outbound.connectors import connector_from

    return connector_from(name, orders)


@cli.group()
def users() -> None:
    """Users in the store: import them from CSV, JSON or YAML; list them."""


@users.command("import")
@click.argument("file", type=click.Path(path_type=Path))
@db_option
def users_import(file: Path, db: str | None) -> None:
    """Import users (id, name, email, state, roles, any other attribute); re-import updates them.

    CSV: a header row; roles separated by spaces or semicolons. JSON/YAML: a list of users
    (or a mapping with `users:`). The file is checked whole before anything is written.
    """
    from engine.store.queries import upsert_users
    from engine.store.users import read_users

    rows = read_users(file)
    engine = _store(db)
    with engine.begin() as connection:
        upsert_users(connection, rows)
    click.echo(f"imported {len(rows)} user(s) from {file}")


@users.command("list")
@db_option
@json_option
def users_list(db: str | None, as_json: bool) -> None:
    """List the users of the store."""
    from engine.report.tables import table
    from engine.store.queries import iter_users

    with _reading(db) as connection:
        rows = [user for chunk in iter_users(connection) for user in chunk]
    if as_json:
        _echo_json(rows)
        return
    click.echo(
        table(["id", "name", "email", "state", "roles"], [[u["id"], u["name"], u["email"], u["state"], u["roles"]] for u in rows])
    )


@cli.command()
@click.argument("name")
@selection_options
@click.option("--as", "actor", required=True, metavar="ID", help="The operator running the process.")
@click.option("--production-type", metavar="NAME", help="The production type of the batch (when selection is on).")
@click.option("--batch-id", metavar="ID", help="Name the batch; an existing id resumes (finishes) that batch.")
@click.option("--dry-run", is_flag=True, help="Do everything but write: the bureau is simulated, nothing is kept.")
@click.option("--strict", is_flag=True, help="Refuse the whole batch if any user would be skipped.")
@set_option
@workspace_option
@db_option
@connector_options
@json_option
def run(
    name: str,
    user_ids: tuple[str, ...],
    everyone: bool,
    where: str | None,
    actor: str,
    production_type: str | None,
    batch_id: str | None,
    dry_run: bool,
    strict: bool,
    sets: tuple[str, ...],
    workspace: str | None,
    db: str | None,
    connector: str | None,
    orders: str | None,
    as_json: bool,
) -> None:
    """Run a batch process by symbolic name for the selected users, as operator --as.

    Each selected user who meets the prerequisites gets one card, sent on its way as the
    options say; the others are reported as skipped with the prerequisite's message.
    """
    from engine.batch.request import RunRequest, count_selected
    from engine.batch.run import run_batch
    from engine.definitions.options import parse_sets
    from engine.outbound.bureau import Simulated
    from engine.report.tables import render_batch

    selection = _selection(user_ids, everyone, where)
    found = _workspace(workspace)
    request = RunRequest(name, actor, selection, parse_sets(sets, found.scripts), production_type, batch_id, dry_run, strict)
    engine = _store(db)
    bureau = Simulated() if dry_run else _connector(connector, orders)
    with _progress(count_selected(engine, selection)) as advance:
        result = run_batch(
            found,
            engine,
            request,
            bureau,
            keep_results=True if as_json else 101,  # a table is shown for up to 100 users; memory stays flat beyond
            progress=advance,
            started=lambda batch: click.echo(f"cardflow: batch {batch}", err=True),
        )
    if as_json:
        click.echo(_json_text(result.as_json()))
    else:
        from engine.report.tables import render_plan

        click.echo(render_plan(result) if dry_run else render_batch(result))


class _NoProgress:
    def __enter__(self) -> Any:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def _progress(total: int | None) -> Any:
    """A progress bar on stderr when it is a terminal; nothing otherwise."""
    if total is None or not sys.stderr.isatty():
        return _NoProgress()

    class _Bar:
        def __enter__(self) -> Any:
            self.bar = click.progressbar(length=total, label="cards", file=sys.stderr)
            self.bar.__enter__()
            return self.bar.update

        def __exit__(self, *exc: object) -> None:
            self.bar.__exit__(None, None, None)

    return _Bar()


def _json_text(data: Any) -> str:
    from engine.report.tables import to_json

    return to_json(data)


def _action_command(trigger: str, summary: str) -> None:
    @cli.command(trigger, help=summary)
    @click.argument("cards", nargs=-1, required=True, type=int)
    @click.option("--as", "actor", required=True, metavar="ID", help="Who does it.")
    @click.option("--reason", metavar="TEXT", help="Why (required to reject).")
    @set_option
    @workspace_option
    @db_option
    @connector_options
    @json_option
    def command(
        cards: tuple[int, ...],
        actor: str,
        reason: str | None,
        sets: tuple[str, ...],
        workspace: str | None,
        db: str | None,
        connector: str | None,
        orders: str | None,
        as_json: bool,
    ) -> None:
        from engine.batch.actions import act
        from engine.definitions.options import parse_sets
        from engine.report.tables import render_actions

        found = _workspace(workspace)
        results = act(
            found,
            _store(db),
            trigger,
            list(cards),
            actor,
            _connector(connector, orders),
            reason=reason,
            overrides=parse_sets(sets, found.scripts),
        )
        click.echo(_json_text([r.as_json() for r in results]) if as_json else render_actions(results))


_action_command("approve", "Approve requested cards (approver role; nobody approves their own request).")
_action_command("reject", "Reject requested cards with --reason (approver role; four-eyes).")
_action_command("postpone", "Leave requested cards open for a later decision (approver role; four-eyes).")
_action_command("abort", "Abort cards: a queued order (operator), or your own open request (requester).")
_action_command("retry", "Order failed cards at the bureau again (operator role).")


@cli.group()
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
    """The batch sync: order every queued card at the card bureau (refused ones become failed)."""
    from engine.batch.actions import sync_queue
    from engine.definitions.options import parse_sets
    from engine.report.tables import render_actions

    found = _workspace(workspace)
    results = sync_queue(found, _store(db), _connector(connector, orders), limit=limit, overrides=parse_sets(sets, found.scripts))
    click.echo(_json_text([r.as_json() for r in results]) if as_json else render_actions(results))


@cli.command()
@click.option("--user", metavar="ID", help="Only this user's cards.")
@click.option("--state", metavar="STATE", help="Only cards in this state.")
@click.option("--process", metavar="NAME", help="Only cards of this process.")
@click.option("--batch", metavar="ID", help="Only cards of this batch.")
@db_option
@json_option
def cards(user: str | None, state: str | None, process: str | None, batch: str | None, db: str | None, as_json: bool) -> None:
    """List cards, oldest first."""
    from engine.report.tables import card_row, table
    from engine.store.queries import find_cards

    with _reading(db) as connection:
        rows = [card_row(c) for c in find_cards(connection, user=user, state=state, process=process, batch=batch)]
    if as_json:
        _echo_json(rows)
        return
    columns = ["id", "user", "process", "state", "production_type", "batch", "updated_at"]
    click.echo(table(columns, [[r[c] for c in columns] for r in rows]))


@cli.command()
@click.argument("card", type=int)
@db_option
@json_option
def explain(card: int, db: str | None, as_json: bool) -> None:
    """Tell the story of a card: each step, who did it, and why it went where it did."""
    from engine.report.explain import card_story, render_story

    with _reading(db) as connection:
        story = card_story(connection, card)
    click.echo(_json_text(story) if as_json else render_story(story))


@cli.command()
@db_option
@json_option
def batches(db: str | None, as_json: bool) -> None:
    """List the batches run so far, with their status (running = incomplete, resume with --batch-id)."""
    from engine.report.tables import table
    from engine.store.queries import list_batches

    with _reading(db) as connection:
        rows = [
            {k: b[k] for k in ("id", "process", "actor", "status", "created", "skipped", "created_at")}
            for b in list_batches(connection)
        ]
    if as_json:
        _echo_json(rows)
        return
    click.echo(table(list(rows[0]) if rows else ["id"], [list(r.values()) for r in rows]))


@cli.group(invoke_without_command=True)
@db_option
@json_option
@click.pass_context
def outbox(ctx: click.Context, db: str | None, as_json: bool) -> None:
    """The emails waiting to be sent, and those sent."""
    if ctx.invoked_subcommand is not None:
        return
    from engine.report.tables import outbox_row, table
    from engine.store.queries import list_outbox

    with _reading(db) as connection:
        rows = [outbox_row(row) for row in list_outbox(connection)]
    if as_json:
        _echo_json(rows)
        return
    click.echo(
        table(
            ["id", "template", "to", "status", "card"], [[r["id"], r["template"], r["to"], r["status"], r["card"]] for r in rows]
        )
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
    after the last attempt it is marked failed. Exits 1 if any email could not be sent.
    """
    from engine.outbound.delivery import send_outbox, transport_for
    from engine.report.tables import table

    results = send_outbox(_store(db), transport_for(to_dir), limit=limit, ignore_backoff=ignore_backoff)
    if as_json:
        _echo_json([r.as_json() for r in results])
    elif results:
        click.echo(
            table(["id", "template", "to", "status", "error"], [[r.id, r.template, r.to, r.status, r.error] for r in results])
        )
    else:
        click.echo("nothing to send")
    ctx.exit(1 if any(r.status != "sent" for r in results) else 0)


@cli.command()
@click.argument("template")
@click.option("--card", type=int, help="Render with the context of this card of the store.")
@click.option("--sample", is_flag=True, help="Render with sample data (the default).")
@click.option("--locale", metavar="LOCALE", help="Render the templates of this locale (e.g. sv), when present.")
@workspace_option
@db_option
def preview(template: str, card: int | None, sample: bool, locale: str | None, workspace: str | None, db: str | None) -> None:
    """Render an email template (subject, text, HTML) with sample data or a card's data."""
    from engine.outbound.preview import preview_context, render_preview

    found = _workspace(workspace)
    if card is not None:
        with _reading(db) as connection:
            context, card_locale = preview_context(found, template, connection, card)
    else:
        context, card_locale = preview_context(found, template, None, None)
    click.echo(render_preview(found, template, context, locale or card_locale))


@cli.command()
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where to keep the demo store (default: a new temporary folder).",
)
@workspace_option
def demo(directory: Path | None, workspace: str | None) -> None:
    """The main job end to end on sample users: runs, approvals, an abort, the batch sync, a summary.

    Imports the shipped sample users into a fresh store, orders and requests cards with the
    default options and with the approval step on, approves and rejects some, aborts a queued
    card, runs the batch sync, and prints the cards by process and state.
    """
    import tempfile

    from engine.testing.demo import run_demo

    folder = directory or Path(tempfile.mkdtemp(prefix="cardflow-demo-"))
    for line in run_demo(_workspace(workspace), folder):
        click.echo(line)


@cli.command()
@click.argument("name")
@workspace_option
@set_option
@json_option
def matrix(name: str, workspace: str | None, sets: tuple[str, ...], as_json: bool) -> None:
    """The outcome of a batch process under every combination of the options it reads.

    Each bool is tried both ways and each enumerated option with each value; lists and options
    pinned with --set keep their value (shown as fixed). For a representative user, each row
    tells where `start` sends the card, every state it can end in, and flags (stuck states,
    documented outcomes no path reaches). A report: exits 0 even when rows are flagged.
    """
    from engine.definitions.options import parse_sets
    from engine.testing.matrix import outcome_matrix, render_matrix

    found = _workspace(workspace)
    result = outcome_matrix(found, name, parse_sets(sets, found.scripts))
    click.echo(render_matrix(result)) if not as_json else _echo_json(result.as_json())


@cli.command("test")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--min-coverage", type=click.FloatRange(0, 100), metavar="PERCENT", help="Fail when a process is covered less.")
@click.option("--junit", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE", help="Also write JUnit XML to FILE.")
@workspace_option
@json_option
@click.pass_context
def test_command(
    ctx: click.Context,
    paths: tuple[Path, ...],
    min_coverage: float | None,
    junit: Path | None,
    workspace: str | None,
    as_json: bool,
) -> None:
    """Run scenarios (*.scenario.yaml; default: tests/scenarios) and report coverage of the rules.

    Each failed expectation is reported at its line in the scenario. Coverage per batch process:
    transitions fired, guard outcomes (true and false) seen, option values exercised, and what
    was never reached. Exits 1 on a failure, a scenario with diagnostics, or coverage below
    --min-coverage.
    """
    from engine.errors import UsageError
    from engine.testing.suite import junit_xml, render_suite, run_suite

    chosen = list(paths) or [Path("tests/scenarios")]
    missing = [str(path) for path in chosen if not path.exists()]
    if missing:
        raise UsageError(f"no such scenario file or folder: {', '.join(missing)}")
    suite = run_suite(_workspace(workspace), chosen)
    if junit:
        junit.write_bytes(junit_xml(suite))
    below = suite.below(min_coverage)
    if as_json:
        _echo_json(suite.as_json())
    else:
        click.echo(render_suite(suite))
        for entry in below:
            click.echo(f"coverage of {entry.process.symbolic_name} is {entry.percent:.1f}%, below {min_coverage}%")
    ctx.exit(1 if suite.failed or suite.diagnostics or below else 0)


@cli.command()
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

    selection = _selection(user_ids, everyone, where)
    found = _workspace(workspace)
    request = RunRequest(name, actor or PLANNER["id"], selection, parse_sets(sets, found.scripts), production_type, dry_run=True)
    result = run_batch(found, _store(db), request, Simulated())
    if as_json:
        _echo_json(
            {
                "process": result.process,
                "summary": dict(sorted(result.counts.items())),
                "results": [r.as_json() for r in result.results],
            }
        )
        return
    click.echo(render_plan(result))


@cli.command()
@click.argument("scenarios", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--left", "left_ws", required=True, type=click.Path(file_okay=False), metavar="WS", help="The workspace of the left side."
)
@click.option(
    "--right",
    "right_ws",
    type=click.Path(file_okay=False),
    metavar="WS",
    help="The workspace of the right side (default: --left).",
)
@click.option(
    "--population", metavar="PROCESS", help="Instead of scenarios: plan PROCESS for the users of the store (--db) on both sides."
)
@click.option("--where", metavar="EXPR", help="With --population: only the users matching EXPR.")
@set_option
@db_option
@json_option
@click.pass_context
def diff(
    ctx: click.Context,
    scenarios: tuple[Path, ...],
    left_ws: str,
    right_ws: str | None,
    population: str | None,
    where: str | None,
    sets: tuple[str, ...],
    db: str | None,
    as_json: bool,
) -> None:
    """Compare outcomes under two configurations: two workspaces, or one workspace and --set.

    Per user: the card states, emails and bureau orders that differ, the options that differ
    and the guards whose result flipped, with their YAML locations. Summary first, grouped by
    change. Exit 0 when both sides agree, 1 when they differ.
    """
    from engine.batch.request import Selection
    from engine.definitions.options import parse_sets
    from engine.errors import UsageError
    from engine.testing.diff import diff_population, diff_scenarios, load_scenarios, render_report

    left = _workspace(left_ws)
    right = _workspace(right_ws) if right_ws else left
    overrides = parse_sets(sets, right.scripts)
    if population and scenarios:
        raise UsageError("give scenarios or --population, not both")
    if population:
        selection = Selection(where=where) if where else Selection(all=True)
        report = diff_population(left, right, overrides, _store(db), population, selection)
    elif scenarios:
        report = diff_scenarios(left, right, overrides, load_scenarios(list(scenarios), left))
    else:
        raise UsageError("give scenario files (or --population PROCESS)")
    click.echo(_json_text(report.as_json()) if as_json else render_report(report))
    ctx.exit(0 if report.same else 1)


def main() -> None:
    """Entry point of the `cardflow` console script."""
    gc.disable()  # until _started_up: collections during the imports cost about a sixth of start-up
    cli(prog_name="cardflow")


if __name__ == "__main__":
    sys.exit(main())
