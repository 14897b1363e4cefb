"""A store with two admins and a release waiting for the second: what the Releases page's tests share."""

from __future__ import annotations

import shutil
from pathlib import Path

from console_helpers import PASSWORD, set_value
from sqlalchemy import Engine

from engine.definitions.workspace import load_workspace
from engine.releases.publishing import approve, publish
from engine.store import accounts
from engine.store.queries import upsert_users
from engine.store.releases import LIVE
from engine.testing.release_plan import plan_release

SECOND_ADMIN = {
    "id": "ad2", "name": "Bo Admin", "email": "ad2@example.com", "state": "active", "roles": '["admin"]',
    "attributes": '{"department": "IT"}', "updated_at": "2026-01-01T00:00:00Z",
}  # fmt: skip


def waiting_release(web_workspace: Path, store: Engine, tmp_path: Path) -> tuple[str, str]:
    """The shipped workspace live (published by adm, approved by ad2), then the queue turned off and
    published by adm: (the live release, the one waiting for a second admin)."""
    with store.begin() as connection:
        upsert_users(connection, [SECOND_ADMIN])
        accounts.set_password(connection, "ad2", PASSWORD)
    shipped = tmp_path / "shipped"
    shutil.copytree(web_workspace, shipped)
    base = load_workspace(shipped).require_valid()
    first = publish(store, base, "adm", "as shipped", plan_release(base, store).as_json()).release["id"]
    assert approve(store, first, "ad2").release["status"] == LIVE
    set_value(web_workspace, "CardsAddonExtProdQueue", "false")
    changed = load_workspace(web_workspace).require_valid()
    waiting = publish(store, changed, "adm", "orders go to the bureau at once", plan_release(changed, store).as_json())
    return first, waiting.release["id"]
