"""BATCH ORDERS in the console: the vendor's steps (Search, tick, the process's button, Next or
Cancel), the plan shown before anything is written, and large selections run in the background."""

from __future__ import annotations

import html as html_module
import re
import time
from collections.abc import Callable
from typing import Any

import pytest
from console_helpers import XSS, csrf_of, set_value, sign_in
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from engine.batch.results import BatchResult
from engine.store import db, queries
from engine.web import batch_pages
from engine.web.app import create_app
from engine.web.console import Console

ORDER = "/batch/CardsAddonExtProdBoProcOrderMultiple"
REQUEST = "/batch/CardsBoProcRequestMulitple"


def cards_in(store: Engine) -> list[dict[str, object]]:
    with db.reading(store) as connection:
        return queries.find_cards(connection)


def confirm(client: TestClient, path: str, users: list[str], **extra: str) -> str:
    response = client.post(f"{path}/confirm", data={"csrf": csrf_of(client), "user": users, **extra})
    assert response.status_code == 200, response.text
    return response.text


def next_step(client: TestClient, path: str, html: str, users: list[str], **extra: str) -> str:
    batch_id = re.search(r'name="batch_id" value="([^"]+)"', html)
    assert batch_id
    response = client.post(f"{path}/run", data={"csrf": csrf_of(client), "user": users, "batch_id": batch_id.group(1), **extra})
    assert response.status_code == 200, response.text
    return response.text


def test_batch_orders_offers_both_processes(client: TestClient) -> None:
    """The BATCH ORDERS page offers "Order multiple cards" and "Request multiple cards"."""
    sign_in(client, "op1")
    html = client.get("/batch").text
    assert "BATCH ORDERS" in html
    assert f'href="{ORDER}">Order multiple cards</a>' in html
    assert f'href="{REQUEST}">Request multiple cards</a>' in html


def test_approvers_cannot_start_a_batch(client: TestClient, store: Engine) -> None:
    """An approver is refused BATCH ORDERS, the search page and Next; nothing is written."""
    sign_in(client, "ap1")
    assert client.get("/batch").status_code == 403
    assert client.get(ORDER).status_code == 403
    token = csrf_of(client)
    assert client.post(f"{ORDER}/run", data={"csrf": token, "user": "u01", "batch_id": "Bx"}).status_code == 403
    assert cards_in(store) == []


def test_search_lists_users_with_a_check_box_each(client: TestClient) -> None:
    """Search lists every user, each row with a check box, and a select-all box; before it, no table."""
    sign_in(client, "op1")
    assert 'name="user"' not in client.get(ORDER).text
    html = client.get(ORDER, params={"searched": "1"}).text
    assert html.count('type="checkbox" name="user"') == 12
    assert 'data-select-all="user" aria-label="Select all"' in html
    assert '<button type="submit" class="primary">Order multiple cards</button>' in html


def test_search_filters_by_name_department_and_state(client: TestClient) -> None:
    """Name (a part, any case), department and state narrow the users found."""
    sign_in(client, "op1")
    html = client.get(ORDER, params={"searched": "1", "name": "ANDERS", "department": "Sales", "state": "active"}).text
    assert re.findall(r'name="user" value="([^"]+)"', html) == ["u01"]
    html = client.get(ORDER, params={"searched": "1", "department": "Sales", "state": "inactive"}).text
    assert re.findall(r'name="user" value="([^"]+)"', html) == ["u05"]


def test_search_pages_the_users(client: TestClient, monkeypatch: object) -> None:
    """Users come a page at a time, with their place, the total and a link to the next page that keeps the search."""
    monkeypatch.setattr(batch_pages, "PAGE_SIZE", 5)  # type: ignore[attr-defined]
    sign_in(client, "op1")
    first = client.get(ORDER, params={"searched": "1"}).text
    assert len(re.findall(r'name="user" value=', first)) == 5 and "1–5 of 12" in first
    second = client.get(html_module.unescape(re.search(r'<a href="([^"]+)" rel="next">', first).group(1))).text  # type: ignore[union-attr]
    third = client.get(html_module.unescape(re.search(r'<a href="([^"]+)" rel="next">', second).group(1))).text  # type: ignore[union-attr]
    assert "11–12 of 12" in third and 'rel="next"' not in third
    assert re.findall(r'name="user" value="([^"]+)"', third) == ["u05", "u06"]


