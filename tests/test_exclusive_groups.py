"""Exclusivity groups across processes (tests/exclusive): "Order card" and "Order multiple cards"
share the group card_order, so a user has at most one open card order of the two together; the
refusal names the open card and its process; the store enforces the group under concurrency."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path

import pytest
from conftest import ORDER_GROUP, Run, StoreUnderTest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from test_concurrency import HOLDERS, USERS, at_once, held, import_users

from engine.definitions.workspace import load_workspace
from engine.store import db

ORDER, ORDER_CARD, SHIPPED_ORDER_CARD = "CardsAddonExtProdBoProcOrderMultiple", "TestProcOrderCard", "CardsAddonExtProdProcOrder"
STAFF_AND_HOLDERS = """id,name,email,state,roles
op1,Olle Operator,op1@example.com,active,operator
u1,Alice,alice@example.com,active,
u2,Bertil,bertil@example.com,active,
"""


@pytest.fixture
def cf(run: Run, stored: StoreUnderTest, exclusive_workspace: Path, monkeypatch: pytest.MonkeyPatch) -> Run:
    """The command line on the exclusive workspace, with an operator and two card holders in the store."""
    monkeypatch.setenv("CARDFLOW_WORKSPACE", str(exclusive_workspace))
    (stored.folder / "users.csv").write_text(STAFF_AND_HOLDERS)
    assert run("users", "import", "users.csv").exit_code == 0
    return run


def ordered(cf: Run, process: str, user: str, *more: str) -> dict[str, object]:
    """Run `process` for `user` as op1; its one result as JSON."""
    result = cf("run", process, "--user", user, "--as", "op1", "--json", *more)
    assert "Traceback" not in result.output
    assert "results" in json.loads(result.stdout), result.output
    (found,) = json.loads(result.stdout)["results"]
    return dict(found)


def test_the_processes_naming_a_group_count_together(exclusive_workspace: Path) -> None:
    """Both processes name card_order; a process without a group counts its own cards alone."""
    workspace = load_workspace(exclusive_workspace)
    assert workspace.ok, [str(found) for found in workspace.diagnostics]
    grouped = {ORDER: "Order multiple cards", SHIPPED_ORDER_CARD: "Order card", ORDER_CARD: "Order card, test"}
    assert workspace.exclusive_group(workspace.process(ORDER_CARD)) == grouped
    request = workspace.process("CardsBoProcRequestMulitple")
    assert workspace.exclusive_group(request) == {"CardsBoProcRequestMulitple": "Request multiple cards"}


def test_a_user_with_an_open_card_of_the_group_gets_no_card_of_another_process(cf: Run) -> None:
    """u1's open "Order multiple cards" card refuses "Order card", naming that card and its process."""
    first = ordered(cf, ORDER, "u1")
    assert first["status"] == "created"
    refused = ordered(cf, ORDER_CARD, "u1")
    expected = f"user u1 already has open card {first['card']} of 'Order multiple cards' (group card_order)"
    assert (refused["status"], refused["card"], refused["reason"]) == ("skipped", None, expected)


def test_the_refusal_is_in_the_run_table_too(cf: Run) -> None:
    """The command's table tells the same words."""
    card = ordered(cf, ORDER, "u1")["card"]
    shown = cf("run", ORDER_CARD, "--user", "u1", "--as", "op1")
    assert f"user u1 already has open card {card} of 'Order multiple cards' (group card_order)" in shown.stdout


def test_open_cards_counts_the_open_cards_of_the_whole_group(cf: Run) -> None:
    """u2's open "Order card" card makes `user.open_cards` 1 for "Order multiple cards": its
    prerequisite refuses, and `--where` over `user.open_cards` reads the same count."""
    assert ordered(cf, ORDER_CARD, "u2")["status"] == "created"
    refused = ordered(cf, ORDER, "u2")
    assert refused["status"] == "skipped" and "already has an open card order" in str(refused["reason"])
    planned = cf("run", ORDER, "--where", "user.open_cards == 1", "--as", "op1", "--json", "--dry-run")
    assert [r["user"] for r in json.loads(planned.stdout)["results"]] == ["u2"]


def test_with_the_rule_off_each_process_of_the_group_makes_its_card(cf: Run, stored: StoreUnderTest) -> None:
    """With multiple card orders allowed, neither process refuses and no card takes a key."""
    allowed = ("--set", "CardsAddonExtProdMultipleCards=true")
    assert ordered(cf, ORDER, "u1", *allowed)["status"] == "created"
    assert ordered(cf, ORDER_CARD, "u1", *allowed)["status"] == "created"
    assert stored.scalar("select count(*) from cards where user_id = 'u1' and open and open_key is null") == 2


def test_processes_of_a_group_may_differ_in_when(cf: Run, exclusive_workspace: Path) -> None:
    """Each process decides by its own `when`: "Order card" always keeps the rule, so with multiple
    orders allowed "Order multiple cards" makes a second card, but "Order card" still refuses."""
    path = exclusive_workspace / "processes" / f"{ORDER_CARD}.yaml"
    path.write_text(path.read_text().replace("  when: not options.CardsAddonExtProdMultipleCards\n", ""))
    assert cf("validate").exit_code == 0
    allowed = ("--set", "CardsAddonExtProdMultipleCards=true")
    first = ordered(cf, ORDER, "u1", *allowed)
    assert ordered(cf, ORDER, "u1", *allowed)["status"] == "created"
    refused = ordered(cf, ORDER_CARD, "u1", *allowed)
    expected = f"user u1 already has open card {first['card']} of 'Order multiple cards' (group card_order)"
    assert (refused["status"], refused["reason"]) == ("skipped", expected)


