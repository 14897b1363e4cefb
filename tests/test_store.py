"""The store: schema version in `meta`, the upgrade path from version 1, refusals, --db and $CARDFLOW_DB."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest
from conftest import Run, StoreUnderTest
from sqlalchemy import Engine, create_engine, inspect, select, text
from sqlalchemy.exc import IntegrityError

from engine.errors import UsageError
from engine.store import batch_cards, db, open_cards, queries, timers

V2_OUTBOX_COLUMNS = {"subject", "body_text", "body_html", "message_id", "attempts", "next_attempt_at", "error", "sent_at"}
USERS_CSV = "id,name,email,state,roles,department\nop1,Olle Operator,op1@example.com,active,operator,IT\n"


def sql(location: str | Path, query: str, **parameters: Any) -> list[tuple[Any, ...]]:
    """Rows of `query` read from the store at `location` (a file or a URL) through SQLAlchemy, not cardflow's code."""
    store = StoreUnderTest(str(location) if "://" in str(location) else f"sqlite:///{location}", Path())
    try:
        return store.rows(query, **parameters)
    finally:
        store.dispose()


def recorded_version(location: str | Path) -> str:
    """The schema version written in the `meta` table of the store."""
    ((value,),) = sql(location, "SELECT value FROM meta WHERE key = 'schema_version'")
    return str(value)


def set_recorded_version(location: str, version: int) -> None:
    """Write another schema version into `meta`, as a newer cardflow would."""
    engine = create_engine(location if "://" in location else f"sqlite:///{location}")
    with engine.begin() as connection:
        connection.execute(text("UPDATE meta SET value = :v WHERE key = 'schema_version'"), {"v": str(version)})
    engine.dispose()


def user_ids(engine: Engine) -> list[str]:
    with engine.connect() as connection:
        return [user["id"] for chunk in queries.iter_users(connection) for user in chunk]


def outbox_columns(engine: Engine) -> set[str]:
    return {column["name"] for column in inspect(engine).get_columns("outbox")}


def one_line(stderr: str) -> bool:
    """A single `cardflow: ...` line: the CLI's refusal, not a traceback."""
    return len(stderr.splitlines()) == 1 and stderr.startswith("cardflow: ") and "Traceback" not in stderr


# versions and migrations


def test_a_fresh_store_records_the_newest_version(stored: StoreUnderTest) -> None:
    """A new store runs every migration and records `VERSION` in `meta`."""
    path = stored.location
    engine = db.connect(path)
    with engine.connect() as connection:
        version = db.schema_version(connection)
    engine.dispose()
    assert (version, int(recorded_version(path))) == (db.VERSION, db.VERSION)
    assert len(db.MIGRATIONS) == db.VERSION


def test_a_fresh_store_has_every_table_of_the_schema(stored: StoreUnderTest) -> None:
    """The migrations build exactly the columns the table objects describe (the upgrade path is the only path)."""
    engine = db.connect(stored.location)
    found = {name: {c["name"] for c in inspect(engine).get_columns(name)} for name in inspect(engine).get_table_names()}
    engine.dispose()
    expected = {table.name: {c.name for c in table.columns} for table in db.metadata.sorted_tables}
    assert expected == found


def test_a_fresh_store_keeps_one_live_and_one_pending_release_at_most(stored: StoreUnderTest) -> None:
    """The releases' partial unique indexes (made by their migration): a second live or pending
    release is refused by the store itself; any number of retired ones are kept."""
    engine = db.connect(stored.location)

    def add(release: str, status: str) -> None:
        row = {"id": release, "status": status, "published_by": "ad1", "published_at": "2026-12-04T00:00:00Z",
               "requested_by": "ad1", "message": "", "fingerprint": "f"}  # fmt: skip
        with engine.begin() as connection:
            connection.execute(db.releases.insert().values(**row))

    for status in ("live", "pending", "retired", "retired"):
        add(f"r-{status}-{stored.scalar('SELECT count(*) FROM releases')}", status)
    for status in ("live", "pending"):
        with pytest.raises(IntegrityError):
            add(f"second-{status}", status)
    engine.dispose()
    assert stored.rows("SELECT status, count(*) FROM releases GROUP BY status ORDER BY status") == [
        ("live", 1),
        ("pending", 1),
        ("retired", 2),
    ]


