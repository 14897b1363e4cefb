"""The API runs every process by its symbolic name (`POST /api/processes/{NAME}/run`) and fires every
trigger a person may fire (`POST /api/{TRIGGER}`), for processes and triggers only the workspace's
YAML declares (the extended workspace); on the store under test (SQLite, or PostgreSQL with
CARDFLOW_TEST_DB=postgres)."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from console_helpers import set_value, user_rows
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from engine.batch.status import sync_order_status
from engine.store import accounts
from engine.store.queries import open_store, upsert_users
from engine.web.app import create_app
from engine.web.console import Console

ORDER = "CardsAddonExtProdBoProcOrderMultiple"
ACTIVATE_MANY = "TestBoProcActivateMultiple"


@pytest.fixture
def store(stored: Any, store_template: Path, tmp_path: Path) -> Iterator[Engine]:
    """The console's people in the store under test: a copy of the template file, or with
    CARDFLOW_TEST_DB=postgres a fresh PostgreSQL database (the API needs tokens, not passwords)."""
    if os.environ.get("CARDFLOW_TEST_DB") == "postgres":
        engine = open_store(stored.url)
        with engine.begin() as connection:
            upsert_users(connection, user_rows())
    else:
        shutil.copyfile(store_template, tmp_path / "console.db")
        engine = open_store(str(tmp_path / "console.db"))
    yield engine
    engine.dispose()


@pytest.fixture
def console(make_console: Callable[[], Console], extended_web_workspace: Path) -> Console:
    """The console over the extended workspace, orders going straight to the bureau (the queue off)."""
    set_value(extended_web_workspace, "CardsAddonExtProdQueue", "false")
    return make_console()


@pytest.fixture
def api(console: Console) -> Iterator[TestClient]:
    with TestClient(create_app(console)) as client:
        yield client


def token(console: Console, user: str) -> dict[str, str]:
    with console.engine.begin() as connection:
        return {"Authorization": f"Bearer {accounts.issue_token(connection, user)}"}


def produced(api: TestClient, console: Console, users: list[str]) -> dict[str, int]:
    """Order a card for each of `users` through the API, and have the bureau report each produced; their cards by user."""
    answer = api.post(f"/api/processes/{ORDER}/run", json={"users": users}, headers=token(console, "op1"))
    assert answer.status_code == 200, answer.text
    cards = {r["user"]: r["card"] for r in answer.json()["results"]}
    orders = Path(console.connector.folder)  # type: ignore[attr-defined]
    (orders / "status").mkdir(exist_ok=True)
    for path in orders.glob("*.json"):
        (orders / "status" / path.name).write_text(json.dumps({"status": "produced"}))
    sync_order_status(console.workspace, console.engine, console.connector)
    return cards


def states(api: TestClient, console: Console) -> dict[int, str]:
    return {card["id"]: card["state"] for card in api.get("/api/cards", headers=token(console, "op1")).json()}


def error_of(response: Any, status: int) -> dict[str, Any]:
    """The API's one error shape, with the HTTP status expected."""
    assert response.status_code == status, response.text
    assert set(response.json()) == {"error"}, response.text
    return response.json()["error"]  # type: ignore[no-any-return]


def test_a_process_over_users_runs_by_name_as_run_json(api: TestClient, console: Console) -> None:
    """POST /api/processes/NAME/run for a process that creates cards answers what /api/run answers."""
    headers = token(console, "op1")
    by_name = api.post(f"/api/processes/{ORDER}/run", json={"users": ["u01", "u05"], "batch_id": "B-name"}, headers=headers)
    assert by_name.status_code == 200, by_name.text
    answer = by_name.json()
    assert (answer["batch"], answer["process"]) == ("B-name", ORDER)
    assert [(r["user"], r["state"], r["status"]) for r in answer["results"]] == [
        ("u01", "ordered", "created"),
        ("u05", None, "skipped"),
    ]
    legacy = api.post("/api/run", json={"process": ORDER, "users": ["u02"], "dry_run": True}, headers=headers).json()
    assert [(r["user"], r["state"], r["status"]) for r in legacy["results"]] == [("u02", "ordered", "created")]


