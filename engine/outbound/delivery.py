"""Delivering the outbox: over SMTP (settings from the environment) or as .eml files in a folder.

Each email is built by `message` (multipart text + HTML, headers written so that user data cannot
add one) and carries the
Message-ID stored when it was rendered. An email is marked sent only after the transport took
it; a failure leaves it pending with the error and a next attempt after an exponential back-off,
until the last attempt marks it failed; `retry_emails` gives a failed email a new round of attempts,
keeping its history. A sent email is never picked again. A refusal of one email (a recipient, a
malformed address) fails that email only; only a lost connection stops the run.
"""

from __future__ import annotations

import contextlib
import json
import os
import smtplib
import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.errors import MessageError
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol

from sqlalchemy import Connection, Engine

from engine.clock import now
from engine.errors import Refused, UsageError
from engine.outbound.message import build_message
from engine.store import outbox
from engine.store.queries import Row

MAX_ATTEMPTS = 8
DOWN = "transport down: "
FIRST_DELAY = timedelta(minutes=1)


class Transport(Protocol):
    """Something that takes a finished email, or raises."""

    name: str

    def send(self, message: EmailMessage) -> None: ...

    def close(self) -> None: ...


class TransportDown(Exception):
    """The transport cannot take any email now (server down): stop this run, try later."""


class MessageRefused(Exception):
    """The server refused this one email (a recipient, its size, a line): the others go on.

    A permanent refusal (5xx) fails the email at once; a temporary one (4xx) is tried again later.
    """

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.permanent = 500 <= code < 600


def _said(text: bytes | str) -> str:
    shown = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    return " ".join(shown.split())[:300]


@dataclass(frozen=True)
class SmtpSettings:
    """SMTP settings from CARDFLOW_SMTP_HOST, _PORT, _USER, _PASSWORD, _STARTTLS, _FROM."""

    host: str
    port: int
    user: str | None
    password: str | None
    starttls: bool
    sender: str

    @classmethod
    def from_env(cls) -> SmtpSettings | None:
        host = os.environ.get("CARDFLOW_SMTP_HOST")
        if not host:
            return None
        try:
            port = int(os.environ.get("CARDFLOW_SMTP_PORT", "25"))
        except ValueError:
            raise UsageError("CARDFLOW_SMTP_PORT must be a port number") from None
        starttls = os.environ.get("CARDFLOW_SMTP_STARTTLS", "false").lower() in ("1", "true", "yes", "on")
        return cls(host, port, os.environ.get("CARDFLOW_SMTP_USER"), os.environ.get("CARDFLOW_SMTP_PASSWORD"), starttls, sender())


def sender() -> str:
    """The From address: CARDFLOW_SMTP_FROM, else a cardflow address."""
    return os.environ.get("CARDFLOW_SMTP_FROM") or "Card services <cardflow@localhost>"


class Smtp:
    """One SMTP connection for a run of deliveries."""

    name = "smtp"

    def __init__(self, settings: SmtpSettings, timeout: float = 30) -> None:
        self.settings, self.timeout = settings, timeout
        self.connection: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        if self.connection is None:
            try:
                connection = smtplib.SMTP(self.settings.host, self.settings.port, timeout=self.timeout)
                if self.settings.starttls:
                    connection.starttls(context=ssl.create_default_context())
                if self.settings.user:
                    connection.login(self.settings.user, self.settings.password or "")
            except (OSError, smtplib.SMTPException) as error:
                raise TransportDown(f"SMTP {self.settings.host}:{self.settings.port}: {error}") from None
            self.connection = connection
        return self.connection

    def send(self, message: EmailMessage) -> None:
        """Send one email; a refusal of this email is MessageRefused, a lost connection TransportDown."""
        connection = self._connect()
        envelope = (message["From"].address, [message["To"].address])
        try:
            connection.send_message(message, *envelope)
        except smtplib.SMTPServerDisconnected as error:
            self.connection = None
            raise TransportDown(f"SMTP connection lost: {error}") from None
        except smtplib.SMTPRecipientsRefused as error:
            code, said = next(iter(error.recipients.values()))
            raise MessageRefused(code, f"the server refused the recipient: {code} {_said(said)}") from None
        except smtplib.SMTPResponseException as error:
            raise MessageRefused(
                error.smtp_code, f"the server refused the email: {error.smtp_code} {_said(error.smtp_error)}"
            ) from None
        except smtplib.SMTPNotSupportedError as error:
            raise MessageRefused(550, f"the server cannot take this address: {error}") from None
        except OSError as error:  # after the SMTP errors: smtplib.SMTPException is an OSError
            self.connection = None
            raise TransportDown(f"SMTP connection lost: {error}") from None

    def close(self) -> None:
        if self.connection is not None:
            with contextlib.suppress(OSError, smtplib.SMTPException):
                self.connection.quit()
            self.connection = None


class Folder:
    """Writes each email as `<folder>/<outbox id>.eml` (whole, then renamed into place)."""

    name = "folder"

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def send(self, message: EmailMessage) -> None:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            name = message["X-Cardflow-Outbox"]
            partial = self.folder / f".{name}.partial"
            partial.write_bytes(bytes(message))
            os.replace(partial, self.folder / f"{name}.eml")
        except OSError as error:
            raise TransportDown(f"cannot write to {self.folder}: {error.strerror}") from None

    def close(self) -> None:
        return None


