"""Bulk actions and saved views in the console: the Cards page offers the actions that apply to the
cards its filters find, the preview writes nothing, Next runs the batch in the background, Pause and
Resume on the batch's page; each user's views of the Cards page."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from html import unescape
from pathlib import Path
from urllib.parse import urlencode

import pytest
from console_helpers import csrf_of, set_value, sign_in
from fastapi.testclient import TestClient

from engine.batch.bulk import pause
from engine.batch.over_cards import CardRunRequest, CardSelection, run_over_cards
from engine.batch.request import RunRequest, Selection
from engine.batch.run import run_batch
from engine.batch.status import sync_order_status
from engine.errors import UsageError
from engine.store import accounts, db, queries
from engine.store.pages import CardQuery
from engine.web import bulk_pages
from engine.web.app import create_app
from engine.web.console import Console

ORDER, RETRY = "CardsAddonExtProdBoProcOrderMultiple", "CardsAddonExtProdProcRetryOrder"
OUTAGE = "the card bureau reports the order failed: bureau unavailable"
FAILED = {"process": ORDER, "state": "failed", "reason": OUTAGE}


@pytest.fixture
def console(make_console: Callable[[], Console], web_workspace: Path) -> Console:
    """Four cards ordered at the drop folder (u01 to u04); the bureau failed three of them while it
    was unavailable, and u04's for its layout."""
    set_value(web_workspace, "CardsAddonExtProdQueue", "false")
    built = make_console()
    users = ("u01", "u02", "u03", "u04")
    run_batch(built.workspace, built.engine, RunRequest(ORDER, "op1", Selection(users=users)), built.connector)
    orders = Path(str(built.connector.folder))  # type: ignore[attr-defined]
    (orders / "status").mkdir()
    for path in orders.glob("*.json"):
        why = "no such layout" if ".u04." in path.name else "bureau unavailable"
        (orders / "status" / path.name).write_text(json.dumps({"status": "failed", "reason": why}))
    sync_order_status(built.workspace, built.engine, built.connector)
    return built


def states(console: Console) -> dict[str, str]:
    with db.reading(console.engine) as connection:
        return {card["user_id"]: card["state"] for card in queries.find_cards(connection)}


def finished(console: Console, batch: str) -> None:
    """Wait for the console's run of `batch` to end (it runs in a thread of its own)."""
    job = console.jobs.get(batch)
    assert job is not None and job.wait(timeout=60), f"batch {batch} did not end"
    assert job.error is None, job.error


def test_the_cards_page_offers_the_actions_that_apply_to_what_it_found(console: Console) -> None:
    with TestClient(create_app(console)) as client:
        sign_in(client, "op2")
        found = client.get("/cards?" + urlencode(FAILED))
        unfiltered = client.get("/cards")
    assert "Act on all 3 cards found" in found.text and f'value="{RETRY} retry"' in found.text
    assert "Act on all" not in unfiltered.text  # never every card by accident


def test_a_bulk_retry_previews_then_runs_in_the_background(console: Console) -> None:
    """The preview counts what Next would do and writes nothing; Next runs it as a batch of op2's and
    the outage's cards are ordered again, the layout's card left failed."""
    asked = {**FAILED, "action": RETRY, "trigger": "retry"}
    with TestClient(create_app(console)) as client:
        sign_in(client, "op2")
        preview = client.get("/bulk/preview?" + urlencode(asked))
        assert preview.status_code == 200 and 'done: <span translate="no">3</span>' in preview.text
        assert states(console) == {"u01": "failed", "u02": "failed", "u03": "failed", "u04": "failed"}
        batch = re.search(r'name="batch_id" value="([^"]+)"', preview.text)
        assert batch
        form = {**asked, "batch_id": batch.group(1), "csrf": csrf_of(client)}
        ran = client.post("/bulk/run", data=form, follow_redirects=False)
        assert ran.status_code == 303 and ran.headers["location"] == f"/batches/{batch.group(1)}"
        finished(console, batch.group(1))
        page = client.get(f"/batches/{batch.group(1)}")
    assert states(console) == {"u01": "ordered", "u02": "ordered", "u03": "ordered", "u04": "failed"}
    with db.reading(console.engine) as connection:
        record = queries.get_batch(connection, batch.group(1))
    assert record and (record["actor"], record["trigger"], record["status"]) == ("op2", "retry", "complete")
    assert "done: 3" in unescape(page.text)


def test_where_narrows_a_bulk_action_by_a_user_attribute(console: Console) -> None:
    """An expression beside the filters: only the failed cards of holders in Sales (u04 is in Support)."""
    asked = {"state": "failed", "where": "user.department == 'Sales' and card.user != 'u02'", "action": RETRY, "trigger": "retry"}
    with TestClient(create_app(console)) as client:
        sign_in(client, "op2")
        preview = client.get("/bulk/preview?" + urlencode(asked))
        assert preview.status_code == 200 and 'done: <span translate="no">2</span>' in preview.text
        form = {**asked, "batch_id": "sales", "csrf": csrf_of(client)}
        assert client.post("/bulk/run", data=form, follow_redirects=False).status_code == 303
        finished(console, "sales")
        wrong = client.get("/bulk/preview?" + urlencode({**asked, "where": "user.departmnt == 'Sales'"}))
    assert states(console) == {"u01": "ordered", "u02": "failed", "u03": "ordered", "u04": "failed"}
    assert wrong.status_code == 400 and "did you mean" in unescape(wrong.text)


