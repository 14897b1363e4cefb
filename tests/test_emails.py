"""Emails end to end: the real CLI, a real SQLite file and a real SMTP server (tests/smtp_server.py).

Which emails each path of DOMAIN.md causes and who gets them, their content (golden files under
tests/golden/emails/), their MIME shape, delivery when the server goes down and comes back, the
last attempt, user data that tries to add headers or HTML, locales, template checks at validate
time, the sandbox at render time, `cardflow preview` and `outbox send --to-dir`.
"""

from __future__ import annotations

import email
import email.policy
import json
import re
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from conftest import Run
from smtp_server import SmtpServer

from engine.definitions.templates import RenderError, Templates

ORDER = "CardsAddonExtProdBoProcOrderMultiple"
NOW = "2026-11-21T09:00:00Z"
SENDER = "cards@example.com"
APPROVAL = ("--set", "CardsAddonExtProdBatchOrderApproval=true")
QUEUE_OFF = ("--set", "CardsAddonExtProdQueue=false")
EMAIL_OFF = ("--set", "CardsAddonExtProdOrderedEmail=false")
USERS = [
    {"id": "op1", "name": "Olle Operator", "email": "op1@example.com", "state": "active", "roles": ["operator"]},
    {"id": "ap1", "name": "Anna Approver", "email": "ap1@example.com", "state": "active", "roles": ["approver"]},
    {"id": "ap2", "name": "Arvid Approver", "email": "ap2@example.com", "state": "active", "roles": ["approver", "operator"]},
    {"id": "u1", "name": "Alice Andersson", "email": "alice@example.com", "state": "active"},
    {"id": "u2", "name": "Bertil Berg", "email": "bertil@example.com", "state": "active"},
    {"id": "u3", "name": "Åsa Öberg", "email": "asa@example.com", "state": "active", "locale": "sv"},
]


@pytest.fixture
def smtp(run: Run, monkeypatch: pytest.MonkeyPatch) -> Iterator[SmtpServer]:
    """A running SMTP server that cardflow sends to (CARDFLOW_SMTP_* set after `run` prepared the folder)."""
    server = SmtpServer()
    server.start()
    try:
        for name in ("CARDFLOW_SMTP_USER", "CARDFLOW_SMTP_PASSWORD", "CARDFLOW_SMTP_STARTTLS"):
            monkeypatch.delenv(name, raising=False)
        for name, value in server.env(f"Card services <{SENDER}>").items():
            monkeypatch.setenv(name, value)
        yield server
    finally:
        server.stop()


@pytest.fixture
def cf(run: Run, smtp: SmtpServer, monkeypatch: pytest.MonkeyPatch) -> Run:
    """The CLI at a fixed time, in a folder holding a store with operators, approvers and card holders."""
    monkeypatch.setenv("CARDFLOW_NOW", NOW)
    Path("users.json").write_text(json.dumps(USERS), encoding="utf-8")
    ok(run("users", "import", "users.json"))
    return run


def ok(result: Any) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout) if result.stdout.lstrip().startswith(("{", "[")) else result.stdout


def start(cf: Run, *args: str, users: tuple[str, ...] = ("u1", "u2"), actor: str = "op1") -> dict[str, int]:
    """Run the order process for `users`; the card id of each user."""
    selection = [arg for user in users for arg in ("--user", user)]
    output = ok(cf("run", ORDER, *selection, "--as", actor, "--json", *args))
    return {row["user"]: row["card"] for row in output["results"]}


def outbox(cf: Run) -> list[dict[str, Any]]:
    return ok(cf("outbox", "--json"))  # type: ignore[no-any-return]


def send(cf: Run, *args: str) -> tuple[int, list[dict[str, Any]]]:
    """`outbox send --json ARGS`: the exit code and the deliveries it attempted."""
    result = cf("outbox", "send", "--json", *args)
    return result.exit_code, json.loads(result.stdout)


def sent(cf: Run, *args: str) -> list[dict[str, Any]]:
    """`outbox send` that must deliver everything it attempts."""
    code, deliveries = send(cf, *args)
    assert code == 0 and all(d["status"] == "sent" for d in deliveries), deliveries
    return deliveries


