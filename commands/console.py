"""The console: `cardflow serve`, the operators' and approvers' pages and the JSON API in a browser."""

from __future__ import annotations

import os

import click

from commands.shared import (
    bureau_connector,
    connector_options,
    db_option,
    log_format_option,
    open_workspace,
    store_at,
    workspace_option,
)


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="The address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535), help="The port to listen on.")
@click.option("--create", is_flag=True, help="Make a new store at --db if there is none (else that is an error).")
@click.option(
    "--secure-cookies",
    is_flag=True,
    envvar="CARDFLOW_SECURE_COOKIES",
    help="Send the session cookie over HTTPS only (behind a TLS proxy).",
)
@log_format_option
@workspace_option
@db_option
@connector_options
def serve(
    host: str,
    port: int,
    create: bool,
    secure_cookies: bool,
    log_format: str,
    workspace: str | None,
    db: str | None,
    connector: str | None,
    orders: str | None,
) -> None:
    """Serve the operator console and the JSON API (/api/, documented at /api/openapi.json).

    Users log in with a password set by `cardflow users password ID`; scripts use a token from
    `cardflow users token ID`. Sessions are signed with $CARDFLOW_SECRET_KEY (at least 32 bytes;
    default: a new key at each start, which logs everyone out when the server restarts).

    The store must exist (a missing one is an error, unless --create). Exit 2, with one line, when
    the store cannot be served or the address cannot be had (a port in use).
    """
    # imported before the workspace is opened, while `main` keeps the cyclic collector off (start-up)
    from engine.releases.live import Following
    from engine.report.logs import log_to_stderr, say
    from engine.web.app import create_app
    from engine.web.console import Console, session_secret
    from engine.web.serving import listen, serve_on

    secret = session_secret(os.environ.get("CARDFLOW_SECRET_KEY"))
    found = open_workspace(workspace, store=db)
    store = store_at(db, mode="write" if create else "existing")
    following = None if workspace else Following(store, found)
    bureau = bureau_connector(connector, orders, found)
    console = Console(found, store, bureau, secret, secure_cookies=secure_cookies, following=following)
    sock = listen(host, port)
    shown = f"[{host}]" if ":" in host else host  # an IPv6 address is bracketed in a URL
    say(log_format, f"the console is at http://{shown}:{port}/ (Ctrl+C stops it)")
    log_to_stderr(log_format, "cardflow serve: ", ["engine", "uvicorn.error"], work=["engine"])
    serve_on(create_app(console), sock)


COMMANDS: list[click.Command] = [serve]
