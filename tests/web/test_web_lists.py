"""Lists that scale: the Cards, Outbox, Batches and Requests pages show a page at a time with the
total and the page's place, filter and sort by date, and their links keep the filters."""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterator

import pytest
from console_helpers import sign_in
from fastapi.testclient import TestClient
from sqlalchemy import Engine, insert

from engine.store import db
from engine.web.app import create_app
from engine.web.console import Console
from engine.web.paging import cursor

ORDER = "CardsAddonExtProdBoProcOrderMultiple"
REQUEST = "CardsBoProcRequestMulitple"


@pytest.fixture
def client(make_console: Callable[[], Console], store: Engine) -> Iterator[TestClient]:
    """An operator's console over 120 cards (every third requested, the rest ordered; moved on days
    1 to 4 of December), 120 emails (every fourth failed) and 60 batches."""
    cards = [
        {
            "user_id": f"u{n:03d}",
            "process": REQUEST if n % 3 == 0 else ORDER,
            "state": "requested" if n % 3 == 0 else "ordered",
            "open": True,
            "requester": "op1",
            "requested_by": "op1",
            "batch_id": f"B{n % 60:02d}",
            "created_at": "2026-12-01T08:00:00Z",
            "updated_at": f"2026-12-0{n % 4 + 1}T12:00:00Z",
        }
        for n in range(120)
    ]
    emails = [
        {
            "dedupe_key": f"k{n}",
            "card_id": n + 1,
            "template": "card_ordered",
            "recipient": f"u{n}@example.com",
            "recipient_user": f"u{n}",
            "context": "{}",
            "status": "failed" if n % 4 == 0 else "sent",
            "created_at": "2026-12-01T08:00:00Z",
        }
        for n in range(120)
    ]
    batches = [
        {
            "id": f"B{n:02d}",
            "process": ORDER,
            "actor": "op1",
            "options": "{}",
            "fingerprint": "f",
            "selection": "{}",
            "status": "complete",
            "created_at": f"2026-12-01T09:{n:02d}:00Z",
        }
        for n in range(60)
    ]
    with store.begin() as connection:
        connection.execute(insert(db.cards), cards)
        connection.execute(insert(db.outbox), emails)
        connection.execute(insert(db.batches), batches)
    with TestClient(create_app(make_console())) as test_client:
        sign_in(test_client, "op2")
        yield test_client


def _walk(client: TestClient, path: str) -> tuple[list[str], list[str]]:
    """The first column of every page's rows, following "Next page" from `path`, and each page's place."""
    shown, places = [], []
    while path:
        page = client.get(path)
        assert page.status_code == 200, page.text
        body = page.text.split("<tbody>")[1].split("</tbody>")[0]
        shown += [re.sub("<[^>]+>", "", cell) for cell in re.findall(r"<tr[^>]*><td[^>]*>(.*?)</td>", body)]
        places.append(re.search(r'<span class="count">([^<]*)</span>', page.text).group(1))  # type: ignore[union-attr]
        following = re.search(r'<a href="([^"]+)" rel="next">', page.text)
        path = html.unescape(following.group(1)) if following else ""
    return shown, places


def test_the_cards_page_walks_every_card_a_page_at_a_time(client: TestClient) -> None:
    shown, places = _walk(client, "/cards")
    assert shown == [str(n) for n in range(1, 121)]
    assert places == ["1–50 of 120", "51–100 of 120", "101–120 of 120"]


def test_the_filters_and_the_order_are_kept_from_page_to_page(client: TestClient) -> None:
    shown, places = _walk(client, f"/cards?process={ORDER}&updated_from=2026-12-02&updated_to=2026-12-03&order=newest")
    expected = [n + 1 for n in range(120) if n % 3 and n % 4 + 1 in (2, 3)]
    assert shown == [str(n) for n in reversed(expected)]
    assert places == [f"1–{len(expected)} of {len(expected)}"]


def test_previous_goes_back_to_the_rows_before_the_page(client: TestClient) -> None:
    """A page that starts after the 10th requested card (ids 1, 4, ..., 28) goes back to those ten."""
    second = client.get(f"/cards?state=requested&after={cursor((28,))}")
    previous = re.search(r'<a href="([^"]+)" rel="prev">', second.text)
    assert previous is not None and "state=requested" in previous.group(1)
    first = client.get(html.unescape(previous.group(1)))
    shown = re.findall(r'<a href="/cards/(\d+)">', first.text)
    assert shown == [str(n) for n in range(1, 29, 3)]
    assert re.search(r'<span class="count">([^<]*)</span>', first.text).group(1) == "1–10 of 40"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "path, message",
    [
        ("/cards?after=not-a-cursor", "this page&#39;s link is damaged"),
        ("/cards?after=WyJ4Il0&before=WyJ4Il0", "either after or before"),
        ("/cards?after=WyJ4Il0", "this page&#39;s link is damaged"),  # ["x"]: a text where a card id goes
        ("/batches?after=WzEsMl0", "this page&#39;s link is damaged"),  # [1,2]: numbers where a moment and an id go
        ("/cards?after=WzEwMDAwMDAwMDAwMDAwMDAwMDAwMF0", "this page&#39;s link is damaged"),  # beyond any integer
        ("/cards?order=sideways", "order must be oldest or newest"),
        (f"/cards?process={ORDER}x", "did you mean"),
        ("/outbox?status=lost", "status must be one of pending, sent, failed"),
        ("/cards?updated_from=2026-13-01", "updated from: &#39;2026-13-01&#39; is not a day (YYYY-MM-DD)"),
    ],
)
def test_a_damaged_link_or_filter_is_a_clear_error(client: TestClient, path: str, message: str) -> None:
    page = client.get(path)
    assert page.status_code == 400 and message in page.text


def test_empty_fields_filter_nothing(client: TestClient) -> None:
    """A browser sends every field of the form, the empty ones too."""
    page = client.get("/cards?state=&holder=&batch=&process=&updated_from=&updated_to=&order=")
    assert page.status_code == 200 and "1–50 of 120" in page.text


def test_the_outbox_pages_the_failed_emails_newest_first(client: TestClient) -> None:
    shown, places = _walk(client, "/outbox?status=failed")
    assert shown == [str(n + 1) for n in reversed(range(0, 120, 4))]
    assert places == ["1–30 of 30"]


def test_the_batches_page_walks_every_batch_newest_first(client: TestClient) -> None:
    shown, places = _walk(client, "/batches")
    assert shown == [f"B{n:02d}" for n in reversed(range(60))]
    assert places == ["1–50 of 60", "51–60 of 60"]


def test_an_empty_list_says_nothing_was_found(client: TestClient) -> None:
    page = client.get("/cards?holder=nobody")
    assert "Nothing found." in page.text and 'rel="next"' not in page.text