def received(cf: Run, server: SmtpServer) -> list[tuple[str, str]]:
    """(template, recipient) of every email the server got, each checked: envelope = To, sender = From."""
    templates = {row["message_id"]: row["template"] for row in outbox(cf)}
    found = []
    for item in server.received:
        (to,) = item.message["To"].addresses
        assert item.rcpt_tos == [to.addr_spec], (item.rcpt_tos, str(item.message["To"]))
        assert item.mail_from == SENDER and item.message["From"].addresses[0].addr_spec == SENDER
        found.append((templates[item.message["Message-ID"]], to.addr_spec))
    return sorted(found)


def messages(server: SmtpServer, template_subject: str) -> list[EmailMessage]:
    """The messages the server got whose subject matches the regular expression."""
    return [m for m in server.messages() if re.search(template_subject, str(m["Subject"]))]


def part(message: EmailMessage, subtype: str) -> str:
    """The decoded text of the text/SUBTYPE part, with the wire's CRLF line ends as LF."""
    body = message.get_body((subtype,))
    assert body is not None and body.get_content_type() == f"text/{subtype}"
    return str(body.get_content()).replace("\r\n", "\n")


def shown(message: EmailMessage) -> str:
    """What a golden file holds: subject, recipient, text part and HTML part."""
    return (
        f"Subject: {message['Subject']}\nTo: {message['To']}\n\n"
        f"--- text/plain ---\n{part(message, 'plain')}--- text/html ---\n{part(message, 'html')}"
    )


Golden = Callable[[str, str], None]


# --- which emails each path sends, to whom, with what content -------------------------------------------------


def test_default_order_emails_each_holder_once_after_the_queue_run(cf: Run, smtp: SmtpServer, golden: Golden) -> None:
    """Queue on: nothing to send while cards wait; after `queue run`, one card_ordered per holder reaches the server."""
    cards = start(cf, "--batch-id", "B-DEFAULT")
    assert sent(cf) == [] and smtp.received == []
    ok(cf("queue", "run"))
    assert len(sent(cf)) == 2
    assert received(cf, smtp) == [("card_ordered", "alice@example.com"), ("card_ordered", "bertil@example.com")]
    (alice,) = [m for m in smtp.messages() if m["To"].addresses[0].addr_spec == "alice@example.com"]
    assert f"Card:            {cards['u1']}\n" in part(alice, "plain")
    golden("emails/card_ordered.txt", shown(alice))
    assert sent(cf) == [] and len(smtp.received) == 2


def test_queue_off_emails_each_holder_at_once(cf: Run, smtp: SmtpServer) -> None:
    """Queue off: the run orders the cards, and `outbox send` delivers one card_ordered per holder."""
    start(cf, *QUEUE_OFF)
    assert len(sent(cf)) == 2
    assert received(cf, smtp) == [("card_ordered", "alice@example.com"), ("card_ordered", "bertil@example.com")]


def test_approval_then_approve(cf: Run, smtp: SmtpServer, golden: Golden) -> None:
    """Approval on: one approval_requested per approver listing both cards; approve: request_approved; queue run: card_ordered."""
    cards = start(cf, *APPROVAL, "--batch-id", "B-APPROVAL")
    assert len(sent(cf)) == 2
    assert received(cf, smtp) == [("approval_requested", "ap1@example.com"), ("approval_requested", "ap2@example.com")]
    for message in smtp.messages():
        assert str(message["Subject"]) == "2 card requests wait for your decision (batch B-APPROVAL)"
        for text in (part(message, "plain"), part(message, "html")):
            for user, name in (("u1", "Alice Andersson"), ("u2", "Bertil Berg")):
                assert re.search(rf"\b{cards[user]}\b.*{name} \({user}\)", text), text
    (to_anna,) = [m for m in smtp.messages() if "ap1@" in str(m["To"])]
    golden("emails/approval_requested.txt", shown(to_anna))

    ok(cf("approve", str(cards["u1"]), str(cards["u2"]), "--as", "ap1"))
    assert len(sent(cf)) == 2
    assert received(cf, smtp)[2:] == [("request_approved", "op1@example.com"), ("request_approved", "op1@example.com")]
    (approved,) = messages(smtp, rf"^Card request {cards['u1']} .* was approved$")
    golden("emails/request_approved.txt", shown(approved))

    ok(cf("queue", "run"))
    assert len(sent(cf)) == 2
    assert Counter(received(cf, smtp)) == {
        ("approval_requested", "ap1@example.com"): 1,
        ("approval_requested", "ap2@example.com"): 1,
        ("request_approved", "op1@example.com"): 2,
        ("card_ordered", "alice@example.com"): 1,
        ("card_ordered", "bertil@example.com"): 1,
    }
    assert sent(cf) == []