def test_user_data_renders_as_text(client: TestClient) -> None:
    """A user named <script>alert(1)</script> is shown escaped, never as markup."""
    sign_in(client, "op1")
    html = client.get(ORDER, params={"searched": "1"}).text
    assert XSS not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_the_confirmation_shows_the_plan_and_writes_nothing(client: TestClient, store: Engine) -> None:
    """The action button shows each user's resulting state and the skipped users with the prerequisite's message."""
    sign_in(client, "op1")
    html = confirm(client, ORDER, ["u01", "u02", "u05"])
    assert re.search(r'<td translate="no">u01</td><td class="state" translate="no">processing</td><td>created</td>', html)
    skipped = r'<td translate="no">u05</td><td class="state" translate="no"></td><td>skipped</td>'
    assert re.search(skipped + r"<td>The user must be in state &#34;active&#34;.</td>", html)
    assert '<button type="submit" class="primary">Next</button>' in html and '<button type="submit">Cancel</button>' in html
    assert cards_in(store) == []


def test_the_plan_names_the_emails(make_console: Callable[[], Console], web_workspace: object) -> None:
    """With the queue off the plan tells the "card ordered" email each holder would get."""
    set_value(web_workspace, "CardsAddonExtProdQueue", "false")  # type: ignore[arg-type]
    with TestClient(create_app(make_console())) as client:
        sign_in(client, "op1")
        html = confirm(client, ORDER, ["u01"])
    assert (
        '<td translate="no">u01</td><td class="state" translate="no">ordered</td>' in html
        and "card_ordered to u01@example.com" in html
    )


def test_nothing_ticked_is_a_clear_message(client: TestClient) -> None:
    """The action button without any ticked user says what to do."""
    sign_in(client, "op1")
    response = client.post(f"{ORDER}/confirm", data={"csrf": csrf_of(client)})
    assert response.status_code == 400 and "Select the check boxes" in response.text


def test_cancel_closes_the_process_and_writes_nothing(client: TestClient, store: Engine) -> None:
    """Cancel on the confirmation leads back to BATCH ORDERS; no batch, no card."""
    sign_in(client, "op1")
    html = confirm(client, ORDER, ["u01", "u02"])
    assert 'action="/batch"' in html
    page = client.get("/batch", params={"cancelled": "1"}).text
    assert "The process was closed; nothing was written." in page
    with db.reading(store) as connection:
        assert (queries.list_batches(connection), queries.find_cards(connection)) == ([], [])


def test_next_orders_the_cards(client: TestClient, store: Engine) -> None:
    """Next runs the batch: the page shows the batch id and each user's outcome; the cards are processing."""
    sign_in(client, "op1")
    html = next_step(client, ORDER, confirm(client, ORDER, ["u01", "u02", "u05"]), ["u01", "u02", "u05"])
    assert re.search(r'<span class="batch-id" translate="no">B[0-9-]+-[0-9a-f]{4}</span>', html)
    assert html.count('<td class="state" translate="no">processing</td>') == 2
    assert "The user must be in state &#34;active&#34;." in html
    assert sorted((c["user_id"], c["state"], c["requester"]) for c in cards_in(store)) == [
        ("u01", "processing", "op1"),
        ("u02", "processing", "op1"),
    ]


def test_request_multiple_cards_gives_approved_cards(client: TestClient, store: Engine) -> None:
    """Request multiple cards with the default options: the cards are approved at once."""
    sign_in(client, "op1")
    next_step(client, REQUEST, confirm(client, REQUEST, ["u03"]), ["u03"])
    assert [(c["user_id"], c["state"]) for c in cards_in(store)] == [("u03", "approved")]


def test_sending_next_twice_makes_one_batch(client: TestClient, store: Engine) -> None:
    """The confirmation names the batch, so a second Next finishes the same batch: one card per user."""
    sign_in(client, "op1")
    html = confirm(client, ORDER, ["u01"])
    next_step(client, ORDER, html, ["u01"])
    next_step(client, ORDER, html, ["u01"])
    assert len(cards_in(store)) == 1


def test_production_type_is_chosen_when_selection_is_on(make_console: Callable[[], Console], web_workspace: object) -> None:
    """With selection on the search page offers the production types; the cards get the one chosen."""
    set_value(web_workspace, "CardsAddonExtProdSelectProductionType", "true")  # type: ignore[arg-type]
    set_value(web_workspace, "CardsAddonExtProdProductionTypes", "[standard, contractor]")  # type: ignore[arg-type]
    console = make_console()
    with TestClient(create_app(console)) as client:
        sign_in(client, "op1")
        assert "<option>contractor</option>" in client.get(ORDER, params={"searched": "1"}).text
        html = confirm(client, ORDER, ["u01"], production_type="contractor")
        assert "Production type: contractor" in html
        next_step(client, ORDER, html, ["u01"], production_type="contractor")
    assert [c["production_type"] for c in cards_in(console.engine)] == ["contractor"]


