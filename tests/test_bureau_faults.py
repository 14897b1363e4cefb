"""The bureau failing: a real HTTP bureau (tests/bureau_server.py) that answers 500 and then hangs,
through the real CLI: the run stops ordering after three unanswered orders, every attempt is kept
and shown, resuming finishes once; answers nested too deep; drop-folder files written once by key."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from bureau_server import FakeBureau, accept, respond
from conftest import Run

from engine.outbound.bureau import DropFolder, OrderRequest
from engine.outbound.bureau_http import bureau_message

ORDER = "CardsAddonExtProdBoProcOrderMultiple"
QUEUE_OFF = ("--set", "CardsAddonExtProdQueue=false")
USERS = "id,name,email,state,roles\nop1,Olle Operator,op1@example.com,active,operator\n" + "".join(
    f"u{n:02d},User {n},u{n:02d}@example.com,active,\n" for n in range(1, 11)
)


@pytest.fixture
def bureau() -> Iterator[FakeBureau]:
    with FakeBureau() as running:
        yield running


@pytest.fixture
def cf(run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bureau: FakeBureau) -> Run:
    """The CLI with ten card holders, ordering over HTTP from the fake bureau (time-out 1 s)."""
    (tmp_path / "cwd" / "users.csv").write_text(USERS)
    assert run("users", "import", "users.csv").exit_code == 0
    for name in [name for name in os.environ if name.lower().endswith("_proxy")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("CARDFLOW_CONNECTOR", "http")
    for name, value in bureau.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("CARDFLOW_BUREAU_TIMEOUT", "1")
    return run


def cards(cf: Run) -> list[dict[str, Any]]:
    result = cf("cards", "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_a_bureau_answering_500_then_hanging_stops_the_run_after_three_and_resuming_finishes_once(
    cf: Run, bureau: FakeBureau
) -> None:
    """Queue off, eleven users, the bureau answers 500, 500, then hangs: three calls only, exit 1 with how to finish;
    every card of the chunk was committed with its call before any was sent, so all eleven wait, the three tried
    with their attempt recorded; the same --batch-id later orders every card exactly once."""
    bureau.then(respond(500, {"message": "internal error"}), respond(500), accept(delay=5))
    result = cf("run", ORDER, "--all", "--as", "op1", "--json", *QUEUE_OFF)
    assert result.exit_code == 1, result.output
    output = json.loads(result.stdout)
    batch = output["batch"]
    assert len(bureau.keys) == 3
    assert "3 orders in a row" in output["stopped"] and f"--batch-id {batch}" in output["stopped"]
    assert f"--batch-id {batch}" in result.stderr
    waiting = [card for card in cards(cf) if card.get("bureau", {}).get("unanswered")]
    assert len(cards(cf)) == 11 and {card["state"] for card in cards(cf)} == {"registered"}
    assert [card["bureau"]["unanswered"] for card in waiting] == [1, 1, 1]
    assert "HTTP 500" in waiting[0]["bureau"]["last_error"] and "within 1 s" in waiting[2]["bureau"]["last_error"]
    assert "unanswered: " in cf("cards").stdout
    story = json.loads(cf("explain", str(waiting[0]["id"]), "--json").stdout)
    (attempt,) = story["unanswered"]
    assert attempt["idempotency_key"] == f"{batch}.{waiting[0]['user']}.1" and "HTTP 500" in attempt["error"] and attempt["at"]
    assert "without an answer" in cf("explain", str(waiting[0]["id"])).stdout
    batches = json.loads(cf("batches", "--json").stdout)
    assert [b["status"] for b in batches] == ["incomplete"]

    finished = cf("run", ORDER, "--all", "--as", "op1", "--json", "--batch-id", batch, *QUEUE_OFF)
    assert finished.exit_code == 0, finished.output
    done = cards(cf)
    holders = ["op1", *(f"u{n:02d}" for n in range(1, 11))]  # --all: the operator too
    assert len(done) == 11 and {card["state"] for card in done} == {"ordered"}
    assert sorted(order.key for order in bureau.orders) == sorted(f"{batch}.{user}.1" for user in holders)


def test_a_sync_records_each_unanswered_order(cf: Run, bureau: FakeBureau) -> None:
    """Queue on: a sync meeting a 503 keeps the card queued and records the attempt, shown by cards and explain."""
    assert cf("run", ORDER, "--user", "u01", "--as", "op1").exit_code == 0
    bureau.then(respond(503, {"message": "maintenance"}))
    assert cf("queue", "run").exit_code in (0, 1)
    (card,) = cards(cf)
    assert card["state"] == "processing" and card["bureau"]["unanswered"] == 1
    assert "maintenance" in card["bureau"]["last_error"]


@pytest.mark.parametrize("body", [b"[" * 100_000, b'{"message": ' * 50_000])
def test_an_answer_nested_too_deep_is_read_as_text(body: bytes) -> None:
    """A JSON body nested 100,000 deep gives a one-line message, not a RecursionError."""
    message = bureau_message(body)
    assert isinstance(message, str) and "\n" not in message


def test_the_run_survives_a_deeply_nested_order_answer(cf: Run, bureau: FakeBureau) -> None:
    """The bureau answering 201 with a body nested 100,000 deep: the card waits with a clear error, nothing crashes."""
    bureau.then(respond(201, "[" * 100_000))
    result = cf("run", ORDER, "--user", "u01", "--as", "op1", "--json", *QUEUE_OFF)
    assert result.exit_code in (0, 1) and "internal error" not in result.output
    (card,) = cards(cf)
    assert card["state"] == "registered" and "without an order id" in card["bureau"]["last_error"]


def request(key: str) -> OrderRequest:
    return OrderRequest(key, 7, ORDER, "B1", "standard", {"id": "u1", "name": "Alice"})


def test_a_drop_folder_order_is_written_once_by_key(tmp_path: Path) -> None:
    """A second attempt under the same key (a resumed run) leaves the order file as the first attempt wrote it."""
    folder = DropFolder(tmp_path)
    first = folder.order(request("B1.u1.1"))
    path = tmp_path / "B1.u1.1.json"
    path.write_text(path.read_text(encoding="utf-8") + "\n", encoding="utf-8")  # marks the file as the bureau saw it
    seen = path.read_bytes()
    again = folder.order(request("B1.u1.1"))
    assert (first.accepted, again.accepted, again.order_id) == (True, True, first.order_id)
    assert path.read_bytes() == seen
    assert sorted(p.name for p in tmp_path.iterdir()) == ["B1.u1.1.json"]