def test_approval_request_skips_the_approver_who_started_the_batch(cf: Run, smtp: SmtpServer) -> None:
    """An approver who starts the batch (four-eyes) gets no approval_requested; the other approvers do."""
    start(cf, *APPROVAL, actor="ap2")
    sent(cf)
    assert received(cf, smtp) == [("approval_requested", "ap1@example.com")]


def test_approval_then_reject(cf: Run, smtp: SmtpServer, golden: Golden) -> None:
    """Reject: the requester gets request_rejected with the reason in the text and the HTML part; the holder gets nothing."""
    cards = start(cf, *APPROVAL, "--batch-id", "B-REJECT", users=("u1",))
    ok(cf("reject", str(cards["u1"]), "--as", "ap1", "--reason", "No budget this quarter"))
    assert len(sent(cf)) == 3
    assert received(cf, smtp) == [
        ("approval_requested", "ap1@example.com"),
        ("approval_requested", "ap2@example.com"),
        ("request_rejected", "op1@example.com"),
    ]
    (rejected,) = messages(smtp, "was rejected$")
    assert "Reason: No budget this quarter\n" in part(rejected, "plain")
    assert "<strong>Reason:</strong> No budget this quarter</p>" in part(rejected, "html")
    golden("emails/request_rejected.txt", shown(rejected))
    ok(cf("queue", "run"))
    assert sent(cf) == []


def test_ordered_email_off_sends_no_card_ordered(cf: Run, smtp: SmtpServer) -> None:
    """With CardsAddonExtProdOrderedEmail=false no card_ordered is sent: queue off, queue run, or approval then approve."""
    start(cf, *QUEUE_OFF, *EMAIL_OFF, users=("u1",))
    start(cf, users=("u2",))
    ok(cf("queue", "run", *EMAIL_OFF))
    cards = start(cf, *APPROVAL, users=("u3",))
    ok(cf("approve", str(cards["u3"]), "--as", "ap1", *QUEUE_OFF, *EMAIL_OFF))
    assert {card["state"] for card in ok(cf("cards", "--json"))} == {"ordered"}
    sent(cf)
    assert [template for template, _ in received(cf, smtp)] == ["approval_requested", "approval_requested", "request_approved"]


# --- the shape of a message ---------------------------------------------------------------------------------------


def test_every_message_is_multipart_alternative_text_and_html_in_utf8(cf: Run, smtp: SmtpServer) -> None:
    """Each message is multipart/alternative (text/plain + text/html, UTF-8); a UTF-8 name is encoded in To and decodes intact."""
    start(cf, *QUEUE_OFF, users=("u1", "u3"))
    sent(cf)
    assert len(smtp.received) == 2
    for item in smtp.received:
        message = item.message
        assert message.get_content_type() == "multipart/alternative"
        parts = list(message.iter_parts())
        assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
        assert [p.get_content_charset() for p in parts] == ["utf-8", "utf-8"]
    (asa,) = [item for item in smtp.received if "asa@" in str(item.message["To"])]
    (raw_to,) = [line for line in asa.raw.split(b"\r\n\r\n")[0].split(b"\r\n") if line.lower().startswith(b"to:")]
    assert raw_to.isascii() and b"=?utf-8?" in raw_to.lower()
    (to,) = asa.message["To"].addresses
    assert (to.display_name, to.addr_spec) == ("Åsa Öberg", "asa@example.com")
    assert "Hej Åsa Öberg," in part(asa.message, "plain") and "<p>Hej Åsa Öberg,</p>" in part(asa.message, "html")


# --- delivery when the server is down -----------------------------------------------------------------------------


