"""Card fields and the `set` effect, through the command line and a scenario, over the extended
workspace plus, in YAML alone (written here into the test's copy): two declared fields on "Order
multiple cards", a PIN delivery method set from the holder's attribute when the card is ordered, a
validity date set on activation (by a guard on the PIN delivery), an email that reads both, a
prerequisite and a `--where` that read them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import Run, StoreUnderTest

ORDER, ACTIVATE, ACTIVATE_ONE = "CardsAddonExtProdBoProcOrderMultiple", "TestBoProcActivateMultiple", "TestProcActivateCard"
USERS = """id,name,email,state,roles,pin_delivery
op1,Olle Operator,op1@example.com,active,operator,sms
u1,Alice,alice@example.com,active,,sms
u2,Bertil,bertil@example.com,active,,letter
u3,Cecilia,cecilia@example.com,active,,email
"""
FIELDS = """fields:
  valid_until:
    type: date
    description: The last day the card is valid.
  pin_delivery:
    type: string
    values: [sms, letter]
    description: How the holder gets the PIN.

states:
"""
ORDERED = """    guard: not options.CardsAddonExtProdBatchOrderApproval and not options.CardsAddonExtProdQueue and bureau.accepted
    invoke: bureau.order
    effects:
      - email: card_ordered
        to: holder
        when: options.CardsAddonExtProdOrderedEmail
"""
ACTIVATED = """  - trigger: activate
    source: produced
    dest: active
"""
BY_PIN = """  - trigger: activate
    source: produced
    dest: active
    guard: card.pin_delivery == 'sms'
    effects:
      - set: {valid_until: "'2027-01-31'"}
      - email: card_activated
        to: holder
  - trigger: activate
    source: produced
    dest: active
    guard: card.pin_delivery != 'sms'
    effects:
      - set:
          valid_until: "'2027-03-31'"
"""
PREREQUISITE = """prerequisites:
  - rule: card.valid_until is none
