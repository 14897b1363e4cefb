"""The Releases page: for admins only; a pending release with its plan (the option it changes, where
each value is set); approved by a second admin, never by the one who published it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from console_helpers import csrf_of, sign_in
from fastapi.testclient import TestClient
from release_helpers import waiting_release
from sqlalchemy import Engine
from test_web_i18n import Catalogue

from engine.store import db, releases
from engine.web.app import create_app
from engine.web.console import Console


def test_a_pending_release_shows_its_plan_and_waits_for_a_second_admin(
    make_console: Callable[[], Console], web_workspace: Path, store: Engine, tmp_path: Path
) -> None:
    first, waiting = waiting_release(web_workspace, store, tmp_path)
    with TestClient(create_app(make_console())) as client:
        sign_in(client, "adm")
        page = client.get("/releases").text
        assert waiting in page and first in page and 'href="/releases"' in page
        assert "CardsAddonExtProdQueue" in page and "true (default)" in page and "false (rules/" in page
        assert "another admin approves it" in page and f'action="/releases/{waiting}/approve"' not in page
        own = client.post(f"/releases/{waiting}/approve", data={"csrf": csrf_of(client)})
        assert own.status_code == 403 and "four-eyes" in own.text
        sign_in(client, "ad2")
        assert f'action="/releases/{waiting}/approve"' in client.get("/releases").text
        approved = client.post(f"/releases/{waiting}/approve", data={"csrf": csrf_of(client)})
        assert approved.status_code == 200 and f"Release {waiting} is live." in approved.text
    with db.reading(store) as connection:
        assert {row["id"]: row["status"] for row in releases.release_rows(connection)} == {waiting: "live", first: "retired"}


def test_the_releases_page_is_for_admins_and_speaks_swedish(
    make_console: Callable[[], Console], web_workspace: Path, store: Engine, tmp_path: Path
) -> None:
    waiting_release(web_workspace, store, tmp_path)
    console = make_console()
    with TestClient(create_app(console)) as client:
        sign_in(client, "op1")
        assert 'href="/releases"' not in client.get("/").text
        refused = client.get("/releases")
        assert refused.status_code == 403 and "releases are for admins" in refused.text
        assert client.post("/releases/x/approve", data={"csrf": csrf_of(client)}).status_code == 403
        sign_in(client, "ad2", lang="sv")
        swedish = client.get("/releases").text
    assert "Godkänn" in swedish and Catalogue(console, "sv").problems(swedish) == []


def test_a_console_that_follows_the_store_runs_the_release_that_went_live(
    web_workspace: Path, store: Engine, tmp_path: Path
) -> None:
    """Started without --workspace, the console runs the live release, looked at again before each request."""
    from engine.definitions.workspace import load_workspace
    from engine.outbound.bureau import DropFolder
    from engine.releases.live import Following

    _, waiting = waiting_release(web_workspace, store, tmp_path)
    started = load_workspace(tmp_path / "shipped").require_valid()
    console = Console(started, store, DropFolder(tmp_path / "orders"), following=Following(store, started))
    with TestClient(create_app(console)) as client:
        sign_in(client, "ad2")
        assert _queue(client.get("/options").text) == "true"
        client.post(f"/releases/{waiting}/approve", data={"csrf": csrf_of(client)})
        assert _queue(client.get("/options").text) == "false"
        assert console.workspace.root.name == waiting, "the release's own files, not the folder it started with"


def _queue(page: str) -> str:
    """The value the Options page shows for the queue option."""
    import re

    found = re.search(r"CardsAddonExtProdQueue</code>.*?<td><code>(true|false)</code>", page, re.S)
    assert found, page
    return found.group(1)
