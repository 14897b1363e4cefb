"""The floors of bench/batch.py for cases (a), (b) and (c): what a competent engineer would write by
hand today for the same rows and the same guarantees, on the same store (case (d) has its own,
bench/issue_case.py).

Each floor works in chunks of CHUNK users (the engine's own chunk, engine.batch.run.BATCH_CHUNK),
one transaction a chunk: it reads the chunk's users by key, the open cards of the chunk's users
where the process keeps one open card per user, checks the prerequisites, looks the next state up
in a dict and writes the rows the engine writes, column for column and of the same sizes (cards
with their group key and declared fields, audit rows, one decision). Case (b) makes a call a card,
as the engine does: the cards and their pending call rows are committed first, the bureau is
called (simulated: it accepts), then in a second transaction the cards are moved (a compare-and-set
on the state), their audit, order and email rows written and the calls marked answered. The email
is rendered by the engine's renderer (the workspace's templates, the three parts in one bounded
render, under the session's watchdog) from the context the engine gives it, and stored with what
the engine keeps of that context. On SQLite the rows go in with executemany; on PostgreSQL with
COPY (updates with executemany), committed by chunk on both. With BENCH_FLOOR_INSERTS=alike
(`bench/batch.py --floor-inserts alike`) the SQLite floor inserts a chunk's rows that differ in at
most three columns as the engine does since 2026-12-05: one INSERT ... SELECT over `json_each`.

The floors before 2026-12-04 (bench/RESULTS.md says why they were replaced) held the whole batch in
one transaction, rendered each part with Jinja's own `render` and stored the whole context.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
#: Users a chunk (engine.batch.run.BATCH_CHUNK).
CHUNK = 2000
NOW = "2026-11-21T09:00:00Z"
# Values of the engine's sizes: a batch id as `new_batch_id` makes them, a definitions fingerprint
# and a decision id as long as the engine's (row sizes are I/O).
BATCH = "B20261121-090000-f100"
FINGERPRINT = "f" * 16 + ":" + "f" * 16
DECISION = "d" * 24
CARD_COLUMNS = (
    "id, user_id, process, state, open, requester, production_type, batch_id, created_at, updated_at, open_key, "
    "requested_by, fields"
)
AUDIT_COLUMNS = "card_id, process, trigger, source, dest, actor, at, batch_id, fingerprint, decision_id, reason, fields"
CALL_COLUMNS = (
    "idempotency_key, card_id, connector, operation, payload, process, trigger, source, actor, batch_id, reason, "
    "status, attempts, next_attempt_at, created_at"
)
ORDER_COLUMNS = "card_id, idempotency_key, connector, accepted, order_id, message, at"
OUTBOX_COLUMNS = (
    "dedupe_key, card_id, batch_id, template, recipient, recipient_user, locale, context, status, created_at, "
    "subject, body_text, body_html, message_id, attempts"
)
_ANSWERED = (
    "update calls set status = 'answered', outcome = 'accepted', reference = ?, answered_at = ?, attempts = attempts + 1"
    " where idempotency_key = ? and status = 'pending'"
)
#: A decision trace of the engine's size (one per distinct decision, as the engine stores them).
_TRACE = json.dumps({"trigger": "start", "source": "registered", "candidates": [{"guard": "options." + "x" * 400}] * 4})


#: Whether the SQLite floor inserts rows alike in one statement (see the module's docstring).
ALIKE = os.environ.get("BENCH_FLOOR_INSERTS") == "alike"


@dataclass(frozen=True)
class Case:
    """What a case's process does to a user who passes its prerequisites."""

    process: str
    name: str
    dest: str
    group: str | None = None  # one open card per user, counted over this group
    calls: bool = False  # the start orders the card at the bureau and emails the holder
    fields: str = "{}"  # the declared fields the start sets
    production_type: str | None = "standard"


CASES = {
    "a": Case("CardsAddonExtProdBoProcOrderMultiple", "Order multiple cards", "processing", group="card_order"),
    "b": Case("CardsAddonExtProdBoProcOrderMultiple", "Order multiple cards", "ordered", group="card_order", calls=True),
    "c": Case(
        "CardsBoProcRequestMulitple",
        "Request multiple cards",
        "approved",
        fields=json.dumps({"pin_channel": "print", "pin_length": "6", "puk_channel": "nopuk"}),
        production_type=None,
    ),
}


