"""An outbox row as an email: multipart text + HTML, with headers that user data cannot break.

Python's `email` package decodes RFC 2047 encoded words (`=?utf-8?q?=0D=0ABcc:...?=`) when it
writes a header it parsed from a string, and writes what they decode to (CR, LF) raw: a display
name or a subject could become a header of its own. So the From, To and Subject headers written
here never pass through that parser: their text is cleaned to one line, and whenever it is not
plain printable ASCII, or holds anything that reads as an encoded word, it is written as encoded
words of its literal characters. Addresses are checked (one `@`, a dot-atom local part, a domain of
labels or an address literal); a domain beyond ASCII is written in IDNA; a local part beyond ASCII
needs a server that offers SMTPUTF8.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from email import policy as policies
from email.header import Header
from email.headerregistry import BaseHeader, HeaderRegistry, UnstructuredHeader
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from typing import Any

from engine.definitions.templates import one_line

#: Longest display name and subject kept (the rest is cut, with "…"): a header stays a header.
MAX_NAME = 200
MAX_SUBJECT = 500
_LOCAL = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
_LABELS = re.compile(r"(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*")
_LITERAL = re.compile(r"\[(\d{1,3}(\.\d{1,3}){3}|IPv6:[0-9A-Fa-f:.]+)\]")
_PHRASE = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~ -]*")


class BadAddress(ValueError):
    """An address that is not one deliverable mailbox."""


def check_address(text: str) -> str:
    """The address as it goes on the wire (domain in IDNA), or BadAddress saying what is wrong."""
    if not isinstance(text, str) or text != text.strip() or not text:
        raise BadAddress(f"not an email address: {text!r}")
    if text.count("@") != 1:
        raise BadAddress(f"not an email address (it needs exactly one '@'): {text!r}")
    local, domain = text.split("@")
    if not local or not (_LOCAL.fullmatch(local) or (not local.isascii() and _unicode_local(local))):
        raise BadAddress(f"not an email address (the part before '@' is not a mailbox name): {text!r}")
    if _LITERAL.fullmatch(domain):
        return text
    try:
        ascii_domain = domain.encode("idna").decode("ascii") if not domain.isascii() else domain
    except UnicodeError:
        raise BadAddress(f"not an email address (the domain is not a host name): {text!r}") from None
    if not _LABELS.fullmatch(ascii_domain):
        raise BadAddress(f"not an email address (the domain is not a host name): {text!r}")
    return f"{local}@{ascii_domain}"


def _unicode_local(local: str) -> bool:
    return all(c.isprintable() and c not in ' "(),:;<>@[\\]' for c in local) and ".." not in local


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _words(text: str, linesep: str, name: str) -> str:
    """`text` as a header value: as is when it is plain printable ASCII that no reader would decode,
    else encoded words of its literal characters (a reader decodes them once, to the text itself)."""
    if text.isascii() and text.isprintable() and "=?" not in text and "?=" not in text:
        return text
    return Header(text, "utf-8", maxlinelen=900, header_name=name).encode(linesep=linesep)


class _LiteralText(BaseHeader):
    """An unstructured header (Subject) kept as the literal text it was given, never decoded."""

    max_count = 1

    @classmethod
    def parse(cls, value: str, kwds: dict[str, Any]) -> None:
        kwds["parse_tree"] = UnstructuredHeader.value_parser("")
        kwds["decoded"] = _cut(one_line(str(value)), MAX_SUBJECT)

    def fold(self, *, policy: Any) -> str:
        return f"{self.name}: {_words(str(self), policy.linesep, self.name)}{policy.linesep}"


class _Mailbox(BaseHeader):
    """One mailbox (From, To) from a (display name, address) pair, written without the parser."""

    max_count = 1

    @classmethod
    def parse(cls, value: Any, kwds: dict[str, Any]) -> None:
        name, address = value if isinstance(value, tuple) else parseaddr(str(value))
        kwds["parse_tree"] = UnstructuredHeader.value_parser("")
        kwds["display"] = _cut(one_line(name), MAX_NAME)
        kwds["address"] = address
        kwds["decoded"] = f"{kwds['display']} <{address}>" if kwds["display"] else address

    def init(self, *args: Any, **kw: Any) -> None:
        self.display, self.address = kw.pop("display"), kw.pop("address")
        super().init(*args, **kw)

    def fold(self, *, policy: Any) -> str:
        if not self.display:
            return f"{self.name}: {self.address}{policy.linesep}"
        if _PHRASE.fullmatch(self.display) and "=?" not in self.display:
            shown = self.display
        elif self.display.isascii() and self.display.isprintable() and "=?" not in self.display and "?=" not in self.display:
            shown = '"' + self.display.replace("\\", "\\\\").replace('"', '\\"') + '"'
        else:
            shown = _words(self.display, policy.linesep, self.name)
        return f"{self.name}: {shown} <{self.address}>{policy.linesep}"


def _policy(utf8: bool) -> Any:
    factory = HeaderRegistry()
    factory.map_to_type("subject", _LiteralText)
    factory.map_to_type("from", _Mailbox)
    factory.map_to_type("to", _Mailbox)
    return policies.default.clone(header_factory=factory, utf8=utf8)


def build_message(row: dict[str, Any], from_address: str) -> EmailMessage:
    """The email of an outbox row: multipart text + HTML, headers safe from the data in them.

    BadAddress when the recipient (or the sender) is not one deliverable mailbox.
    """
    sender_name, sender_address = parseaddr(from_address)
    sender = check_address(sender_address)
    recipient = check_address(row["recipient"] or "")
    message = EmailMessage(policy=_policy(utf8=not (recipient.isascii() and sender.isascii())))
    message["From"] = (sender_name, sender)
    message["To"] = (_recipient_name(row), recipient)
    message["Subject"] = one_line(row["subject"] or "")
    message["Message-ID"] = row["message_id"]
    message["Date"] = format_datetime(datetime.fromisoformat(row["created_at"].replace("Z", "+00:00")))
    message["X-Cardflow-Outbox"] = str(row["id"])
    message.set_content(row["body_text"] or "", charset="utf-8")
    message.add_alternative(row["body_html"] or "", subtype="html", charset="utf-8")
    return message


def _recipient_name(row: dict[str, Any]) -> str:
    try:
        context = json.loads(row["context"])
    except (TypeError, ValueError):
        return ""
    recipient = context.get("recipient") if isinstance(context, dict) else None
    return str(recipient.get("name") or "") if isinstance(recipient, dict) else ""