def _parse(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def _stamp(moment: datetime) -> str:
    return moment.replace(microsecond=0).isoformat().replace("+00:00", "Z")


@dataclass
class Delivery:
    """What happened to one email in a run of `outbox send`."""

    id: int
    template: str
    to: str
    status: str
    error: str | None = None

    def as_json(self) -> Row:
        return {"id": self.id, "template": self.template, "to": self.to, "status": self.status, "error": self.error}


def send_outbox(
    engine: Engine,
    transport: Transport,
    *,
    limit: int | None = None,
    ignore_backoff: bool = False,
    stop: Callable[[], bool] = lambda: False,
) -> list[Delivery]:
    """Deliver pending emails that are due (all pending with `ignore_backoff`), oldest first, one
    transaction each; once `stop()` is true, the rest stay pending for the next run."""
    results: list[Delivery] = []
    down: str | None = None
    try:
        for outbox_id in _due(engine, limit, ignore_backoff):
            if stop():
                break
            delivery = _deliver_one(engine, transport, outbox_id, down)
            if delivery is not None:
                results.append(delivery)
                if delivery.error and delivery.error.startswith(DOWN):
                    down = delivery.error
    finally:
        transport.close()
    return results


def _due(engine: Engine, limit: int | None, ignore_backoff: bool) -> Iterator[int]:
    yield from outbox.due_emails(engine, limit, None if ignore_backoff else now())


def _deliver_one(engine: Engine, transport: Transport, outbox_id: int, down: str | None) -> Delivery | None:
    """Send one email inside a write transaction, so two senders never send the same email.

    Once the transport is `down` in this run, the email is not tried: the failed attempt is
    recorded with the same error and back-off as the one that found the transport down.
    """
    with engine.begin() as connection:
        email = outbox.claim_pending(connection, outbox_id)  # None: sent, or another sender holds it
        if email is None:
            return None
        try:
            message = build_message(email, sender())
        except (ValueError, TypeError, LookupError, MessageError) as invalid:  # this email only: the others go on
            problem = f"cannot build the email: {invalid}"
            _record(connection, email, "failed", problem, final=True)
            return Delivery(email["id"], email["template"], email["recipient"], "failed", problem)
        try:
            if down is not None:
                raise TransportDown(down.removeprefix(DOWN))
            transport.send(message)
        except TransportDown as unavailable:
            reason = f"{DOWN}{unavailable}"
            status = _record(connection, email, "pending", reason)
            return Delivery(email["id"], email["template"], email["recipient"], status, reason)
        except MessageRefused as refused:
            status = _record(connection, email, "pending", str(refused), final=refused.permanent)
            return Delivery(email["id"], email["template"], email["recipient"], status, str(refused))
        except (smtplib.SMTPException, ValueError) as error:
            status = _record(connection, email, "pending", f"{type(error).__name__}: {error}")
            return Delivery(email["id"], email["template"], email["recipient"], status, str(error))
        outbox.mark_sent(connection, outbox_id, email["attempts"] + 1, now())
    return Delivery(email["id"], email["template"], email["recipient"], "sent")


def _record(connection: Connection, email: Row, status: str, error: str, final: bool = False) -> str:
    """Record a failed attempt in the history: pending with a back-off, or failed after the last attempt of its round."""
    attempts = email["attempts"] + 1
    history = _history(email)
    round_attempts = attempts - next((entry["after"] for entry in reversed(history) if "retried" in entry), 0)
    if final or round_attempts >= MAX_ATTEMPTS:
        status = "failed"
    next_attempt = _stamp(_parse(now()) + FIRST_DELAY * 2 ** (round_attempts - 1))
    history.append({"at": now(), "attempt": attempts, "error": error})
    values = {
        "status": status,
        "attempts": attempts,
        "error": error,
        "next_attempt_at": None if status == "failed" else next_attempt,
        "history": json.dumps(history, ensure_ascii=False),
    }
    outbox.record_attempt(connection, email["id"], values)
    return status


def _history(email: Row) -> list[Row]:
    try:
        history = json.loads(email.get("history") or "[]")
    except ValueError:
        return []
    return history if isinstance(history, list) else []


def retry_emails(engine: Engine, ids: list[int] | None) -> list[int]:
    """Re-queue failed emails (those of `ids`, or every failed one when `ids` is None) for a new round of
    attempts, due now; their attempts and history are kept. Unknown ids, or emails not failed, are refused."""
    with engine.begin() as connection:
        found = outbox.emails_for_retry(connection, ids)
        if ids is None:
            rows = list(found.values())
        else:
            problems = [
                f"{i} ({found[i]['status'] if i in found else 'unknown'})"
                for i in ids
                if i not in found or found[i]["status"] != "failed"
            ]
            if problems:
                raise Refused(f"only failed emails can be retried; not: {', '.join(problems)}; nothing re-queued")
            rows = [found[i] for i in dict.fromkeys(ids)]
        for row in rows:
            history = [*_history(row), {"at": now(), "retried": True, "after": row["attempts"]}]
            outbox.requeue(connection, row["id"], json.dumps(history, ensure_ascii=False))
    return [row["id"] for row in rows]


def transport_for(to_dir: str | None) -> Transport:
    """--to-dir DIR writes .eml files; else SMTP from CARDFLOW_SMTP_*; with neither, .eml files in mail/."""
    if to_dir:
        return Folder(Path(to_dir))
    settings = SmtpSettings.from_env()
    return Smtp(settings) if settings else Folder(Path("mail"))
