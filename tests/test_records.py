"""The runtime's records are declared once (engine/records.py): the store's tables, the views
expressions and emails get, the email contexts and the JSON of the command line and the API agree
with the declaration, and `/api/cards` and `/api/batches` answer exactly what `cards --json` and
`batches --json` print, on either store."""

from __future__ import annotations

import ast
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from bureau_server import FakeBureau, respond
from conftest import ROOT, Run, StoreUnderTest
from fastapi.testclient import TestClient
from sqlalchemy import Text

from engine.definitions.email_samples import sample_context
from engine.definitions.workspace import load_workspace
from engine.outbound.bureau import DropFolder
from engine.records import APPROVAL_CARD, EMAIL_CONTEXT, EMAIL_PERSONS, RECORDS, Record, json_fields, readable_fields
from engine.store import accounts, db
from engine.store.queries import open_store
from engine.store.views import batch_of, batch_view, card_view, person
from engine.web.app import create_app
from engine.web.console import Console

ORDER = "CardsAddonExtProdBoProcOrderMultiple"
APPROVAL = ("--set", "CardsAddonExtProdBatchOrderApproval=true")
QUEUE_OFF = ("--set", "CardsAddonExtProdQueue=false")
USERS = (
    "id,name,email,state,roles,department\n"
    "op1,Olle Operator,op1@example.com,active,operator,IT\n"
    "ap1,Anna Approver,ap1@example.com,active,approver,IT\n"
    + "".join(f"u{n:02d},User {n},u{n:02d}@example.com,active,,Sales\n" for n in range(1, 5))
)
STORED = [record for record in RECORDS.values() if record.table]


def columns_of(record: Record) -> set[str]:
    return {column.name for column in db.metadata.tables[str(record.table)].columns}


@pytest.mark.parametrize("record", STORED, ids=lambda record: record.name)
def test_every_column_of_a_records_table_is_a_field_or_internal(record: Record) -> None:
    """Each column of the cards, users and batches tables is read by a declared field, is the
    attributes column, or is named internal; a column added without a word here fails."""
    declared = {field.column for field in record.fields if field.column} | set(record.internal)
    assert columns_of(record) == declared | ({record.attributes} if record.attributes else set())


@pytest.mark.parametrize("record", STORED, ids=lambda record: record.name)
def test_every_declared_column_exists_with_the_declared_type(record: Record) -> None:
    """A field's column exists in the store's table, with its type and nullability (lists and
    mappings are kept as JSON text)."""
    table = db.metadata.tables[str(record.table)]
    for field in (field for field in record.fields if field.column):
        column = table.columns[field.column]
        stored = str if field.kind in (list, dict) and isinstance(column.type, Text) else field.kind
        assert (column.type.python_type, column.nullable) == (stored, field.nullable), field.name


def test_guards_read_the_card_and_batch_fields_declared_for_expressions() -> None:
    """The card and batch that guards and prerequisites get (the batch read, or known from its card in
    the syncs) carry exactly the fields declared readable."""
    card = {**{column.name: f"<{column.name}>" for column in db.cards.columns}, "fields": "{}"}  # no card field set
    assert set(card_view(card)) == readable_fields("card")
    assert set(batch_view({"id": "B1"})) == readable_fields("batch") == set(batch_of(card))


def test_an_email_shows_a_person_with_the_fields_templates_read_and_their_attributes() -> None:
    """A person in an email has the user fields declared for templates and the user's attributes, not roles or state."""
    user = {"id": "u01", "name": "U", "email": "u@example.com", "state": "active", "roles": [], "department": "Sales"}
    assert set(person(user)) == readable_fields("user", "templates") | {"department"}


@pytest.mark.parametrize("kind", sorted(EMAIL_CONTEXT))
def test_the_sample_email_validate_renders_with_is_the_declared_context(kind: str) -> None:
    """`validate` renders each template with a sample context of exactly the declared variables and fields."""
    context = sample_context(kind)
    assert list(context) == list(EMAIL_CONTEXT[kind])
    assert_context_fields(context)


@pytest.fixture
def cf(run: Run, stored: StoreUnderTest) -> Run:
    """The command line over a store holding an operator, an approver and four card holders of Sales."""
    (stored.folder / "users.csv").write_text(USERS)
    assert run("users", "import", "users.csv").exit_code == 0
    return run


