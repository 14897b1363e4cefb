"""The HTTP bureau connector through the real CLI, against a fake bureau that is a real HTTP server."""

from __future__ import annotations

import json
import os
import socket
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from bureau_server import FakeBureau, accept, respond
from conftest import Run

ORDER = "CardsAddonExtProdBoProcOrderMultiple"
USERS = """id,name,email,state,roles
op1,Olle Operator,op1@example.com,active,operator
u1,Alice,alice@example.com,active,
u2,Bertil,bertil@example.com,active,
"""


@pytest.fixture
def bureau() -> Iterator[FakeBureau]:
    with FakeBureau() as running:
        yield running


@pytest.fixture
def cf(run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bureau: FakeBureau) -> Run:
    """The CLI with users imported and CARDFLOW_CONNECTOR=http pointing at the fake bureau."""
    (tmp_path / "cwd" / "users.csv").write_text(USERS)
    assert run("users", "import", "users.csv").exit_code == 0
    for name in [name for name in os.environ if name.lower().endswith("_proxy")]:
        monkeypatch.delenv(name)  # talk to 127.0.0.1 directly
    monkeypatch.setenv("CARDFLOW_CONNECTOR", "http")  # after `run`, which clears it
    for name, value in bureau.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("CARDFLOW_BUREAU_TIMEOUT", "2")
    return run


def ok(result: Any) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def start(cf: Run, *args: str) -> dict[str, Any]:
    """Run the order process for u1 (and whoever else `args` names) as op1; the cards by user."""
    output = ok(cf("run", ORDER, "--user", "u1", "--as", "op1", "--json", *args))
    return {"batch": output["batch"], **{result["user"]: result["card"] for result in output["results"]}}


def sync(cf: Run) -> list[dict[str, Any]]:
    """`queue run --json`; it exits 1 exactly when an order got no answer (work left undone) or the
    bureau refused every order it answered."""
    result = cf("queue", "run", "--json")
    synced: list[dict[str, Any]] = json.loads(result.stdout)
    deferred = any(r["status"] == "deferred" for r in synced)
    answered = [r for r in synced if r["status"] == "done"]
    every_refused = bool(answered) and all(r["message"] and "refused" in r["message"] for r in answered)
    assert result.exit_code == (1 if deferred or every_refused else 0), result.output
    return synced


def state(cf: Run, card: int) -> str:
    return next(row["state"] for row in ok(cf("cards", "--json")) if row["id"] == card)  # type: ignore[no-any-return]


def orders(cf: Run, card: int) -> list[dict[str, Any]]:
    return ok(cf("explain", str(card), "--json"))["orders"]  # type: ignore[no-any-return]


def test_queued_cards_are_ordered_with_the_holders_data(cf: Run, bureau: FakeBureau) -> None:
    """The sync orders each queued card once, with layout, holder, reference, batch, key and token; cards become ordered."""
    cards = start(cf, "--user", "u2")
    synced = sync(cf)
    assert [(r["card"], r["from"], r["to"], r["status"]) for r in synced] == [
        (cards["u1"], "processing", "ordered", "done"),
        (cards["u2"], "processing", "ordered", "done"),
    ]
    assert bureau.token_requests == 1  # one token for the whole sync
    for user, name, email in (("u1", "Alice", "alice@example.com"), ("u2", "Bertil", "bertil@example.com")):
        (order,) = [order for order in bureau.orders if order.body["reference"] == str(cards[user])]
        assert order.key == f"{cards['batch']}.{user}.1"
        assert order.token in bureau.tokens and order.content_type == "application/json"
        assert (order.body["layout"], order.body["batch"], order.body["process"]) == ("standard", cards["batch"], ORDER)
        holder = order.body["cardholder"]
        assert (holder["id"], holder["name"], holder["email"], holder["state"]) == (user, name, email, "active")
        assert bureau.client_secret not in json.dumps(order.body)
        (stored,) = orders(cf, cards[user])
        assert (stored["accepted"], stored["order_id"], stored["connector"]) == (True, order.order_id, "http")
        assert stored["idempotency_key"] == order.key
        assert state(cf, cards[user]) == "ordered"
    assert sync(cf) == []