def test_smtp_down_leaves_every_email_pending_with_an_error_and_a_back_off(cf: Run, smtp: SmtpServer) -> None:
    """Server down: `outbox send` exits 1, every email stays pending with an error and a back-off; sending again tries none."""
    start(cf, *QUEUE_OFF)
    smtp.stop()
    code, _ = send(cf)
    assert code == 1
    rows = outbox(cf)
    assert len(rows) == 2
    for row in rows:
        assert row["status"] == "pending" and row["attempts"] == 1 and row["error"], row
        assert row["next_attempt_at"] is not None and row["next_attempt_at"] > NOW, row
    assert send(cf) == (0, [])
    assert outbox(cf) == rows


def test_smtp_down_then_up_delivers_each_email_exactly_once_with_its_stored_message_id(cf: Run, smtp: SmtpServer) -> None:
    """Server down then up: nothing lost or sent twice, emails in back-off wait, the Message-ID stays the one stored first."""
    start(cf, *QUEUE_OFF, users=("u1", "u2", "u3"))
    stored = {row["id"]: row["message_id"] for row in outbox(cf)}
    assert len(set(stored.values())) == 3
    smtp.stop()
    code, attempted = send(cf)
    assert code == 1 and attempted and all(d["status"] != "sent" for d in attempted)
    rows = outbox(cf)
    assert {row["status"] for row in rows} == {"pending"}
    assert all(row["error"] and "Connection refused" in row["error"] for row in rows if row["attempts"])
    waiting = {row["id"] for row in rows if row["next_attempt_at"] and row["next_attempt_at"] > NOW}
    assert waiting, rows
    code, again = send(cf)
    assert not waiting & {d["id"] for d in again}, (waiting, again)
    assert smtp.received == []

    smtp.start()
    assert sorted(d["id"] for d in sent(cf, "--now")) == sorted(stored)
    assert sent(cf, "--now") == []
    assert Counter(str(m["Message-ID"]) for m in smtp.messages()) == dict.fromkeys(stored.values(), 1)
    assert {row["id"]: (row["status"], row["message_id"]) for row in outbox(cf)} == {i: ("sent", m) for i, m in stored.items()}