def test_a_version_1_store_upgrades_and_keeps_its_rows(stored: StoreUnderTest) -> None:
    """A store left at version 1 is upgraded on open: rows survive and the outbox gains the version-2 columns."""
    path = stored.location
    old = db.connect(path, migrate=False)
    assert db.upgrade(old, target=1) == 1
    assert outbox_columns(old) & V2_OUTBOX_COLUMNS == set()
    with old.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO users (id, name, email, state, roles, attributes, updated_at) "
                "VALUES (:id, :name, :email, :state, :roles, :attributes, :at)"
            ),
            {
                "id": "op1",
                "name": "Olle Operator",
                "email": "op1@example.com",
                "state": "active",
                "roles": json.dumps(["operator"]),
                "attributes": json.dumps({"department": "IT"}),
                "at": "2024-01-01T00:00:00Z",
            },
        )
        connection.execute(
            text(
                "INSERT INTO outbox (dedupe_key, card_id, batch_id, template, recipient, recipient_user, locale, context, "
                "status, created_at) VALUES (:key, 1, 'b1', 'card_ordered', 'op1@example.com', 'op1', 'sv', '{}', "
                "'pending', '2024-01-01T00:00:00Z')"
            ),
            {"key": "k1"},
        )
    old.dispose()
    assert recorded_version(path) == "1"

    engine = db.connect(str(path))
    with engine.connect() as connection:
        version = db.schema_version(connection)
        users = [user for chunk in queries.iter_users(connection) for user in chunk]
        emails = queries.list_outbox(connection)
    columns = outbox_columns(engine)
    engine.dispose()
    assert version == db.VERSION
    assert str(db.VERSION) == recorded_version(path)
    assert columns >= V2_OUTBOX_COLUMNS
    expected_user = {
        "id": "op1",
        "name": "Olle Operator",
        "email": "op1@example.com",
        "state": "active",
        "roles": ["operator"],
        "department": "IT",
    }
    assert [expected_user] == users
    (email,) = emails
    assert (email["dedupe_key"], email["status"], email["recipient"]) == ("k1", "pending", "op1@example.com")
    assert email["attempts"] == 0
    unset = V2_OUTBOX_COLUMNS - {"attempts"}
    assert dict.fromkeys(unset) == {name: email[name] for name in unset}


def test_upgrade_to_the_version_reached_is_a_no_op(stored: StoreUnderTest) -> None:
    """`upgrade` on a store already at the newest version applies nothing and returns `VERSION`."""
    engine = db.connect(stored.location)
    assert db.upgrade(engine) == db.VERSION
    engine.dispose()


def test_opening_twice_does_not_rerun_migrations(stored: StoreUnderTest) -> None:
    """Opening an existing store again keeps its version and its data; no migration runs a second time."""
    path = stored.location
    first = db.connect(path)
    with first.begin() as connection:
        queries.upsert_users(
            connection,
            [
                {
                    "id": "op1",
                    "name": "Olle",
                    "email": "op1@example.com",
                    "state": "active",
                    "roles": "[]",
                    "attributes": "{}",
                    "updated_at": "2024-01-01T00:00:00Z",
                }
            ],
        )
    first.dispose()
    for _ in range(2):
        again = db.connect(path)
        ids = user_ids(again)
        again.dispose()
        assert ids == ["op1"]
    assert [("schema_version", str(db.VERSION))] == sql(path, "SELECT key, value FROM meta")


def test_a_store_from_a_newer_cardflow_is_refused(stored: StoreUnderTest) -> None:
    """A store whose recorded version is above `VERSION` is refused with a UsageError, and left as it was."""
    path = stored.location
    db.connect(path).dispose()
    set_recorded_version(path, db.VERSION + 1)
    with pytest.raises(UsageError, match=f"schema version {db.VERSION + 1}"):
        db.connect(path)
    assert str(db.VERSION + 1) == recorded_version(path)


def test_the_cli_refuses_a_store_from_a_newer_cardflow(run: Run, stored: StoreUnderTest) -> None:
    """`users list` on a store from a newer cardflow exits 2 with one line and no traceback."""
    path = stored.location
    db.connect(path).dispose()
    set_recorded_version(path, db.VERSION + 1)
    result = run("users", "list", "--db", str(path))
    assert result.exit_code == 2
    assert result.stdout == ""
    assert True is one_line(result.stderr)
    assert f"schema version {db.VERSION + 1}" in result.stderr


STORE_COMMANDS = [["users", "list"], ["users", "list", "--json"], ["users", "import", "users.csv"]]


