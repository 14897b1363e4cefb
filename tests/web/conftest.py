"""Fixtures of the console's tests: a store with staff and card holders (passwords set), a workspace
whose option values a test may change, and the FastAPI app over them."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from console_helpers import PASSWORD, STAFF, user_rows
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from workspace_copies import copy_reference, extend

from engine.definitions.workspace import load_workspace
from engine.outbound.bureau import DropFolder
from engine.store import accounts
from engine.store.queries import open_store, upsert_users
from engine.web.app import create_app
from engine.web.console import Console


@pytest.fixture
def web_workspace(tmp_path: Path) -> Path:
    """A copy of the reference workspace for the console (tests may set option values in it)."""
    target = tmp_path / "ws"
    copy_reference(target)
    return target


@pytest.fixture
def extended_web_workspace(web_workspace: Path) -> Path:
    """The console's workspace extended in YAML alone (tests/extended/README.md)."""
    extend(web_workspace)
    return web_workspace


@pytest.fixture(scope="session")
def store_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The staff and card holders in a store file, every staff member with the password PASSWORD
    (made once: argon2 is slow on purpose)."""
    path = tmp_path_factory.mktemp("template") / "console.db"
    engine = open_store(str(path))
    with engine.begin() as connection:
        upsert_users(connection, user_rows())
        for user_id, *_ in STAFF:
            accounts.set_password(connection, user_id, PASSWORD)
    engine.dispose()  # the last connection closed: SQLite folds the write-ahead log into the file
    return path


@pytest.fixture
def store(store_template: Path, tmp_path: Path) -> Iterator[Engine]:
    """A fresh copy of the template store for one test."""
    path = tmp_path / "console.db"
    shutil.copyfile(store_template, path)
    engine = open_store(str(path))
    yield engine
    engine.dispose()


@pytest.fixture
def waits() -> list[float]:
    """The delays the console was asked to wait (instead of sleeping in a test)."""
    return []


@pytest.fixture
def make_console(web_workspace: Path, store: Engine, tmp_path: Path, waits: list[float]) -> Callable[[], Console]:
    """Build the Console once the test has set the options it wants."""

    async def wait(seconds: float) -> None:
        waits.append(seconds)

    def build() -> Console:
        workspace = load_workspace(web_workspace).require_valid()
        return Console(workspace, store, DropFolder(tmp_path / "orders"), sleep=wait)

    return build


@pytest.fixture
def client(make_console: Callable[[], Console]) -> Iterator[TestClient]:
    """A browser-like client of the console with the workspace as shipped."""
    with TestClient(create_app(make_console())) as test_client:
        yield test_client
