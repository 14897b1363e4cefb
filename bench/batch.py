"""Batch throughput and memory against a hand-written floor, each measured in fresh processes, taking turns.

    python bench/batch.py --users 100000 [--cases a,b,c,d] [--no-cli] [--repeat N] [--record]
                          [--db postgresql+psycopg://USER@HOST:PORT/DB] [--no-bytecode]

Cases: (a) CardsAddonExtProdBoProcOrderMultiple with the default options (queue on),
(b) the same with the queue off and the "card ordered" email (each card a call to the bureau and
an email), (c) CardsBoProcRequestMulitple, (d) CardsBoProcIssueMultiple over one approved card per
user, each issue writing a print job file through the outbox. The floors are what a competent
engineer would write by hand today for the same rows and guarantees: bench/floors.py for (a) to
(c) (chunked commits, the engine's renderer, rows of the engine's sizes), bench/issue_case.py for
(d). The bureau is simulated everywhere (it accepts every order and writes nothing), so no case
measures a network.

Each round runs the floor, the engine through its public API and the engine through the CLI
(`cardflow run --all`, start-up of Python, the imports and the workspace included), each in a
fresh process of its own on a fresh store, the order turned each round, so that a machine's slow
minute falls on all three; `--repeat N` rounds (at least 3). A case's line gives the ratio of the
medians and of the bests over the rounds, in wall time and in CPU time (the process's own user and
system time; the CLI's from wait4: on a machine shared with other work the wall time also counts
the waits for a core), the engine's peak RSS (the API's high-water mark after its store was
prepared, the CLI process's own), and the load average before and after. `--record` appends the
figures to bench/RESULTS.md.

cardflow's own modules are byte-compiled first, as `pip install` does for a wheel, so that the
CLI's start-up is an installed cardflow's (where PYTHONDONTWRITEBYTECODE is set, as on the
machine of these figures, an editable checkout would otherwise compile them from source at every
start, about 60 ms); `--no-bytecode` removes the compiled files and measures that instead.

With `--db URL` of a PostgreSQL server, every store is a fresh database created on that server for
the measure and dropped after it, and the floor writes with COPY, by chunk. The CPU time is then
the client's alone (floor, API or CLI): the server's work is in the wall time only.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import multiprocessing
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import floors  # noqa: E402 (bench/floors.py, beside this script)
import issue_case  # noqa: E402

CASES = {
    "a": ("CardsAddonExtProdBoProcOrderMultiple", {}),
    "b": ("CardsAddonExtProdBoProcOrderMultiple", {"CardsAddonExtProdQueue": False, "CardsAddonExtProdOrderedEmail": True}),
    "c": ("CardsBoProcRequestMulitple", {}),
    "d": ("CardsBoProcIssueMultiple", {}),
}
NOW = "2026-11-21T09:00:00Z"


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
    """The store a case starts from (not timed): the users, and for (d) an approved card for each, made
    by "Request multiple cards" in a process of its own (so that the measure's peak memory is its own,
    not what the preparation left behind in this process)."""
    make_store(location, users)
    if case == "d":
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as child:
            child.submit(engine_api, location, "c").result()


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


def floor(location: str, case: str, jobs: Path | None = None) -> tuple[float, float]:
    """The same work by hand (bench/floors.py; case (d): bench/issue_case.py, its print jobs written
    into `jobs`): the wall and CPU time."""
    if case == "d" and "://" in location:
        raise SystemExit("case (d) has a floor for SQLite only: measure it without --db")
    if case == "d":
        return issue_case.floor(location, _print_jobs(jobs))[:2]
    return floors.floor(location, case)


def engine_api(location: str, case: str, jobs: Path | None = None) -> tuple[float, float, int]:
    """The engine through its public API (case (d): its print jobs written into `jobs`): the wall and
    CPU time, and the number of cards made (issued: (d))."""
    if case == "d":
        return issue_case.engine_api(location, _print_jobs(jobs))
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


def _print_jobs(jobs: Path | None) -> Path:
    if jobs is None:
        raise ValueError("case (d) writes print jobs: give it a folder for them (issue_case.print_jobs())")
    return jobs


def one_measure(case: str, users: int, measure: str, server: str | None) -> None:
    """One measure of one case (the floor or the engine through its API) in this fresh process, on a
    fresh store: print its wall and CPU time, its cards and its peak RSS (MiB) as JSON. The peak is
    read before the print jobs' folder is removed: listing a million files to remove them is the
    harness's memory (170 MiB at 1,000,000), not the measure's."""
    with (
        tempfile.TemporaryDirectory() as folder,
        fresh_store(folder, measure, server) as store,
        issue_case.print_jobs() as jobs,
    ):
        prepared_store(store, users, case)
        gc.collect()
        reset_peak_rss()  # the measure's high-water mark, not the preparation's
        if measure == "floor":
            seconds, cpu = floor(store, case, jobs)
            cards = 0
        else:
            seconds, cpu, cards = engine_api(store, case, jobs)
        rss = peak_rss()
    print(json.dumps({"seconds": seconds, "cpu": cpu, "cards": cards, "rss": rss}))


def interleaved(case: str, users: int, rounds: int, server: str | None, with_cli: bool) -> str:
    """The case measured in fresh processes, the floor, the API and the CLI taking turns round by round
    (the order turned each round): the ratios of the medians and of the bests, in wall and CPU time."""
    times: dict[str, list[tuple[float, float]]] = {"floor": [], "api": [], "cli": []}
    peaks: dict[str, list[float]] = {"floor": [], "api": [], "cli": []}
    cards = 0
    for number in range(rounds):
        order = ["floor", "api", "cli"] if with_cli else ["floor", "api"]
        for measure in order if number % 2 == 0 else order[::-1]:
            if measure == "cli":
                seconds, cpu, rss = _cli_once(case, users, server)
            else:
                command = [sys.executable, __file__, "--child", case, "--measure", measure, "--users", str(users)]
                output = subprocess.run(
                    command + (["--db", server] if server else []), capture_output=True, text=True, check=True
                )
                figures = json.loads(output.stdout.strip().splitlines()[-1])
                seconds, cpu, rss = figures["seconds"], figures["cpu"], figures["rss"]
                cards = figures["cards"] or cards
            times[measure].append((seconds, cpu))
            peaks[measure].append(rss)
    line = f"({case}) {CASES[case][0]} {CASES[case][1] or 'default options'}: {cards} cards, {rounds} rounds"
    for measure in ("api", "cli") if with_cli else ("api",):
        median_wall, median_cpu = (ratio(times[measure], times["floor"], index, statistics.median) for index in (0, 1))
        best_wall, best_cpu = (ratio(times[measure], times["floor"], index, min) for index in (0, 1))
        median = cards / statistics.median(t[0] for t in times[measure])
        line += (
            f"; {measure.upper()} {median:,.0f} cards/s, ratio of medians {median_wall:.2f} (CPU time {median_cpu:.2f}),"
            f" of bests {best_wall:.2f} (CPU time {best_cpu:.2f}), peak RSS {max(peaks[measure]):.0f} MiB"
        )
    return line + f"; floor median {cards / statistics.median(t[0] for t in times['floor']):,.0f} cards/s"


def ratio(engine: list[tuple[float, float]], floor_times: list[tuple[float, float]], index: int, pick: Any) -> float:
    """The engine's time over the floor's, each `pick`ed (median, min) of its rounds; `index` 0 wall, 1 CPU."""
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
    parser.add_argument("--no-cli", action="store_true", help="Measure the floor and the API only.")
    parser.add_argument("--repeat", type=int, default=3, help="Rounds (at least 3): the floor, the API and the CLI once each.")
    parser.add_argument("--record", action="store_true", help="Append the figures to bench/RESULTS.md.")
    parser.add_argument("--db", help="A PostgreSQL server URL (postgresql+psycopg://...): measure on fresh databases there.")
    parser.add_argument("--no-bytecode", action="store_true", help="Remove cardflow's compiled modules: measure from source.")
    parser.add_argument(
        "--floor-inserts",
        choices=["executemany", "alike"],
        default="executemany",
        help="How the SQLite floors of (a), (b), (c) insert rows: executemany (the floor of the budgets), or rows alike in one"
        " statement as the engine does (bench/floors.py).",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--measure", choices=["floor", "api"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        one_measure(args.child, args.users, args.measure, args.db)
        return 0
    unknown = [case for case in args.cases.split(",") if case not in CASES]
    if unknown:
        parser.error(f"--cases: no case {', '.join(unknown)} (the cases: {', '.join(CASES)})")
    os.environ["BENCH_FLOOR_INSERTS"] = args.floor_inserts  # the floors' processes read it
    lines = [bytecode(compiled=not args.no_bytecode)]
    if args.floor_inserts == "alike":
        lines.append("the SQLite floors of (a), (b), (c) insert rows alike in one statement (--floor-inserts alike)")
    before, rounds = os.getloadavg()[0], max(args.repeat, 3)
    for case in args.cases.split(","):
        line = interleaved(case, args.users, rounds, args.db, not args.no_cli)
        print(line, flush=True)
        lines.append(line)
    lines.append(f"load average (1 min) before {before:.2f}, after {os.getloadavg()[0]:.2f}")
    print(lines[0])
    print(lines[-1])
    if args.record:
        store = "PostgreSQL" if args.db else "SQLite"
        record_section(f"{args.users:,} users, {store}, interleaved in fresh processes, {rounds} rounds", lines)
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


def record_section(title: str, lines: list[str]) -> None:
    """Append figures to bench/RESULTS.md under a heading with the date, the commit and the machine."""
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    machine = f"{platform.node()} {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    heading = f"\n## {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {title}, commit {commit}\n{machine}\n\n"
    with (ROOT / "bench" / "RESULTS.md").open("a", encoding="utf-8") as results:
        results.write(heading + "".join(f"- {line}\n" for line in lines))


if __name__ == "__main__":
    sys.exit(main())
