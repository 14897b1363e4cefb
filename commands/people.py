"""Users in the store, for operators and administrators: import them, list them, and give them a
console password or an API token."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from commands.shared import (
    db_option,
    echo_listing,
    json_option,
    json_text,
    open_listing,
    open_reading,
    open_workspace,
    page_options,
    store_at,
    workspace_option,
)


@click.group()
def users() -> None:
    """Users in the store: import them from CSV, JSON or YAML; list them; console passwords and API tokens."""


@users.command("import")
@click.argument("file", type=click.Path(path_type=Path, allow_dash=True))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "json", "yaml"]),
    help="The file's format (default: by its suffix; from stdin, guessed).",
)
@db_option
@workspace_option
@json_option
def users_import(file: Path, fmt: str | None, db: str | None, workspace: str | None, as_json: bool) -> None:
    """Import users (id, name, email, state, roles, any other attribute); re-import updates them.

    CSV: a header row; roles separated by spaces or semicolons, each a role of the workspace
    (roles.yaml). JSON/YAML: a list of users (or a mapping with `users:`). FILE `-` reads stdin.
    The file is checked whole before anything is written. --json: {imported, source}.
    """
    from engine.store.queries import upsert_users
    from engine.store.users import guess_format, parse_users, read_users

    roles = open_workspace(workspace, valid=False, store=db).role_names()
    if str(file) == "-":
        text = read_stdin()
        rows = parse_users(text, "<stdin>", fmt or guess_format(text), roles)
    else:
        rows = read_users(file, fmt, roles)
    engine = store_at(db)
    with engine.begin() as connection:
        upsert_users(connection, rows)
    source = "stdin" if str(file) == "-" else str(file)
    click.echo(json_text({"imported": len(rows), "source": source}) if as_json else f"imported {len(rows)} user(s) from {source}")


def read_stdin() -> str:
    """All of stdin as UTF-8 text (a byte-order mark dropped); other bytes are a usage error."""
    from engine.errors import UsageError

    try:
        return sys.stdin.buffer.read().decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise UsageError(f"<stdin>: cannot read: {error}") from None


@users.command("list")
@click.option(
    "--columns",
    metavar="NAME,...",
    help="The columns to show, fields (id, name, email, state, roles) or attributes (department, ...), comma-separated; "
    "--json keeps only these too. Default: the fields, then every attribute of the first page of users.",
)
@page_options
@db_option
@json_option
def users_list(columns: str | None, limit: int | None, offset: int, db: str | None, as_json: bool) -> None:
    """List the users of the store with their attributes, in id order (read a page at a time)."""
    from engine.store import listing

    asked = [name.strip() for name in (columns or "").split(",") if name.strip()]
    with open_listing(db) as reads:
        shown = listing.user_columns(reads, asked)
        rows = listing.users(reads, limit=limit, offset=offset)
        if as_json and asked:
            rows = ({name: user.get(name) for name in shown} for user in rows)
        echo_listing(rows, as_json, shown, lambda user: [user.get(name) for name in shown])


@users.command("password")
@click.argument("user_id", metavar="ID")
@click.option("--stdin", "from_stdin", is_flag=True, help="Read the password from the first line of standard input.")
@db_option
def users_password(user_id: str, from_stdin: bool, db: str | None) -> None:
    """Set the console password of user ID (prompted twice, or read with --stdin); kept as an argon2 hash."""
    from engine.store.accounts import set_password

    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    engine = store_at(db)
    with engine.begin() as connection:
        set_password(connection, user_id, password)
    click.echo(f"password set for {user_id}")


@users.command("token")
@click.argument("user_id", metavar="ID")
@click.option(
    "--expires",
    metavar="DAYS|PnD",
    help="How long the new token is valid: days (30) or a duration (P90D, P12W). Default: 90 days.",
)
@click.option("--list", "listing", is_flag=True, help="List the user's tokens (id, created, expires, status) instead.")
@click.option(
    "--revoke",
    metavar="TOKEN-ID",
    is_flag=False,
    flag_value="",
    default=None,
    help="Revoke the user's token TOKEN-ID (as --list shows it), or with --all every token of the user.",
)
@click.option("--all", "every", is_flag=True, help="With --revoke: every token of the user.")
@db_option
@json_option
def users_token(
    user_id: str, expires: str | None, listing: bool, revoke: str | None, every: bool, db: str | None, as_json: bool
) -> None:
    """Make a new API token for user ID and print it (only its hash is kept: it is shown once); a token
    expires after 90 days unless --expires says otherwise. --list lists the user's tokens, --revoke
    ends one (or --all). --json: the new token as {id, user, created_at, expires_at, token}; with
    --list, [{id, user, created_at, expires_at, status: active|expired}].
    """
    _check_token_flags(expires, listing, revoke, every)
    if listing:
        _list_tokens(user_id, db, as_json)
    elif revoke is not None:
        _revoke_tokens(user_id, revoke or None, db, as_json)
    else:
        _issue_token(user_id, expires, db, as_json)


def _check_token_flags(expires: str | None, listing: bool, revoke: str | None, every: bool) -> None:
    from engine.errors import UsageError

    if listing and (revoke is not None or expires):
        raise UsageError("--list lists the tokens; it takes neither --revoke nor --expires")
    if revoke is not None and expires:
        raise UsageError("--revoke ends tokens; it takes no --expires")
    if revoke is not None and bool(revoke) == every:
        raise UsageError("--revoke takes one TOKEN-ID (see --list) or --all, not both and not neither")
    if every and revoke is None:
        raise UsageError("--all goes with --revoke")


def _issue_token(user_id: str, expires: str | None, db: str | None, as_json: bool) -> None:
    from engine.store.accounts import new_token, token_days

    days = token_days(expires) if expires else None
    with store_at(db).begin() as connection:
        token = new_token(connection, user_id, days)
    if as_json:
        click.echo(json_text({**token.as_json(token.created_at), "token": token.secret}))
        return
    click.echo(token.secret)
    click.echo(f"token {token.id} of {user_id} expires at {token.expires_at} (--revoke {token.id} ends it)", err=True)


def _list_tokens(user_id: str, db: str | None, as_json: bool) -> None:
    from engine.clock import now
    from engine.store.accounts import tokens_of

    with open_reading(db) as connection:
        at = now()
        rows = [token.as_json(at) for token in tokens_of(connection, user_id)]
    headers = ["id", "created_at", "expires_at", "status"]
    echo_listing(rows, as_json, headers, lambda row: [row[name] for name in headers])


def _revoke_tokens(user_id: str, token_id: str | None, db: str | None, as_json: bool) -> None:
    from engine.store.accounts import revoke_tokens

    with store_at(db).begin() as connection:
        revoked = revoke_tokens(connection, user_id, token_id)
    if as_json:
        click.echo(json_text({"user": user_id, "revoked": revoked}))
    else:
        click.echo(f"revoked {revoked} token(s) of {user_id}")


COMMANDS: list[click.Command] = [users]