@pytest.mark.sqlite_only
@pytest.mark.parametrize("command", STORE_COMMANDS, ids=" ".join)
def test_a_db_that_is_not_a_database_exits_2(run: Run, tmp_path: Path, command: list[str]) -> None:
    """--db pointing at a text file exits 2 with one line naming the store, and the file is left untouched."""
    Path("users.csv").write_text(USERS_CSV, encoding="utf-8")
    path = tmp_path / "notes.txt"
    content = "These are my notes, not a database.\n" * 20
    path.write_text(content, encoding="utf-8")
    result = run(*command, "--db", str(path))
    assert result.exit_code == 2
    if "--json" in command:  # the refusal as JSON on stdout too
        assert json.loads(result.stdout)["error"]["message"] == result.stderr.strip().removeprefix("cardflow: ")
    else:
        assert result.stdout == ""
    assert True is one_line(result.stderr)
    assert str(path) in result.stderr
    assert content == path.read_text(encoding="utf-8")


@pytest.mark.sqlite_only
def test_db_in_a_missing_folder_exits_2(run: Run, tmp_path: Path) -> None:
    """--db in a folder that does not exist exits 2 with one line, no traceback."""
    result = run("users", "list", "--db", str(tmp_path / "no" / "such" / "folder" / "s.db"))
    assert result.exit_code == 2
    assert True is one_line(result.stderr)


# where the store is