def assert_context_fields(context: dict[str, Any], card_fields: frozenset[str] = frozenset()) -> None:
    """Each record of an email context carries the fields templates may read (a person: and attributes;
    a card: and the `card_fields` its lifecycle declares)."""
    for name in EMAIL_PERSONS & set(context):
        assert readable_fields("user", "templates") <= set(context[name]), name
    for name in {"card", "process", "batch"} & set(context):
        declared = card_fields if name == "card" else frozenset()
        assert set(context[name]) == readable_fields(name, "templates") | declared, name
    for card in context.get("cards", []):
        assert list(card) == list(APPROVAL_CARD)


def dumping(workspace: Path, template: str, kind: str, *, reason: bool) -> None:
    """Make the text part of `template` print its context: each declared variable (`reason` only
    where a person's decision gives one), as a Python literal."""
    names = ", ".join(f"'{name}': {name}" for name in EMAIL_CONTEXT[kind] if reason or name != "reason")
    (workspace / "templates" / "email" / f"{template}.text.txt").write_text(f"{{{{ {{{names}}} }}}}\n")


def test_emails_and_their_previews_have_exactly_the_declared_context(cf: Run, stored: StoreUnderTest, workspace: Path) -> None:
    """Each email (to approvers, holders, requesters), and its preview, is rendered with the declared
    variables of its kind, each record with the fields templates may read."""
    dumping(workspace, "card_ordered", "holder", reason=False)
    dumping(workspace, "request_rejected", "requester", reason=True)
    at = ("--workspace", str(workspace))
    assert cf("run", ORDER, "--user", "u01", "--user", "u02", "--as", "op1", *at, *APPROVAL).exit_code == 0
    assert cf("reject", "1", "--as", "ap1", "--reason", "No budget", *at, *APPROVAL).exit_code == 0
    assert cf("run", ORDER, "--user", "u03", "--as", "op1", *at, *QUEUE_OFF).exit_code == 0
    emails = dict(stored.rows("SELECT template, context FROM outbox WHERE template = 'approval_requested'"))
    assert set(json.loads(emails["approval_requested"])) == set(EMAIL_CONTEXT["approvers"])
    assert_context_fields(json.loads(emails["approval_requested"]))
    rendered = dict(stored.rows("SELECT template, body_text FROM outbox WHERE template <> 'approval_requested'"))
    assert sorted(rendered) == ["card_ordered", "request_rejected"]
    fields = frozenset(load_workspace(workspace).processes[ORDER].fields)
    for text in rendered.values():
        assert_context_fields(ast.literal_eval(text), fields)
    for template, card in (("card_ordered", "3"), ("request_rejected", "1")):  # `preview --card` builds the same
        shown = cf("preview", template, "--card", card, *at).stdout
        assert_context_fields(ast.literal_eval(shown.split("--- text ---\n")[1].split("\n--- html ---")[0]), fields)


def listed(cf: Run, *args: str) -> list[dict[str, Any]]:
    result = cf(*args, "--json")
    assert result.exit_code == 0, result.output
    found: list[dict[str, Any]] = json.loads(result.stdout)
    return found


def test_cards_json_has_exactly_the_declared_json_fields(cf: Run) -> None:
    """Each card of `cards --json` has the card's JSON fields, in order; `bureau` (optional) only where it has a value."""
    assert cf("run", ORDER, "--all", "--as", "op1").exit_code == 0
    required = [field.name for field in RECORDS["card"].fields if field.json and not field.optional]
    assert [list(card) for card in listed(cf, "cards")] == [required] * 6


def test_batches_json_has_exactly_the_declared_json_fields(cf: Run) -> None:
    """Each batch of `batches --json` has the batch's JSON fields, in order."""
    assert cf("run", ORDER, "--all", "--as", "op1", "--batch-id", "B-one").exit_code == 0
    assert [list(batch) for batch in listed(cf, "batches")] == [list(json_fields("batch"))]


def test_users_list_json_has_the_declared_fields_then_the_attributes(cf: Run) -> None:
    """Each user of `users list --json` has the user's JSON fields and the attributes the users file gave it."""
    users = listed(cf, "users", "list")
    assert [set(user) for user in users] == [set(json_fields("user")) | {"department"}] * 6


