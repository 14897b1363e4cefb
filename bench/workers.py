"""Cards per second of a batch worked by 1, 2 and 4 `cardflow worker` processes on PostgreSQL,
against the same batch run by one `cardflow run` process on the same server in the same run.

    python bench/workers.py [--users 20000] [--workers 1,2,4] [--chunk-size N] [--repeat 3] [--db URL] [--record]

Each measure gets a fresh database on the server (`--db` names a server URL, e.g.
postgresql+psycopg://postgres@127.0.0.1:5432/postgres; without it a throw-away server is started
with .ci/postgres) with the users imported (not timed) and a workspace without scheduled jobs, so
only the batch runs. Case (a), the default options (cards queued), through the command line: the
baseline is a plain `cardflow run --all` (start-up included; no `--json`, which would keep and
print every result); a workers' measure starts the workers first (not timed), then times
`cardflow run --all --workers` from its start until it returns, the batch complete. The ratio is
the measure's cards/s over the baseline's; with `--repeat N` the measures take turns (the plain run,
then each count of workers, N rounds) and each figure is the median of its N. The chunk is the
command's own default (8 chunks for each live worker, 2,000 to 10,000 users, the last ones smaller) unless `--chunk-size`
names one. cardflow's modules are byte-compiled first, as `pip install` does for a wheel (and as
bench/batch.py does): an editable checkout would otherwise compile them from source at every start of
the command. Beside it, the CPU a card costs on this machine: the
command's own (wait4), the workers' and the PostgreSQL server's processes' (from /proc, before
and after, the server's processes started meanwhile included; a server on another machine is not
counted), and the cores busy on average (that
CPU over the wall time). `--record` appends the figures to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from batch import bytecode

ROOT = Path(__file__).resolve().parents[1]
CARDFLOW = str(Path(sys.executable).with_name("cardflow"))
ORDER = "CardsAddonExtProdBoProcOrderMultiple"


def fresh_database(server: str) -> str:
    from sqlalchemy import create_engine, text

    name = f"cardflow_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return f"{server.rsplit('/', 1)[0]}/{name}"


def drop_database(server: str, url: str) -> None:
    from sqlalchemy import create_engine, text

    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)'))
    admin.dispose()


def prepare(folder: Path, url: str, users: int) -> dict[str, str]:
    """A folder with a workspace without schedules and `users` card holders in the store at `url`."""
    env = {**os.environ, "CARDFLOW_DB": url, "CARDFLOW_WORKSPACE": str(folder / "ws"), "CARDFLOW_ORDERS": str(folder / "orders")}
    env.pop("CARDFLOW_CONNECTOR", None)
    subprocess.run([CARDFLOW, "init", str(folder / "ws")], check=True, capture_output=True, env=env)
    (folder / "ws" / "schedule.yaml").unlink(missing_ok=True)
    rows = ["id,name,email,state,roles", "op1,Olle,op1@example.com,active,operator"]
    rows += [f"u{i:07d},User {i},u{i}@example.com,active," for i in range(users)]
    (folder / "users.csv").write_text("\n".join(rows) + "\n")
    subprocess.run([CARDFLOW, "users", "import", "users.csv"], cwd=folder, check=True, capture_output=True, env=env)
    return env


def registered(url: str) -> int:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            if connection.execute(text("SELECT to_regclass('procrastinate_workers')")).scalar() is None:
                return 0
            return int(connection.execute(text("SELECT count(*) FROM procrastinate_workers")).scalar_one())
    finally:
        engine.dispose()


def cpu_seconds(pids: list[int]) -> float:
    """The CPU time used so far by these processes and the children they reaped (Linux /proc)."""
    ticks, total = os.sysconf("SC_CLK_TCK"), 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        total += sum(int(value) for value in fields[11:15])  # utime, stime, cutime, cstime
    return total / ticks


def server_pids() -> list[int]:
    """The PostgreSQL server's processes on this machine (its backends included)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() in ("postgres", "postmaster"):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def count_cards(url: str) -> int:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return int(connection.execute(text("SELECT count(*) FROM cards")).scalar_one())
    finally:
        engine.dispose()