def test_the_store_refuses_a_second_open_card_of_the_group(cf: Run, stored: StoreUnderTest) -> None:
    """The rule is the unique index on the group's key: a card of the other process with u1's key fails in the database."""
    ordered(cf, ORDER, "u1")
    assert stored.scalar("select open_key from cards where user_id = 'u1'") == "card_order:u1"
    insert = text(
        "insert into cards (id, user_id, process, state, open, requester, batch_id, created_at, updated_at, open_key) "
        "values (999999, 'u1', :process, 'ordered', :open, 'op1', 'other', 'x', 'x', 'card_order:u1')"
    )
    engine = db.connect(stored.location)
    with pytest.raises(IntegrityError), engine.begin() as connection:
        connection.execute(insert, {"process": ORDER_CARD, "open": True})
    engine.dispose()


def test_two_processes_of_a_group_at_once_give_nobody_two_open_cards(stored: StoreUnderTest, exclusive_workspace: Path) -> None:
    """ "Order multiple cards" and "Order card" run at the same moment for the same 1,000 users, as
    real commands (on PostgreSQL side by side): every user gets exactly one open card of the group,
    and whoever came second is told which card each user has."""
    import_users(stored.folder, USERS)
    workspace = ("--workspace", str(exclusive_workspace))
    commands = [
        ["run", process, "--where", HOLDERS, "--as", operator, "--json", *workspace]
        for process, operator in ((ORDER, "op1"), (ORDER_CARD, "op2"))
    ]
    runs = at_once(stored.folder, *commands, gate=partial(held, stored, "cards", waiting=2))
    for finished in runs:
        assert finished.returncode in (0, 1), finished.stderr
        assert "Traceback" not in finished.stderr
    assert stored.scalar("select count(*) from cards where open") == USERS
    assert stored.scalar("select count(distinct user_id) from cards where open") == USERS
    assert stored.scalar("select count(*) from cards where open_key like 'card_order:%'") == USERS
    reasons = {
        process: {r["reason"] for r in json.loads(finished.stdout)["results"] if r["status"] == "skipped"}
        for (_, process, *_), finished in zip(commands, runs, strict=True)
    }
    assert sum(len(json.loads(finished.stdout)["results"]) for finished in runs) == 2 * USERS
    assert all("already has an open card order" in reason for reason in reasons[ORDER])  # its prerequisite
    assert all(reason.endswith("(group card_order)") for reason in reasons[ORDER_CARD])  # the group's refusal


def test_reopening_a_card_while_another_of_the_group_is_open_is_refused_naming_it(
    cf: Run, stored: StoreUnderTest, exclusive_workspace: Path
) -> None:
    """u1's failed "Order multiple cards" card may not be retried while u1's "Order card" card is open:
    the store refuses the retry, and the refusal names that card (retry without its own open-card rule)."""
    retry = exclusive_workspace / "processes" / "CardsAddonExtProdProcRetryOrder.yaml"
    rules = retry.read_text(encoding="utf-8")
    retry.write_text(rules[: rules.index("  - rule: options.CardsAddonExtProdMultipleCards")], encoding="utf-8")
    failed = ordered(cf, ORDER, "u1", "--set", "CardsAddonExtProdQueue=false")["card"]
    (stored.folder / "orders" / "status").mkdir(parents=True)
    for path in (stored.folder / "orders").glob("*.json"):
        (stored.folder / "orders" / "status" / path.name).write_text('{"status": "failed", "reason": "Chip defect"}')
    assert cf("orders", "sync").exit_code == 0
    card = ordered(cf, ORDER_CARD, "u1")["card"]
    refused = cf("retry", str(failed), "--as", "op1")
    expected = f"retry refused, nothing changed: user u1 already has open card {card} of 'Order card, test' (group card_order)"
    assert (refused.exit_code, refused.stderr.strip()) == (1, f"cardflow: {expected}")


def test_a_new_process_joins_a_process_s_own_group_by_its_name(
    run: Run, stored: StoreUnderTest, workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`exclusive: EXPR` is the group named after the process: with "Order multiple cards" in a group of its
    own, a new process naming that group joins it, and an open card of it refuses the new one."""
    order = workspace / "processes" / f"{ORDER}.yaml"
    own = "exclusive: not options.CardsAddonExtProdMultipleCards\n"
    order.write_text(order.read_text(encoding="utf-8").replace(ORDER_GROUP, own), encoding="utf-8")
    added = (Path(__file__).parent / "exclusive" / "processes" / f"{ORDER_CARD}.yaml").read_text(encoding="utf-8")
    (workspace / "processes" / f"{ORDER_CARD}.yaml").write_text(added.replace("group: card_order", f"group: {ORDER}"))
    monkeypatch.setenv("CARDFLOW_WORKSPACE", str(workspace))
    (stored.folder / "users.csv").write_text(STAFF_AND_HOLDERS)
    assert run("users", "import", "users.csv").exit_code == 0
    card = ordered(run, ORDER, "u1")["card"]
    refused = ordered(run, ORDER_CARD, "u1")
    assert refused["reason"] == f"user u1 already has open card {card} of 'Order multiple cards' (group {ORDER})"