def test_after_eight_failed_attempts_the_email_is_failed_and_never_attempted_again(
    cf: Run, smtp: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each failure doubles the back-off from 1 minute; the 8th failed attempt marks the email failed, never tried again."""
    start(cf, *QUEUE_OFF, users=("u1",))
    smtp.stop()
    moment = datetime.fromisoformat(NOW.replace("Z", "+00:00"))
    for attempt in range(1, 9):
        code, (delivery,) = send(cf)
        assert code == 1 and delivery["status"] == ("failed" if attempt == 8 else "pending"), delivery
        (row,) = outbox(cf)
        assert row["attempts"] == attempt and "Connection refused" in row["error"]
        if attempt == 8:
            break
        assert row["status"] == "pending"
        due = moment + timedelta(minutes=2 ** (attempt - 1))
        assert row["next_attempt_at"] == stamp(due)
        monkeypatch.setenv("CARDFLOW_NOW", stamp(due - timedelta(seconds=1)))
        assert send(cf) == (0, [])  # not due yet
        moment = due
        monkeypatch.setenv("CARDFLOW_NOW", stamp(moment))
    assert (row["status"], row["attempts"], row["next_attempt_at"]) == ("failed", 8, None)
    smtp.start()
    monkeypatch.setenv("CARDFLOW_NOW", "2027-01-01T00:00:00Z")
    assert send(cf) == (0, [])
    assert send(cf, "--now") == (0, [])
    assert smtp.received == []
    assert outbox(cf) == [row]


def stamp(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


# --- user data cannot add headers, recipients or HTML ---------------------------------------------------------------


def test_user_data_cannot_add_headers_or_recipients_and_is_escaped_in_html(cf: Run, smtp: SmtpServer) -> None:
    """A name with CR/LF + "Bcc:" adds no header or recipient and no line break in To; "<script>" is escaped in HTML."""
    evil = [
        {"id": "eve", "name": "Eve\r\nBcc: x@evil.example", "email": "eve@example.com", "state": "active"},
        {"id": "mal", "name": "Mal <script>alert(1)</script>", "email": "mal@example.com", "state": "active"},
    ]
    Path("evil.json").write_text(json.dumps(evil), encoding="utf-8")
    ok(cf("users", "import", "evil.json"))
    cards = start(cf, *APPROVAL, *QUEUE_OFF, users=("eve", "mal"))
    ok(cf("approve", str(cards["eve"]), str(cards["mal"]), "--as", "ap1", *QUEUE_OFF))
    sent(cf)
    assert Counter(template for template, _ in received(cf, smtp)) == {
        "approval_requested": 2,
        "request_approved": 2,
        "card_ordered": 2,
    }
    for item in smtp.received:
        assert "x@evil.example" not in " ".join(item.rcpt_tos) and len(item.rcpt_tos) == 1
        assert item.message["Bcc"] is None and item.message["Cc"] is None
        assert not re.search(rb"(?im)^(bcc|cc):", item.raw.split(b"\r\n\r\n")[0])
        for name, value in item.message.items():
            assert "\r" not in str(value) and "\n" not in str(value), (name, value)
        html = part(item.message, "html")
        assert "<script>" not in html and "alert(1)" not in html.replace("&lt;script&gt;alert(1)&lt;/script&gt;", "")
    (to_eve,) = [m for m in smtp.messages() if m["To"].addresses[0].addr_spec == "eve@example.com"]
    assert to_eve["To"].addresses[0].display_name == "Eve Bcc: x@evil.example"
    (to_mal,) = [m for m in smtp.messages() if m["To"].addresses[0].addr_spec == "mal@example.com"]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in part(to_mal, "html")
    assert "<script>alert(1)</script>" in part(to_mal, "plain")  # the text part is plain text, shown as written
    (approved,) = messages(smtp, rf"^Card request {cards['eve']} for")
    assert str(approved["Subject"]) == f"Card request {cards['eve']} for Eve Bcc: x@evil.example was approved"


# --- locales ------------------------------------------------------------------------------------------------------


def test_holder_with_locale_sv_gets_the_swedish_card_ordered(cf: Run, smtp: SmtpServer) -> None:
    """A holder with locale sv gets the Swedish card_ordered; a holder without a locale gets English."""
    start(cf, *QUEUE_OFF, users=("u1", "u3"))
    sent(cf)
    subjects = {m["To"].addresses[0].addr_spec: str(m["Subject"]) for m in smtp.messages()}
    assert subjects == {
        "asa@example.com": "Ditt kort är beställt (standard)",
        "alice@example.com": "Your card has been ordered (standard)",
    }
    (asa,) = [m for m in smtp.messages() if "asa@" in str(m["To"])]
    assert "Vänliga hälsningar,\nKortservice\n" in part(asa, "plain") and '<html lang="sv">' in part(asa, "html")


# --- templates checked at validate time -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("file", "line", "code"),
    [
        ("card_ordered.text.txt", "Dear {{ user.name }},", "E503"),
        ("card_ordered.html", "<p>{{ ''.__class__ }}</p>", "E504"),
        ("card_ordered.subject.txt", "{{ holder.nam }}", "E505"),
        ("request_rejected.text.txt", "Reason: {{ reason ) }}", "E502"),
        ("approval_requested.html", "<p>{{ holder.name }}</p>", "E503"),
        ("sv/card_ordered.text.txt", "{{ card.holder.name }} {{ cards }}", "E503"),
    ],
)
def test_template_problem_is_reported_at_its_file_and_line(run: Run, workspace: Path, file: str, line: str, code: str) -> None:
    """An unprovided variable (E503), private (E504) or unknown (E505) attribute, or a parse error (E502) is found at its line."""
    path = workspace / "templates" / "email" / file
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    at = min(2, len(lines)) + 1  # the new line's number
    lines.insert(at - 1, line + "\n")
    path.write_text("".join(lines), encoding="utf-8")
    result = run("validate", "--workspace", str(workspace), "--json")
    assert result.exit_code == 1, result.output
    found = [(d["file"], d["line"], d["code"]) for d in json.loads(result.stdout)]
    assert found == [(f"templates/email/{file}", at, code)]


def with_department_line(workspace: Path) -> list[str]:
    """The workspace's card_ordered text part, with a second line that reads the holder's department."""
    path = workspace / "templates" / "email" / "card_ordered.text.txt"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    path.write_text("".join([lines[0], "Department: {{ holder.department }}\n", *lines[1:]]), encoding="utf-8")
    return ["--workspace", str(workspace)]


def test_a_template_reads_the_holders_attributes(cf: Run, workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`{{ holder.department }}` validates (the sample holder has one), and renders the holder's own attribute."""
    ws = with_department_line(workspace)
    with monkeypatch.context() as scoped:
        scoped.delenv("CARDFLOW_DB", raising=False)  # no store to validate against (no user has a department: W240)
        assert ok(cf("validate", *ws, "--json")) == []
    assert "Department: <department>" in ok(cf("preview", "card_ordered", *ws))
    Path("departments.json").write_text(json.dumps([{**USERS[3], "department": "Sales"}]), encoding="utf-8")
    ok(cf("users", "import", "departments.json"))
    cards = start(cf, *QUEUE_OFF, *ws, users=("u1",))
    assert "Department: Sales" in ok(cf("preview", "card_ordered", "--card", str(cards["u1"]), *ws))


def test_a_holder_without_the_attribute_stops_the_batch_at_the_template_line(cf: Run, workspace: Path) -> None:
    """A holder without the attribute a template reads (another user has it): one line naming the file, line and
    attribute, exit 1; the card waits in its first state with its pending order, which `calls send` finishes once the
    data is fixed. (An attribute no user has refuses the run before: tests/test_quiet_answers.py.)"""
    other = {"id": "u9", "name": "Ulla", "email": "ulla@example.com", "state": "active", "department": "Sales"}
    Path("more.json").write_text(json.dumps([other]), encoding="utf-8")
    ok(cf("users", "import", "more.json"))
    result = cf("run", ORDER, "--user", "u1", "--as", "op1", *QUEUE_OFF, *with_department_line(workspace))
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "templates/email/card_ordered.text.txt:2" in result.stderr and "'department'" in result.stderr
    assert [card["state"] for card in ok(cf("cards", "--json"))] == ["registered"]
    Path("fixed.json").write_text(
        json.dumps([{"id": "u1", "name": "Ulf", "email": "u1@example.com", "state": "active", "department": "HR"}])
    )
    ok(cf("users", "import", "fixed.json"))
    (sent,) = ok(cf("calls", "send", "--now", "--json", *with_department_line(workspace)))
    assert (sent["status"], sent["to"]) == ("answered", "ordered")


def test_missing_html_part_is_reported_at_the_process_effect(cli: Run, workspace: Path) -> None:
    """A template without its .html part gives E501 at the effect that names it in the process."""
    (workspace / "templates" / "email" / "card_ordered.html").unlink()
    result = cli("validate", "--workspace", str(workspace), "--json")
    assert result.exit_code == 1, result.output
    process = workspace / "processes" / f"{ORDER}.yaml"
    text = process.read_text(encoding="utf-8").splitlines()
    first = next(i for i, line in enumerate(text) if line.strip().startswith(("- email: card_ordered", "- {email: card_ordered")))
    (found,) = json.loads(result.stdout)
    assert (found["file"], found["line"], found["col"], found["code"]) == (
        f"processes/{ORDER}.yaml",
        first + 1,
        text[first].index("- ") + 3,
        "E501",
    )
    assert "card_ordered" in found["message"] and "html" in found["message"]


def test_reference_templates_validate_clean(cli: Run, workspace: Path) -> None:
    """The reference workspace's templates give no diagnostic."""
    result = cli("validate", "--workspace", str(workspace), "--json")
    assert result.exit_code == 0 and json.loads(result.stdout) == [], result.output


# --- the sandbox at render time -------------------------------------------------------------------------------------


def templates_with(folder: Path, text: str) -> Templates:
    for suffix in ("subject.txt", "text.txt", "html"):
        (folder / f"probe.{suffix}").write_text("ok" if suffix != "text.txt" else text, encoding="utf-8")
    return Templates(folder)


def test_sandbox_refuses_python_internals_at_render_time(tmp_path: Path) -> None:
    """Rendering `{{ ''.__class__.__mro__ }}` raises RenderError (the sandbox refuses it), not the class hierarchy."""
    templates = templates_with(tmp_path, "{{ ''.__class__.__mro__ }}")
    with pytest.raises(RenderError, match=r"probe.*(SecurityError|unsafe)"):
        templates.render("probe", {})


def test_undefined_variable_is_a_render_error(tmp_path: Path) -> None:
    """Rendering a template with an undefined variable raises RenderError (StrictUndefined), never an empty string."""
    templates = templates_with(tmp_path, "Hello {{ holder.name }}")
    with pytest.raises(RenderError, match="UndefinedError"):
        templates.render("probe", {})
    with pytest.raises(RenderError, match="UndefinedError"):
        templates.render("probe", {"holder": {}})
    assert templates.render("probe", {"holder": {"name": "Alice"}}).text == "Hello Alice"


# --- preview ----------------------------------------------------------------------------------------------------------


def test_preview_sample_prints_subject_text_and_html(cli: Run) -> None:
    """`preview card_ordered --sample` prints the subject, the text part and the HTML part."""
    output = ok(cli("preview", "card_ordered", "--sample"))
    assert output.startswith("Subject: Your card has been ordered (standard)\n")
    text, html = output.split("--- text ---\n")[1].split("--- html ---\n")
    assert "Hello Alice Andersson," in text and "<p>Hello Alice Andersson,</p>" in html
    assert "<" not in text and html.lstrip().startswith("<!DOCTYPE html>")


def test_preview_sample_names_the_process_that_sends_the_email(cli: Run, workspace: Path) -> None:
    """A sample email's process is the one whose transition sends it, read from the workspace (renamed: the new name)."""
    assert "Process:         Order multiple cards" in ok(cli("preview", "card_ordered", "--sample"))
    path = workspace / "processes" / "CardsAddonExtProdBoProcOrderMultiple.yaml"
    path.write_text(path.read_text().replace("name: Order multiple cards", "name: Order many cards"))
    output = ok(cli("preview", "card_ordered", "--sample", "--workspace", str(workspace)))
    assert "Process:         Order many cards" in output


def test_preview_locale_sv_is_swedish(cli: Run) -> None:
    """`preview card_ordered --locale sv` renders the Swedish templates."""
    output = ok(cli("preview", "card_ordered", "--sample", "--locale", "sv"))
    assert output.startswith("Subject: Ditt kort är beställt (standard)\n") and "Hej Alice Andersson," in output


def test_preview_of_a_rejected_card_shows_the_real_reason(cf: Run) -> None:
    """`preview request_rejected --card N` after a rejection renders that card with the approver's reason."""
    cards = start(cf, *APPROVAL, users=("u2",))
    ok(cf("reject", str(cards["u2"]), "--as", "ap1", "--reason", "Duplicate of an earlier request"))
    output = ok(cf("preview", "request_rejected", "--card", str(cards["u2"])))
    assert output.startswith(f"Subject: Card request {cards['u2']} for Bertil Berg was rejected\n")
    assert "Reason: Duplicate of an earlier request" in output
    assert "<strong>Reason:</strong> Duplicate of an earlier request" in output
    assert "No budget" not in output  # not the sample's reason


def test_preview_unknown_template_is_a_usage_error(cli: Run) -> None:
    """`preview` of a template that does not exist exits 2 and names it."""
    result = cli("preview", "no_such_template", "--sample")
    assert result.exit_code == 2 and "no_such_template" in result.output


# --- delivery to a folder ---------------------------------------------------------------------------------------------


def test_to_dir_writes_one_parseable_eml_per_email_with_the_stored_message_id(cf: Run, smtp: SmtpServer) -> None:
    """`outbox send --to-dir DIR` writes DIR/<id>.eml for each email, parseable, with its stored Message-ID; SMTP gets nothing."""
    start(cf, *APPROVAL, *QUEUE_OFF, users=("u1", "u3"))
    stored = {row["id"]: row for row in outbox(cf)}
    assert len(stored) == 2
    assert sorted(d["id"] for d in sent(cf, "--to-dir", "out")) == sorted(stored)
    files = sorted(Path("out").iterdir())
    assert [f.name for f in files] == [f"{i}.eml" for i in sorted(stored)]
    for file in files:
        message = email.message_from_bytes(file.read_bytes(), policy=email.policy.default)
        row = stored[int(file.stem)]
        assert message["Message-ID"] == row["message_id"]
        assert message["To"].addresses[0].addr_spec == row["to"] and str(message["Subject"]) == row["subject"]
        assert message.get_content_type() == "multipart/alternative"
    assert {row["status"] for row in outbox(cf)} == {"sent"}
    assert sent(cf, "--to-dir", "out") == [] and smtp.received == []
