"""Shared fixtures: a copy of the reference workspace, an in-process command line, the store under
test, a PostgreSQL server with a fresh database per test, and the hypothesis profiles (`ci`, the
default, and `deep`).

The store under test is SQLite (`cardflow.db` in the command line's folder), or with
`CARDFLOW_TEST_DB=postgres` a fresh database on the test server, named by $CARDFLOW_DB for every
command of the test, in-process or not. Tests that are about SQLite itself (its file, WAL, the
default path) are marked `sqlite_only` and skip on PostgreSQL. No test runs twice for nothing: one
that reaches no store under test (its commands run through `cli`, not `run`) runs in the SQLite
pass only, one that asks for a PostgreSQL database itself (`postgres_url`: workers, the queue, the
server) in the PostgreSQL pass only."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, settings
from workspace_copies import copy_reference, extend

import cli as cli_module

ROOT = Path(__file__).resolve().parents[1]
STORE_KIND = os.environ.get("CARDFLOW_TEST_DB", "sqlite")
if STORE_KIND not in ("sqlite", "postgres"):
    raise pytest.UsageError(f"CARDFLOW_TEST_DB={STORE_KIND}: use sqlite (the default) or postgres")
ON_POSTGRES = STORE_KIND == "postgres"

settings.register_profile("ci", max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
#: The long run: 3,000 examples a test, each within a deadline a loaded machine keeps (the slowest
#: example takes about 0.13 s on a quiet one), so an example that hangs fails instead of stalling the run.
settings.register_profile("deep", max_examples=3000, deadline=timedelta(seconds=5), suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("ci")  # `pytest --hypothesis-profile=deep` chooses the long run


@pytest.fixture(autouse=True, scope="session")
def workspace_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The suite's own workspace cache ($CARDFLOW_CACHE), so no test reads or fills the user's."""
    folder = tmp_path_factory.mktemp("workspace-cache")
    kept = os.environ.get("CARDFLOW_CACHE")
    os.environ["CARDFLOW_CACHE"] = str(folder)
    yield folder
    if kept is None:
        os.environ.pop("CARDFLOW_CACHE", None)
    else:
        os.environ["CARDFLOW_CACHE"] = kept


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """A fresh copy of the reference workspace that a test may edit."""
    return copy_reference(tmp_path / "ws")


@pytest.fixture
def extended_workspace(workspace: Path) -> Path:
    """The reference workspace with, in YAML alone, a new trigger and state, an action process over
    one card and a batch order over existing cards (tests/extended/README.md)."""
    extend(workspace)
    return workspace


@pytest.fixture
def fire_workspace(extended_workspace: Path) -> Path:
    """The extended workspace with, in YAML alone, the effects `fire` and the email recipients
    `actor`, `requester`, `approvers` and `role:` at work (tests/fire/README.md)."""
    shutil.copytree(ROOT / "tests" / "fire", extended_workspace, dirs_exist_ok=True, ignore=shutil.ignore_patterns("README.md"))
    return extended_workspace


#: The line of the reference "Order multiple cards" and "Order card" that puts them in one exclusivity group.
ORDER_GROUP = "exclusive: {group: card_order, when: not options.CardsAddonExtProdMultipleCards}\n"


@pytest.fixture
def exclusive_workspace(workspace: Path) -> Path:
    """The reference workspace, whose "Order card" and "Order multiple cards" share the exclusivity group
    card_order, with a third process of the group added in YAML alone: one of a lifecycle of its own and
    without the shipped prerequisite on `user.open_cards`, so the group's own refusal shows (tests/exclusive/README.md)."""
    for name in ("CardsAddonExtProdBoProcOrderMultiple", "CardsAddonExtProdProcOrder"):
        assert ORDER_GROUP in (workspace / "processes" / f"{name}.yaml").read_text(encoding="utf-8")
    shutil.copytree(ROOT / "tests" / "exclusive" / "processes", workspace / "processes", dirs_exist_ok=True)
    return workspace


