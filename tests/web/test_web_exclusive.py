"""The console runs a process of an exclusivity group (tests/exclusive): a user with an open card
of another process of the group is refused, the plan and the result naming that card and its process."""

from __future__ import annotations

import html
import re
import shutil
from pathlib import Path

import pytest
from console_helpers import ROOT, csrf_of, sign_in
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from engine.store import db, queries

GROUPED = "exclusive: {group: card_order, when: not options.CardsAddonExtProdMultipleCards}\n"


@pytest.fixture
def web_workspace(web_workspace: Path) -> Path:
    """The console's workspace, whose "Order card" and "Order multiple cards" share the group card_order,
    with a third process of the group, which has no prerequisite of its own on open cards (tests/exclusive)."""
    for name in ("CardsAddonExtProdBoProcOrderMultiple", "CardsAddonExtProdProcOrder"):
        assert GROUPED in (web_workspace / "processes" / f"{name}.yaml").read_text(encoding="utf-8")
    shutil.copytree(ROOT / "tests" / "exclusive" / "processes", web_workspace / "processes", dirs_exist_ok=True)
    return web_workspace


def ordered(client: TestClient, process: str, user: str) -> tuple[str, str]:
    """The plan page and the result page of running `process` for `user` from BATCH ORDERS, as text
    (a plan with nothing to do offers no Next: then the run is posted as an old form would be)."""
    path = f"/batch/{process}"
    plan = client.post(f"{path}/confirm", data={"csrf": csrf_of(client), "user": [user]})
    assert plan.status_code == 200, plan.text
    batch_id = re.search(r'name="batch_id" value="([^"]+)"', plan.text)
    next_offered = 'id="next"' in plan.text
    assert bool(batch_id) == next_offered
    chosen = batch_id.group(1) if batch_id else "B-posted-again"
    done = client.post(f"{path}/run", data={"csrf": csrf_of(client), "user": [user], "batch_id": chosen})
    assert done.status_code == 200, done.text
    return html.unescape(plan.text), html.unescape(done.text)


def test_the_console_names_the_open_card_of_the_group(client: TestClient, store: Engine) -> None:
    """u01 holds an open "Order multiple cards" card: "Order card" plans and reports the refusal naming it."""
    sign_in(client, "op1")
    ordered(client, "CardsAddonExtProdBoProcOrderMultiple", "u01")
    with db.reading(store) as connection:
        (card,) = queries.find_cards(connection, user="u01")
    plan, done = ordered(client, "TestProcOrderCard", "u01")
    assert "Nothing to do: every selected user would be skipped." in plan
    words = f"user u01 already has open card {card['id']} of 'Order multiple cards' (group card_order)"
    assert words in plan and words in done
    with db.reading(store) as connection:
        assert len(queries.find_cards(connection, user="u01")) == 1
