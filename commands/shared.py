"""What every persona's commands share: the common options, and opening the workspace, the store and the bureau."""

from __future__ import annotations

import gc
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import click

if TYPE_CHECKING:  # imported where used: a command that needs no store or workspace never loads them
    from sqlalchemy import Connection, Engine

    from engine.batch.request import Selection
    from engine.definitions.model import Workspace
    from engine.definitions.options import EffectiveOptions
    from engine.outbound.bureau import Connector
    from engine.store.prepared import Reads

F = Callable[..., Any]


def workspace_option(function: F) -> F:
    return click.option(
        "--workspace",
        envvar="CARDFLOW_WORKSPACE",
        type=click.Path(file_okay=False),
        help="Workspace folder (processes/, rules/, templates/email/). Default: the nearest folder at or above "
        "the current one that holds processes/, else the reference workspace shipped with cardflow.",
    )(function)


JSON_KEY = "cardflow.json"  # the command was asked for JSON: a refusal is JSON on stdout too
ANSWERED_KEY = "cardflow.answered"  # the command's JSON answer is on stdout: no second document after it


def _wants_json(ctx: click.Context, param: click.Parameter, value: bool) -> bool:
    if value:
        ctx.find_root().meta[JSON_KEY] = True
    return value


def json_option(function: F) -> F:
    """--json, read before any other option (eager), so a refusal of any of them is told as JSON too."""
    return click.option(
        "--json",
        "as_json",
        is_flag=True,
        is_eager=True,
        callback=_wants_json,
        help='Print stable JSON for scripts (a refusal too: {"error": {code, message, details}}).',
    )(function)


def answered() -> None:
    """The command's JSON answer is (being) written on stdout; a later error is told on stderr only."""
    context = click.get_current_context(silent=True)
    if context is not None:
        context.find_root().meta[ANSWERED_KEY] = True


def log_format_option(function: F) -> F:
    return click.option(
        "--log-format",
        type=click.Choice(["text", "json"]),
        default="text",
        show_default=True,
        envvar="CARDFLOW_LOG_FORMAT",
        help="Log lines on stderr as text, or as JSON objects (time, level, logger, message, batch, card, job) "
        "for a log collector.",
    )(function)


def criterion_option(default: tuple[str, ...]) -> Callable[[F], F]:
    """--criterion NAME (repeatable): the coverage criteria counted (engine.testing.criteria)."""
    from engine.testing.criteria import CRITERIA

    return click.option(
        "--criterion",
        "criteria",
        multiple=True,
        default=default,
        show_default=True,
        type=click.Choice([*CRITERIA, "all"]),
        help="A coverage criterion to count: transitions (timers included), guards (both outcomes), mcdc, "
        "transition-pairs, option-pairs, or all. Repeatable.",
    )


def set_option(function: F) -> F:
    return click.option(
        "--set",
        "sets",
        multiple=True,
        metavar="VAR=VALUE",
        help="Override an option for this command; VALUE is YAML flow (false, [a, b]). Repeatable.",
    )(function)


def open_workspace(
    path: str | None,
    *,
    valid: bool = True,
    render_templates: bool = False,
    store: str | Literal[False] | None = False,
    batch: str | None = None,
) -> Workspace:
    """The workspace a command runs: --workspace (or $CARDFLOW_WORKSPACE) when given; else, for a
    command over a store (`store`: its --db), the release the batch it resumes (`batch`) started
    with, or the store's live release; else the folder `locate` finds. A workspace given while the
    store has a live release of other files is run, with a note saying so."""
    from engine.definitions.cache import load_workspace_cached
    from engine.definitions.files import locate

    root = _live_root(path, store, batch) if store is not False else None
    workspace = load_workspace_cached(root or locate(path), render_templates=render_templates)
    started_up()
    return workspace.require_valid() if valid else workspace


def _live_root(path: str | None, store: str | None, batch: str | None) -> Path | None:
    """The folder of the release to run, unless a workspace was given (then a note if it is not that release)."""
    from engine.definitions.files import locate
    from engine.releases.live import differs_from, live_release
    from engine.store.checks import store_location

    live = live_release(store_location(store), batch)
    if live is None:
        return None
    if path is None:
        return live[1]
    if differs_from(locate(path), live[0]):
        said = f"the release batch {batch} started with" if batch else "the store's live release"
        click.echo(f"cardflow: note: running the workspace {path}, not {said} {live[0]}", err=True)
    return None


def started_up() -> None:
    """Start-up is over (the imports are done, the workspace or the store is open): `main` kept
    the cyclic garbage collector off until now, as start-up allocates much and frees little. What
    start-up made (modules, classes, the workspace) lives as long as the command, so it is frozen
    out of every later collection, the one at exit included. A command run in a process that lives on
    (a test's, a fuzzer's) finds the collector on and freezes nothing: there a freeze would keep the
    garbage of every later cycle, and each batch would walk the frozen heap."""
    if gc.isenabled():
        return
    gc.freeze()
    gc.enable()


