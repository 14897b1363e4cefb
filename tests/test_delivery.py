"""Delivering the outbox against hostile data and a picky server: a real SMTP server (aiosmtpd on
127.0.0.1), .eml files, a real SQLite store and the real CLI.

Display names and subjects that are RFC 2047 encoded words of CR/LF + a header never become a
header; one refused recipient or one malformed address fails that email only; `outbox retry`
brings failed emails back with their history; stored CR/LF is shown escaped.
"""

from __future__ import annotations

import email
import email.policy
import json
import os
import re
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from conftest import Run
from smtp_server import SmtpServer

from engine.store import db
from engine.store.queries import upsert_users

ORDER = "CardsAddonExtProdBoProcOrderMultiple"
NOW = "2026-11-21T09:00:00Z"
QUEUE_OFF = ("--set", "CardsAddonExtProdQueue=false")
APPROVAL = ("--set", "CardsAddonExtProdBatchOrderApproval=true")
STAFF = [
    {"id": "op1", "name": "Olle Operator", "email": "op1@example.com", "state": "active", "roles": ["operator"]},
    {"id": "ap1", "name": "Anna Approver", "email": "ap1@example.com", "state": "active", "roles": ["approver"]},
]
#: Names that are encoded words of CR/LF + a header (q and b), of a header in the middle of a
#: name, and of an empty line (which would end the header section and push the rest into the body).
INJECTIONS = [
    "=?utf-8?q?=0D=0ABcc:_evil@example.com?=",
    "=?utf-8?b?DQpCY2M6IGV2aWxAZXhhbXBsZS5jb20=?=",
    "Eve =?utf-8?q?=0D=0AReply-To:_evil@example.com?= Evil",
    "=?utf-8?q?=0D=0A=0D=0A?=Body: pushed",
]


@pytest.fixture
def smtp(run: Run, monkeypatch: pytest.MonkeyPatch) -> Iterator[SmtpServer]:
    """A running SMTP server that cardflow sends to, at a fixed time."""
    server = SmtpServer()
    server.start()
    try:
        for name in ("CARDFLOW_SMTP_USER", "CARDFLOW_SMTP_PASSWORD", "CARDFLOW_SMTP_STARTTLS"):
            monkeypatch.delenv(name, raising=False)
        for name, value in server.env("Card services <cards@example.com>").items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("CARDFLOW_NOW", NOW)
        yield server
    finally:
        server.stop()


def holders(names: list[str], domain: str = "example.com") -> list[dict[str, Any]]:
    return [{"id": f"u{n}", "name": name, "email": f"u{n}@{domain}", "state": "active"} for n, name in enumerate(names)]


def store_users(users: list[dict[str, Any]]) -> None:
    """Write users straight into the store under test (as a store from before import checks would hold them)."""
    engine = db.connect(os.environ.get("CARDFLOW_DB") or "cardflow.db")
    rows = [
        {
            "id": u["id"],
            "name": u["name"],
            "email": u["email"],
            "state": u["state"],
            "roles": json.dumps(u.get("roles", [])),
            "attributes": "{}",
            "updated_at": NOW,
        }
        for u in users
    ]
    with engine.begin() as connection:
        upsert_users(connection, rows)
    engine.dispose()


def order(run: Run, users: list[dict[str, Any]], *args: str) -> dict[str, int]:
    selection = [arg for user in users for arg in ("--user", user["id"])]
    result = run("run", ORDER, *selection, "--as", "op1", "--json", *QUEUE_OFF, *args)
    assert result.exit_code == 0, result.output
    return {row["user"]: row["card"] for row in json.loads(result.stdout)["results"]}


def send(run: Run, *args: str) -> tuple[int, list[dict[str, Any]]]:
    result = run("outbox", "send", "--json", *args)
    return result.exit_code, json.loads(result.stdout)


def header_section(raw: bytes) -> bytes:
    return re.split(rb"\r?\n\r?\n", raw, maxsplit=1)[0]


def assert_no_injected_header(raw: bytes, message: EmailMessage) -> None:
    """One To, one Subject, no Bcc/Cc/Reply-To, no line break in a header value, the body where it belongs."""
    head = header_section(raw)
    assert not re.search(rb"(?im)^(bcc|cc|reply-to|body):", head), head
    assert message["Bcc"] is None and message["Reply-To"] is None and message["Cc"] is None
    assert len(message.get_all("To") or []) == 1 and len(message.get_all("Subject") or []) == 1
    for name, value in message.items():
        assert "\r" not in str(value) and "\n" not in str(value), (name, value)
    assert message.is_multipart() and message.get_content_type() == "multipart/alternative"