def test_every_user_found_runs_in_the_background(client: TestClient, store: Engine) -> None:
    """The choice "All users found" runs the search's selection as a batch whose page polls its progress."""
    sign_in(client, "op1")
    search = {"department": "Sales", "state": "active", "everyone": "1"}
    html = client.post(f"{ORDER}/confirm", data={"csrf": csrf_of(client), **search}).text
    assert html.count("<td>created</td>") == 3
    batch_id = re.search(r'name="batch_id" value="([^"]+)"', html).group(1)  # type: ignore[union-attr]
    client.post(f"{ORDER}/run", data={"csrf": csrf_of(client), "batch_id": batch_id, **search})
    deadline = time.monotonic() + 20
    while not client.get(f"/batches/{batch_id}/progress").headers.get("hx-refresh"):
        assert time.monotonic() < deadline, "the batch did not finish"
        time.sleep(0.05)
    page = client.get(f"/batches/{batch_id}").text
    assert page.count('<td class="state" translate="no">processing</td>') == 3
    assert sorted(c["user_id"] for c in cards_in(store)) == ["u01", "u02", "u03"]


def test_a_batch_that_finishes_while_its_page_reads_the_store_is_shown_running(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The job ends between the page's look at it and its read of the store (which then still says
    "running", no card): the page polls on, rather than showing a finished batch without its cards
    and never asking again (a browser test met this once a few hundred runs)."""
    sign_in(client, "op1")
    console: Console = client.app.state.console  # type: ignore[attr-defined]
    job = console.jobs.start("B-race", 3, lambda job: None, background=False)
    job.result = None
    finished = BatchResult("B-race", ORDER.rsplit("/", 1)[-1], False)
    reading = queries.get_batch

    def finishing_meanwhile(connection: Any, batch_id: str) -> Any:
        job.result = finished  # the run returns: the job is finished, the store's figures read before it
        return reading(connection, batch_id)

    monkeypatch.setattr(queries, "get_batch", finishing_meanwhile)
    html = client.get("/batches/B-race").text
    assert 'hx-get="/batches/B-race/progress"' in html
    monkeypatch.setattr(queries, "get_batch", reading)
    assert client.get("/batches/B-race/progress").headers.get("hx-refresh") == "true"


def test_a_running_batch_shows_its_progress(client: TestClient) -> None:
    """While a batch runs, its page holds the htmx-polled progress display."""
    sign_in(client, "op1")
    console: Console = client.app.state.console  # type: ignore[attr-defined]
    console.jobs.start("B-slow", 10, lambda job: None, background=False)
    console.jobs.jobs["B-slow"].result = None
    html = client.get("/batches/B-slow").text
    assert 'hx-get="/batches/B-slow/progress" hx-trigger="every 1s"' in html and "0 of 10 users done" in html


def test_a_large_confirmation_shows_counts_the_first_rows_and_next_at_the_top_and_the_end(
    client: TestClient, store: Engine
) -> None:
    """120 users more in Sales (a tenth inactive): the counts per outcome, 50 rows, how many are not
    shown, and Next and Cancel above the table and again below it."""
    rows = [
        {"id": f"s{n:03d}", "name": f"Seller {n}", "email": f"s{n}@example.com", "state": "inactive" if n % 10 == 0 else "active"}
        for n in range(120)
    ]
    with store.begin() as connection:
        queries.upsert_users(
            connection, [{**row, "roles": "[]", "attributes": '{"department": "Sales"}', "updated_at": "x"} for row in rows]
        )
    sign_in(client, "op1")
    html = client.post(f"{ORDER}/confirm", data={"csrf": csrf_of(client), "department": "Sales", "everyone": "1"}).text
    counts = dict(
        re.findall(
            r'<span class="pill">(?:<span class="state" translate="no">)?(\w+)(?:</span>)?: <span translate="no">(\d+)</span>',
            html,
        )
    )
    assert counts == {"processing": "111", "skipped": "13"}  # 108 + u01..u03 made; 12 inactive + the inactive of the template
    assert html.count("<tr class=") == 50
    assert "The first 50 of 124 users are shown; 74 are not." in html
    table, again = (
        html.index('<table class="plan">'),
        html.index('<button type="submit" form="next" class="primary">Next</button>'),
    )
    assert html.index('<form id="next"') < table < again and html.index('<form id="cancel"') < table < html.index('form="cancel"')


def test_a_confirmation_with_nothing_to_do_offers_no_next(client: TestClient) -> None:
    """Every selected user would be skipped (inactive): the plan says so and offers Cancel only."""
    sign_in(client, "op1")
    html = confirm(client, ORDER, ["u05"])
    assert "Nothing to do: every selected user would be skipped." in html
    assert 'id="next"' not in html and 'form="next"' not in html and 'id="cancel"' in html
