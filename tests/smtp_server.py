"""A real SMTP server on 127.0.0.1 (aiosmtpd) that records every email it accepts.

It listens on a free port chosen once, so it can be stopped and started again on the same port
to play a mail server that goes down and comes back:

    with SmtpServer() as server:
        ...  # point CARDFLOW_SMTP_* at server.env()
        server.stop()  # connections are refused now
        server.start()  # the same host and port accept mail again
        server.received  # every email accepted so far, in order
        server.refuse.add("x@example.com")  # RCPT TO:<x@example.com> gets a 550
"""

from __future__ import annotations

import email
import email.policy
import socket
import threading
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

HOST = "127.0.0.1"


@dataclass(frozen=True)
class Received:
    """One email the server accepted: the envelope and the message as it arrived."""

    mail_from: str
    rcpt_tos: list[str]
    raw: bytes
    message: EmailMessage


def free_port(host: str = HOST) -> int:
    """A TCP port nobody listens on now (the OS picks it for a socket bound to port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


class _Handler:
    """Records the envelope and the parsed message of every DATA command."""

    def __init__(self, server: SmtpServer) -> None:
        self.server = server

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]) -> str:
        if address in self.server.refuse:
            return "550 5.1.1 no such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        content = envelope.content if isinstance(envelope.content, bytes) else envelope.content.encode()
        message = email.message_from_bytes(content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        with self.server.lock:
            self.server.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), content, message))
        return "250 Message accepted for delivery"


class SmtpServer:
    """The server; `start` and `stop` may be called any number of times, always on the same port."""

    def __init__(self, host: str = HOST, port: int | None = None) -> None:
        self.host = host
        self.port = port or free_port(host)
        self.received: list[Received] = []
        self.refuse: set[str] = set()  # recipients answered with 550
        self.lock = threading.Lock()
        self._controller: Controller | None = None

    @property
    def running(self) -> bool:
        return self._controller is not None

    def start(self) -> None:
        """Listen (again) on the server's port; returns when the server answers."""
        if self._controller is None:
            controller = Controller(_Handler(self), hostname=self.host, port=self.port, ready_timeout=5, enable_SMTPUTF8=True)
            controller.start()
            self._controller = controller

    def stop(self) -> None:
        """Stop listening: from now on a connection to the port is refused."""
        if self._controller is not None:
            controller, self._controller = self._controller, None
            controller.stop()

    def env(self, sender: str = "Card services <cards@example.com>") -> dict[str, str]:
        """The CARDFLOW_SMTP_* settings that point cardflow at this server."""
        return {"CARDFLOW_SMTP_HOST": self.host, "CARDFLOW_SMTP_PORT": str(self.port), "CARDFLOW_SMTP_FROM": sender}

    def messages(self) -> list[EmailMessage]:
        with self.lock:
            return [item.message for item in self.received]

    def __enter__(self) -> SmtpServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
