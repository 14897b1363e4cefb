"""Serving the console: its address taken before anything says where it is, then uvicorn on it.

The socket is bound here, not by uvicorn, so an address that cannot be had (a port in use, a
host that is not this machine's) is one line and exit 2 before "the console is at ...".
"""

from __future__ import annotations

import errno
import socket
from typing import TYPE_CHECKING

import uvicorn

from engine.errors import UsageError

if TYPE_CHECKING:  # the app is built by the caller
    from fastapi import FastAPI


def listen(host: str, port: int) -> socket.socket:
    """A socket listening on `host`:`port`, or a one-line usage error saying why it cannot be."""
    try:
        family, _, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, socket.SOCK_STREAM)
    except OSError as error:
        raise UsageError(f"cannot listen on {host}:{port}: {error.strerror or error}") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # not an active listener's port: Linux refuses that
        sock.bind(address)
        sock.listen(2048)
    except OSError as error:
        sock.close()
        raise UsageError(f"cannot listen on {host}:{port}: {_why(error)}") from None
    sock.set_inheritable(True)
    return sock


def _why(error: OSError) -> str:
    if error.errno == errno.EADDRINUSE:
        return "the port is in use by another program (choose another with --port)"
    if error.errno == errno.EACCES:
        return "permission denied (ports below 1024 need privileges; choose another with --port)"
    return str(error.strerror or error)


def serve_on(app: FastAPI, sock: socket.socket) -> None:
    """Serve `app` on the listening socket until Ctrl+C (or SIGTERM); its log lines go where
    `engine.report.logs` sent them (uvicorn does not configure logging of its own)."""
    config = uvicorn.Config(app, log_level="warning", log_config=None, server_header=False)
    uvicorn.Server(config).run(sockets=[sock])