def test_encoded_word_names_add_no_header_over_smtp(run: Run, smtp: SmtpServer) -> None:
    """Four encoded-word names: every email reaches only its holder, no Bcc/Reply-To, the name shown literally."""
    users = holders(INJECTIONS)
    store_users([*STAFF, *users])
    cards = order(run, users, *APPROVAL)
    approved = run("approve", *[str(card) for card in cards.values()], "--as", "ap1", *QUEUE_OFF)
    assert approved.exit_code == 0, approved.output
    code, deliveries = send(run)
    assert code == 0 and {d["status"] for d in deliveries} == {"sent"}, deliveries
    assert smtp.received
    for item in smtp.received:
        assert len(item.rcpt_tos) == 1 and "evil@example.com" not in item.rcpt_tos
        assert_no_injected_header(item.raw, item.message)
        (to,) = item.message["To"].addresses
        assert item.rcpt_tos == [to.addr_spec]
    by_holder = {m["To"].addresses[0].addr_spec: m for m in smtp.messages() if "ordered" in str(m["Subject"]).lower()}
    for user in users:
        assert by_holder[user["email"]]["To"].addresses[0].display_name.split() == user["name"].split()
    subjects = [str(m["Subject"]) for m in smtp.messages() if "approved" in str(m["Subject"])]
    assert len(subjects) == 4 and all(any(name in subject for name in INJECTIONS) for subject in subjects)


def test_encoded_word_names_add_no_header_in_eml_files(run: Run, smtp: SmtpServer) -> None:
    """The same four names in .eml files: each file parses to one To, its subject and no injected header."""
    users = holders(INJECTIONS)
    store_users([*STAFF, *users])
    order(run, users)
    code, deliveries = send(run, "--to-dir", "mail")
    assert code == 0 and len(deliveries) == 4
    for path in sorted(Path("mail").glob("*.eml")):
        raw = path.read_bytes()
        message = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        assert_no_injected_header(raw, message)


def test_one_refused_recipient_of_twenty_fails_that_email_only(run: Run, smtp: SmtpServer) -> None:
    """A 550 for one of twenty recipients: nineteen arrive, the twentieth is failed with the server's answer, exit 1."""
    users = holders([f"Holder {n}" for n in range(20)])
    store_users([*STAFF, *users])
    order(run, users)
    smtp.refuse.add("u7@example.com")
    code, deliveries = send(run)
    assert code == 1
    assert sorted(item.rcpt_tos[0] for item in smtp.received) == sorted(u["email"] for u in users if u["id"] != "u7")
    (refused,) = [d for d in deliveries if d["status"] != "sent"]
    assert refused["to"] == "u7@example.com" and refused["status"] == "failed" and "550" in refused["error"]
    code, again = send(run, "--now")
    assert (code, again) == (0, [])  # nothing left to send; the refused one is not tried again by itself


def test_a_name_of_100000_characters_is_sent(run: Run, smtp: SmtpServer) -> None:
    """A very long display name is cut and folded: the email is sent, not refused as "line too long"."""
    users = holders(["Å" + "x" * 100_000, "Plain Name"])
    store_users([*STAFF, *users])
    order(run, users)
    code, deliveries = send(run)
    assert code == 0 and {d["status"] for d in deliveries} == {"sent"}, deliveries
    assert all(max(len(line) for line in item.raw.split(b"\r\n")) <= 998 for item in smtp.received)


@pytest.mark.parametrize("address", ["a@", "@example.com", "a@b@c", "x@[[com", "a b@example.com", "a@exa mple.com"])
def test_a_malformed_address_fails_that_email_and_the_others_are_sent(run: Run, smtp: SmtpServer, address: str) -> None:
    """Delivery never stops at a malformed address: that email is failed with a clear error, the rest go on."""
    users = holders(["Good One", "Bad One", "Good Two"])
    users[1]["email"] = address
    store_users([*STAFF, *users])
    order(run, users)
    code, deliveries = send(run)
    assert code == 1
    assert sorted(item.rcpt_tos[0] for item in smtp.received) == ["u0@example.com", "u2@example.com"]
    (bad,) = [d for d in deliveries if d["status"] != "sent"]
    assert bad["status"] == "failed" and "not an email address" in bad["error"]


