"""The Incidents page: what needs a person, grouped, with counts, the oldest, what to do and where to
look; operators only; in English and Swedish."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote_plus

import pytest
from console_helpers import set_value, sign_in
from fastapi.testclient import TestClient

from engine.batch.request import RunRequest, Selection
from engine.batch.run import run_batch
from engine.batch.status import sync_order_status
from engine.web.app import create_app
from engine.web.console import Console

ORDER = "CardsAddonExtProdBoProcOrderMultiple"
RETRY = "CardsAddonExtProdProcRetryOrder"


@pytest.fixture
def console(make_console: Callable[[], Console], web_workspace: Path) -> Console:
    """Three cards ordered at the drop folder; the bureau failed two of them for one reason."""
    set_value(web_workspace, "CardsAddonExtProdQueue", "false")
    built = make_console()
    run_batch(built.workspace, built.engine, RunRequest(ORDER, "op1", Selection(users=("u01", "u02", "u03"))), built.connector)
    orders = Path(built.connector.folder)  # type: ignore[attr-defined]
    (orders / "status").mkdir()
    for path in sorted(orders.glob("*.json"))[:2]:
        (orders / "status" / path.name).write_text(json.dumps({"status": "failed", "reason": "no such layout"}))
    sync_order_status(built.workspace, built.engine, built.connector)
    return built


WORDS = [("en", "Incidents", "2 · Cards that need a person"), ("sv", "Incidenter", "2 · Kort som behöver en människa")]


@pytest.mark.parametrize("language, heading, group", WORDS)
def test_the_incidents_page_groups_failed_cards_with_what_to_do(
    console: Console, language: str, heading: str, group: str
) -> None:
    with TestClient(create_app(console)) as client:
        sign_in(client, "op2", lang=language)
        page = client.get("/incidents")
    assert page.status_code == 200
    assert f"<h1>{heading}</h1>" in page.text and group in page.text.replace("</span>", "")
    assert "the card bureau reports the order failed: no such layout" in page.text
    assert "cardflow retry CARD... --as YOU" in page.text
    reason = quote_plus("the card bureau reports the order failed: no such layout")
    group_of = f"process={ORDER}&amp;state=failed&amp;reason={reason}"
    assert f'href="/cards?{group_of}"' in page.text  # Show them: the group's cards
    assert f'href="/bulk/preview?{group_of}&amp;action={RETRY}&amp;trigger=retry"' in page.text  # the group's action
    assert 'href="/incidents"' in page.text  # in the menu


def test_the_incidents_page_is_for_operators(console: Console) -> None:
    with TestClient(create_app(console)) as client:
        sign_in(client, "ap1")
        assert client.get("/incidents").status_code == 403


def test_a_quiet_store_has_nothing_for_a_person(make_console: Callable[[], Console]) -> None:
    with TestClient(create_app(make_console())) as client:
        sign_in(client, "op2")
        page = client.get("/incidents", params={"waiting": "P1D"})
    assert page.status_code == 200 and "Nothing needs a person." in page.text


def test_a_waiting_time_that_is_no_duration_is_said(console: Console) -> None:
    with TestClient(create_app(console)) as client:
        sign_in(client, "op2")
        page = client.get("/incidents", params={"waiting": "two weeks"})
    assert page.status_code == 400 and "is not an ISO 8601 duration" in page.text