def test_server_error_defers_then_orders_once(cf: Run, bureau: FakeBureau) -> None:
    """A 500 leaves the card processing (deferred) with its call pending; `calls send` orders it; the bureau holds one order."""
    card = start(cf)["u1"]
    bureau.then(respond(500, {"message": "database down"}))
    (deferred,) = sync(cf)
    assert (deferred["status"], deferred["to"]) == ("deferred", None)
    assert "HTTP 500" in deferred["message"] and "database down" in deferred["message"]
    assert state(cf, card) == "processing" and orders(cf, card) == [] and bureau.orders == []
    assert sync(cf) == []  # the card waits for its call, which the sync leaves to the outbox
    (done,) = ok(cf("calls", "send", "--now", "--json"))
    assert (done["status"], done["to"], state(cf, card)) == ("answered", "ordered", "ordered")
    assert len(bureau.orders) == 1 and [o["order_id"] for o in orders(cf, card)] == [bureau.orders[0].order_id]


def test_time_out_after_the_bureau_accepted_orders_once(cf: Run, bureau: FakeBureau, monkeypatch: pytest.MonkeyPatch) -> None:
    """A time-out after the bureau took the order defers the card; `calls send` gets the same order id under the same key."""
    monkeypatch.setenv("CARDFLOW_BUREAU_TIMEOUT", "0.5")
    card = start(cf)["u1"]
    bureau.then(accept(delay=5))
    began = time.monotonic()
    (deferred,) = sync(cf)
    assert time.monotonic() - began < 3
    assert deferred["status"] == "deferred" and "within 0.5 s" in deferred["message"]
    assert state(cf, card) == "processing" and len(bureau.orders) == 1
    (done,) = ok(cf("calls", "send", "--now", "--json"))
    assert (done["to"], state(cf, card)) == ("ordered", "ordered")
    assert len(bureau.orders) == 1 and bureau.keys == [bureau.orders[0].key] * 2
    assert [o["order_id"] for o in orders(cf, card)] == [bureau.orders[0].order_id]


def test_refused_order_fails_then_retry_orders_under_a_new_key(cf: Run, bureau: FakeBureau) -> None:
    """A 400 fails the card with the bureau's message; retry orders it under a new key; the refusal was never recorded."""
    card = start(cf)["u1"]
    bureau.then(respond(400, {"message": "unknown layout"}))
    (failed,) = sync(cf)
    assert (failed["to"], state(cf, card)) == ("failed", "failed")
    (refused,) = orders(cf, card)
    assert (refused["accepted"], refused["message"], refused["order_id"]) == (False, "unknown layout", None)
    assert bureau.orders == []
    (retried,) = ok(cf("retry", str(card), "--as", "op1", "--json"))
    assert (retried["from"], retried["to"], state(cf, card)) == ("failed", "ordered", "ordered")
    (order,) = bureau.orders
    refused, accepted = orders(cf, card)
    assert accepted["idempotency_key"] == order.key != refused["idempotency_key"]
    assert accepted["order_id"] == order.order_id


def test_queue_off_orders_during_the_run(cf: Run, bureau: FakeBureau) -> None:
    """Queue off: the card is ordered at the bureau during the run."""
    output = ok(cf("run", ORDER, "--user", "u1", "--as", "op1", "--json", "--set", "CardsAddonExtProdQueue=false"))
    ((result,), (order,)) = output["results"], bureau.orders
    assert result["state"] == "ordered" and order.body["reference"] == str(result["card"])
    assert orders(cf, result["card"])[0]["order_id"] == order.order_id


def test_bad_credentials_defer_and_order_nothing(cf: Run, bureau: FakeBureau, monkeypatch: pytest.MonkeyPatch) -> None:
    """The token endpoint refusing the credentials defers every card, asks once per command, and shows no secret."""
    cards = start(cf, "--user", "u2")
    monkeypatch.setenv("CARDFLOW_BUREAU_CLIENT_SECRET", "wrong-secret-value")
    result = cf("queue", "run", "--json")
    synced = json.loads(result.stdout)
    assert result.exit_code == 1
    assert [(r["status"], r["to"]) for r in synced] == [("deferred", None), ("deferred", None)]
    assert "refused the client credentials" in synced[0]["message"] and "Client authentication failed" in synced[0]["message"]
    assert "wrong-secret-value" not in result.output
    assert [state(cf, cards["u1"]), state(cf, cards["u2"])] == ["processing", "processing"]
    assert bureau.orders == [] and bureau.token_requests == 1


