"""The order-status sync (`cardflow orders sync`): the bureau's reports move ordered cards on, each
move in the audit trail and told by `explain`; on SQLite and PostgreSQL, drop folder and HTTP."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from bureau_server import FakeBureau
from conftest import Run

ORDER = "CardsAddonExtProdBoProcOrderMultiple"
USERS = """id,name,email,state,roles
op1,Olle Operator,op1@example.com,active,operator
u1,Alice,alice@example.com,active,
u2,Bertil,bertil@example.com,active,
u3,Cecilia,cecilia@example.com,active,
"""


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The store (an SQLite file, or a fresh database on the PostgreSQL server) with the users imported."""
    location = str(tmp_path / "cardflow.db") if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    monkeypatch.setenv("CARDFLOW_DB", location)  # after `run`, which clears it
    (tmp_path / "cwd" / "users.csv").write_text(USERS)
    assert run("users", "import", "users.csv").exit_code == 0
    return location


def ok(result: Any) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def unfinished(result: Any) -> Any:
    """The JSON of a sync that left cards for the next one: exit 1, and the command to run again."""
    assert result.exit_code == 1 and "run `cardflow orders sync" in result.stderr, result.output
    return json.loads(result.stdout)


def order_all(run: Run) -> dict[str, int]:
    """Order a card for u1, u2 and u3 straight at the bureau (queue off); their card ids by user."""
    users = ("--user", "u1", "--user", "u2", "--user", "u3")
    output = ok(run("run", ORDER, *users, "--as", "op1", "--json", "--set", "CardsAddonExtProdQueue=false"))
    return {r["user"]: r["card"] for r in output["results"]}


def states(run: Run) -> dict[str, str]:
    return {card["user"]: card["state"] for card in ok(run("cards", "--json"))}


def report(folder: Path, card_user: str, status: dict[str, str]) -> None:
    """Write the status file the bureau writes back for the order of `card_user`'s card."""
    (order,) = [path for path in folder.glob("*.json") if f".{card_user}." in path.name]
    (folder / "status").mkdir(exist_ok=True)
    (folder / "status" / order.name).write_text(json.dumps(status))


def test_status_files_move_ordered_cards_on(cli: Run, db: str, tmp_path: Path) -> None:
    """In production, then produced; failed with the bureau's reason; no status file: the card stays ordered."""
    cards = order_all(cli)
    orders = tmp_path / "cwd" / "orders"
    report(orders, "u1", {"status": "in_production"})
    report(orders, "u2", {"status": "failed", "reason": "Chip defect in the card blank"})
    first = ok(cli("orders", "sync", "--json"))
    assert sorted((r["card"], r["to"]) for r in first) == sorted([(cards["u1"], "in_production"), (cards["u2"], "failed")])
    report(orders, "u1", {"status": "PRODUCED"})
    second = ok(cli("orders", "sync", "--json"))
    assert [(r["card"], r["from"], r["to"]) for r in second] == [(cards["u1"], "in_production", "produced")]
    assert states(cli) == {"u1": "produced", "u2": "failed", "u3": "ordered"}
    assert ok(cli("orders", "sync", "--json")) == []  # nothing new: nothing moves twice


def test_each_move_is_in_the_audit_trail_and_explain_tells_it(cli: Run, db: str, tmp_path: Path) -> None:
    """The audit rows of the moves name the trigger, the system as actor and the bureau's report; explain says it in words."""
    cards = order_all(cli)
    orders = tmp_path / "cwd" / "orders"
    report(orders, "u1", {"status": "in_production"})
    ok(cli("orders", "sync", "--json"))
    report(orders, "u1", {"status": "failed", "reason": "Printer out of ribbon"})
    ok(cli("orders", "sync", "--json"))
    trail = ok(cli("explain", str(cards["u1"]), "--json"))["transitions"]
    assert [(t["trigger"], t["source"], t["dest"], t["actor"]) for t in trail] == [
        ("start", "registered", "ordered", "op1"),
        ("production_started", "ordered", "in_production", "system"),
        ("production_failed", "in_production", "failed", "system"),
    ]
    assert trail[2]["reason"].endswith("failed: Printer out of ribbon")
    told = cli("explain", str(cards["u1"])).stdout
    by = "'production_started' by the system (Update card order, CardsAddonExtProdProcUpdateCardOrder)"
    assert f"{by}: ordered -> in_production." in told
    assert "Reason given: the card bureau reports the order" in told and "Printer out of ribbon" in told


def test_an_unreadable_status_file_leaves_the_card_for_the_next_sync(cli: Run, db: str, tmp_path: Path) -> None:
    """A status file the bureau left half-written is a deferral with the reason, not a move and not a crash."""
    cards = order_all(cli)
    report(tmp_path / "cwd" / "orders", "u3", {"status": "lost in the post"})
    results = unfinished(cli("orders", "sync", "--json"))
    assert [(r["card"], r["status"]) for r in results] == [(cards["u3"], "deferred")]
    assert states(cli)["u3"] == "ordered"


