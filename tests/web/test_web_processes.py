"""The console from the YAML: processes the code has never heard of (the extended workspace, tests/extended/)
appear where the vendor's pattern puts them, for the roles that may use them, in English and Swedish,
and work: "What do you want to do?", BATCH ORDERS, a card's buttons and their confirmation step."""

from __future__ import annotations

import html as html_module
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from console_helpers import csrf_of, produce, sign_in
from fastapi.testclient import TestClient
from sqlalchemy import insert

from engine.store import db, queries
from engine.web.app import create_app
from engine.web.console import Console

ACTIVATE = "TestProcActivateCard"
ACTIVATE_MANY = "TestBoProcActivateMultiple"
STEP = f"/cards/1/process/{ACTIVATE}"


@pytest.fixture
def console(make_console: Callable[[], Console], extended_web_workspace: Path) -> Console:
    """The extended workspace's console: card 1 (u01) produced, card 2 (u02) ordered."""
    built = make_console()
    produce(built, ordered=("u01", "u02"), produced=("u01",))
    return built


@pytest.fixture
def operator(console: Console) -> Iterator[TestClient]:
    with TestClient(create_app(console)) as client:
        sign_in(client, "op2")
        yield client


def state_of(console: Console, card: int) -> str:
    with db.reading(console.engine) as connection:
        return str(queries.get_cards(connection, [card])[card]["state"])


def test_home_lists_every_process_the_roles_may_start(console: Console) -> None:
    """An operator's "What do you want to do?" links each operator process to where it starts; an approver's
    lists the approver's process instead; nobody is offered the system's."""
    with TestClient(create_app(console)) as client:
        sign_in(client, "op1")
        operator = client.get("/").text
        sign_in(client, "ap1")
        approver = client.get("/").text
    assert f'<a href="/cards?action={ACTIVATE}">Activate card</a>' in operator
    assert f'<a href="/batch/{ACTIVATE_MANY}">Activate multiple cards</a>' in operator
    assert '<a href="/batch/CardsAddonExtProdBoProcOrderMultiple">Order multiple cards</a>' in operator
    assert ("Decide card requests" in operator, "Batch sync of queued card orders" in operator) == (False, False)
    assert ("Decide card requests</a>" in approver, "Activate card" in approver) == (True, False)


def test_home_names_processes_in_swedish(console: Console) -> None:
    """In Swedish the home page names a process by its `sv:` name."""
    with TestClient(create_app(console)) as client:
        sign_in(client, "op1", lang="sv")
        html = client.get("/").text
    assert ">Aktivera kort</a>" in html and ">Aktivera flera kort</a>" in html and "Activate card" not in html


def test_batch_orders_lists_every_batch_order_of_the_workspace(operator: TestClient) -> None:
    """BATCH ORDERS lists each process whose start is "Batch order > …", the one over cards too, and no card process."""
    html = operator.get("/batch").text
    for name in ("Order multiple cards", "Request multiple cards", "Activate multiple cards"):
        assert f">{name}</a>" in html
    assert ">Activate card</a>" not in html and ">Abort card order</a>" not in html


def test_a_process_link_lists_the_cards_it_can_act_on(operator: TestClient) -> None:
    """The home page's link of a card process lists the cards waiting in a state it acts on: the produced one."""
    html = operator.get("/cards", params={"action": ACTIVATE}).text
    assert 'href="/cards/1">1</a>' in html and 'href="/cards/2">2</a>' not in html
    assert "The cards Activate card can act on" in html


def test_a_produced_card_offers_a_button_named_for_the_process(operator: TestClient) -> None:
    """A produced card's page has an "Activate card" button; an ordered card's page has none."""
    produced, ordered = operator.get("/cards/1").text, operator.get("/cards/2").text
    assert f'action="{STEP}"' in produced and ">Activate card</button>" in produced
    assert ">Activate card</button>" not in ordered and ">Activate multiple cards</button>" not in produced


def test_an_approver_is_offered_no_operator_process(console: Console) -> None:
    """An approver sees no "Activate card" button, and the step refuses to fire it."""
    with TestClient(create_app(console)) as client:
        sign_in(client, "ap1")
        assert ">Activate card</button>" not in client.get("/cards/1").text
        response = client.post(STEP, data={"csrf": csrf_of(client), "trigger": "activate"})
    assert response.status_code == 403 and "operator role" in response.text
    assert state_of(console, 1) == "produced"


def test_the_step_asks_for_an_optional_reason_then_next_and_cancel(operator: TestClient) -> None:
    """The confirmation step shows the card, an optional Reason field (the trigger's reason: optional), Next and Cancel."""
    html = operator.get(STEP).text
    assert "<h1>Activate card</h1>" in html
    assert '<textarea id="reason" name="reason" rows="3" aria-describedby="reason-hint">' in html
    assert 'value="activate" class="primary" formnovalidate>Next</button>' in html
    assert ">Cancel</button>" in html


