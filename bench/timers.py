"""Firing due timers against a hand-written floor, each measured in fresh processes, taking turns.

    python bench/timers.py [--armed 100000] [--due 10000] [--repeat 5] [--record]

Set-up (not timed): a store whose ARMED card requests of "Request multiple cards" wait for an
approver (approval on), each with its reminder armed (the shipped timer of state `requested`), in
a copy of the reference workspace whose reminder sends no email (the floor would have to render
the approvers' emails too); DUE of the timers are then made due. Measured: the engine's
`fire_due` (what `cardflow timers run` and the workers' `timers-run` do) against a floor that does
the same by hand with sqlite3, a transaction for each 1,000 due timers as the engine (until 2026-12-04
one transaction for all: bench/RESULTS.md has both floors side by side): read the due timers, mark
them fired, write one audit row a card, move the card's `updated_at`, arm each repetition.

Each round runs the floor and the engine each in a fresh process of its own, on its own copy of the
prepared store, the order turned each round (a single pair of runs swung from 1.3 to 1.8 with the
machine's minute); `--repeat N` rounds (at least 3). The line gives the ratio of the medians and of
the bests, in wall and in CPU time, and the engine's peak RSS; `--record` appends it to
bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from batch import make_store, peak_rss, ratio, record_section  # noqa: E402
from floors import sqlite_connection  # noqa: E402

REQUEST = "CardsBoProcRequestMulitple"
ARMED_AT = "2026-12-01T09:00:00Z"  # a Tuesday
FIRED_AT = "2026-12-04T10:00:00Z"  # the reminders of 3 working days are due at 09:00
#: Due timers a transaction fires (engine.batch.timers_due.CHUNK).
CHUNK = 1000
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
    """The same rows by hand, a transaction for each CHUNK due timers (as the engine commits them, and as
    a competent job firing a million would: bounded transactions, the write lock held for a chunk)."""
    started, cpu = time.perf_counter(), time.process_time()
    con = sqlite_connection(location)
    while True:
        con.execute("BEGIN IMMEDIATE")
        due = con.execute(
            "select t.id, t.card_id, k.process, k.state, t.kind, k.location, k.trigger, t.due_at, t.fired, c.batch_id "
            "from timers t join timer_kinds k on k.id = t.kind join cards c on c.id = t.card_id"
            " where t.status = 'armed' and t.due_at <= ?"
            " order by t.due_at, t.id limit ?",
            (FIRED_AT, CHUNK),
        ).fetchall()
        if not due:
            con.execute("COMMIT")
            break
        con.executemany("update timers set status = 'fired', fired_at = ? where id = ?", [(FIRED_AT, row[0]) for row in due])
        con.executemany("update cards set updated_at = ? where id = ? and state = ?", [(FIRED_AT, row[1], row[3]) for row in due])
        audit = [
            (row[1], row[2], row[6], row[3], row[3], "system", FIRED_AT, f"timers-{FIRED_AT}", "f" * 16, "d" * 24,
             f"fired by the timer at {row[5]}, due {row[7]}")
            for row in due
        ]  # fmt: skip
        con.executemany(
            "insert into transitions (card_id, process, trigger, source, dest, actor, at, batch_id, fingerprint, decision_id,"
            " reason) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            audit,
        )
        again = [(row[1], row[4], "2026-12-09T09:00:00Z", row[8] + 1, "armed", FIRED_AT) for row in due]
        con.executemany("insert into timers (card_id, kind, due_at, fired, status, armed_at) values (?, ?, ?, ?, ?, ?)", again)
        con.execute("COMMIT")
    con.close()
    return time.perf_counter() - started, time.process_time() - cpu


def one_measure(measure: str, template: str, workspace: Path) -> None:
    """One measure (the floor or the engine) in this fresh process, on a copy of the prepared store:
    print its wall and CPU time, its timers fired and its peak RSS (MiB) as JSON."""
    with tempfile.TemporaryDirectory() as folder:
        store = str(Path(folder) / "measure.db")
        shutil.copy(template, store)
        if Path(template + "-wal").exists():  # what the preparation left in the write-ahead log
            shutil.copy(template + "-wal", store + "-wal")
        if measure == "floor":
            (seconds, cpu), fired = floor(store), 0
        else:
            seconds, cpu, fired = engine_fire(store, workspace)
    print(json.dumps({"seconds": seconds, "cpu": cpu, "fired": fired, "rss": peak_rss()}))


def interleaved(template: str, workspace: Path, rounds: int) -> tuple[dict[str, list[tuple[float, float]]], int, float]:
    """The floor and the engine in fresh processes, taking turns round by round (the order turned each
    round): their (wall, CPU) times, the timers the engine fired and its peak RSS."""
    times: dict[str, list[tuple[float, float]]] = {"floor": [], "engine": []}
    fired, rss = 0, 0.0
    for number in range(rounds):
        for measure in ("floor", "engine") if number % 2 == 0 else ("engine", "floor"):
            command = [sys.executable, __file__, "--child", measure, "--template", template, "--workspace", str(workspace)]
            output = subprocess.run(command, capture_output=True, text=True, check=True)
            figures = json.loads(output.stdout.strip().splitlines()[-1])
            times[measure].append((figures["seconds"], figures["cpu"]))
            if measure == "engine":
                fired, rss = figures["fired"], max(rss, figures["rss"])
    return times, fired, rss


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--armed", type=int, default=100_000)
    parser.add_argument("--due", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5, help="Rounds (at least 3): the floor and the engine once each.")
    parser.add_argument("--record", action="store_true", help="Append the figures to bench/RESULTS.md.")
    parser.add_argument("--child", choices=("floor", "engine"), help=argparse.SUPPRESS)
    parser.add_argument("--template", help=argparse.SUPPRESS)
    parser.add_argument("--workspace", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        one_measure(args.child, args.template, Path(args.workspace))
        return 0
    if args.repeat < 3:
        parser.error("--repeat: at least 3 rounds")
    with tempfile.TemporaryDirectory() as folder:
        workspace = quiet_workspace(Path(folder) / "ws")
        template = str(Path(folder) / "prepared.db")
        armed_store(template, workspace, args.armed, args.due)
        times, fired, rss = interleaved(template, workspace, args.repeat)
    engine, floors = times["engine"], times["floor"]
    ratios = {pick.__name__: [ratio(engine, floors, index, pick) for index in (0, 1)] for pick in (statistics.median, min)}
    floor_median = statistics.median(wall for wall, _ in times["floor"])
    line = (
        f"timers: {args.armed:,} armed, {args.due:,} due, {fired:,} fired, {args.repeat} rounds;"
        f" floor median {floor_median:.2f} s;"
        f" engine median {statistics.median(wall for wall, _ in times['engine']):.2f} s;"
        f" ratio of medians {ratios['median'][0]:.2f} (CPU time {ratios['median'][1]:.2f}),"
        f" of bests {ratios['min'][0]:.2f} (CPU time {ratios['min'][1]:.2f}); peak RSS {rss:.0f} MiB"
    )
    print(line)
    if args.record:
        record_section(f"{args.armed:,} armed timers, {args.due:,} due, SQLite, interleaved in fresh processes", [line])
    return 0


if __name__ == "__main__":
    sys.exit(main())