def measure(server: str, users: int, workers: int, chunk: int | None) -> tuple[int, float, float]:
    """(cards, seconds, CPU seconds) of one batch: by a plain `cardflow run` (workers 0) or by that many
    workers; the CPU is the command's, the workers' and the server's on this machine."""
    url = fresh_database(server)
    folder = Path(tempfile.mkdtemp(prefix="cardflow-bench-"))
    started: list[subprocess.Popen[bytes]] = []
    try:
        env = prepare(folder, url, users)
        for _ in range(workers):
            with (folder / f"worker{len(started)}.log").open("wb") as log:  # a pipe nobody reads would fill and stop it
                started.append(subprocess.Popen([CARDFLOW, "worker"], cwd=folder, env=env, stderr=log))
        while registered(url) < workers:
            for process in started:
                if process.poll() is not None:
                    said = (folder / f"worker{started.index(process)}.log").read_text(errors="replace").strip()
                    raise SystemExit(f"a worker stopped before it registered: {said[-500:]}")
            time.sleep(0.1)
        command = [CARDFLOW, "run", ORDER, "--all", "--as", "op1"]
        if workers:
            command += ["--workers", *(["--chunk-size", str(chunk)] if chunk else [])]
        others = [process.pid for process in started] + server_pids()
        before = cpu_seconds(others)
        begin = time.perf_counter()
        with (folder / "run.log").open("wb") as log:
            run = subprocess.Popen(command, cwd=folder, env=env, stdout=subprocess.DEVNULL, stderr=log)
        _, status, usage = os.wait4(run.pid, 0)
        seconds = time.perf_counter() - begin
        if status != 0:
            raise SystemExit(f"cardflow run failed: {(folder / 'run.log').read_text(errors='replace').strip()[-500:]}")
        # the server's processes now, those started during the run included (a worker's job may open a
        # connection of its own): one that ended is in its parent's counts, one still running in its own
        used = usage.ru_utime + usage.ru_stime + cpu_seconds(sorted({*others, *server_pids()})) - before
        return count_cards(url), seconds, used
    finally:
        for process in started:
            process.send_signal(signal.SIGTERM)
        for process in started:
            process.wait(timeout=120)
        drop_database(server, url)
        shutil.rmtree(folder, ignore_errors=True)


def own_server() -> tuple[str, Path]:
    folder = Path(tempfile.mkdtemp(prefix="cardflow-bench-pg-"))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    started = subprocess.run([str(ROOT / ".ci" / "postgres"), "start", str(folder), str(port)], capture_output=True, text=True)
    if started.returncode != 0:
        sys.exit(f"cannot start PostgreSQL: {started.stderr.strip()[-300:]}")
    return started.stdout.strip(), folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--chunk-size", type=int, help="users a chunk job (default: the command's, by the workers live)")
    parser.add_argument("--repeat", type=int, default=1, help="rounds, the measures taking turns; medians reported")
    parser.add_argument("--db", help="a PostgreSQL server URL (default: start a throw-away one)")
    parser.add_argument("--record", action="store_true")
    args = parser.parse_args()
    compiled = bytecode(compiled=True)
    server, folder = (args.db, None) if args.db else own_server()
    try:
        lines = figures(server, args.users, [int(n) for n in args.workers.split(",")], args.chunk_size, args.repeat)
    finally:
        if folder is not None:
            subprocess.run([str(ROOT / ".ci" / "postgres"), "stop", str(folder)], capture_output=True)
            shutil.rmtree(folder, ignore_errors=True)
    lines.insert(3, f"- {compiled}")
    print("\n".join(lines))
    if args.record:
        with (ROOT / "bench" / "RESULTS.md").open("a", encoding="utf-8") as results:
            results.write("\n" + "\n".join(lines) + "\n")


def figures(server: str, users: int, counts: list[int], chunk: int | None, repeat: int = 1) -> list[str]:
    measures: dict[int, list[tuple[int, float, float]]] = {count: [] for count in [0, *counts]}
    for _ in range(repeat):
        for count in measures:
            measures[count].append(measure(server, users, count, chunk))
    (cards, seconds, cpu) = _median(measures[0])
    baseline, baseline_cpu = cards / seconds, cpu / cards
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    rounds = f", median of {repeat} rounds taking turns" if repeat > 1 else ""
    sized = f"chunks of {chunk:,}" if chunk else "chunks of the command's default (by the workers live)"
    lines: list[Any] = [
        f"## {stamp}, workers on PostgreSQL, {users:,} users, {sized}{rounds}, commit {commit}",
        f"{platform.node() and 'vm'} {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "",
        f"- one plain `cardflow run` (no workers): {cards} cards in {seconds:.2f} s, {baseline:,.0f} cards/s; "
        f"CPU {baseline_cpu * 1e6:.0f} µs a card, {cpu / seconds:.2f} cores busy",
    ]
    for count in counts:
        cards, seconds, cpu = _median(measures[count])
        rate = cards / seconds
        lines.append(
            f"- {count} worker(s): {cards} cards in {seconds:.2f} s, {rate:,.0f} cards/s, ratio {rate / baseline:.2f}; "
            f"CPU {cpu / cards * 1e6:.0f} µs a card ({cpu / cards / baseline_cpu:.2f}x the plain run's), "
            f"{cpu / seconds:.2f} cores busy"
        )
    lines.append(f"- load average (1 min) after: {os.getloadavg()[0]:.2f}")
    return lines


def _median(measured: list[tuple[int, float, float]]) -> tuple[int, float, float]:
    """The cards, and the median wall and CPU seconds, of a measure's rounds."""
    return measured[0][0], statistics.median(m[1] for m in measured), statistics.median(m[2] for m in measured)


if __name__ == "__main__":
    main()