def test_next_fires_the_process_and_says_what_it_did(operator: TestClient, console: Console) -> None:
    """Next activates the card, with the reason in its story, and the card page says so."""
    response = operator.post(STEP, data={"csrf": csrf_of(operator), "trigger": "activate", "reason": "Handed over"})
    assert '<p class="flash" role="status">Activate card: card 1 is now active.</p>' in response.text
    assert state_of(console, 1) == "active"
    assert "Handed over" in response.text
    assert ">Activate card</button>" not in response.text


def test_cancel_changes_nothing(operator: TestClient, console: Console) -> None:
    """Cancel goes back to the card, which is as it was, saying that nothing was written."""
    html = operator.get("/cards/1", params={"cancelled": "1"}).text
    assert "The process was closed; nothing was written." in html
    assert state_of(console, 1) == "produced"


def test_a_refusal_is_shown_on_the_step(operator: TestClient, console: Console) -> None:
    """Next on a card that is not produced shows the step again with the prerequisite's message; nothing changes."""
    response = operator.post(f"/cards/2/process/{ACTIVATE}", data={"csrf": csrf_of(operator), "trigger": "activate"})
    assert response.status_code == 403
    assert "card 2 (ordered): Only a produced card can be activated" in response.text
    assert "Activate card cannot act on this card now." in response.text
    assert state_of(console, 2) == "ordered"


def test_a_trigger_the_process_does_not_fire_is_refused(operator: TestClient, console: Console) -> None:
    """A trigger the process does not declare is a usage error (400), and a batch order is no card process (400)."""
    assert operator.post(STEP, data={"csrf": csrf_of(operator), "trigger": "abort"}).status_code == 400
    assert operator.get(f"/cards/1/process/{ACTIVATE_MANY}").status_code == 400
    assert state_of(console, 1) == "produced"


def test_the_step_speaks_swedish(console: Console) -> None:
    """In Swedish the button, the step and the sentence after it use the process's `sv:` name."""
    with TestClient(create_app(console)) as client:
        sign_in(client, "op1", lang="sv")
        assert ">Aktivera kort</button>" in client.get("/cards/1").text
        assert "<h1>Aktivera kort</h1>" in client.get(STEP).text
        done = client.post(STEP, data={"csrf": csrf_of(client), "trigger": "activate"}).text
    assert '<p class="flash" role="status">Aktivera kort: kort 1 har nu status active.</p>' in done


def confirm_many(client: TestClient, cards: list[int], **extra: str) -> object:
    """Tick `cards` on the search page of Activate multiple cards and press its button."""
    data = {"csrf": csrf_of(client), "card": [str(card) for card in cards], "trigger": "activate", **extra}
    return client.post(f"/batch/{ACTIVATE_MANY}/cards/confirm", data=data)


def test_a_batch_order_over_cards_searches_cards(operator: TestClient) -> None:
    """BATCH ORDERS' link of a process over cards leads to a search of cards: a check box per card
    and the process's button."""
    response = operator.get(f"/batch/{ACTIVATE_MANY}", follow_redirects=True)
    assert response.url.path == f"/batch/{ACTIVATE_MANY}/cards"
    html = operator.get(f"/batch/{ACTIVATE_MANY}/cards", params={"searched": "1", "state": "produced"}).text
    assert '<input type="checkbox" name="card" value="1"' in html and 'name="card" value="2"' not in html
    assert 'value="activate" class="primary">Activate multiple cards</button>' in html


def test_the_search_of_cards_pages_through_many(operator: TestClient, console: Console) -> None:
    """120 produced cards more: the search shows 50 with their place and total and a link to the next
    50 that keeps the search."""
    rows = [
        {"user_id": f"m{n:03d}", "process": "CardsAddonExtProdBoProcOrderMultiple", "state": "produced", "open": True,
         "requester": "op1", "batch_id": "MANY", "created_at": "2026-12-01T08:00:00Z", "updated_at": "2026-12-01T08:00:00Z"}
        for n in range(120)
    ]  # fmt: skip
    with console.engine.begin() as connection:
        connection.execute(insert(db.cards), rows)
    html = operator.get(f"/batch/{ACTIVATE_MANY}/cards", params={"searched": "1", "state": "produced"}).text
    assert html.count('name="card" value=') == 50 and "1–50 of 121" in html
    following = re.search(r'<a href="([^"]+)" rel="next">', html)
    assert following is not None and "state=produced" in following.group(1)
    last = operator.get(html_module.unescape(following.group(1))).text
    assert "51–100 of 121" in last and 'name="card" value="1"' not in last