def as_at_a_terminal() -> None:
    """A child's Ctrl-C as at a terminal (`preexec_fn`): a suite started in the background of a
    shell ignores SIGINT, and its children would inherit that."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def pytest_report_header(config: pytest.Config) -> str:
    return f"store under test: {STORE_KIND} (CARDFLOW_TEST_DB)"


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Each test runs in the pass where it means something: one that reaches no store under test (its
    fixtures ask for neither `stored` nor `postgres_url`) runs once, in the SQLite pass; one that asks for
    a PostgreSQL database itself (workers, the queue, the server) once, in the PostgreSQL pass."""
    fixtures = getattr(item, "fixturenames", ())
    if ON_POSTGRES and item.get_closest_marker("sqlite_only"):
        pytest.skip("SQLite only by nature")
    if ON_POSTGRES and "stored" not in fixtures and "postgres_url" not in fixtures:
        pytest.skip("reaches no store under test: runs in the SQLite pass only")
    if not ON_POSTGRES and "postgres_url" in fixtures:
        pytest.skip("PostgreSQL by nature (workers, the queue, the server): runs in the CARDFLOW_TEST_DB=postgres pass only")


class StoreUnderTest:
    """The store a test's commands use, read through SQLAlchemy (never with sqlite3 directly)."""

    def __init__(self, url: str, folder: Path) -> None:
        self.url, self.folder = url, folder
        self._engine: Any = None

    @property
    def location(self) -> str:
        """What `--db` or $CARDFLOW_DB takes for this store: the file's path, or the database URL."""
        return self.url.removeprefix("sqlite:///") if self.url.startswith("sqlite") else self.url

    def engine(self) -> Any:
        if self._engine is None:
            from sqlalchemy import create_engine
            from sqlalchemy.pool import NullPool

            url = f"sqlite:///file:{self.location}?mode=ro&uri=true" if self.url.startswith("sqlite") else self.url
            self._engine = create_engine(url, poolclass=NullPool)
        return self._engine

    def rows(self, sql: str, **parameters: Any) -> list[tuple[Any, ...]]:
        """The rows of an SQL query on the store."""
        from sqlalchemy import text

        with self.engine().connect() as connection:
            return [tuple(row) for row in connection.execute(text(sql), parameters)]

    def scalar(self, sql: str, **parameters: Any) -> Any:
        """The one value of an SQL query on the store."""
        ((value,),) = self.rows(sql, **parameters)
        return value

    def snapshot(self) -> dict[str, list[tuple[Any, ...]]]:
        """Every row of every table of the store, each table's rows sorted."""
        from sqlalchemy import inspect

        tables = inspect(self.engine()).get_table_names()
        return {table: sorted(self.rows(f'SELECT * FROM "{table}"'), key=repr) for table in tables}

    def dispose(self) -> None:
        if self._engine is not None:
            self._engine.dispose()


@pytest.fixture
def stored(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[StoreUnderTest]:
    """The store under test: `cardflow.db` in the command line's folder (tmp_path/cwd), or on
    PostgreSQL a fresh database that $CARDFLOW_DB names for this test's commands."""
    folder = tmp_path / "cwd"
    folder.mkdir(exist_ok=True)
    if ON_POSTGRES:
        url = request.getfixturevalue("postgres_url")
        monkeypatch.setenv("CARDFLOW_DB", url)
    else:
        url = f"sqlite:///{folder / 'cardflow.db'}"
        monkeypatch.delenv("CARDFLOW_DB", raising=False)
    store = StoreUnderTest(url, folder)
    yield store
    store.dispose()


Run = Callable[..., Result]


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch, stored: StoreUnderTest) -> Run:
    """Run `cardflow ARGS...` in-process, in an empty folder, on the store under test, returning click's Result."""
    monkeypatch.chdir(stored.folder)
    for name in ("CARDFLOW_WORKSPACE", "CARDFLOW_CONNECTOR"):
        monkeypatch.delenv(name, raising=False)
    return _invoke


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Run:
    """`run` for a test whose commands reach no store under test (validate, test, matrix, a refusal
    before any store is opened, a store of its own named by --db): in the same empty folder, with no
    $CARDFLOW_DB, so it runs in the SQLite pass only (its PostgreSQL database would stay empty)."""
    folder = tmp_path / "cwd"
    folder.mkdir(exist_ok=True)
    monkeypatch.chdir(folder)
    for name in ("CARDFLOW_WORKSPACE", "CARDFLOW_CONNECTOR", "CARDFLOW_DB"):
        monkeypatch.delenv(name, raising=False)
    return _invoke