@pytest.fixture
def bureau(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeBureau]:
    """A bureau over HTTP for the command line, answering 500 to the first order call."""
    with FakeBureau() as running:
        for name in [name for name in os.environ if name.lower().endswith("_proxy")]:
            monkeypatch.delenv(name)
        monkeypatch.setenv("CARDFLOW_CONNECTOR", "http")
        for name, value in running.env().items():
            monkeypatch.setenv(name, value)
        running.then(respond(500, {"message": "internal error"}))
        yield running


@pytest.fixture
def api(stored: StoreUnderTest, tmp_path: Path) -> Iterator[TestClient]:
    """The JSON API over the store under test, with op1's token."""
    engine = open_store(stored.location)
    console = Console(load_workspace(ROOT).require_valid(), engine, DropFolder(tmp_path / "orders"))
    with engine.begin() as connection:
        token = accounts.issue_token(connection, "op1")
    with TestClient(create_app(console), headers={"Authorization": f"Bearer {token}"}) as client:
        yield client
    engine.dispose()


def answer(api: TestClient, path: str, **params: str) -> list[dict[str, Any]]:
    response = api.get(path, params=params)
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()
    return found


def test_api_cards_equals_cards_json(cf: Run, bureau: FakeBureau, api: TestClient) -> None:
    """`/api/cards` answers what `cards --json` prints, `bureau` included, with and without filters."""
    assert cf("run", ORDER, "--user", "u01", "--user", "u02", "--as", "op1", "--batch-id", "B-http", *QUEUE_OFF).exit_code == 1
    assert cf("run", ORDER, "--all", "--as", "op1", "--batch-id", "B-queued").exit_code == 0
    cards = listed(cf, "cards")
    assert [card["bureau"]["unanswered"] for card in cards if "bureau" in card] == [1]
    assert answer(api, "/api/cards") == cards
    assert answer(api, "/api/cards", batch="B-queued", user="u03") == listed(cf, "cards", "--batch", "B-queued", "--user", "u03")


def test_api_batches_equals_batches_json(cf: Run, api: TestClient) -> None:
    """`/api/batches` answers what `batches --json` prints."""
    assert cf("run", ORDER, "--user", "u01", "--as", "op1", "--batch-id", "B-1").exit_code == 0
    assert cf("run", ORDER, "--user", "u02", "--as", "op1", "--batch-id", "B-2").exit_code == 0
    batches = listed(cf, "batches")
    assert [batch["id"] for batch in batches] == ["B-1", "B-2"]
    assert answer(api, "/api/batches") == batches


def test_where_reads_every_user_field_declared_for_expressions(cf: Run) -> None:
    """`--where` accepts each user field declared readable by expressions, though no users file gave it."""
    for name in sorted(readable_fields("user")):
        result = cf("run", ORDER, "--where", f"user.{name} is defined", "--as", "op1", "--dry-run", "--json")
        assert (result.exit_code, len(json.loads(result.stdout)["results"])) == (0, 6), name


def test_validate_lets_guards_and_templates_read_only_the_declared_fields(cli: Run, workspace: Path) -> None:
    """A guard reading a card or batch field not declared for expressions, and a template reading one not
    declared for templates, are located errors; the declared ones next to them pass."""
    order = workspace / "processes" / f"{ORDER}.yaml"
    guard = "    guard: options.CardsAddonExtProdBatchOrderApproval\n"
    assert guard in order.read_text()
    wider = "    guard: options.CardsAddonExtProdBatchOrderApproval and card.requester == card.created_at and batch.actor\n"
    order.write_text(order.read_text().replace(guard, wider))
    text = workspace / "templates" / "email" / "card_ordered.text.txt"
    text.write_text(text.read_text() + "{{ card.requester }} {{ card.updated_at }} {{ batch.id }} {{ batch.actor }}\n")
    result = cli("validate", "--workspace", str(workspace), "--json")
    found = [(d["file"], d["code"], d["message"].split("'")[1]) for d in json.loads(result.stdout)]
    assert (result.exit_code, sorted(found)) == (
        1,
        [
            (f"processes/{ORDER}.yaml", "E303", "card.created_at"),
            ("templates/email/card_ordered.text.txt", "E505", "batch.actor"),
            ("templates/email/card_ordered.text.txt", "E505", "card.updated_at"),
        ],
    )