def test_the_confirmation_shows_what_next_would_do_to_each_card(operator: TestClient, console: Console) -> None:
    """The confirmation is a dry run: card 1 done (produced -> active), card 2 refused with the
    prerequisite's message; nothing is written."""
    html = confirm_many(operator, [1, 2]).text  # type: ignore[attr-defined]
    assert '<td class="state" translate="no">produced</td>\n      <td class="state" translate="no">active</td>' in html
    assert "Only a produced card can be activated" in html
    assert '<span class="pill">done: <span translate="no">1</span></span>' in html
    assert '<span class="pill">refused: <span translate="no">1</span></span>' in html
    assert (state_of(console, 1), state_of(console, 2)) == ("produced", "ordered")
    with db.reading(console.engine) as connection:
        assert [b["process"] for b in queries.list_batches(connection)] == ["CardsAddonExtProdBoProcOrderMultiple"]


def test_next_runs_the_batch_over_the_ticked_cards(operator: TestClient, console: Console) -> None:
    """Next activates the ticked cards that may be activated, refuses the others, and the batch page tells each."""
    confirm = confirm_many(operator, [1, 2]).text  # type: ignore[attr-defined]
    batch_id = confirm.split('name="batch_id" value="')[1].split('"')[0]
    data = {"csrf": csrf_of(operator), "batch_id": batch_id, "trigger": "activate", "card": ["1", "2"]}
    page = operator.post(f"/batch/{ACTIVATE_MANY}/cards/run", data=data)
    assert page.url.path == f"/batches/{batch_id}"
    assert (state_of(console, 1), state_of(console, 2)) == ("active", "ordered")
    assert '<a href="/cards/1">1</a></td>\n      <td class="state" translate="no">active</td><td>done</td>' in page.text
    assert '<span class="pill">done: 1</span> <span class="pill">refused: 1</span>' in page.text


def test_cancel_of_a_batch_over_cards_writes_nothing(operator: TestClient, console: Console) -> None:
    """Cancel on the confirmation goes back to BATCH ORDERS: no batch, no card moved."""
    confirm = confirm_many(operator, [1]).text  # type: ignore[attr-defined]
    assert '<form id="cancel" method="get" action="/batch">' in confirm and ">Cancel</button>" in confirm
    assert "The process was closed; nothing was written." in operator.get("/batch", params={"cancelled": "1"}).text
    assert state_of(console, 1) == "produced"


def test_no_ticked_card_is_a_usage_error(operator: TestClient) -> None:
    """Pressing the button with no card ticked says to tick them first (400)."""
    response = operator.post(f"/batch/{ACTIVATE_MANY}/cards/confirm", data={"csrf": csrf_of(operator), "trigger": "activate"})
    assert response.status_code == 400 and "Select the check boxes of the cards first." in response.text


def test_an_approver_may_not_run_a_batch_over_cards(console: Console) -> None:
    """BATCH ORDERS and its pages are the operator's: an approver is refused them."""
    with TestClient(create_app(console)) as client:
        sign_in(client, "ap1")
        assert client.get(f"/batch/{ACTIVATE_MANY}/cards").status_code == 403
        assert confirm_many(client, [1]).status_code == 403  # type: ignore[attr-defined]
    assert state_of(console, 1) == "produced"


def test_a_batch_over_cards_speaks_swedish(console: Console) -> None:
    """In Swedish BATCH ORDERS names the process by its `sv:` name, its button too, and the confirmation counts in Swedish."""
    with TestClient(create_app(console)) as client:
        sign_in(client, "op1", lang="sv")
        orders = client.get("/batch").text
        search = client.get(f"/batch/{ACTIVATE_MANY}/cards", params={"searched": "1"}).text
        confirm = confirm_many(client, [1, 2]).text  # type: ignore[attr-defined]
    assert ">Aktivera flera kort</a>" in orders
    assert ">Aktivera flera kort</button>" in search
    assert "klart: <span" in confirm and "nekat: <span" in confirm


def test_the_console_follows_the_roles_the_processes_name(web_workspace: Path, make_console: Callable[[], Console]) -> None:
    """Give the operator's processes to the approver in the YAML alone: the menu, BATCH ORDERS, the
    outbox and the batches follow the processes' actors (ap1 has them now, op1 has not), as the API does."""
    for path in (web_workspace / "processes").glob("*.yaml"):
        path.write_text(path.read_text(encoding="utf-8").replace("actor: operator", "actor: approver"), encoding="utf-8")
    with TestClient(create_app(make_console())) as client:
        sign_in(client, "ap1")
        home = client.get("/").text
        pages = [client.get(page).status_code for page in ("/batch", "/outbox", "/batches")]
        assert '<a href="/batch">' in home and pages == [200, 200, 200]
        sign_in(client, "op1")
        assert '<a href="/batch">' not in client.get("/").text
        assert [client.get(page).status_code for page in ("/batch", "/outbox", "/batches")] == [403, 403, 403]