def test_a_process_over_cards_runs_by_name_as_run_json(api: TestClient, console: Console) -> None:
    """POST /api/processes/NAME/run for a process that acts on cards (only the YAML declares it) fires its
    trigger on the cards named: {batch, process, results: [{card, user, from, to, status, reason}]}."""
    cards = produced(api, console, ["u01", "u02", "u03"])
    body = {"cards": [cards["u01"], cards["u02"]], "batch_id": "B-activate"}
    answer = api.post(f"/api/processes/{ACTIVATE_MANY}/run", json=body, headers=token(console, "op1"))
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "batch": "B-activate",
        "process": ACTIVATE_MANY,
        "results": [
            {"card": cards["u01"], "user": "u01", "from": "produced", "to": "active", "status": "done", "reason": None},
            {"card": cards["u02"], "user": "u02", "from": "produced", "to": "active", "status": "done", "reason": None},
        ],
    }
    assert states(api, console) == {cards["u01"]: "active", cards["u02"]: "active", cards["u03"]: "produced"}


def test_a_run_over_cards_selects_by_where_and_dry_runs(api: TestClient, console: Console) -> None:
    """`where` reads the card and its holder; a dry run answers what it would do and changes nothing."""
    cards = produced(api, console, ["u01", "u04"])
    headers = token(console, "op1")
    body = {"where": "card.state == 'produced' and user.department == 'Support'", "dry_run": True}
    planned = api.post(f"/api/processes/{ACTIVATE_MANY}/run", json=body, headers=headers).json()
    assert [(r["card"], r["to"], r["status"]) for r in planned["results"]] == [(cards["u04"], "active", "done")]
    assert states(api, console) == {cards["u01"]: "produced", cards["u04"]: "produced"}


def test_a_run_over_cards_refuses_a_card_with_its_reason(api: TestClient, console: Console) -> None:
    """A card the process may not move is `refused` with the reason, beside the cards done (as `run --json`)."""
    cards = produced(api, console, ["u01", "u02"])
    headers = token(console, "op1")
    api.post("/api/activate", json={"cards": [cards["u01"]]}, headers=headers)
    answer = api.post(f"/api/processes/{ACTIVATE_MANY}/run", json={"cards": [cards["u01"], cards["u02"]]}, headers=headers)
    assert [(r["card"], r["status"], r["reason"]) for r in answer.json()["results"]] == [
        (cards["u01"], "refused", "Only a produced card can be activated"),
        (cards["u02"], "done", None),
    ]


def test_a_renamed_process_runs_by_its_old_name(api: TestClient, console: Console) -> None:
    """A name the workspace lists as an alias (Abort card request, once CardsBoProcAbortRequest) runs its process."""
    body = {"all": True, "dry_run": True}
    answer = api.post("/api/processes/CardsBoProcAbortRequest/run", json=body, headers=token(console, "op1"))
    assert answer.status_code == 200, answer.text
    assert (answer.json()["process"], answer.json()["results"]) == ("CardsProcAbortRequest", [])


def test_an_unknown_process_is_404_with_a_did_you_mean(api: TestClient, console: Console) -> None:
    """A NAME the workspace does not have is 404 in the one error shape, with the close name."""
    error = error_of(api.post(f"/api/processes/{ORDER[:-1]}/run", json={"all": True}, headers=token(console, "op1")), 404)
    assert error["code"] == "not_found" and f"did you mean '{ORDER}'?" in error["message"]


def test_a_run_by_name_takes_the_selection_its_process_takes(api: TestClient, console: Console) -> None:
    """Cards for a process over users, users for one over cards, two selections at once, a trigger the
    process does not fire, or a trigger for a process over users, are a 400 naming what to choose."""
    headers = token(console, "op1")
    wrong = error_of(api.post(f"/api/processes/{ORDER}/run", json={"cards": [1]}, headers=headers), 400)
    assert "choose users with --user, --all or --where" in wrong["message"]
    both = error_of(api.post(f"/api/processes/{ORDER}/run", json={"users": ["u01"], "all": True}, headers=headers), 400)
    assert "exactly one" in both["message"]
    users = error_of(api.post(f"/api/processes/{ACTIVATE_MANY}/run", json={"users": ["u01"]}, headers=headers), 400)
    assert "choose cards with --card, --all or --where" in users["message"]
    trigger = error_of(
        api.post(f"/api/processes/{ACTIVATE_MANY}/run", json={"all": True, "trigger": "activat"}, headers=headers), 400
    )
    assert "did you mean 'activate'?" in trigger["message"]
    creating = error_of(api.post(f"/api/processes/{ORDER}/run", json={"all": True, "trigger": "activate"}, headers=headers), 400)
    assert "--trigger is for a process that acts on cards" in creating["message"]


