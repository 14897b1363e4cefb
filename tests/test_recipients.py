"""Whom an email goes to: `holder`, `requester` (who made the request being decided), `actor` (who
fired the trigger), `approvers` (who may decide the card in the state it reached, from the YAML)
and `role: NAME` (every active user with the role); the templates' checks know each one's context."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import Run, StoreUnderTest
from test_fire import ORDER, ORDER_FILE, USERS, ok, produced

from engine.definitions.recipients import deciding_roles
from engine.definitions.workspace import load_workspace


@pytest.fixture
def cf(run: Run, tmp_path: Path, fire_workspace: Path, monkeypatch: pytest.MonkeyPatch) -> Run:
    """The command line over the fire workspace, in a folder holding a store with its people."""
    monkeypatch.setenv("CARDFLOW_WORKSPACE", str(fire_workspace))
    (tmp_path / "cwd" / "users.csv").write_text(USERS)
    assert run("users", "import", "users.csv").exit_code == 0
    return run


def sent(stored: StoreUnderTest, *templates: str) -> list[tuple[str, str]]:
    marks = ", ".join(f":t{i}" for i in range(len(templates)))
    sql = f"SELECT template, recipient FROM outbox WHERE template IN ({marks}) ORDER BY template, recipient"
    return stored.rows(sql, **{f"t{i}": name for i, name in enumerate(templates)})


def test_the_approvers_of_the_shipped_requests_are_the_approver_role(workspace: Path) -> None:
    """A requested card is decided by CardsBoProcDecideRequest (approver); the operators' abort waits for
    'processing' and the requester's withdrawal is `any`: the approvers are the approver role, as before."""
    processes = load_workspace(workspace).processes
    assert deciding_roles(processes, ORDER, "requested") == ("approver",)
    assert deciding_roles(processes, "CardsBoProcRequestMulitple", "requested") == ("approver",)


def test_the_approvers_of_a_state_are_who_may_fire_from_it(fire_workspace: Path) -> None:
    """An activation request is approved by TestProcApproveActivation (admin): its approvers are the admins."""
    processes = load_workspace(fire_workspace).processes
    assert deciding_roles(processes, ORDER, "activation_requested") == ("admin",)


def test_emails_go_to_the_actor_a_role_the_derived_approvers_and_the_requester(
    cf: Run, tmp_path: Path, stored: StoreUnderTest
) -> None:
    """op2 asks to activate op1's card: the admins are its approvers (not ap1); adm approves: the requester
    told is op2, who asked; activating another card tells op2 (actor) and every admin (role: admin)."""
    first, second = produced(cf, tmp_path / "cwd", "u1", "u2")
    ok(cf("request_activation", str(first), "--as", "op2", "--json"))
    assert sent(stored, "activation_requested") == [("activation_requested", "adm@example.com")]
    ok(cf("approve_activation", str(first), "--as", "adm", "--json"))
    assert sent(stored, "activation_approved") == [("activation_approved", "op2@example.com")]
    ok(cf("activate", str(second), "--as", "op2", "--json"))
    expected = [("card_activated", "op2@example.com"), ("cards_activated", "adm@example.com")]
    assert sent(stored, "card_activated", "cards_activated") == expected


def test_an_email_to_an_unknown_role_is_E280_with_a_close_name(cf: Run, fire_workspace: Path) -> None:
    """`to: {role: admn}` is E280 at the effect, with "did you mean 'admin'?"."""
    path = fire_workspace / ORDER_FILE
    path.write_text(path.read_text().replace("to: {role: admin}", "to: {role: admn}"))
    result = cf("validate", "--json")
    assert result.exit_code == 1
    (found,) = [d for d in json.loads(result.stdout) if d["code"] == "E280"]
    line = next(i + 1 for i, text in enumerate(path.read_text().splitlines()) if "- email: cards_activated" in text)
    assert (found["file"], found["line"], found["col"]) == (ORDER_FILE, line, 9)
    assert "did you mean 'admin'?" in found["message"]


@pytest.mark.parametrize(("template", "reads"), [("card_activated", "cards"), ("cards_activated", "card.id")])
def test_a_template_reads_only_what_its_recipients_email_provides(
    cf: Run, fire_workspace: Path, template: str, reads: str
) -> None:
    """An email to the actor has one card (`card`, no `cards`); one to a role lists the batch's `cards` (no `card`): E503."""
    path = fire_workspace / "templates" / "email" / f"{template}.subject.txt"
    path.write_text("{{ " + reads + " }}\n")
    result = cf("validate", "--json")
    assert result.exit_code == 1
    found = [d for d in json.loads(result.stdout) if d["code"] == "E503"]
    assert [d["file"] for d in found] == [f"templates/email/{template}.subject.txt"], found


RECIPIENTS_SCENARIO = f"""\
name: An activation is requested, approved by an admin, and told to who asked
users:
  - {{id: op1, name: Olle Operator, email: op1@example.com, state: active, roles: [operator]}}
  - {{id: op2, name: Oda Operator, email: op2@example.com, state: active, roles: [operator]}}
  - {{id: ap1, name: Anna Approver, email: ap1@example.com, state: active, roles: [approver]}}
  - {{id: adm, name: Ada Admin, email: adm@example.com, state: active, roles: [admin]}}
  - {{id: u1, name: Alice, email: alice@example.com, state: active}}
  - {{id: u2, name: Bertil, email: bertil@example.com, state: active}}
cards:
  - {{user: u1, process: {ORDER}, state: produced, requester: op1}}
  - {{user: u2, process: {ORDER}, state: produced, requester: op1}}
steps:
  - request_activation: [u1]
    as: op2
  - approve_activation: [u1]
    as: adm
  - activate: [u2]
    as: op1
expect:
  cards:
    u1: [active]
    u2: [active]
  emails:
    - {{template: activation_requested, to: adm@example.com}}
    - {{template: activation_approved, to: op2@example.com}}
    - {{template: card_activated, to: op1@example.com}}
    - {{template: cards_activated, to: adm@example.com}}
"""


def test_a_scenario_expects_each_new_recipient(cf: Run, tmp_path: Path) -> None:
    """Approvers derived (adm, not ap1), the requester who asked (op2, not the card's orderer op1), the actor, a role."""
    path = tmp_path / "recipients.scenario.yaml"
    path.write_text(RECIPIENTS_SCENARIO)
    result = cf("test", str(path), "--json")
    assert result.exit_code == 0, result.stdout
    assert json.loads(result.stdout)["passed"] == 1