def test_expired_token_is_renewed_once(cf: Run, bureau: FakeBureau) -> None:
    """A 401 on an order fetches a fresh token and sends the order again, once."""
    card = start(cf)["u1"]
    bureau.then(respond(401, {"error": "invalid_token"}))
    (done,) = sync(cf)
    assert (done["to"], state(cf, card)) == ("ordered", "ordered")
    assert bureau.token_requests == 2 and len(bureau.orders) == 1


@pytest.mark.parametrize(
    "status, body",
    [
        (408, None),
        (409, {"message": "order in progress"}),
        (429, {"error": "slow down"}),
        (503, "<html>down</html>"),
        (200, "{"),
        (301, None),
    ],
)
def test_answers_to_try_again_later_defer(cf: Run, bureau: FakeBureau, status: int, body: Any) -> None:
    """408, 409, 429, 5xx, a redirect and a 2xx without a JSON order id leave the card processing (deferred)."""
    card = start(cf)["u1"]
    bureau.then(respond(status, body))
    (deferred,) = sync(cf)
    assert deferred["status"] == "deferred" and f"HTTP {status}" in deferred["message"]
    assert state(cf, card) == "processing" and orders(cf, card) == []


def test_refusal_text_is_kept_on_one_line(cf: Run, bureau: FakeBureau) -> None:
    """A 4xx with a plain-text body fails the card with that text on one line."""
    card = start(cf)["u1"]
    bureau.then(respond(422, "the layout\n  'standard'\tis retired\n"))
    (failed,) = sync(cf)
    assert failed["to"] == "failed"
    assert orders(cf, card)[0]["message"] == "the layout 'standard' is retired"


def test_a_secret_echoed_by_the_bureau_is_not_kept(cf: Run, bureau: FakeBureau) -> None:
    """A refusal that echoes the client secret is stored with the secret masked."""
    card = start(cf)["u1"]
    bureau.then(respond(400, {"message": f"client {bureau.client_id} with secret {bureau.client_secret} may not order"}))
    sync(cf)
    assert orders(cf, card)[0]["message"] == "client cardflow-test with secret *** may not order"


def test_non_ascii_batch_id_is_sent_percent_encoded(cf: Run, bureau: FakeBureau) -> None:
    """A key that cannot go in a header as is (a Cyrillic batch id) is sent percent-encoded."""
    card = start(cf, "--batch-id", "Зарплата 1", "--set", "CardsAddonExtProdQueue=false")["u1"]
    (order,) = bureau.orders
    assert order.key == urllib.parse.quote("Зарплата 1.u1.1", safe="")
    assert state(cf, card) == "ordered"


def test_connection_refused_defers(cf: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    """A bureau that refuses connections leaves the card processing (deferred)."""
    card = start(cf)["u1"]
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    monkeypatch.setenv("CARDFLOW_BUREAU_URL", f"http://127.0.0.1:{port}")
    (deferred,) = sync(cf)
    assert deferred["status"] == "deferred" and "refused the connection" in deferred["message"]
    assert state(cf, card) == "processing"


@pytest.mark.parametrize(
    "name, value",
    [
        ("CARDFLOW_BUREAU_URL", None),
        ("CARDFLOW_BUREAU_CLIENT_ID", None),
        ("CARDFLOW_BUREAU_CLIENT_SECRET", ""),
        ("CARDFLOW_BUREAU_ORG_ID", None),
        ("CARDFLOW_BUREAU_URL", "ftp://bureau.example.com"),
        ("CARDFLOW_BUREAU_TIMEOUT", "soon"),
        ("CARDFLOW_BUREAU_TIMEOUT", "0"),
    ],
)
def test_missing_or_bad_setting_is_a_usage_error(cf: Run, monkeypatch: pytest.MonkeyPatch, name: str, value: str | None) -> None:
    """`--connector http` with a missing or bad CARDFLOW_BUREAU_* setting exits 2 with one line naming it."""
    card = start(cf)["u1"]
    monkeypatch.delenv("CARDFLOW_CONNECTOR")
    if value is None:
        monkeypatch.delenv(name)
    else:
        monkeypatch.setenv(name, value)
    result = cf("queue", "run", "--connector", "http")
    assert result.exit_code == 2
    assert len(result.stderr.strip().splitlines()) == 1 and name in result.stderr and "Traceback" not in result.output
    assert state(cf, card) == "processing"
