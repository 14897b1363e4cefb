"""Batch throughput and memory against a hand-written floor, measured in the same process.

    python bench/batch.py --users 100000 [--cases a,b,c] [--no-cli] [--repeat N] [--record]
                          [--db postgresql+psycopg://USER@HOST:PORT/DB] [--no-bytecode] [--interleaved]

Cases: (a) CardsAddonExtProdBoProcOrderMultiple with the default options (queue on),
(b) the same with the queue off and the "card ordered" email, (c) CardsBoProcRequestMulitple,
(d) CardsBoProcIssueMultiple over one approved card per user, each issue writing a print job file
through the outbox (bench/issue_case.py says how, and what its floor does).
Each case runs in a child process of its own, which first runs the floor (a dict transition
table, sqlite3 executemany in one transaction, the same precompiled email templates, on the
same schema and users, writing the same rows with values of the same sizes) and then the engine
through its public API; the ratio is engine time over floor time in that child. Then the case
runs once more through the CLI (`cardflow run --all`) in a fresh store; its time includes the
start-up of Python, the imports and loading the workspace (about 0.35 s). Peak RSS is the
engine's high-water mark: the child's is reset after the floor (Linux), and the CLI's is its
own process's. The bureau is simulated everywhere (it accepts every order and writes nothing),
so no case measures a file system or a network. `--repeat N` runs every measure (floor, API,
CLI) N times on fresh stores and keeps the best of each, as `timeit` does, which steadies the
figures on a noisy machine. Each ratio is given in wall time and in CPU time (the process's own
user and system time; the CLI's from wait4): on a machine shared with other work the wall time
also counts the time the process waited for a core, the CPU time does not. `--record` appends
the figures to bench/RESULTS.md.

`--interleaved` measures differently, for a machine shared with other work: the floor, the engine
through its API and the CLI each run in a fresh process of their own, taking turns (the order
turned each round), for `--repeat` rounds (at least 3); the line gives the ratio of the medians and
the ratio of the bests, in wall and CPU time, and the load average before and after. The floor is
the same floor.

cardflow's own modules are byte-compiled first, as `pip install` does for a wheel, so that the
CLI's start-up is an installed cardflow's (where PYTHONDONTWRITEBYTECODE is set, as on the
machine of these figures, an editable checkout would otherwise compile them from source at every
start, about 60 ms); `--no-bytecode` removes the compiled files and measures that instead.

With `--db URL` of a PostgreSQL server, every store (floor, API, CLI) is a fresh database created
on that server for the measure and dropped after it, and the floor is written for PostgreSQL:
psycopg, the same reads and rows, COPY of every table in one transaction. The CPU time is then
the client's alone (floor, API or CLI): the server's work is in the wall time only.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import platform
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import issue_case  # noqa: E402 (bench/issue_case.py, beside this script)

CASES = {
    "a": ("CardsAddonExtProdBoProcOrderMultiple", {}),
    "b": ("CardsAddonExtProdBoProcOrderMultiple", {"CardsAddonExtProdQueue": False, "CardsAddonExtProdOrderedEmail": True}),
    "c": ("CardsBoProcRequestMulitple", {}),
    "d": ("CardsBoProcIssueMultiple", {}),
}
NOW = "2026-11-21T09:00:00Z"
OUTBOX_COLUMNS = (
    "dedupe_key, card_id, batch_id, template, recipient, recipient_user, context, status, created_at, "
    "subject, body_text, body_html, attempts, message_id"
)
CARD_COLUMNS = "id, user_id, process, state, open, requester, production_type, batch_id, created_at, updated_at, open_key"
# The floor writes values of the engine's sizes: a batch id as `new_batch_id` makes them, a
# definitions fingerprint and a decision id as long as the engine's (row sizes are I/O).
BATCH = "B20261121-090000-f100"
FINGERPRINT = "f" * 16 + ":" + "f" * 16
DECISION = "d" * 24


@contextlib.contextmanager
def fresh_store(folder: str, name: str, server: str | None) -> Iterator[str]:
    """The location of a new, empty store: an SQLite file in `folder`, or with `server` (a
    PostgreSQL URL) a database created on it for this measure and dropped after it."""
    if server is None:
        yield str(Path(folder) / f"{name}.db")
        return
    from sqlalchemy import create_engine, text

    database = f"cardflow_bench_{name}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{database}"'))
    try:
        yield f"{server.rsplit('/', 1)[0]}/{database}"
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        admin.dispose()


def prepared_store(location: str, users: int, case: str) -> None:
    """The store a case starts from (not timed): the users, and for (d) an approved card for each."""
    make_store(location, users)
    if case == "d":
        engine_api(location, "c")  # "Request multiple cards" approves a card for each user


def make_store(location: str | Path, users: int) -> None:
    """A store with `users` active card holders and one operator (not timed)."""
    from engine.store.db import connect
    from engine.store.queries import upsert_users

    engine = connect(str(location))
    chunk = []
    with engine.begin() as connection:
        for i in range(users):
            chunk.append(
                {"id": f"u{i:07d}", "name": f"User {i}", "email": f"u{i}@example.com", "state": "active",
                 "roles": "[]", "attributes": '{"department": "Sales"}', "updated_at": NOW}
            )  # fmt: skip
            if len(chunk) == 5000:
                upsert_users(connection, chunk)
                chunk = []
        chunk.append(
            {
                "id": "op1",
                "name": "Op",
                "email": "op1@example.com",
                "state": "active",
                "roles": '["operator"]',
                "attributes": "{}",
                "updated_at": NOW,
            }
        )
        upsert_users(connection, chunk)
    engine.dispose()


def floor(location: str, case: str) -> tuple[float, float]:
    """The same work by hand: read users, check the prerequisites, look the next state up, write the
    same rows (cards, audit rows, one decision, and with the queue off orders and rendered emails):
    the wall and CPU time. Case (d) has a floor of its own (bench/issue_case.py)."""
    if case == "d" and "://" in location:
        raise SystemExit("case (d) has a floor for SQLite only: measure it without --db")
    if case == "d":
        with issue_case.print_jobs() as jobs:
            return issue_case.floor(location, jobs)[:2]
    if "://" in location:
        return floor_postgres(location, case)
    process, parts = CASES[case][0], floor_templates()
    started, cpu = time.perf_counter(), time.process_time()
    con = sqlite3.connect(location, isolation_level=None)
    con.execute("BEGIN IMMEDIATE")
    holding = set()
    if case in EXCLUSIVE:  # the prerequisite "no open card of this process yet"
        holding = {user for (user,) in con.execute("select user_id from cards where process = ? and open", (process,))}
    users = con.execute("select id, name, email, state, attributes from users order by id")
    tables = floor_rows(case, users, holding, parts)
    con.execute("insert into decisions (id, trace) values (?, ?)", (DECISION, json.dumps({"trigger": "start"})))
    for table, columns, rows in tables:
        marks = ", ".join("?" * len(columns.split(", ")))
        con.executemany(f"insert into {table} ({columns}) values ({marks})", rows)
    con.execute("COMMIT")
    con.close()
    return time.perf_counter() - started, time.process_time() - cpu


def floor_postgres(url: str, case: str) -> tuple[float, float]:
    """The floor on PostgreSQL: the same reads and rows, written with COPY in one transaction; the
    wall and CPU time."""
    import psycopg

    process, parts = CASES[case][0], floor_templates()
    started, cpu = time.perf_counter(), time.process_time()
    with psycopg.connect(url.replace("+psycopg", "", 1)) as con:
        holding = set()
        if case in EXCLUSIVE:
            holding = {user for (user,) in con.execute("select user_id from cards where process = %s and open", (process,))}
        users = con.execute("select id, name, email, state, attributes from users order by id")
        tables = floor_rows(case, users, holding, parts)
        con.execute("insert into decisions (id, trace) values (%s, %s)", (DECISION, json.dumps({"trigger": "start"})))
        with con.cursor() as cursor:
            for table, columns, rows in tables:
                with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
        con.commit()
    return time.perf_counter() - started, time.process_time() - cpu


def floor_templates() -> list[Any]:
    """The parts of the "card ordered" email (subject, text, html), precompiled before the floor's
    clock starts (as the engine's are)."""
    from engine.definitions.templates import PARTS, templates_for

    templates = templates_for(ROOT / "templates" / "email")
    # each part rendered with Jinja's own `render`, as the engine did until 2026-12-01 (the floor is unchanged)
    return [templates.environment.get_template(templates.file_name("card_ordered", part)) for part in PARTS]


#: The cases whose process keeps one open card per user (CardsAddonExtProdMultipleCards off).
EXCLUSIVE = ("a", "b")


def floor_rows(case: str, users: Any, holding: set[str], parts: list[Any]) -> list[tuple[str, str, list[tuple[Any, ...]]]]:
    """The rows the floor writes for `users` (id, name, email, state, attributes), table by table;
    `parts` are the email's templates (subject, text, html) from `floor_templates`."""
    from engine.definitions.templates import message_id, one_line

    process, options = CASES[case]
    queue = options.get("CardsAddonExtProdQueue", True)
    exclusive = case in EXCLUSIVE
    dest = {"a": "processing", "b": "ordered", "c": "approved"}[case]
    table = {("start", "registered"): dest}
    cards, audit, orders, outbox = [], [], [], []
    card_id = 0
    for uid, name, email, state, attributes in users:
        json.loads(attributes)
        if state != "active" or uid in holding:
            continue
        card_id += 1
        state_to = table[("start", "registered")]
        cards.append((card_id, uid, process, state_to, 1, "op1", "standard", BATCH, NOW, NOW, uid if exclusive else None))
        audit.append((card_id, process, "start", "registered", state_to, "op1", NOW, BATCH, FINGERPRINT, DECISION, None))
        if not queue:
            orders.append((card_id, f"{BATCH}.{uid}.1", "simulated", 1, f"sim-{uid}", None, NOW))
            context = {
                "holder": {"id": uid, "name": name, "email": email},
                "card": {"id": card_id, "production_type": "standard"},
                "batch": {"id": BATCH},
                "process": {"name": "Order multiple cards"},
                "recipient": {},
                "requester": {},
                "reason": None,
            }
            subject, text, html = (template.render(context) for template in parts)
            key = f"card:{BATCH}.{card_id}"
            outbox.append(
                (
                    key,
                    card_id,
                    BATCH,
                    "card_ordered",
                    email,
                    uid,
                    json.dumps(context),
                    "pending",
                    NOW,
                    one_line(subject),
                    text,
                    html,
                    0,
                    message_id(key),
                )
            )
    return [
        ("cards", CARD_COLUMNS, cards),
        ("transitions", "card_id, process, trigger, source, dest, actor, at, batch_id, fingerprint, decision_id, reason", audit),
        ("orders", "card_id, idempotency_key, connector, accepted, order_id, message, at", orders),
        ("outbox", OUTBOX_COLUMNS, outbox),
    ]


def engine_api(location: str, case: str) -> tuple[float, float, int]:
    """The engine through its public API: the wall and CPU time, and the number of cards made (issued: (d))."""
    if case == "d":
        with issue_case.print_jobs() as jobs:
            return issue_case.engine_api(location, jobs)
    from engine.batch.request import RunRequest, Selection
    from engine.batch.run import run_batch
    from engine.definitions.workspace import load_workspace
    from engine.outbound.bureau import Simulated
    from engine.store.db import connect

    process, options = CASES[case]
    workspace = load_workspace(ROOT)
    engine = connect(location)
    started, cpu = time.perf_counter(), time.process_time()
    result = run_batch(
        workspace, engine, RunRequest(process, "op1", Selection(all=True), options), Simulated(), keep_results=False
    )
    elapsed, used = time.perf_counter() - started, time.process_time() - cpu
    engine.dispose()
    return elapsed, used, sum(n for state, n in result.counts.items() if state != "skipped")


def child(case: str, users: int, repeat: int, server: str | None) -> None:
    """One case in this process: floor, then engine, `repeat` times on fresh stores; print the
    best time of each (and the engine's highest peak RSS) as JSON."""
    floor_times, engine_times, floor_cpu, engine_cpu, peaks = [], [], [], [], []
    with tempfile.TemporaryDirectory() as folder:
        for attempt in range(repeat):
            with (
                fresh_store(folder, f"floor{attempt}", server) as floor_db,
                fresh_store(folder, f"engine{attempt}", server) as engine_db,
            ):
                prepared_store(floor_db, users, case)
                prepared_store(engine_db, users, case)
                seconds, cpu = floor(floor_db, case)
                floor_times.append(seconds)
                floor_cpu.append(cpu)
                gc.collect()
                reset_peak_rss()  # so that the engine's peak is not the floor's (it holds every row of the batch)
                seconds, cpu, cards = engine_api(engine_db, case)
                engine_times.append(seconds)
                engine_cpu.append(cpu)
                peaks.append(peak_rss())
    figures = {"case": case, "cards": cards, "floor": min(floor_times), "api": min(engine_times), "rss": max(peaks)}
    print(json.dumps({**figures, "floor_cpu": min(floor_cpu), "api_cpu": min(engine_cpu)}))


def one_measure(case: str, users: int, measure: str, server: str | None) -> None:
    """One measure of one case (the floor or the engine through its API) in this fresh process, on a
    fresh store: print its wall and CPU time as JSON (`--interleaved`)."""
    with tempfile.TemporaryDirectory() as folder, fresh_store(folder, measure, server) as store:
        prepared_store(store, users, case)
        gc.collect()
        if measure == "floor":
            seconds, cpu = floor(store, case)
            cards = 0
        else:
            seconds, cpu, cards = engine_api(store, case)
    print(json.dumps({"seconds": seconds, "cpu": cpu, "cards": cards}))


def interleaved(case: str, users: int, rounds: int, server: str | None, with_cli: bool) -> str:
    """The case measured in fresh processes, the floor, the API and the CLI taking turns round by round
    (the order turned each round), so that a machine's slow minute falls on all of them: the ratio of
    the medians and of the bests, in wall and CPU time."""
    times: dict[str, list[tuple[float, float]]] = {"floor": [], "api": [], "cli": []}
    cards = 0
    for number in range(rounds):
        order = ["floor", "api", "cli"] if with_cli else ["floor", "api"]
        for measure in order if number % 2 == 0 else order[::-1]:
            if measure == "cli":
                seconds, cpu, _ = _cli_once(case, users, server)
                times["cli"].append((seconds, cpu))
                continue
            command = [sys.executable, __file__, "--child", case, "--measure", measure, "--users", str(users)]
            output = subprocess.run(command + (["--db", server] if server else []), capture_output=True, text=True, check=True)
            figures = json.loads(output.stdout.strip().splitlines()[-1])
            times[measure].append((figures["seconds"], figures["cpu"]))
            cards = figures["cards"] or cards
    line = f"({case}) {CASES[case][0]} {CASES[case][1] or 'default options'}: {cards} cards, {rounds} rounds"
    for measure in ("api", "cli") if with_cli else ("api",):
        median_wall, median_cpu = (_ratio(times[measure], times["floor"], index, statistics.median) for index in (0, 1))
        best_wall, best_cpu = (_ratio(times[measure], times["floor"], index, min) for index in (0, 1))
        line += (
            f"; {measure.upper()} ratio of medians {median_wall:.2f} (CPU time {median_cpu:.2f}),"
            f" of bests {best_wall:.2f} (CPU time {best_cpu:.2f})"
        )
    return line + f"; floor median {cards / statistics.median(t[0] for t in times['floor']):,.0f} cards/s"


def _ratio(engine: list[tuple[float, float]], floor_times: list[tuple[float, float]], index: int, pick: Any) -> float:
    return float(pick(t[index] for t in engine) / pick(t[index] for t in floor_times))


def reset_peak_rss() -> None:
    """Reset this process's high-water mark of resident memory (Linux: /proc/self/clear_refs)."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def peak_rss() -> float:
    """This process's peak resident memory in MiB since the last reset (VmHWM), else since it started."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cli(case: str, users: int, repeat: int = 1, server: str | None = None) -> tuple[float, float, float]:
    """The case through the command line in a fresh store, `repeat` times: the best wall time, the
    best CPU time and the highest peak RSS (MiB) of the child."""
    runs = [_cli_once(case, users, server) for _ in range(repeat)]
    return min(run[0] for run in runs), min(run[1] for run in runs), max(run[2] for run in runs)


def _cli_once(case: str, users: int, server: str | None) -> tuple[float, float, float]:
    """One run through the command line in a fresh store: wall time, CPU time (user and system)
    and the child's peak RSS (MiB)."""
    process, options = CASES[case]
    with (
        tempfile.TemporaryDirectory() as folder,
        fresh_store(folder, "cli", server) as store,
        issue_case.print_jobs() as print_jobs,
    ):
        prepared_store(store, users, case)
        sets = [arg for name, value in options.items() for arg in ("--set", f"{name}={json.dumps(value)}")]
        # the bureau simulated (it is not called by (d), whose print jobs go to a folder of their own)
        connector = [] if case == "d" else ["--connector", "simulated"]
        command = [str(Path(sys.executable).with_name("cardflow")), "run", process, "--all", "--as", "op1", "--db", store,
                   *connector, *sets]  # fmt: skip
        jobs = {"CARDFLOW_PRINT_JOBS": str(print_jobs), "CARDFLOW_ORDERS": f"{folder}/orders"}
        started = time.perf_counter()
        proc = subprocess.Popen(
            command,
            cwd=folder,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env={**os.environ, "CARDFLOW_NOW": NOW, **jobs},
        )
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - started
        if status != 0:
            raise SystemExit(f"cardflow run failed: {proc.stderr.read().decode() if proc.stderr else ''}")
    return elapsed, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--cases", default="a,b,c,d")
    parser.add_argument("--no-cli", action="store_true")
    parser.add_argument("--repeat", type=int, default=1, help="Run each measure N times on fresh stores and keep the best.")
    parser.add_argument("--record", action="store_true", help="Append the figures to bench/RESULTS.md.")
    parser.add_argument("--db", help="A PostgreSQL server URL (postgresql+psycopg://...): measure on fresh databases there.")
    parser.add_argument("--no-bytecode", action="store_true", help="Remove cardflow's compiled modules: measure from source.")
    parser.add_argument(
        "--interleaved",
        action="store_true",
        help="Measure the floor, the API and the CLI each in a fresh process, taking turns, --repeat rounds; "
        "report the ratios of the medians and of the bests (and the load average before and after).",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--measure", choices=["floor", "api"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child and args.measure:
        one_measure(args.child, args.users, args.measure, args.db)
        return 0
    if args.child:
        child(args.child, args.users, args.repeat, args.db)
        return 0
    lines = [bytecode(compiled=not args.no_bytecode)]
    if args.interleaved:
        return _interleaved_run(args, lines)
    for case in args.cases.split(","):
        output = subprocess.run(
            [sys.executable, __file__, "--child", case, "--users", str(args.users), "--repeat", str(args.repeat)]
            + (["--db", args.db] if args.db else []),
            capture_output=True,
            text=True,
            check=True,
        )
        figures: dict[str, Any] = json.loads(output.stdout.strip().splitlines()[-1])
        cards = figures["cards"]
        line = (
            f"({case}) {CASES[case][0]} {CASES[case][1] or 'default options'}: {cards} cards; "
            f"floor {cards / figures['floor']:,.0f} cards/s; API {cards / figures['api']:,.0f} cards/s, "
            f"ratio {figures['api'] / figures['floor']:.2f} (CPU time {figures['api_cpu'] / figures['floor_cpu']:.2f}); "
            f"peak RSS {figures['rss']:.0f} MiB"
        )
        if not args.no_cli:
            seconds, cpu, rss = cli(case, args.users, args.repeat, args.db)
            ratio, cpu_ratio = seconds / figures["floor"], cpu / figures["floor_cpu"]
            line += (
                f"; CLI {cards / seconds:,.0f} cards/s (start-up included), ratio {ratio:.2f} (CPU time {cpu_ratio:.2f}), "
                f"peak RSS {rss:.0f} MiB"
            )
        print(line, flush=True)
        lines.append(line)
    print(lines[0])
    if args.record:
        record(args.users, lines, args.repeat, "PostgreSQL" if args.db else "SQLite")
    return 0


def _interleaved_run(args: argparse.Namespace, lines: list[str]) -> int:
    before = os.getloadavg()[0]
    for case in args.cases.split(","):
        line = interleaved(case, args.users, max(args.repeat, 3), args.db, not args.no_cli)
        print(line, flush=True)
        lines.append(line)
    lines.append(f"load average (1 min) before {before:.2f}, after {os.getloadavg()[0]:.2f}")
    print(lines[0])
    print(lines[-1])
    if args.record:
        record_section(
            f"{args.users:,} users, {'PostgreSQL' if args.db else 'SQLite'}, interleaved, {max(args.repeat, 3)} rounds", lines
        )
    return 0


def bytecode(*, compiled: bool) -> str:
    """Byte-compile cardflow's modules (as pip does at install), or remove them; the line that says which."""
    import compileall
    import shutil

    folders = [ROOT / "engine", ROOT / "commands"]
    if compiled:
        for folder in folders:
            compileall.compile_dir(folder, quiet=1)
        compileall.compile_file(ROOT / "cli.py", quiet=1)
        return "cardflow's modules byte-compiled first, as pip does at install"
    for cache in [ROOT / "__pycache__", *(path for folder in folders for path in folder.rglob("__pycache__"))]:
        shutil.rmtree(cache, ignore_errors=True)
    return "cardflow's modules without bytecode" + (
        " (PYTHONDONTWRITEBYTECODE is set: compiled from source at every start)" if sys.dont_write_bytecode else ""
    )


def record(users: int, lines: list[str], repeat: int = 1, store: str = "SQLite") -> None:
    best = f", best of {repeat} runs of each measure" if repeat > 1 else ""
    record_section(f"{users:,} users, {store}{best}", lines)


def record_section(title: str, lines: list[str]) -> None:
    """Append figures to bench/RESULTS.md under a heading with the date, the commit and the machine."""
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    machine = f"{platform.node()} {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    heading = f"\n## {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {title}, commit {commit}\n{machine}\n\n"
    with (ROOT / "bench" / "RESULTS.md").open("a", encoding="utf-8") as results:
        results.write(heading + "".join(f"- {line}\n" for line in lines))


if __name__ == "__main__":
    sys.exit(main())
