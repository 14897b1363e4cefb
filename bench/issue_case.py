"""Case (d) of bench/batch.py: "Issue multiple cards" (CardsBoProcIssueMultiple) over approved cards.

The store holds one approved card per user, made by "Request multiple cards" before the clock
starts (bench/batch.py, `prepared_store`). The engine fires `issue` on every approved card through
its public API (`run_over_cards`) or the CLI (`cardflow run CardsBoProcIssueMultiple --all`); each issue writes a print job file
through the outbox (the call's row committed first, the file written, then the card moved with the
call marked answered), into a fresh folder ($CARDFLOW_PRINT_JOBS; `print_jobs`).

The floor is what a competent hand-written script would do for the same guarantees, on the same
store, in chunks of CHUNK cards: read the approved cards with their holders, check the state,
insert the pending calls (one executemany) and commit; write each print job (the same JSON, whole,
then renamed into place; an existing file is left as it is); then move the cards (a compare-and-set
on the state), insert their audit rows and one decision, mark the calls answered, and commit.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import floors  # bench/floors.py, beside this module

PROCESS = "CardsBoProcIssueMultiple"
#: The processes whose approved cards "Issue multiple cards" acts on.
ACTS_ON = ("CardsBoProcRequestMulitple", "CardsProcRequest")
#: Cards per chunk of the floor (the engine's own chunk is engine.batch.over_cards.CARD_CHUNK).
CHUNK = 2000
NOW = "2026-11-21T09:00:00Z"
BATCH = "B20261121-090000-f100"
FINGERPRINT = "f" * 16 + ":" + "f" * 16
DECISION = "d" * 24
CARD_FIELDS = ("id", "user", "process", "state", "requester", "requested_by", "production_type", "batch")
CALL_COLUMNS = (
    "idempotency_key, card_id, connector, operation, payload, process, trigger, source, actor, batch_id, reason, "
    "status, attempts, next_attempt_at, created_at"
)
AUDIT_COLUMNS = "card_id, process, trigger, source, dest, actor, at, batch_id, fingerprint, decision_id, reason, fields"


@contextlib.contextmanager
def print_jobs() -> Iterator[Path]:
    """A fresh folder for the print jobs of one measure, removed after it: on a RAM file system where
    there is one (/dev/shm), so that the figures measure cardflow and not a disk (as the other cases
    simulate the bureau)."""
    shm = Path("/dev/shm")
    with tempfile.TemporaryDirectory(prefix="cardflow-print-jobs-", dir=shm if shm.is_dir() else None) as folder:
        yield Path(folder) / "jobs"


def floor(location: str, jobs: Path) -> tuple[float, float, int]:
    """The floor on SQLite: the wall and CPU time, and the number of cards issued."""
    started, cpu = time.perf_counter(), time.process_time()
    con = floors.sqlite_connection(location)
    issued, after = 0, 0
    while True:
        con.execute("BEGIN IMMEDIATE")
        cards = con.execute(_SELECT, (*ACTS_ON, after, CHUNK)).fetchall()
        if not cards:
            con.execute("COMMIT")
            break
        calls, jobs_of_chunk = _calls(cards)
        con.executemany(f"insert into calls ({CALL_COLUMNS}) values ({', '.join('?' * 15)})", calls)
        con.execute("COMMIT")
        references = [_write_job(jobs, key, job) for key, job in jobs_of_chunk]
        con.execute("BEGIN IMMEDIATE")
        moved = [("issued", NOW, "op1", card[0], card[3]) for card in cards]
        con.executemany("update cards set state = ?, updated_at = ?, requested_by = ? where id = ? and state = ?", moved)
        audit = [
            (card[0], PROCESS, "issue", card[3], "issued", "op1", NOW, BATCH, FINGERPRINT, DECISION, None, None) for card in cards
        ]
        con.executemany(f"insert into transitions ({AUDIT_COLUMNS}) values ({', '.join('?' * 12)})", audit)
        con.execute("insert or ignore into decisions (id, trace) values (?, ?)", (DECISION, _TRACE))
        answered = [(reference, NOW, key) for (key, _), reference in zip(jobs_of_chunk, references, strict=True)]
        con.executemany(_ANSWERED, answered)
        con.execute("COMMIT")
        issued += len(cards)
        after = cards[-1][0]
    con.close()
    return time.perf_counter() - started, time.process_time() - cpu, issued


_SELECT = (
    "select c.id, c.user_id, c.process, c.state, c.requester, c.requested_by, c.production_type, c.batch_id, c.fields,"
    " u.name, u.email, u.state, u.attributes from cards c join users u on u.id = c.user_id"
    " where c.process in (?, ?) and c.state in ('approved', 'failed') and c.id > ? order by c.id limit ?"
)
_ANSWERED = (
    "update calls set status = 'answered', outcome = 'accepted', reference = ?, answered_at = ?, attempts = attempts + 1"
    " where idempotency_key = ? and status = 'pending'"
)
#: A decision trace of the engine's size (the floor stores one, as the engine stores one per distinct decision).
_TRACE = json.dumps({"trigger": "issue", "source": "approved", "candidates": [{"guard": "printer.accepted"}] * 2})


def _calls(cards: list[Any]) -> tuple[list[tuple[Any, ...]], list[tuple[str, dict[str, Any]]]]:
    """The pending call rows of a chunk, and each print job (its key and its JSON)."""
    calls, jobs = [], []
    for (
        card_id,
        user,
        process,
        state,
        requester,
        requested_by,
        production_type,
        batch,
        fields,
        name,
        email,
        holder_state,
        attributes,
    ) in cards:
        card = dict(
            zip(CARD_FIELDS, (card_id, user, process, state, requester, requested_by, production_type, batch), strict=True)
        )
        card.update(json.loads(fields) if fields else {})
        holder = {**json.loads(attributes), "id": user, "name": name, "email": email, "state": holder_state}
        payload = {"process": process, "trigger": "issue", "card": card, "holder": holder}
        key = f"printer%print%card{card_id}.1"
        calls.append(
            (
                key,
                card_id,
                "printer",
                "print",
                json.dumps(payload),
                PROCESS,
                "issue",
                state,
                "op1",
                BATCH,
                None,
                "pending",
                0,
                NOW,
                NOW,
            )
        )
        jobs.append((key, {"key": key, "operation": "print", **payload}))
    return calls, jobs


def _write_job(folder: Path, key: str, job: dict[str, Any]) -> str:
    """Write a print job whole, then rename it into place, unless it was written before; its name."""
    name = key.replace("%", "%25")
    final = folder / f"{name}.json"
    if not final.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        partial = folder / f".{name}.partial"
        partial.write_text(json.dumps(job, indent=2, ensure_ascii=False), encoding="utf-8")
        os.replace(partial, final)
    return name


def engine_api(location: str, jobs: Path) -> tuple[float, float, int]:
    """The engine through its public API: the wall and CPU time, and the number of cards issued."""
    from engine.batch.over_cards import CardRunRequest, CardSelection, run_over_cards
    from engine.definitions.workspace import load_workspace
    from engine.outbound.bureau import DropFolder
    from engine.store.db import connect

    root = Path(__file__).resolve().parents[1]
    workspace = load_workspace(root)
    engine = connect(location)
    os.environ["CARDFLOW_PRINT_JOBS"] = str(jobs)
    request = CardRunRequest(PROCESS, "op1", CardSelection(all=True))
    started, cpu = time.perf_counter(), time.process_time()
    # the bureau is not called; the results counted, none kept (as bench/batch.py runs a batch over users)
    result = run_over_cards(workspace, engine, request, DropFolder(jobs.parent / "orders"), keep_results=False)
    elapsed, used = time.perf_counter() - started, time.process_time() - cpu
    engine.dispose()
    return elapsed, used, result.counts["done"]
