"""Commands side by side, as real processes on the store under test (SQLite, or PostgreSQL with
CARDFLOW_TEST_DB=postgres): one open card per user, each queued card ordered once, one approval
of a card, disjoint batches that do not collide, and a new store that many commands open at once."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from functools import partial
from pathlib import Path

import pytest
from bureau_server import FakeBureau
from conftest import ON_POSTGRES, StoreUnderTest
from smtp_server import SmtpServer
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from engine.store import db

CARDFLOW = str(Path(sys.executable).with_name("cardflow"))
ORDER = "CardsAddonExtProdBoProcOrderMultiple"
USERS = 1_000
HOLDERS = "user.roles|length == 0"
STAFF = [
    "id,name,email,state,roles",
    "op1,Olle,op1@example.com,active,operator",
    "op2,Oda,op2@example.com,active,operator",
    "ap1,Anna,ap1@example.com,active,approver",
    "ap2,Arvid,ap2@example.com,active,approver",
]


def import_users(folder: Path, count: int, width: int = 4) -> None:
    """Import the staff and `count` active card holders u0000, u0001, ... into the store under test."""
    rows = STAFF + [f"u{i:0{width}d},User {i},u{i}@example.com,active," for i in range(count)]
    (folder / "users.csv").write_text("\n".join(rows) + "\n")
    subprocess.run([CARDFLOW, "users", "import", "users.csv"], cwd=folder, check=True, capture_output=True)


@pytest.fixture
def folder(stored: StoreUnderTest) -> Path:
    """The commands' folder, its store holding 1,000 active card holders, two operators and two approvers."""
    import_users(stored.folder, USERS)
    return stored.folder


def cardflow(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CARDFLOW, *args], cwd=folder, check=True, capture_output=True, text=True)


@contextmanager
def held(stored: StoreUnderTest, table: str, waiting: int) -> Iterator[None]:
    """On PostgreSQL, hold `table` against writers (and lockers) until `waiting` other sessions wait
    for it, then let them go at once: the commands race on the same rows. SQLite's writers take
    turns by design (BEGIN IMMEDIATE), so there the commands simply run."""
    if not ON_POSTGRES:
        yield
        return
    with stored.engine().connect() as connection:
        connection.execute(text(f"LOCK TABLE {table} IN EXCLUSIVE MODE"))
        yield
        waiters = "select count(*) from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'"
        deadline = time.monotonic() + 120
        while stored.scalar(waiters) < waiting:
            assert time.monotonic() < deadline, "the commands never reached the lock"
            time.sleep(0.02)
        connection.rollback()


