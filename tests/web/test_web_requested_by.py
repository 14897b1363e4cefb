"""The console's requests name who made the request being decided (`card.requested_by`), not the card's orderer."""

from __future__ import annotations

import html

from console_helpers import sign_in
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from engine.store import db, queries


def test_requests_and_the_approval_form_name_who_made_the_request(client: TestClient, store: Engine) -> None:
    """op1 ordered card 7, op2 asked for it again: the Requester column and section show Oda Operator (op2)."""
    card = {"id": 7, "user_id": "u01", "process": "CardsAddonExtProdBoProcOrderMultiple", "state": "requested", "open": True,
            "requester": "op1", "requested_by": "op2", "production_type": None, "batch_id": "B1",
            "created_at": "2026-12-01T09:00:00Z", "updated_at": "2026-12-01T10:00:00Z", "open_key": None}  # fmt: skip
    with store.begin() as connection:
        queries.insert_many(connection, db.cards, [card])
    sign_in(client, "ap1")
    listed = html.unescape(client.get("/requests").text)
    assert "Oda Operator" in listed and "Olle Operator" not in listed
    form = html.unescape(client.get("/requests/7").text)
    assert "Oda Operator (op2)" in form and "(op1)" not in form