@pytest.mark.parametrize(
    ("asked", "says"),
    [
        ({"action": RETRY, "trigger": "retry"}, "Choose at least one filter first"),
        ({**FAILED, "action": RETRY, "trigger": "approve"}, "approve of Retry card order is not an action you may take"),
        (
            {**FAILED, "state": "faild", "action": RETRY, "trigger": "retry"},
            "no process has a state 'faild' (did you mean 'failed'?)",
        ),
        ({**FAILED, "updated_from": "May 3", "action": RETRY, "trigger": "retry"}, "is not a day (YYYY-MM-DD)"),
    ],
)
def test_a_preview_that_cannot_be_made_says_why(console: Console, asked: dict[str, str], says: str) -> None:
    with TestClient(create_app(console)) as client:
        sign_in(client, "op2")
        answer = client.get("/bulk/preview?" + urlencode(asked))
    assert answer.status_code == 400 and says in unescape(answer.text), answer.text


def test_bulk_actions_are_for_operators_and_need_the_forms_token(console: Console) -> None:
    with TestClient(create_app(console)) as client:
        sign_in(client, "ap1")
        assert client.get("/bulk/preview?" + urlencode({**FAILED, "action": RETRY, "trigger": "retry"})).status_code == 403
    with TestClient(create_app(console)) as client:
        sign_in(client, "op2")
        forged = client.post("/bulk/run", data={**FAILED, "action": RETRY, "trigger": "retry", "batch_id": "x"})
        assert forged.status_code == 403
    assert set(states(console).values()) == {"failed"}


def test_a_paused_batch_is_resumed_from_its_page(console: Console) -> None:
    """A bulk retry paused after its first card: its page says who paused it and offers Resume, which
    retries the rest; the first card is not ordered twice."""
    query = CardQuery(ORDER, "failed", reason=OUTAGE)
    request = CardRunRequest(RETRY, "op1", CardSelection(query=query), batch_id="paused-1")
    first = run_over_cards(console.workspace, console.engine, request, console.connector, chunk=1,
                           progress=lambda _: pause(console.workspace, console.engine, "paused-1", "op1"))  # fmt: skip
    assert first.paused_by == "op1" and len(first.results) == 1
    with TestClient(create_app(console)) as client:
        sign_in(client, "op2")
        page = client.get("/batches/paused-1")
        assert "Paused by op1" in page.text and ">Resume</button>" in page.text
        resumed = client.post("/batches/paused-1/resume", data={"csrf": csrf_of(client)}, follow_redirects=False)
        assert resumed.status_code == 303
        finished(console, "paused-1")
        after = client.get("/batches/paused-1")
    assert states(console) == {"u01": "ordered", "u02": "ordered", "u03": "ordered", "u04": "failed"}
    assert ">Resume</button>" not in after.text and "done: 3" in unescape(after.text)
    orders = Path(str(console.connector.folder)).glob("*.json")  # type: ignore[attr-defined]
    assert sum(1 for path in orders if ".u01." in path.name) == 2  # the first order and one retry, not two


def test_pause_from_the_page_of_a_running_batch(console: Console) -> None:
    with console.engine.begin() as connection:  # a bulk retry another operator's command runs now
        running = {"id": "b1", "process": RETRY, "actor": "op1", "options": "{}", "fingerprint": "f", "selection": "{}"}
        connection.execute(db.batches.insert().values(**running, status="running", created_at="2026-01-01", trigger="retry"))
    with TestClient(create_app(console)) as client:
        sign_in(client, "op2")
        paused = client.post("/batches/b1/pause", data={"csrf": csrf_of(client)}, follow_redirects=False)
        assert paused.status_code == 303
        again = client.post("/batches/b1/pause", data={"csrf": csrf_of(client)})
        assert again.status_code == 403 and "nothing to pause" in again.text
    with db.reading(console.engine) as connection:
        record = queries.get_batch(connection, "b1")
    assert record and (record["status"], record["paused_by"]) == ("paused", "op2")