#: Mistakes the command line, the API and scenario steps word alike, in the engine's words (the same
#: literals are asserted for `cardflow run` in tests/test_run_over_cards.py and for steps in tests/test_scenario_steps.py).
SAME_WORDS = [
    (
        ACTIVATE_MANY,
        {"users": ["u01"]},
        f"{ACTIVATE_MANY} acts on existing cards: --user is for a process that creates cards; "
        "choose cards with --card, --all or --where",
    ),
    (
        ACTIVATE_MANY,
        {"all": True, "production_type": "standard"},
        f"{ACTIVATE_MANY} acts on existing cards: --production-type is for a process that creates cards; "
        "choose cards with --card, --all or --where",
    ),
    (
        ORDER,
        {"cards": [1]},
        f"{ORDER} creates cards for users: --card is for a process that acts on cards; "
        "choose users with --user, --all or --where",
    ),
    (ACTIVATE_MANY, {"cards": [1], "all": True}, "choose the cards with exactly one of --card, --all or --where"),
    (ORDER, {"users": ["u01"], "where": "true"}, "choose the users with exactly one of --user, --all or --where"),
]


@pytest.mark.parametrize("name, body, message", SAME_WORDS, ids=["users", "production type", "cards", "two", "two users"])
def test_a_wrong_option_gets_the_words_of_the_command_line(
    api: TestClient, console: Console, name: str, body: dict[str, Any], message: str
) -> None:
    """An option of the other kind of run, or two selections, is a 400 with the message `cardflow run` gives."""
    error = error_of(api.post(f"/api/processes/{name}/run", json=body, headers=token(console, "op1")), 400)
    assert (error["code"], error["message"]) == ("usage", message)


def test_an_approver_may_not_run_an_operators_process(api: TestClient, console: Console) -> None:
    """The process's actor role is needed, as on the command line, over users and over cards: 403, nothing changed."""
    error = error_of(api.post(f"/api/processes/{ORDER}/run", json={"all": True}, headers=token(console, "ap1")), 403)
    assert error["code"] == "refused" and "operator" in error["message"]
    assert states(api, console) == {}
    cards = produced(api, console, ["u01"])
    error = error_of(api.post(f"/api/processes/{ACTIVATE_MANY}/run", json={"all": True}, headers=token(console, "ap1")), 403)
    assert error["code"] == "refused" and "operator" in error["message"]
    assert states(api, console) == {cards["u01"]: "produced"}


def test_a_trigger_only_the_workspace_declares_is_an_api_action(api: TestClient, console: Console) -> None:
    """POST /api/activate fires the workspace's own trigger on a produced card, as the command would."""
    cards = produced(api, console, ["u01", "u02"])
    answer = api.post("/api/activate", json={"cards": [cards["u01"]], "reason": "Handed over"}, headers=token(console, "op1"))
    assert answer.status_code == 200, answer.text
    assert [(r["card"], r["from"], r["to"], r["status"]) for r in answer.json()] == [(cards["u01"], "produced", "active", "done")]
    assert states(api, console) == {cards["u01"]: "active", cards["u02"]: "produced"}


def test_an_action_needs_the_role_of_the_process_that_offers_it(api: TestClient, console: Console) -> None:
    """An approver may not activate (an operator's trigger): 403, the card unchanged."""
    cards = produced(api, console, ["u01"])
    error = error_of(api.post("/api/activate", json={"cards": [cards["u01"]]}, headers=token(console, "ap1")), 403)
    assert "operator" in error["message"]
    assert states(api, console) == {cards["u01"]: "produced"}


def test_an_unknown_action_names_the_actions_with_a_did_you_mean(api: TestClient, console: Console) -> None:
    """A trigger no action process lets a person fire (a typo, or the batch sync's `order`) is a 400 naming them."""
    typo = error_of(api.post("/api/activat", json={"cards": [1]}, headers=token(console, "op1")), 400)
    assert "did you mean 'activate'?" in typo["message"] and "approve" in typo["message"]
    system = error_of(api.post("/api/order", json={"cards": [1]}, headers=token(console, "op1")), 400)
    assert "unknown action 'order'" in system["message"]


def test_the_run_by_name_is_documented(api: TestClient) -> None:
    """The OpenAPI document has the route, its body's fields and its 404."""
    spec = api.get("/api/openapi.json").json()
    route = spec["paths"]["/api/processes/{name}/run"]["post"]
    assert "404" in route["responses"]
    body = spec["components"]["schemas"]["ProcessRunBody"]["properties"]
    assert {"users", "cards", "all", "where", "trigger", "reason", "dry_run", "production_type", "batch_id", "set"} <= set(body)