def options_from(workspace: Workspace, sets: tuple[str, ...]) -> EffectiveOptions:
    from engine.definitions.options import effective_options, parse_sets

    return effective_options(workspace.scripts, parse_sets(sets, workspace.scripts))


def echo_json(data: Any) -> None:
    from engine.report.tables import to_json

    answered()
    click.echo(to_json(data))


def page_options(function: F) -> F:
    """--limit N and --offset N: a window of a listing (it is read a page at a time either way)."""
    function = click.option("--offset", type=click.IntRange(min=0), default=0, help="Skip the first N rows.")(function)
    return click.option("--limit", type=click.IntRange(min=0), help="Show at most N rows.")(function)


def echo_listing(rows: Any, as_json: bool, headers: list[str], cells: Callable[[Any], list[Any]]) -> None:
    """Print rows as they are read: a JSON array with --json, else a table (columns as wide as its first page)."""
    from engine.report.tables import json_array, table_lines

    if as_json:
        answered()
        for piece in json_array(rows):
            click.echo(piece, nl=False)
        click.echo()
        return
    lines: list[str] = []
    for line in table_lines(headers, map(cells, rows)):
        lines.append(line)
        if len(lines) == 1000:
            click.echo("\n".join(lines))
            lines = []
    if lines:
        click.echo("\n".join(lines))


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


def choose_users(user_ids: tuple[str, ...], everyone: bool, where: str | None) -> Selection:
    """The users `plan` is for: exactly one of --user, --all, --where (the engine's rule)."""
    from engine.batch.request import Selection, check_one_selection

    check_one_selection("users", "--user", user_ids, everyone, where)
    return Selection(tuple(user_ids), everyone, where)


STORE_KEY = "cardflow.store"


def store_at(location: str | None, *, mode: str = "write") -> Engine:
    """The store, closed when the command ends (so SQLite folds its write-ahead log back into the file).

    Commands that only read pass `mode="read"`: the store must exist, is opened read-only and is not migrated.
    """
    from engine.store.queries import open_store

    context = _opening_store(location)
    engine = open_store(location, mode=mode)
    started_up()
    if context is not None:
        context.call_on_close(engine.dispose)
    return engine


def _opening_store(location: str | None) -> click.Context | None:
    """Note the store a command opens, for the one-line error should the database fail later, and
    the command, for those who wait for the store's lock."""
    from engine.store.checks import store_location
    from engine.store.lock import hold_as

    context = click.get_current_context(silent=True)
    if context is not None:
        context.find_root().meta[STORE_KEY] = store_location(location)
        hold_as(command=context.command_path.partition(" ")[2] or context.command_path)
    return context


def open_reading(location: str | None) -> Connection:
    """A read-only connection to an existing store (a read command never creates nor migrates one)."""
    from engine.store.db import reading

    return reading(store_at(location, mode="read"))


@contextmanager
def open_listing(location: str | None) -> Iterator[Reads]:
    """Reads of an existing store for a listing: on an SQLite file, Python's sqlite3 with the
    statements kept on disk (SQLAlchemy is not imported); elsewhere a read-only connection."""
    from engine.store.checks import hidden_password, sqlite_path, store_location
    from engine.store.prepared import Through, kept_reads

    where = store_location(location)
    path = sqlite_path(where)
    if path is None:
        with open_reading(location) as connection:
            yield Through(connection)
        return
    _opening_store(location)
    with kept_reads(path, where if "://" not in where else hidden_password(where)) as reads:
        started_up()
        yield reads


def bureau_connector(name: str | None, orders: str | None, workspace: Workspace) -> Connector:
    """The bureau's connector: `--connector`, else $CARDFLOW_CONNECTOR, else the kind connectors.yaml declares."""
    from engine.definitions.calls import BUREAU
    from engine.outbound.connectors import connector_from

    declared = workspace.connectors.get(BUREAU)
    return connector_from(name, orders, declared.kind if declared is not None else None)


class _NoProgress:
    def __enter__(self) -> Any:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def progress_bar(total: int | None, label: str = "cards") -> Any:
    """A progress bar on stderr when it is a terminal, counting `label`; nothing otherwise. Entered, it
    gives the function that moves it on (None when there is no bar)."""
    if total is None or not sys.stderr.isatty():
        return _NoProgress()

    class _Bar:
        def __enter__(self) -> Any:
            self.bar: Any = click.progressbar(length=total, label=label, file=sys.stderr)
            self.bar.__enter__()
            return self.bar.update

        def __exit__(self, *exc: object) -> None:
            self.bar.__exit__(None, None, None)

    return _Bar()


def json_text(data: Any) -> str:
    """The command's JSON answer as text, for it to print (a later error adds no second document)."""
    from engine.report.tables import to_json

    answered()
    return to_json(data)