def at_once(
    folder: Path, *commands: list[str], gate: Callable[[], AbstractContextManager[None]] | None = None
) -> list[subprocess.CompletedProcess[str]]:
    """Start every command (with `gate`, while it is held), then wait for all of them."""
    with gate() if gate else nullcontext():
        started = [
            subprocess.Popen([CARDFLOW, *c], cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for c in commands
        ]
    finished = []
    for process, command in zip(started, commands, strict=True):
        out, err = process.communicate(timeout=300)
        finished.append(subprocess.CompletedProcess(command, process.returncode, out, err))
    return finished


def test_two_runs_at_once_give_each_user_one_open_card(folder: Path, stored: StoreUnderTest) -> None:
    """Two operators order cards for the same 1,000 users at the same moment: 1,000 open cards, no errors."""
    commands = [["run", ORDER, "--where", HOLDERS, "--as", operator] for operator in ("op1", "op2")]
    runs = at_once(folder, *commands, gate=partial(held, stored, "cards", waiting=2))
    for run in runs:
        assert run.returncode == 0, run.stderr
        assert "locked" not in run.stderr and "Traceback" not in run.stderr
    assert stored.scalar("select count(*) from cards where open") == USERS
    assert stored.scalar("select count(distinct user_id) from cards") == USERS
    assert stored.scalar("select count(*) from cards where open_key is not null") == USERS


def test_the_store_refuses_a_second_open_card(folder: Path, stored: StoreUnderTest) -> None:
    """The one-open-card rule is a unique index: an insert that breaks it fails in the database itself."""
    cardflow(folder, "run", ORDER, "--user", "u0001", "--as", "op1")
    insert = text(
        "insert into cards (id, user_id, process, state, open, requester, batch_id, created_at, updated_at, open_key) "
        "values (999999, 'u0001', :process, 'processing', :open, 'op1', 'other', 'x', 'x', :key)"
    )
    engine = db.connect(stored.location)
    with pytest.raises(IntegrityError), engine.begin() as connection:
        connection.execute(insert, {"process": ORDER, "open": True, "key": "card_order:u0001"})  # its group with Order card
    engine.dispose()


def test_multiple_cards_on_leaves_the_key_empty(folder: Path, stored: StoreUnderTest) -> None:
    """With multiple orders allowed, cards carry no key and a user may hold several open ones."""
    for _ in range(2):
        cardflow(folder, "run", ORDER, "--user", "u0001", "--as", "op1", "--set", "CardsAddonExtProdMultipleCards=true")
    assert stored.scalar("select count(*) from cards where user_id = 'u0001' and open and open_key is null") == 2


def test_closing_a_card_frees_the_key(folder: Path, stored: StoreUnderTest) -> None:
    """An aborted card is closed and releases the user's key, so a new order can be made."""
    cardflow(folder, "run", ORDER, "--user", "u0001", "--as", "op1")
    (card,) = (row[0] for row in stored.rows("select id from cards"))
    cardflow(folder, "abort", str(card), "--as", "op2")
    assert stored.scalar("select count(*) from cards where open_key is not null") == 0
    cardflow(folder, "run", ORDER, "--user", "u0001", "--as", "op1")
    assert stored.scalar("select count(*) from cards where user_id = 'u0001' and open") == 1


def test_two_queue_runs_at_once_order_each_card_once(folder: Path, stored: StoreUnderTest) -> None:
    """Two batch syncs at the same moment over 1,000 queued cards: exactly 1,000 orders, transitions and emails."""
    cardflow(folder, "run", ORDER, "--where", HOLDERS, "--as", "op1")
    assert stored.scalar("select count(*) from cards where state = 'processing'") == USERS
    sync = ["queue", "run", "--set", "CardsAddonExtProdOrderedEmail=true"]
    for finished in at_once(folder, sync, sync, gate=partial(held, stored, "cards", waiting=2)):
        assert finished.returncode == 0, finished.stderr
    assert stored.scalar("select count(*) from cards where state = 'ordered'") == USERS
    assert stored.scalar("select count(*) from orders") == USERS
    assert stored.scalar("select count(distinct card_id) from orders") == USERS
    assert stored.scalar("select count(*) from transitions where trigger = 'order'") == USERS
    assert stored.scalar("select count(*) from outbox where template = 'card_ordered'") == USERS
    assert stored.scalar("select count(distinct card_id) from outbox where template = 'card_ordered'") == USERS
    assert len(list((folder / "orders").glob("*.json"))) == USERS


def test_two_approvals_of_one_card_at_once_apply_once(folder: Path, stored: StoreUnderTest) -> None:
    """Two approvers approve the same card at the same moment: one succeeds, the other is refused; one email."""
    cardflow(folder, "run", ORDER, "--user", "u0001", "--as", "op1", "--set", "CardsAddonExtProdBatchOrderApproval=true")
    (card,) = (str(row[0]) for row in stored.rows("select id from cards"))
    gate = partial(held, stored, "cards", waiting=2)
    outcomes = at_once(folder, ["approve", card, "--as", "ap1"], ["approve", card, "--as", "ap2"], gate=gate)
    assert sorted(finished.returncode for finished in outcomes) == [0, 1], [finished.stderr for finished in outcomes]
    refused = next(finished for finished in outcomes if finished.returncode == 1)
    assert refused.stderr.startswith("cardflow: ") and "Traceback" not in refused.stderr
    assert stored.scalar("select count(*) from transitions where trigger = 'approve'") == 1
    assert stored.scalar("select count(*) from outbox where template = 'request_approved'") == 1
    assert stored.scalar("select state from cards") == "processing"


def test_two_runs_over_the_same_cards_at_once_move_each_card_once(folder: Path, stored: StoreUnderTest) -> None:
    """Two operators abort every queued card by the process's name at the same moment: each card is
    aborted once (the runs share the cards between them), no refusals, no errors."""
    cardflow(folder, "run", ORDER, "--where", HOLDERS, "--as", "op1")
    commands = [["run", "CardsAddonExtProdProcAbort", "--all", "--as", operator] for operator in ("op1", "op2")]
    for finished in at_once(folder, *commands, gate=partial(held, stored, "cards", waiting=2)):
        assert finished.returncode == 0 and "Traceback" not in finished.stderr, finished.stderr
    assert stored.scalar("select count(*) from cards where state = 'aborted'") == USERS
    assert stored.scalar("select count(*) from transitions where trigger = 'abort'") == USERS
    assert stored.scalar("select count(distinct card_id) from transitions where trigger = 'abort'") == USERS


def test_two_runs_arming_the_same_new_timers_at_once_write_each_kind_once(folder: Path, stored: StoreUnderTest) -> None:
    """Two operators request cards for the two halves of the users at the same moment, the approval on,
    on a store where no timer was ever armed: both runs write the same timer kinds at once (each run's
    insert waits for the other's, on PostgreSQL), the kinds are written once, and every timer names one."""
    halves = [f"{HOLDERS} and user.id < 'u0500'", f"{HOLDERS} and user.id >= 'u0500'"]
    approval = ("--set", "CardsBatchRequestApproval=true")
    commands = [["run", "CardsBoProcRequestMulitple", "--where", half, "--as", "op1", *approval] for half in halves]
    for finished in at_once(folder, *commands, gate=partial(held, stored, "timer_kinds", waiting=2)):
        assert finished.returncode == 0 and "Traceback" not in finished.stderr, finished.stderr
    kinds = stored.rows("select process, state, trigger from timer_kinds order by trigger")
    assert kinds == [("CardsBoProcRequestMulitple", "requested", "remind_approvers")]
    assert stored.scalar("select count(*) from timers join timer_kinds on timer_kinds.id = timers.kind") == USERS


#: The users both runs order for at an HTTP bureau (an order is a request and an answer each).
ORDERED = 200


def test_two_runs_at_once_with_the_queue_off_order_only_the_cards_that_exist(
    folder: Path, stored: StoreUnderTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two operators order cards for the same 200 users at the same moment, the queue off, at a real
    HTTP bureau: the run that loses the race for a user orders nothing for the card it could not
    keep (an order is sent only after its card is committed), so the bureau receives exactly one
    order for each card in `ordered` or `failed`, each under its own card's reference."""
    for name in [name for name in os.environ if name.lower().endswith("_proxy")]:
        monkeypatch.delenv(name)  # talk to 127.0.0.1 directly
    with FakeBureau() as bureau:
        for name, value in {**bureau.env(), "CARDFLOW_CONNECTOR": "http"}.items():
            monkeypatch.setenv(name, value)
        queue_off = ("--set", "CardsAddonExtProdQueue=false")
        some = f"{HOLDERS} and user.id < 'u{ORDERED:04d}'"
        commands = [["run", ORDER, "--where", some, "--as", operator, *queue_off] for operator in ("op1", "op2")]
        for run in at_once(folder, *commands, gate=partial(held, stored, "cards", waiting=2)):
            assert run.returncode == 0 and "Traceback" not in run.stderr, run.stderr
        received = list(bureau.orders)
    ordered = stored.scalar("select count(*) from cards where state in ('ordered', 'failed')")
    assert ordered == ORDERED == stored.scalar("select count(*) from cards")
    assert len(received) == ORDERED  # not a phantom order more
    cards = {str(row[0]) for row in stored.rows("select id from cards")}
    assert {order.body["reference"] for order in received} == cards


@pytest.mark.slow
def test_two_runs_over_disjoint_halves_at_once_both_complete(stored: StoreUnderTest) -> None:
    """Two operators run the batch over the two halves of 20,000 users at once: both complete, 20,000 cards."""
    import_users(stored.folder, 20_000, width=5)
    halves = [f"{HOLDERS} and user.id < 'u10000'", f"{HOLDERS} and user.id >= 'u10000'"]
    runs = at_once(stored.folder, *(["run", ORDER, "--where", half, "--as", "op1"] for half in halves))
    for run in runs:
        assert run.returncode == 0 and "Traceback" not in run.stderr, run.stderr
    assert stored.scalar("select count(*) from cards") == 20_000
    assert stored.scalar("select count(distinct user_id) from cards") == 20_000
    assert stored.scalar("select count(*) from transitions") == 20_000
    assert stored.rows("select status, created from batches") == [("complete", 10_000), ("complete", 10_000)]


def test_four_commands_opening_a_new_store_at_once_all_succeed(stored: StoreUnderTest) -> None:
    """Four commands open the same empty store at the same moment: all succeed, the schema at the newest version."""
    for n in range(4):
        (stored.folder / f"users{n}.csv").write_text(f"id,name,email,state\nu{n},User {n},u{n}@example.com,active\n")
    outcomes = at_once(stored.folder, *(["users", "import", f"users{n}.csv"] for n in range(4)))
    for finished in outcomes:
        assert (finished.returncode, finished.stderr) == (0, "")
    assert stored.scalar("select value from meta where key = 'schema_version'") == str(db.VERSION)
    assert stored.scalar("select count(*) from users") == 4


def test_two_outbox_sends_at_once_send_each_email_once(
    folder: Path, stored: StoreUnderTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two `outbox send` at the same moment over 200 pending emails: the SMTP server gets each email once."""
    emails = 200
    cardflow(folder, "run", ORDER, "--where", f"{HOLDERS} and user.id < 'u0200'", "--as", "op1", "--connector", "simulated",
             "--set", "CardsAddonExtProdQueue=false", "--set", "CardsAddonExtProdOrderedEmail=true")  # fmt: skip
    assert stored.scalar("select count(*) from outbox where status = 'pending'") == emails
    with SmtpServer() as server:
        for name, value in server.env().items():
            monkeypatch.setenv(name, value)
        sends = at_once(folder, ["outbox", "send"], ["outbox", "send"], gate=partial(held, stored, "outbox", waiting=2))
        for finished in sends:
            assert finished.returncode == 0, finished.stderr
        received = [message["Message-ID"] for message in server.messages()]
    assert len(received) == emails and len(set(received)) == emails
    assert stored.rows("select status, attempts, count(*) from outbox group by status, attempts") == [("sent", 1, emails)]


@pytest.mark.skipif(not ON_POSTGRES, reason="on SQLite the open's transaction holds the write lock: no step commits in between")
def test_a_store_another_command_migrates_between_two_reads_still_opens(
    stored: StoreUnderTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Opening reads the store's tables and its version; when another command's last migration step
    commits between the two, the open reads again instead of finding tables "lost"."""
    older = db.connect(stored.location, migrate=False)
    db.upgrade(older, target=db.VERSION - 1)
    dialect_class = type(older.dialect)
    older.dispose()
    real = dialect_class.get_table_names
    migrated: list[bool] = []

    def stale_then_migrated(self: object, connection: object, *args: object, **kwargs: object) -> list[str]:
        names: list[str] = real(self, connection, *args, **kwargs)
        if not migrated:  # these names are of the older version; now another command finishes the upgrade
            migrated.append(True)
            db.connect(stored.location).dispose()
        return names

    monkeypatch.setattr(dialect_class, "get_table_names", stale_then_migrated)
    opened = db.connect(stored.location)
    try:
        with opened.connect() as connection:
            assert db.schema_version(connection) == db.VERSION
    finally:
        opened.dispose()
    assert migrated