def test_an_international_domain_is_sent_in_idna(run: Run, smtp: SmtpServer) -> None:
    """victim@exämple.com goes out as victim@xn--exmple-cua.com in the envelope and in To."""
    users = [{"id": "v", "name": "Victim", "email": "victim@exämple.com", "state": "active"}]
    store_users([*STAFF, *users])
    order(run, users)
    code, _ = send(run)
    assert code == 0
    (item,) = smtp.received
    assert item.rcpt_tos == ["victim@xn--exmple-cua.com"]
    assert item.message["To"].addresses[0].addr_spec == "victim@xn--exmple-cua.com"


def test_outbox_retry_requeues_failed_emails_with_their_history(run: Run, smtp: SmtpServer) -> None:
    """A failed email comes back with `outbox retry ID`, keeps its attempts and errors, and is then sent."""
    users = holders(["One", "Two"])
    store_users([*STAFF, *users])
    order(run, users)
    smtp.refuse.add("u1@example.com")
    code, _ = send(run)
    assert code == 1
    (failed,) = [row for row in json.loads(run("outbox", "--json").stdout) if row["status"] == "failed"]
    assert failed["attempts"] == 1 and "550" in failed["history"][0]["error"]
    refused = run("outbox", "retry", str(failed["id"] - 1))
    assert refused.exit_code == 1 and "nothing re-queued" in refused.output
    smtp.refuse.clear()
    retried = run("outbox", "retry", "--failed", "--json")
    assert retried.exit_code == 0 and json.loads(retried.stdout) == {"requeued": [failed["id"]]}
    code, deliveries = send(run)
    assert code == 0 and [(d["id"], d["status"]) for d in deliveries] == [(failed["id"], "sent")]
    (row,) = [row for row in json.loads(run("outbox", "--json").stdout) if row["id"] == failed["id"]]
    assert row["status"] == "sent" and row["attempts"] == 2
    assert [("error" in entry, entry.get("retried", False)) for entry in row["history"]] == [(True, False), (False, True)]


def test_outbox_retry_needs_ids_or_failed(run: Run, smtp: SmtpServer) -> None:
    """`outbox retry` with neither ids nor --failed is a usage error."""
    store_users(STAFF)
    assert run("outbox", "retry").exit_code == 2


def test_outbox_table_shows_stored_line_breaks_escaped(run: Run, smtp: SmtpServer) -> None:
    """A recipient stored with CR/LF is shown as \\r\\n in `cardflow outbox`, one row a line."""
    users = holders(["One"])
    users[0]["email"] = "u0@example.com\r\nBcc: evil@example.com"
    store_users([*STAFF, *users])
    order(run, users)
    shown = run("outbox").stdout
    assert "u0@example.com\\r\\nBcc: evil@example.com" in shown and len(shown.strip().splitlines()) == 2


def test_a_mailbox_name_beyond_ascii_goes_out_with_smtputf8(run: Run, smtp: SmtpServer) -> None:
    """åsa@exämple.com: the server offers SMTPUTF8, so the mailbox name goes as is and the domain in IDNA."""
    users = [{"id": "a", "name": "Åsa", "email": "åsa@exämple.com", "state": "active"}]
    store_users([*STAFF, *users])
    order(run, users)
    code, deliveries = send(run)
    assert code == 0, deliveries
    (item,) = smtp.received
    assert item.rcpt_tos == ["åsa@xn--exmple-cua.com"]
    assert "<åsa@xn--exmple-cua.com>".encode() in header_section(item.raw)


def test_emails_written_to_a_folder_say_they_were_not_mailed(run: Run, smtp: SmtpServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """Over SMTP nothing more is said; without an SMTP host the .eml files are written to mail/ and the
    command says so, naming the setting (an operator who forgot it must not think the holders were mailed)."""
    users = holders(["Alice", "Bertil", "Cecilia"])
    store_users([*STAFF, *users])
    order(run, users[:1])
    mailed = run("outbox", "send")
    assert mailed.exit_code == 0 and "not mailed" not in mailed.stderr and len(smtp.messages()) == 1
    order(run, users[1:2])
    chosen = run("outbox", "send", "--to-dir", "eml")
    assert chosen.exit_code == 0 and "cardflow: 1 email(s) written as .eml files in eml/, not mailed\n" in chosen.stderr
    monkeypatch.delenv("CARDFLOW_SMTP_HOST")
    order(run, users[2:])
    written = run("outbox", "send")
    assert written.exit_code == 0 and len(list(Path("mail").glob("*.eml"))) == 1
    assert "1 email(s) written as .eml files in mail/, not mailed (no SMTP host is set: CARDFLOW_SMTP_HOST" in written.stderr