def test_saved_views_are_each_users_own(console: Console) -> None:
    with TestClient(create_app(console)) as client:
        sign_in(client, "op2")
        saved = client.post(
            "/views", data={**FAILED, "order": "newest", "name": "Outage", "csrf": csrf_of(client)}, follow_redirects=False
        )
        assert saved.status_code == 303
        page = client.get("/cards")
        link = re.search(r'<a href="(/cards\?[^"]+)" translate="no">Outage</a>', page.text)
        assert link, page.text
        opened = client.get(unescape(link.group(1)))
        assert opened.text.count('<td class="state" translate="no">failed</td>') == 3 and 'value="newest" selected' in opened.text
        client.post("/views", data={"state": "failed", "name": "Outage", "csrf": csrf_of(client)})  # the same name: replaced
        assert client.get("/cards").text.count(">Outage</a>") == 1
        assert client.post("/views", data={"state": "failed", "name": " ", "csrf": csrf_of(client)}).status_code == 400
        view_id = re.search(r'action="/views/(\d+)/delete"', client.get("/cards").text)
        assert view_id
    with TestClient(create_app(console)) as other:
        sign_in(other, "op1")
        assert "Outage" not in other.get("/cards").text
        assert other.post(f"/views/{view_id.group(1)}/delete", data={"csrf": csrf_of(other)}).status_code == 400
    with TestClient(create_app(console)) as client:
        sign_in(client, "op2")
        assert (
            client.post(f"/views/{view_id.group(1)}/delete", data={"csrf": csrf_of(client)}, follow_redirects=False).status_code
            == 303
        )
        assert "Outage" not in client.get("/cards").text


def test_the_api_runs_a_bulk_action_over_the_cards_its_filters_find(console: Console) -> None:
    """POST /api/processes/NAME/run with `filters`: the dry run lists the outage's cards, the run
    retries them, the answer is `cardflow run NAME --json`'s; a filter for a process that creates cards is a 400."""
    with console.engine.begin() as connection:
        headers = {"Authorization": f"Bearer {accounts.issue_token(connection, 'op2')}"}
    filters = {"card_process": ORDER, "state": "failed", "moved_because": OUTAGE}
    with TestClient(create_app(console)) as api:
        planned = api.post(f"/api/processes/{RETRY}/run", json={"filters": filters, "dry_run": True}, headers=headers)
        assert planned.status_code == 200, planned.text
        assert sorted(r["user"] for r in planned.json()["results"]) == ["u01", "u02", "u03"]
        assert set(states(console).values()) == {"failed"}
        done = api.post(f"/api/processes/{RETRY}/run", json={"filters": filters}, headers=headers)
        assert {r["to"] for r in done.json()["results"]} == {"ordered"}
        wrong = api.post(f"/api/processes/{ORDER}/run", json={"filters": {"state": "failed"}}, headers=headers)
    assert states(console) == {"u01": "ordered", "u02": "ordered", "u03": "ordered", "u04": "failed"}
    assert wrong.status_code == 400 and "is for a process that acts on cards" in wrong.json()["error"]["message"]


def test_an_incidents_group_links_an_action_only_where_its_filters_find_the_group_alone(console: Console) -> None:
    """The outage's group and the layout's each link Retry over their reason; a group whose move gave no
    reason, beside others of its state, links none (a filter cannot say "no reason")."""
    with console.engine.begin() as connection:  # u04's move into failed, as if it had come with no reason
        connection.exec_driver_sql("UPDATE transitions SET reason = NULL WHERE dest = 'failed' AND card_id = 4")
    with TestClient(create_app(console)) as client:
        sign_in(client, "op2")
        page = client.get("/incidents").text
    groups = page.split('<article class="incident"')[1:]
    outage = [g for g in groups if "bureau unavailable" in g]
    silent = [g for g in groups if 'data-kind="cards"' in g and "bureau unavailable" not in g]
    assert len(outage) == 1 and "/bulk/preview?" in outage[0]
    assert len(silent) == 1 and "/bulk/preview?" not in silent[0] and ">Show them</a>" in silent[0]


def test_a_preview_of_many_cards_reads_the_first_and_next_acts_on_all(console: Console, monkeypatch: pytest.MonkeyPatch) -> None:
    """A preview reads at most PREVIEW_READS cards (two here) and says how many were found; Next acts on all three."""
    monkeypatch.setattr(bulk_pages, "PREVIEW_READS", 2)
    asked = {**FAILED, "action": RETRY, "trigger": "retry"}
    with TestClient(create_app(console)) as client:
        sign_in(client, "op2")
        preview = client.get("/bulk/preview?" + urlencode(asked))
        assert "Previewed the first 2 of 3 cards found" in preview.text
        assert 'done: <span translate="no">2</span>' in preview.text and preview.text.count('<tr class="done">') == 2
        form = {**asked, "batch_id": "all-three", "csrf": csrf_of(client)}
        assert client.post("/bulk/run", data=form, follow_redirects=False).status_code == 303
        finished(console, "all-three")
    assert states(console) == {"u01": "ordered", "u02": "ordered", "u03": "ordered", "u04": "failed"}


def test_only_a_dry_run_stops_before_the_end(console: Console) -> None:
    request = CardRunRequest(RETRY, "op1", CardSelection(query=CardQuery(state="failed")))
    with pytest.raises(UsageError, match="only a dry run"):
        run_over_cards(console.workspace, console.engine, request, console.connector, read_at_most=1)
    assert set(states(console).values()) == {"failed"}