@pytest.mark.sqlite_only
def test_cardflow_db_is_used_when_db_is_not_given(run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """$CARDFLOW_DB names the store when --db is not given; nothing is written in the current folder."""
    path = tmp_path / "from-env.db"
    monkeypatch.setenv("CARDFLOW_DB", str(path))
    Path("users.csv").write_text(USERS_CSV, encoding="utf-8")
    assert run("users", "import", "users.csv").exit_code == 0
    listed = run("users", "list", "--json")
    assert listed.exit_code == 0
    assert [user["id"] for user in json.loads(listed.stdout)] == ["op1"]
    assert sql(path, "SELECT id FROM users") == [("op1",)]
    assert sorted(p.name for p in Path.cwd().iterdir() if p.name.startswith("cardflow.db")) == []


@pytest.mark.sqlite_only
def test_db_wins_over_cardflow_db(run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--db is used even when $CARDFLOW_DB is set; the store the variable names is not created."""
    from_env, from_option = tmp_path / "from-env.db", tmp_path / "from-option.db"
    monkeypatch.setenv("CARDFLOW_DB", str(from_env))
    Path("users.csv").write_text(USERS_CSV, encoding="utf-8")
    assert run("users", "import", "users.csv", "--db", str(from_option)).exit_code == 0
    assert sql(from_option, "SELECT id FROM users") == [("op1",)]
    assert False is from_env.exists()


@pytest.mark.sqlite_only
def test_without_db_or_cardflow_db_the_store_is_cardflow_db_here(run: Run) -> None:
    """With neither --db nor $CARDFLOW_DB the store is cardflow.db in the current folder."""
    Path("users.csv").write_text(USERS_CSV, encoding="utf-8")
    assert run("users", "import", "users.csv").exit_code == 0
    assert sql(Path("cardflow.db"), "SELECT id FROM users") == [("op1",)]


# parameterised SQL


@pytest.mark.parametrize("suffix", [".csv", ".json"])
def test_sql_in_a_user_id_is_data(run: Run, stored: StoreUnderTest, suffix: str) -> None:
    """A user id holding `'); DROP TABLE users; --` imports as data; the table and the other users stay."""
    path = stored.location
    evil, name = "x'); DROP TABLE users; --", "Robert'); DROP TABLE users;--"
    Path("first.csv").write_text(USERS_CSV, encoding="utf-8")
    assert run("users", "import", "first.csv", "--db", str(path)).exit_code == 0
    user = {"id": evil, "name": name, "email": "bobby@example.com", "state": "active"}
    file = Path(f"evil{suffix}")
    if suffix == ".json":
        file.write_text(json.dumps([user]), encoding="utf-8")
    else:
        with file.open("w", encoding="utf-8", newline="") as handle:
            csv.writer(handle).writerows([list(user), list(user.values())])
    result = run("users", "import", str(file), "--db", str(path))
    assert result.exit_code == 0
    listed = run("users", "list", "--json", "--db", str(path))
    assert [("op1", "Olle Operator"), (evil, name)] == [(user["id"], user["name"]) for user in json.loads(listed.stdout)]
    engine = db.connect(path)
    assert True is inspect(engine).has_table("users")
    with engine.connect() as connection:
        found = connection.execute(select(db.users.c.id).where(db.users.c.id == evil)).scalars().all()
    engine.dispose()
    assert [evil] == found


# reads of a page of users


def _card(card_id: int, user: str, process: str, open_: bool, batch: str = "B1") -> dict[str, Any]:
    return {"id": card_id, "user_id": user, "process": process, "state": "s", "open": open_, "requester": "op",
            "production_type": None, "batch_id": batch, "created_at": "t", "updated_at": "t", "open_key": None,
            "requested_by": "op"}  # fmt: skip


def test_a_page_of_users_finds_the_same_cards_by_range_as_by_list(stored: StoreUnderTest) -> None:
    """For a contiguous page of users, the range query counts open cards and finds a batch's cards
    exactly as the list query does: other processes, closed cards and users outside the page are
    not counted, and other batches' cards are not found. The cards are the same rows either way (the
    range's come straight from the driver), their flags booleans."""
    engine = db.connect(stored.location)
    cards = [
        _card(1, "u02", "P", True),
        _card(2, "u02", "P", True, "B2"),
        _card(3, "u03", "P", False),
        _card(4, "u03", "Q", True, "B3"),
        _card(5, "u04", "P", True, "B2"),
        _card(6, "u01", "P", True),  # before the page
        _card(7, "u06", "P", True),  # after it
    ]
    page = ["u02", "u03", "u04", "u05"]
    with engine.begin() as connection:
        queries.insert_many(connection, db.cards, cards)
        found = {}
        for contiguous in (False, True):
            assert open_cards.counts(connection, ("P",), page, contiguous=contiguous) == {"u02": 2, "u04": 1}
            found[contiguous] = batch_cards.existing_cards(connection, "B1", page, contiguous=contiguous)
            assert {user: card["id"] for user, card in found[contiguous].items()} == {"u02": 1, "u03": 3}
    engine.dispose()
    assert found[True] == found[False]
    flags = {card["id"]: (card["open"], card["timerless"]) for card in found[True].values()}
    assert flags == {1: (True, False), 3: (False, False)}
    assert {type(card[flag]) for card in found[True].values() for flag in ("open", "timerless")} == {bool}


def test_insert_many_skips_rows_whose_key_is_taken(stored: StoreUnderTest) -> None:
    """`skip_existing` inserts the new rows and leaves a row with a taken key as it was."""
    engine = db.connect(stored.location)
    with engine.begin() as connection:
        queries.insert_many(connection, db.decisions, [{"id": "d1", "trace": "first"}])
        again = [{"id": "d1", "trace": "second"}, {"id": "d2", "trace": "x"}]
        queries.insert_many(connection, db.decisions, again, skip_existing="id")
    engine.dispose()
    assert sql(stored.location, "SELECT id, trace FROM decisions ORDER BY id") == [("d1", "first"), ("d2", "x")]


def test_a_state_change_is_a_compare_and_set(stored: StoreUnderTest) -> None:
    """A change applies only to a card still in the state it was read in; the others are left and reported."""
    engine = db.connect(stored.location)
    with engine.begin() as connection:
        queries.insert_many(connection, db.cards, [_card(1, "u01", "P", True), _card(2, "u02", "P", True)])
        change = {"state": "t", "open": False, "open_key": None, "requested_by": "op", "updated_at": "t2"}
        lost = queries.set_card_states(connection, [{**change, "id": 1, "was": "s"}, {**change, "id": 2, "was": "other"}])
    engine.dispose()
    assert lost == {2}
    assert sql(stored.location, "SELECT id, state, updated_at FROM cards ORDER BY id") == [(1, "t", "t2"), (2, "s", "t")]


def test_new_card_ids_never_repeat(stored: StoreUnderTest) -> None:
    """Ids taken for new cards are increasing and never handed out twice, even before the cards are written."""
    engine = db.connect(stored.location)
    with engine.begin() as connection:
        first = queries.new_card_ids(connection, 3)
        queries.insert_many(connection, db.cards, [_card(i, f"u{i}", "P", True, f"B{i}") for i in first])
        second = queries.new_card_ids(connection, 2)
    engine.dispose()
    assert first == sorted(first) and second == sorted(second) and set(first).isdisjoint(second) and len(first) == 3


def test_a_version_10_store_upgrades_to_group_keys_and_requested_by(stored: StoreUnderTest) -> None:
    """Upgrading a version-10 store qualifies each open key with its process (the process's own
    group), makes the key unique on its own, and gives each card `requested_by`: the actor of the
    last move into its state, else (no such move, or a move within the state) its requester."""
    old = db.connect(stored.location, migrate=False)
    assert db.upgrade(old, target=10) == 10
    card = (
        "INSERT INTO cards (id, user_id, process, state, open, requester, batch_id, created_at, updated_at, open_key) "
        "VALUES (:id, :user, :process, :state, :open, 'op1', :batch, 't', 't', :key)"
    )
    move = (
        "INSERT INTO transitions (card_id, process, trigger, source, dest, actor, at, fingerprint, decision_id) "
        "VALUES (:card, 'P', :trigger, :source, :dest, :actor, 't', 'f', 'd')"
    )
    with old.begin() as connection:
        for row in (
            {"id": 1, "user": "u1", "process": "P", "state": "requested", "open": True, "batch": "B1", "key": "u1"},
            {"id": 2, "user": "u1", "process": "Q", "state": "ordered", "open": True, "batch": "B2", "key": "u1"},
            {"id": 3, "user": "u2", "process": "P", "state": "aborted", "open": False, "batch": "B1", "key": None},
        ):
            connection.execute(text(card), row)
        for row in (
            {"card": 1, "trigger": "start", "source": "registered", "dest": "requested", "actor": "op1"},
            {"card": 1, "trigger": "request_again", "source": "produced", "dest": "requested", "actor": "op2"},
            {"card": 1, "trigger": "postpone", "source": "requested", "dest": "requested", "actor": "ap1"},
            {"card": 2, "trigger": "order", "source": "processing", "dest": "ordered", "actor": "system"},
        ):
            connection.execute(text(move), row)
    old.dispose()

    engine = db.connect(stored.location)
    engine.dispose()
    rows = sql(stored.location, "SELECT id, open_key, requested_by FROM cards ORDER BY id")
    assert rows == [(1, "P:u1", "op2"), (2, "Q:u1", "system"), (3, None, "op1")]
    insert = "INSERT INTO cards (id, user_id, process, state, open, requester, batch_id, created_at, updated_at, open_key) "
    engine = db.connect(stored.location)
    with pytest.raises(IntegrityError), engine.begin() as connection:  # another process, the same group's key
        connection.execute(text(insert + "VALUES (4, 'u1', 'R', 's', :open, 'op1', 'B3', 't', 't', 'P:u1')"), {"open": True})
    engine.dispose()


def test_a_version_20_store_keeps_what_each_timer_is_once(stored: StoreUnderTest) -> None:
    """Upgrading a version-20 store writes each timer's process, state, index, declaration and trigger
    once in `timer_kinds`, each timer naming its kind: the timers listed and fired read the same."""
    old = db.connect(stored.location, migrate=False)
    assert db.upgrade(old, target=20) == 20
    timer = (
        "INSERT INTO timers (card_id, process, state, timer, location, trigger, due_at, fired, status, armed_at) "
        "VALUES (:card, 'P', :state, :index, :location, :trigger, :due, 0, 'armed', 't')"
    )
    with old.begin() as connection:
        for card, state, index, location, trigger, due in (
            (1, "requested", 0, "l/R.yaml:3", "remind", "2026-12-04"),
            (2, "requested", 0, "l/R.yaml:3", "remind", "2026-12-05"),
            (2, "requested", 1, "l/R.yaml:8", "escalate", "2026-12-06"),
        ):
            connection.execute(text(timer), {"card": card, "state": state, "index": index, "location": location,
                                             "trigger": trigger, "due": due})  # fmt: skip
    old.dispose()

    engine = db.connect(stored.location)
    with engine.connect() as connection:
        listed = [(row["card_id"], row["timer"], row["location"], row["trigger"]) for row in timers.listing(connection)]
    engine.dispose()
    assert listed == [(1, 0, "l/R.yaml:3", "remind"), (2, 0, "l/R.yaml:3", "remind"), (2, 1, "l/R.yaml:8", "escalate")]
    assert sql(stored.location, "SELECT process, state, timer, trigger FROM timer_kinds ORDER BY id") == [
        ("P", "requested", 0, "remind"),
        ("P", "requested", 1, "escalate"),
    ]
    assert {column["name"] for column in inspect(stored.engine()).get_columns("timers")} == {
        "id", "card_id", "kind", "due_at", "fired", "status", "message", "armed_at", "fired_at",
    }  # fmt: skip