def floor(location: str, case: str) -> tuple[float, float]:
    """Case `case` by hand on the store at `location` (an SQLite file or a PostgreSQL URL): its wall and CPU time."""
    from engine.definitions.sandbox import render_session
    from engine.definitions.templates import templates_for

    templates = templates_for(ROOT / "templates" / "email")
    started, cpu = time.perf_counter(), time.process_time()
    store = _Postgres(location) if "://" in location else _SQLite(location)
    with render_session():
        _work(store, CASES[case], templates)
    store.close()
    return time.perf_counter() - started, time.process_time() - cpu


def _work(store: Any, case: Case, templates: Any) -> None:
    """Every user, chunk by chunk."""
    table = {("start", "registered"): case.dest}
    card_id = store.one("select coalesce(max(id), 0) from cards")
    for users in store.chunks():
        store.begin()
        held = store.held(case, users[0][0], users[-1][0]) if case.group else set()
        made = []
        for user in users:
            uid, _, _, state, attributes = user
            json.loads(attributes)  # decoded, as every user's attributes are for the prerequisites
            if state == "active" and uid not in held:
                card_id += 1
                made.append((card_id, user))
        dest = table[("start", "registered")]
        cards = [_card(case, number, user[0], "registered" if case.calls else dest) for number, user in made]
        store.insert("cards", CARD_COLUMNS, cards)
        if case.calls:
            store.insert("calls", CALL_COLUMNS, [_call(case, number, user) for number, user in made])
            store.commit()
            keys = [_key(user[0]) for _, user in made]
            answers = [f"sim-{key}" for key in keys]  # the simulated bureau accepts
            store.begin()
            moved = [(dest, True, NOW, number, "registered") for number, _ in made]
            store.update("update cards set state = ?, open = ?, updated_at = ? where id = ? and state = ?", moved)
            orders = [
                (number, key, "simulated", 1, reference, None, NOW)
                for (number, _), key, reference in zip(made, keys, answers, strict=True)
            ]
            store.insert("orders", ORDER_COLUMNS, orders)
            store.insert("outbox", OUTBOX_COLUMNS, [_email(case, number, user, templates) for number, user in made])
            store.update(_ANSWERED, [(reference, NOW, key) for key, reference in zip(keys, answers, strict=True)])
        store.upsert_decision()
        store.insert("transitions", AUDIT_COLUMNS, [_audit(case, number, dest) for number, _ in made])
        store.commit()


def _card(case: Case, number: int, uid: str, state: str) -> tuple[Any, ...]:
    key = f"{case.group}:{uid}" if case.group else None
    return (number, uid, case.process, state, True, "op1", case.production_type, BATCH, NOW, NOW, key, "op1", case.fields)


def _audit(case: Case, number: int, dest: str) -> tuple[Any, ...]:
    fields = None if case.fields == "{}" else case.fields
    return (number, case.process, "start", "registered", dest, "op1", NOW, BATCH, FINGERPRINT, DECISION, None, fields)


def _key(uid: str) -> str:
    return f"{BATCH}.{uid}.1"


def _call(case: Case, number: int, user: tuple[Any, ...]) -> tuple[Any, ...]:
    uid, name, email, state, _ = user
    holder = {"id": uid, "name": name, "email": email, "state": state}
    payload = {
        "key": _key(uid),
        "card": number,
        "process": case.process,
        "batch": BATCH,
        "production_type": case.production_type,
        "holder": holder,
    }
    return (_key(uid), number, "bureau", "order", json.dumps(payload), case.process, "start", "registered", "op1", BATCH,
            None, "pending", 0, NOW, NOW)  # fmt: skip


def _email(case: Case, number: int, user: tuple[Any, ...], templates: Any) -> tuple[Any, ...]:
    """The "card ordered" email's outbox row, rendered now by the engine's renderer."""
    from engine.effects.email import message_id

    uid, name, email, _, attributes = user
    holder = {**json.loads(attributes), "id": uid, "name": name, "email": email, "locale": None}
    card = {"id": number, "state": case.dest, "process": case.process, "production_type": case.production_type,
            "batch_id": BATCH, "created_at": NOW, "holder": holder}  # fmt: skip
    context = {"recipient": holder, "holder": holder, "requester": None, "card": card,
               "process": {"symbolic_name": case.process, "name": case.name}, "batch": {"id": BATCH}, "reason": None}  # fmt: skip
    rendered = templates.render("card_ordered", context)
    key = f"card:{BATCH}.{number}"
    kept = json.dumps({"recipient": {"name": name}})
    return (key, number, BATCH, "card_ordered", email, uid, None, kept, "pending", NOW,
            rendered.subject, rendered.text, rendered.html, message_id(key), 0)  # fmt: skip