def _invoke(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(cli_module.cli, list(args), input=input, catch_exceptions=False)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-golden", action="store_true", help="Rewrite golden files from the current output.")


@pytest.fixture
def golden(request: pytest.FixtureRequest) -> Callable[[str, str], None]:
    """Compare text with tests/golden/NAME exactly; `--update-golden` rewrites the file instead."""
    update = request.config.getoption("--update-golden")

    def compare(name: str, actual: str) -> None:
        path = ROOT / "tests" / "golden" / name
        if update:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(actual, encoding="utf-8")
        assert path.exists(), f"missing golden file {path}; run pytest --update-golden"
        assert actual == path.read_text(encoding="utf-8")

    return compare


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """The URL of a PostgreSQL server the tests may create databases on.

    $CARDFLOW_TEST_POSTGRES names one (CI starts it with .ci/postgres); otherwise a throw-away
    server is started for the session where this machine can (PostgreSQL installed, run as root
    or postgres). Without either, PostgreSQL tests skip with a loud message, except in CI, where
    they fail.
    """
    given = os.environ.get("CARDFLOW_TEST_POSTGRES")
    if given:
        yield given
        return
    folder = Path(tempfile.mkdtemp(prefix="cardflow-postgres-"))  # in /tmp: the postgres user must reach it
    script = str(ROOT / ".ci" / "postgres")
    try:
        started = subprocess.run([script, "start", str(folder), str(_free_port())], capture_output=True, text=True)
        if started.returncode != 0:
            message = f"NO POSTGRESQL SERVER: the PostgreSQL tests did not run ({started.stderr.strip()[-300:]})"
            if os.environ.get("CI"):
                pytest.fail(message)
            pytest.skip(message)
        yield started.stdout.strip()
    finally:
        subprocess.run([script, "stop", str(folder)], capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A fresh, empty database on the test server, dropped after the test."""
    with _fresh_database(postgres_server) as url:
        yield url


@pytest.fixture
def second_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreUnderTest]:
    """A second store of the kind under test, for a test that compares two runs side by side: a
    file beside the first on SQLite, another fresh database on PostgreSQL."""
    folder = tmp_path / "second"
    folder.mkdir(exist_ok=True)
    if not ON_POSTGRES:
        store = StoreUnderTest(f"sqlite:///{folder / 'cardflow.db'}", folder)
        yield store
        store.dispose()
        return
    with _fresh_database(request.getfixturevalue("postgres_server")) as url:
        store = StoreUnderTest(url, folder)
        yield store
        store.dispose()


@contextmanager
def _fresh_database(server: str) -> Iterator[str]:
    """The URL of a fresh, empty database on the PostgreSQL server at `server`, dropped after the block."""
    from sqlalchemy import create_engine, text

    name = f"cardflow_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{server.rsplit('/', 1)[0]}/{name}"
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def statements_run(engine: Any) -> Iterator[list[str]]:
    """The SQL of every statement run on `engine` (an SQLAlchemy Engine) in the block, in order."""
    from sqlalchemy import event

    run: list[str] = []

    def record(connection: object, cursor: object, statement: str, *rest: object) -> None:
        run.append(" ".join(statement.split()))

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield run
    finally:
        event.remove(engine, "before_cursor_execute", record)


def chunk_rows_read(statements: list[str]) -> list[str]:
    """The statements that read rows of `batch_chunks` (not a count over them)."""
    return [s for s in statements if s.upper().startswith("SELECT") and "FROM batch_chunks" in s and "count(" not in s]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


#: What differs between two runs by design: an email's dedupe key and Message-ID have a random part.
RANDOM_COLUMNS = frozenset({"dedupe_key", "message_id"})


def table_rows(engine: Any, tables: tuple[str, ...]) -> dict[str, list[dict[str, Any]]]:
    """Every row of each of `tables` (by primary key) on `engine`, but for what differs between runs by design."""
    from sqlalchemy import select

    from engine.store import db

    with engine.connect() as connection:
        return {
            name: [
                {key: value for key, value in row._mapping.items() if key not in RANDOM_COLUMNS}
                for row in connection.execute(select(getattr(db, name)).order_by(*getattr(db, name).primary_key))
            ]
            for name in tables
        }