def test_the_http_bureau_reports_statuses(run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Through the HTTP connector the order-status endpoint of a real HTTP server moves the cards on."""
    (tmp_path / "cwd" / "users.csv").write_text(USERS)
    assert run("users", "import", "users.csv").exit_code == 0
    for name in [name for name in os.environ if name.lower().endswith("_proxy")]:
        monkeypatch.delenv(name)
    with FakeBureau() as bureau:
        monkeypatch.setenv("CARDFLOW_CONNECTOR", "http")
        for name, value in bureau.env().items():
            monkeypatch.setenv(name, value)
        cards = order_all(run)
        by_card = {int(order.body["reference"]): order.order_id for order in bureau.orders}
        bureau.report(by_card[cards["u1"]], "PRODUCED")
        bureau.report(by_card[cards["u2"]], "FAILED", "Photo rejected by the bureau")
        results = ok(run("orders", "sync", "--json"))
    assert sorted((r["card"], r["to"]) for r in results) == sorted([(cards["u1"], "produced"), (cards["u2"], "failed")])
    assert states(run) == {"u1": "produced", "u2": "failed", "u3": "ordered"}
    assert "Photo rejected by the bureau" in run("explain", str(cards["u2"])).stdout


def test_a_bureau_that_does_not_know_the_order_leaves_the_card_for_later(
    run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An order-status call answered 404 is a deferral with the bureau's words; the cards stay ordered."""
    (tmp_path / "cwd" / "users.csv").write_text(USERS)
    assert run("users", "import", "users.csv").exit_code == 0
    for name in [name for name in os.environ if name.lower().endswith("_proxy")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("CARDFLOW_CONNECTOR", "http")
    with FakeBureau() as first:
        for name, value in first.env().items():
            monkeypatch.setenv(name, value)
        order_all(run)
    with FakeBureau() as forgetful:  # another bureau: it never took these orders
        for name, value in forgetful.env().items():
            monkeypatch.setenv(name, value)
        results = unfinished(run("orders", "sync", "--json"))
    assert [r["status"] for r in results] == ["deferred", "deferred", "deferred"]
    assert all("HTTP 404" in r["message"] and "unknown order" in r["message"] for r in results)
    assert states(run) == {"u1": "ordered", "u2": "ordered", "u3": "ordered"}


def test_retry_after_a_production_failure_writes_a_new_order_the_old_status_cannot_fail(
    cli: Run, db: str, tmp_path: Path
) -> None:
    """A retry after a failed production writes a new order file under a new key; the old status no longer moves the card."""
    cards = order_all(cli)
    orders = tmp_path / "cwd" / "orders"
    report(orders, "u2", {"status": "failed", "reason": "Chip defect in the card blank"})
    ok(cli("orders", "sync", "--json"))
    (retried,) = ok(cli("retry", str(cards["u2"]), "--as", "op1", "--json"))
    assert (retried["from"], retried["to"]) == ("failed", "ordered")
    first, second = sorted(path.name for path in orders.glob("*.u2.*.json"))
    assert first.endswith(".u2.1.json") and second.endswith(".u2.2.json")
    assert ok(cli("orders", "sync", "--json")) == []
    assert states(cli)["u2"] == "ordered"
    (orders / "status" / second).write_text(json.dumps({"status": "produced"}))
    (moved,) = ok(cli("orders", "sync", "--json"))
    assert (moved["card"], moved["to"]) == (cards["u2"], "produced")


def test_retry_after_a_production_failure_posts_a_new_order_to_the_http_bureau(
    run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Over HTTP a retry after FAILED posts a new order under a new key; the failed order's status no longer applies."""
    (tmp_path / "cwd" / "users.csv").write_text(USERS)
    assert run("users", "import", "users.csv").exit_code == 0
    for name in [name for name in os.environ if name.lower().endswith("_proxy")]:
        monkeypatch.delenv(name)
    with FakeBureau() as bureau:
        monkeypatch.setenv("CARDFLOW_CONNECTOR", "http")
        for name, value in bureau.env().items():
            monkeypatch.setenv(name, value)
        cards = order_all(run)
        (failed,) = [order for order in bureau.orders if order.body["reference"] == str(cards["u2"])]
        bureau.report(failed.order_id, "FAILED", "Photo rejected by the bureau")
        ok(run("orders", "sync", "--json"))
        (retried,) = ok(run("retry", str(cards["u2"]), "--as", "op1", "--json"))
        assert (retried["from"], retried["to"]) == ("failed", "ordered")
        again = bureau.orders[-1]
        assert len(bureau.orders) == 4 and again.body["reference"] == str(cards["u2"])
        assert again.key != failed.key and again.order_id != failed.order_id
        assert ok(run("orders", "sync", "--json")) == []
        assert states(run)["u2"] == "ordered"
