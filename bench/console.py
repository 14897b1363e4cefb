"""The console's budgets (DESIGN.md, issue "Run it in production"): first page under 1 s after start;
a Search page over 100,000 users, a Cards page and the Incidents page over 1,000,000 cards under 200 ms.

    python bench/console.py [--users 100000] [--cards 1000000] [--runs 5] [--record]

Makes a store of N users (a tenth of them inactive, five departments) in a temporary folder, sets
an operator's password, then:
- start-up: runs `cardflow serve` as a user would and times from the spawn until GET /login
  answers 200, best and median of --runs starts; the baseline is `python -c pass` (interpreter
  start) measured the same way, so the ratio says what cardflow adds;
- search: logs in over HTTP and times the BATCH ORDERS search page (a page of 50 users with the
  total) for: everyone, a department, a name part, a department and state, and the last page;
  best of --runs each, against GET /login (the page with no store read)
  as the baseline in the same server;
- cards: the same for the Cards page (the first page, a state, a process newest first, the last
  page, a day's moves) and the Incidents page over N cards of "Order multiple cards": half of them
  active with an expiry timer armed, a tenth each processing, ordered, produced and aborted, and the
  rest failed (each with the move that failed it), locked or expired; moved over two years.
`--record` appends the figures to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

import httpx2 as httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.store import accounts  # noqa: E402
from engine.store.queries import open_store, upsert_users  # noqa: E402

START_BUDGET, SEARCH_BUDGET = 1.0, 0.200
ORDER = "CardsAddonExtProdBoProcOrderMultiple"
#: Of every 100 cards, how many are in each state.
SHARES = {"active": 50, "processing": 10, "ordered": 10, "produced": 10, "aborted": 10, "failed": 4, "locked": 3, "expired": 3}
CHUNK = 50_000
DEPARTMENTS = ["Sales", "Support", "Engineering", "Finance", "HR"]
SEARCH = "/batch/CardsAddonExtProdBoProcOrderMultiple"


def make_store(path: Path, users: int) -> None:
    engine = open_store(str(path))
    rows = [
        {
            "id": f"u{n:07d}",
            "name": f"User {n:07d} Name{n % 997}",
            "email": f"u{n}@example.com",
            "state": "inactive" if n % 10 == 0 else "active",
            "roles": "[]",
            "attributes": json.dumps({"department": DEPARTMENTS[n % 5]}),
            "updated_at": "2026-01-01T00:00:00Z",
        }
        for n in range(users)
    ]
    rows.append({**rows[0], "id": "op1", "name": "Olle Operator", "roles": '["operator"]', "state": "active"})
    with engine.begin() as connection:
        upsert_users(connection, rows)
        accounts.set_password(connection, "op1", "benchmark password")
    engine.dispose()


def add_cards(path: Path, count: int) -> None:
    """`count` cards in the shares of `SHARES`, moved over two years; a failed card has the move that
    failed it, an active one its expiry timer."""
    from sqlalchemy import insert

    from engine.store import db

    states = [state for state, share in SHARES.items() for _ in range(share)]
    engine = open_store(str(path))
    with engine.begin() as connection:
        for first in range(0, count, CHUNK):
            numbers = range(first, min(first + CHUNK, count))
            cards, moves, timers = [], [], []
            for n in numbers:
                state, day = states[n % 100], f"{2025 + n * 2 // count}-{n % 12 + 1:02d}-{n % 28 + 1:02d}T12:00:00Z"
                cards.append(
                    {"id": n + 1, "user_id": f"u{n:07d}", "process": ORDER, "state": state, "open": state != "aborted",
                     "requester": "op1", "batch_id": f"B{n // 10_000:04d}", "created_at": day, "updated_at": day,
                     }
                )  # fmt: skip
                if state == "failed":
                    moves.append(
                        {"card_id": n + 1, "process": ORDER, "trigger": "sync", "source": "ordered", "dest": "failed",
                         "actor": "system", "at": day, "fingerprint": "f", "decision_id": "d", "reason": "no such layout"}
                    )  # fmt: skip
                if state == "active":
                    timers.append(
                        {"card_id": n + 1, "process": ORDER, "state": state, "timer": 0, "location": "x:1", "trigger": "expire",
                         "due_at": "2030-01-01T00:00:00Z", "status": "armed", "armed_at": day}
                    )  # fmt: skip
            for table, rows in ((db.cards, cards), (db.transitions, moves), (db.timers, timers)):
                if rows:
                    connection.execute(insert(table), rows)
    engine.dispose()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_server(database: Path) -> tuple[subprocess.Popen[bytes], str, float]:
    """Spawn `cardflow serve`; the process, its URL and the seconds until /login answered."""
    port = free_port()
    command = [str(Path(sys.executable).parent / "cardflow"), "serve", "--port", str(port), "--db", str(database)]
    started = time.perf_counter()
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ})
    url = f"http://127.0.0.1:{port}"
    while True:
        try:
            if httpx.get(f"{url}/login", timeout=2).status_code == 200:
                return server, url, time.perf_counter() - started
        except httpx.TransportError:
            time.sleep(0.005)
        if server.poll() is not None:
            raise SystemExit("cardflow serve ended before answering")


def interpreter_start(runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        times.append(time.perf_counter() - started)
    return min(times)


def log_in(client: httpx.Client) -> None:
    token = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text)
    assert token
    answer = client.post("/login", data={"user": "op1", "password": "benchmark password", "csrf": token.group(1)})
    assert answer.status_code == 303, answer.text


def best_of(client: httpx.Client, path: str, runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        answer = client.get(path)
        times.append(time.perf_counter() - started)
        assert answer.status_code == 200, answer.text[:300]
    return min(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--cards", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--record", action="store_true")
    options = parser.parse_args()
    lines = []
    with tempfile.TemporaryDirectory() as folder:
        database = Path(folder) / "bench.db"
        make_store(database, options.users)
        add_cards(database, options.cards)
        starts, cpu = [], []
        for _ in range(options.runs):
            server, url, seconds = start_server(database)
            starts.append(seconds)
            server.terminate()
            _, _, usage = os.wait4(server.pid, 0)  # the CPU the server used: start-up, one page, stopping
            server.returncode = 0
            cpu.append(usage.ru_utime + usage.ru_stime)
        baseline = interpreter_start(options.runs)
        lines.append(
            f"- start-up to first page: best {min(starts):.3f} s, median {statistics.median(starts):.3f} s wall over "
            f"{options.runs} starts (budget {START_BUDGET} s), CPU {min(cpu):.3f} s; interpreter start {baseline:.3f} s, "
            f"ratio {min(starts) / baseline:.1f}; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
        )
        server, url, _ = start_server(database)
        try:
            # a connection per request: the client's keep-alive requests each waited ~40 ms for a
            # delayed ACK (GET /login: 45 ms over keep-alive, 2-4 ms on a fresh connection or with curl)
            with httpx.Client(base_url=url, limits=httpx.Limits(max_keepalive_connections=0)) as client:
                log_in(client)
                base = best_of(client, "/login", options.runs)
                searches = {
                    "everyone": {},
                    "department Sales": {"department": "Sales"},
                    "name part 'name99'": {"name": "name99"},
                    "Support and inactive": {"department": "Support", "state": "inactive"},
                    "the last page": {"before": "last"},
                }
                for label, params in searches.items():
                    path = f"{SEARCH}?" + urllib.parse.urlencode({"searched": "1", **params})
                    seconds = best_of(client, path, options.runs)
                    lines.append(
                        f"- Search page over {options.users:,} users, {label}: {seconds * 1000:.0f} ms "
                        f"(budget {SEARCH_BUDGET * 1000:.0f} ms); /login in the same server {base * 1000:.1f} ms, "
                        f"ratio {seconds / base:.0f}"
                    )
                pages = {
                    "Cards, the first page": "/cards",
                    "Cards in state failed": "/cards?state=failed",
                    "Cards of a process, newest first": f"/cards?process={ORDER}&order=newest",
                    "Cards, the last page": "/cards?before=last",
                    "Cards moved on one day": "/cards?updated_from=2025-06-15&updated_to=2025-06-15",
                    "Cards failed for one reason": "/cards?state=failed&reason=no+such+layout",
                    "Incidents": "/incidents",
                }
                for label, path in pages.items():
                    seconds = best_of(client, path, options.runs)
                    lines.append(
                        f"- {label} over {options.cards:,} cards: {seconds * 1000:.0f} ms "
                        f"(budget {SEARCH_BUDGET * 1000:.0f} ms); /login {base * 1000:.1f} ms, ratio {seconds / base:.0f}"
                    )
        finally:
            server.terminate()
            server.wait()
    print("\n".join(lines))
    if options.record:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT).stdout.strip()
        stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
        header = (
            f"\n## {stamp}, the console over {options.users:,} users and {options.cards:,} cards, commit {commit}\n{machine}\n\n"
        )
        with (ROOT / "bench" / "RESULTS.md").open("a", encoding="utf-8") as results:
            results.write(header + "\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