def sqlite_connection(location: str) -> Any:
    """A connection of a floor to the SQLite store at `location`, set as the engine sets its own
    (engine.store.db): no transaction of the driver's (each floor begins its own), synchronous NORMAL
    under the write-ahead log, and the log copied back every 10,000 pages rather than 1,000. Until
    2026-12-05 the floors ran with sqlite3's defaults (synchronous FULL: a sync a commit); on this
    machine the two gave the same times (bench/RESULTS.md), where syncs are dear they would not."""
    import sqlite3

    con = sqlite3.connect(location, isolation_level=None)
    con.execute("PRAGMA synchronous = NORMAL")
    con.execute("PRAGMA wal_autocheckpoint = 10000")
    return con


class _SQLite:
    """The floor's store on SQLite: sqlite3, an explicit transaction a chunk, executemany."""

    #: The driver's mark of a parameter (the floors' SQL is written with `?`).
    MARK = "?"

    def __init__(self, location: str) -> None:
        self.con: Any = sqlite_connection(location)

    def query(self, sql: str, parameters: tuple[Any, ...] = ()) -> Any:
        return self.con.execute(sql.replace("?", self.MARK), parameters)

    def one(self, sql: str) -> Any:
        return self.query(sql).fetchone()[0]

    def chunks(self) -> Iterator[list[tuple[Any, ...]]]:
        after = ""
        sql = "select id, name, email, state, attributes from users where id > ? order by id limit ?"
        while users := self.query(sql, (after, CHUNK)).fetchall():
            self.read()
            yield users
            after = users[-1][0]

    def read(self) -> None:
        """A page of users was read (SQLite reads outside a transaction)."""

    def held(self, case: Case, first: str, last: str) -> set[str]:
        sql = "select user_id from cards where user_id between ? and ? and open = ? and open_key = ? || ':' || user_id"
        return {uid for (uid,) in self.query(sql, (first, last, True, case.group))}

    def begin(self) -> None:
        self.con.execute("BEGIN IMMEDIATE")

    def insert(self, table: str, columns: str, rows: list[tuple[Any, ...]]) -> None:
        if ALIKE and _alike(self.con, table, columns, rows):
            return
        marks = ", ".join("?" * len(columns.split(", ")))
        self.con.executemany(f"insert into {table} ({columns}) values ({marks})", rows)

    def update(self, statement: str, rows: list[tuple[Any, ...]]) -> None:
        self.con.executemany(statement, rows)

    def upsert_decision(self) -> None:
        self.con.execute("insert or ignore into decisions (id, trace) values (?, ?)", (DECISION, _TRACE))

    def commit(self) -> None:
        self.con.execute("COMMIT")

    def close(self) -> None:
        self.con.close()


class _Postgres(_SQLite):
    """The floor's store on PostgreSQL: psycopg, a transaction a chunk, COPY for the rows."""

    MARK = "%s"

    def __init__(self, location: str) -> None:
        import psycopg

        self.con = psycopg.connect(location.replace("+psycopg", "", 1))

    def read(self) -> None:
        """The page's read transaction ends: no transaction stays open between chunks."""
        self.con.commit()

    def begin(self) -> None:
        """psycopg opens the transaction at the first statement."""

    def insert(self, table: str, columns: str, rows: list[tuple[Any, ...]]) -> None:
        with self.con.cursor() as cursor, cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)

    def update(self, statement: str, rows: list[tuple[Any, ...]]) -> None:
        with self.con.cursor() as cursor:
            cursor.executemany(statement.replace("?", self.MARK), rows)

    def upsert_decision(self) -> None:
        self.con.execute("insert into decisions (id, trace) values (%s, %s) on conflict do nothing", (DECISION, _TRACE))

    def commit(self) -> None:
        self.con.commit()


def _alike(con: Any, table: str, columns: str, rows: list[tuple[Any, ...]]) -> bool:
    """Rows that differ in at most three columns, in one INSERT ... SELECT reading those from one JSON
    array (the rest bound once); False for the others."""
    values = list(zip(*rows, strict=True))
    varying = [at for at, column in enumerate(values) if column.count(column[0]) != len(column)]
    if len(rows) < 2 or len(varying) > 3:
        return False
    one = len(varying) == 1
    picked = {at: "value" if one else f"json_extract(value, '$[{n}]')" for n, at in enumerate(varying)}
    carried = json.dumps(values[varying[0]] if one else list(zip(*(values[at] for at in varying), strict=True)))
    selected = ", ".join(picked.get(at, "?") for at in range(len(values)))
    same = [value for at, value in enumerate(rows[0]) if at not in picked]
    con.execute(f"insert into {table} ({columns}) select {selected} from json_each(?)", (*same, carried))
    return True
