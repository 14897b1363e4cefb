"""Firing due timers against a hand-written floor, measured in the same process.

    python bench/timers.py [--armed 100000] [--due 10000] [--record]

Set-up (not timed): a store whose ARMED card requests of "Request multiple cards" wait for an
approver (approval on), each with its reminder armed (the shipped timer of state `requested`), in
a copy of the reference workspace whose reminder sends no email (the floor would have to render
the approvers' emails too); DUE of the timers are then made due. Measured: the engine's
`fire_due` (what `cardflow timers run` and the workers' `timers-run` do) against a floor that does
the same by hand in one sqlite3 transaction: read the due timers, mark them fired, write one audit
row a card, move the card's `updated_at`, arm each repetition. The ratio is engine time over floor
time; `--record` appends it to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from batch import make_store, peak_rss, record_section  # noqa: E402

REQUEST = "CardsBoProcRequestMulitple"
ARMED_AT = "2026-12-01T09:00:00Z"  # a Tuesday
FIRED_AT = "2026-12-04T10:00:00Z"  # the reminders of 3 working days are due at 09:00
REMINDER_EMAIL = "    effects:\n      - email: approval_reminder\n        to: approvers\n"


def quiet_workspace(folder: Path) -> Path:
    """The reference workspace whose reminder fires without an email."""
    for name in ("processes", "lifecycles", "rules", "templates"):
        shutil.copytree(ROOT / name, folder / name)
    for name in ("roles.yaml", "calendar.yaml", "connectors.yaml"):
        shutil.copy2(ROOT / name, folder / name)
    path = folder / "lifecycles" / "CardRequest.yaml"  # the lifecycle of REQUEST, where its reminder is declared
    text = path.read_text(encoding="utf-8")
    assert REMINDER_EMAIL in text
    path.write_text(text.replace(REMINDER_EMAIL, "", 1), encoding="utf-8")
    return folder


def armed_store(location: str, workspace: Path, armed: int, due: int) -> None:
    """ARMED waiting requests, each with its reminder armed; DUE of those due at FIRED_AT."""
    from engine.batch.request import RunRequest, Selection
    from engine.batch.run import run_batch
    from engine.clock import frozen
    from engine.definitions.workspace import load_workspace
    from engine.outbound.bureau import Simulated
    from engine.store.db import connect

    make_store(location, armed)
    engine = connect(location)
    request = RunRequest(REQUEST, "op1", Selection(all=True), {"CardsBatchRequestApproval": True})
    with frozen(ARMED_AT):
        run_batch(load_workspace(workspace), engine, request, Simulated(), keep_results=False)
    engine.dispose()
    con = sqlite3.connect(location)
    con.execute("update timers set due_at = '2099-01-01T00:00:00Z' where id > ?", (due,))
    con.commit()
    assert con.execute("select count(*) from timers where due_at <= ?", (FIRED_AT,)).fetchone()[0] == due
    con.close()


def engine_fire(location: str, workspace: Path) -> tuple[float, float, int]:
    from engine.batch.timers_due import fire_due
    from engine.clock import frozen
    from engine.definitions.workspace import load_workspace
    from engine.outbound.bureau import Simulated
    from engine.store.db import connect

    found = load_workspace(workspace)
    engine = connect(location)
    started, cpu = time.perf_counter(), time.process_time()
    with frozen(FIRED_AT):
        results = fire_due(found, engine, Simulated())
    elapsed, used = time.perf_counter() - started, time.process_time() - cpu
    engine.dispose()
    return elapsed, used, sum(result.status == "fired" for result in results)


def floor(location: str) -> tuple[float, float]:
    """The same rows by hand, in one transaction."""
    started, cpu = time.perf_counter(), time.process_time()
    con = sqlite3.connect(location, isolation_level=None)
    con.execute("BEGIN IMMEDIATE")
    due = con.execute(
        "select t.id, t.card_id, t.process, t.state, t.timer, t.location, t.trigger, t.due_at, t.fired, c.batch_id "
        "from timers t join cards c on c.id = t.card_id where t.status = 'armed' and t.due_at <= ? order by t.due_at, t.id",
        (FIRED_AT,),
    ).fetchall()
    con.executemany("update timers set status = 'fired', fired_at = ? where id = ?", [(FIRED_AT, row[0]) for row in due])
    con.executemany("update cards set updated_at = ? where id = ? and state = ?", [(FIRED_AT, row[1], row[3]) for row in due])
    audit = [
        (row[1], row[2], row[6], row[3], row[3], "system", FIRED_AT, f"timers-{FIRED_AT}", "f" * 16, "d" * 24,
         f"fired by the timer at {row[5]}, due {row[7]}")
        for row in due
    ]  # fmt: skip
    con.executemany(
        "insert into transitions (card_id, process, trigger, source, dest, actor, at, batch_id, fingerprint, decision_id, reason)"
        " values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        audit,
    )
    again = [
        (row[1], row[2], row[3], row[4], row[5], row[6], "2026-12-09T09:00:00Z", row[8] + 1, "armed", FIRED_AT) for row in due
    ]
    con.executemany(
        "insert into timers (card_id, process, state, timer, location, trigger, due_at, fired, status, armed_at)"
        " values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        again,
    )
    con.execute("COMMIT")
    con.close()
    return time.perf_counter() - started, time.process_time() - cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--armed", type=int, default=100_000)
    parser.add_argument("--due", type=int, default=10_000)
    parser.add_argument("--record", action="store_true", help="Append the figures to bench/RESULTS.md.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        workspace = quiet_workspace(Path(folder) / "ws")
        stores = [str(Path(folder) / f"{name}.db") for name in ("floor", "engine")]
        for store in stores:
            armed_store(store, workspace, args.armed, args.due)
        floor_wall, floor_cpu = floor(stores[0])
        wall, cpu, fired = engine_fire(stores[1], workspace)
    line = (
        f"timers: {args.armed:,} armed, {args.due:,} due, {fired:,} fired; floor {floor_wall:.2f} s; engine {wall:.2f} s; "
        f"ratio {wall / floor_wall:.2f} (CPU time {cpu / floor_cpu:.2f}); peak RSS {peak_rss():.0f} MiB"
    )
    print(line)
    if args.record:
        record_section(f"{args.armed:,} armed timers, {args.due:,} due, SQLite", [line])
    return 0


if __name__ == "__main__":
    sys.exit(main())