"""


def _replaced(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert text.count(old) == 1, old
    path.write_text(text.replace(old, new))


@pytest.fixture
def fields_workspace(extended_workspace: Path) -> Path:
    """The extended workspace with card fields declared, set and read (see the module's docstring)."""
    order = extended_workspace / "processes" / f"{ORDER}.yaml"
    _replaced(order, "states:\n", FIELDS)
    _replaced(order, ORDERED, ORDERED + "      - set: {pin_delivery: user.pin_delivery}\n")
    _replaced(order, ACTIVATED, BY_PIN)
    one = extended_workspace / "processes" / f"{ACTIVATE_ONE}.yaml"
    _replaced(one, "prerequisites:\n", PREREQUISITE + "    message: The card is activated already.\n")
    email = extended_workspace / "templates" / "email"
    (email / "card_activated.subject.txt").write_text("Your card is active\n")
    (email / "card_activated.text.txt").write_text("Valid until {{ card.valid_until }}; PIN by {{ card.pin_delivery }}.\n")
    (email / "card_activated.html").write_text("<p>Valid until {{ card.valid_until }}; PIN by {{ card.pin_delivery }}.</p>\n")
    return extended_workspace


@pytest.fixture
def cf(run: Run, stored: StoreUnderTest, fields_workspace: Path, monkeypatch: pytest.MonkeyPatch) -> Run:
    """The CLI on the fields workspace, with users (and their PIN delivery attribute) in the store."""
    monkeypatch.setenv("CARDFLOW_WORKSPACE", str(fields_workspace))
    (stored.folder / "users.csv").write_text(USERS)
    assert run("users", "import", "users.csv").exit_code == 0
    return run


def ok(result: Any) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def order_and_produce(cf: Run, folder: Path) -> dict[str, Any]:
    """Order cards for u1 to u3 (the queue off) and let the bureau report every ordered card produced."""
    holders = [word for user in ("u1", "u2", "u3") for word in ("--user", user)]
    ordered = cf("run", ORDER, *holders, "--as", "op1", "--json", "--set", "CardsAddonExtProdQueue=false")
    (folder / "orders" / "status").mkdir(parents=True)
    for path in (folder / "orders").glob("*.json"):
        (folder / "orders" / "status" / path.name).write_text('{"status": "produced"}')
    assert cf("orders", "sync").exit_code == 0
    return {r["user"]: r for r in json.loads(ordered.stdout)["results"]}


def fields(cf: Run) -> dict[str, Any]:
    return {card["user"]: (card["state"], card["fields"]) for card in ok(cf("cards", "--json"))}


def test_the_fields_workspace_validates(cf: Run) -> None:
    """Declared fields, `set` effects, and a guard, a prerequisite and a template reading card.NAME validate clean."""
    assert ok(cf("validate", "--json")) == []


def test_a_field_declared_again_differently_by_another_process_is_refused(cf: Run, fields_workspace: Path) -> None:
    """A second lifecycle declaring `pin_delivery` as an integer gets E272 at its declaration (once, though
    two processes share it), naming the first."""
    request = fields_workspace / "lifecycles" / "CardRequest.yaml"
    _replaced(request, "\nfields:\n", "\nfields:\n  pin_delivery: {type: integer, description: A number.}\n")
    found = ok_or_1(cf("validate", "--json"))
    assert [(d["file"], d["code"]) for d in found] == [("lifecycles/CardRequest.yaml", "E272")]
    assert f"processes/{ORDER}.yaml" in found[0]["message"]


def ok_or_1(result: Any) -> Any:
    assert result.exit_code == 1, result.output
    return json.loads(result.stdout)


def test_set_stores_the_fields_on_the_card_and_cards_json_shows_them(cf: Run, stored: StoreUnderTest) -> None:
    """Ordering sets the PIN delivery from the holder; activating sets the validity date its guard chooses."""
    order_and_produce(cf, stored.folder)
    assert fields(cf) == {"u1": ("produced", {"pin_delivery": "sms"}), "u2": ("produced", {"pin_delivery": "letter"})}
    ok(cf("run", ACTIVATE, "--all", "--as", "op1", "--json"))
    assert fields(cf) == {
        "u1": ("active", {"pin_delivery": "sms", "valid_until": "2027-01-31"}),
        "u2": ("active", {"pin_delivery": "letter", "valid_until": "2027-03-31"}),
    }


def test_a_value_of_the_wrong_type_refuses_the_card_with_a_clear_reason(cf: Run, stored: StoreUnderTest) -> None:
    """u3's PIN delivery 'email' is not one of the field's values: no card for u3, the reason names the field."""
    results = order_and_produce(cf, stored.folder)
    assert (results["u3"]["status"], results["u3"]["card"]) == ("skipped", None)
    assert "card field 'pin_delivery' (string) cannot be set: 'email' is not one of 'sms', 'letter'" in results["u3"]["reason"]
    assert stored.scalar("SELECT count(*) FROM orders") == 2


def test_where_over_cards_reads_a_card_field(cf: Run, stored: StoreUnderTest) -> None:
    """`--where "card.pin_delivery == 'letter'"` activates u2's card alone; an unknown field is a usage error."""
    order_and_produce(cf, stored.folder)
    output = ok(cf("run", ACTIVATE, "--where", "card.pin_delivery == 'letter'", "--as", "op1", "--json"))
    assert [(r["user"], r["to"]) for r in output["results"]] == [("u2", "active")]
    wrong = cf("run", ACTIVATE, "--where", "card.pin_delivry == 'sms'", "--as", "op1")
    assert wrong.exit_code == 2 and "did you mean 'pin_delivery'" in wrong.stderr


def test_a_prerequisite_reads_a_card_field(cf: Run, stored: StoreUnderTest) -> None:
    """Activating an activated card again is refused with the prerequisite's message (it reads card.valid_until)."""
    cards = order_and_produce(cf, stored.folder)
    ok(cf("run", ACTIVATE_ONE, "--card", str(cards["u1"]["card"]), "--as", "op1", "--json"))
    again = cf("run", ACTIVATE_ONE, "--card", str(cards["u1"]["card"]), "--as", "op1")
    assert again.exit_code == 1 and "refused  The card is activated already" in again.stdout


def test_an_email_reads_the_fields_set_before_it(cf: Run, stored: StoreUnderTest) -> None:
    """The activation email of an SMS card says the validity date and the PIN delivery just set."""
    order_and_produce(cf, stored.folder)
    ok(cf("run", ACTIVATE, "--all", "--as", "op1", "--json"))
    (body,) = [row[0] for row in stored.rows("SELECT body_text FROM outbox WHERE template = 'card_activated'")]
    assert body == "Valid until 2027-01-31; PIN by sms.\n"


def test_explain_tells_the_fields_each_step_set(cf: Run, stored: StoreUnderTest) -> None:
    """`explain` names the card's fields and, at each step, the fields it set; `--json` has them as objects."""
    cards = order_and_produce(cf, stored.folder)
    ok(cf("run", ACTIVATE, "--all", "--as", "op1", "--json"))
    told = cf("explain", str(cards["u2"]["card"])).stdout
    assert "Its card fields: pin_delivery = 'letter', valid_until = '2027-03-31'." in told
    assert "   Card fields set: pin_delivery = 'letter'." in told and "   Card fields set: valid_until = '2027-03-31'." in told
    story = ok(cf("explain", str(cards["u2"]["card"]), "--json"))
    assert [step["fields"] for step in story["transitions"]] == [{"pin_delivery": "letter"}, {}, {"valid_until": "2027-03-31"}]


SCENARIO = f"""\
name: Card fields
users:
  - {{id: op1, name: Olle Operator, email: op1@example.com, state: active, roles: [operator]}}
  - {{id: u1, name: Alice, email: alice@example.com, state: active, pin_delivery: sms}}
  - {{id: u2, name: Bertil, email: bertil@example.com, state: active, pin_delivery: letter}}
options:
  CardsAddonExtProdQueue: false
steps:
  - run: {ORDER}
    as: op1
    users: [u1, u2]
  - orders: sync
    status: {{u1: produced, u2: produced}}
  - run: {ACTIVATE}
    as: op1
    all: true
expect:
  cards:
    u1: [active]
    u2: [active]
  fields:
    u1: {{pin_delivery: sms, valid_until: '2027-01-31'}}
    u2: {{pin_delivery: letter, valid_until: VALID}}
"""


@pytest.mark.parametrize("valid, passed", [("'2027-03-31'", True), ("'2027-01-31'", False)])
def test_a_scenario_expects_the_card_fields(cli: Run, fields_workspace: Path, tmp_path: Path, valid: str, passed: bool) -> None:
    """A scenario's `expect: fields:` compares the named fields of each user's newest card; a wrong value fails at its line."""
    path = tmp_path / "fields.scenario.yaml"
    path.write_text(SCENARIO.replace("VALID", valid))
    result = cli("test", str(path), "--workspace", str(fields_workspace), "--json")
    (outcome,) = json.loads(result.stdout)["scenarios"]
    assert (result.exit_code == 0, outcome["failures"] == []) == (passed, passed), result.stdout
    if not passed:
        assert "card fields of u2's newest card" in outcome["failures"][0]["message"]


def test_an_email_reading_card_fields_previews_with_sample_values_and_with_a_card(cf: Run, stored: StoreUnderTest) -> None:
    """`preview card_activated` shows each card field's sample value; `--card` shows the card's own values."""
    sample = cf("preview", "card_activated")
    assert sample.exit_code == 0 and "Valid until <valid_until>; PIN by <pin_delivery>." in sample.stdout
    cards = order_and_produce(cf, stored.folder)
    ok(cf("run", ACTIVATE, "--all", "--as", "op1", "--json"))
    card = cf("preview", "card_activated", "--card", str(cards["u1"]["card"]))
    assert card.exit_code == 0 and "Valid until 2027-01-31; PIN by sms." in card.stdout


def test_a_value_that_does_not_fit_refuses_a_step_over_cards_and_moves_nothing(
    cf: Run, stored: StoreUnderTest, fields_workspace: Path
) -> None:
    """Activation setting valid_until from the PIN delivery ('sms' is no date) refuses the card: it stays
    produced, no email, no field written; the one-card command exits 1 with the same reason."""
    order = fields_workspace / "processes" / f"{ORDER}.yaml"
    _replaced(order, """      - set: {valid_until: "'2027-01-31'"}\n""", "      - set: {valid_until: user.pin_delivery}\n")
    cards = order_and_produce(cf, stored.folder)
    result = cf("run", ACTIVATE, "--card", str(cards["u1"]["card"]), "--as", "op1", "--json")
    (refused,) = json.loads(result.stdout)["results"]
    assert result.exit_code == 1 and refused["status"] == "refused"
    assert "card field 'valid_until' (date) cannot be set: 'sms' is not an ISO date" in refused["reason"]
    assert fields(cf)["u1"] == ("produced", {"pin_delivery": "sms"})
    assert stored.scalar("SELECT count(*) FROM outbox WHERE template = 'card_activated'") == 0
    single = cf("activate", str(cards["u1"]["card"]), "--as", "op1")
    assert single.exit_code == 1 and "'sms' is not an ISO date" in single.output
