"""The read side on a big store: memory and time of the listings and of `explain`.

    python bench/read_side.py [--users 1000000] [--store PATH] [--record]

Builds (unless --store names one) a store of N users, each with a card, its audit row, its
order and its "card ordered" email, made by the engine itself (`cardflow run` with the queue off
and the email on, case (b) of bench/batch.py), then runs `cardflow cards --json`,
`cardflow outbox --json`, `cardflow explain CARD` and `cardflow batches` against it, each in a
process of its own with its output to /dev/null: wall time (start-up included) and peak RSS
(the child's, from wait4). `explain` is also timed in this process, without start-up (the
median of 20 calls of `card_story` on cards spread over the store). Budgets (issue 14): every
peak RSS under 100 MiB, `explain` under 100 ms. `--record` appends the figures to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
CARDFLOW = str(Path(sys.executable).with_name("cardflow"))
SETS = ["--set", "CardsAddonExtProdQueue=false", "--set", "CardsAddonExtProdOrderedEmail=true"]


def build(store: Path, users: int) -> tuple[float, float]:
    """A store of `users` users with a card, audit row, order and email each: the wall time and
    the peak RSS (MiB) of the batch that made them (case b at this size, through the CLI)."""
    from batch import NOW, make_store

    make_store(store, users)
    command = [CARDFLOW, "run", "CardsAddonExtProdBoProcOrderMultiple", "--all", "--as", "op1", "--db", str(store)]
    started = time.perf_counter()
    with open(os.devnull, "wb") as sink:
        process = subprocess.Popen([*command, "--connector", "simulated", *SETS], stdout=sink, stderr=sink,
                                   env={**os.environ, "CARDFLOW_NOW": NOW}, cwd=store.parent)  # fmt: skip
        _, status, usage = os.wait4(process.pid, 0)
    if status != 0:
        raise SystemExit("cardflow run failed")
    return time.perf_counter() - started, usage.ru_maxrss / 1024


def child(args: list[str], store: Path) -> tuple[float, float]:
    """`cardflow ARGS --db STORE` in a process of its own: wall time and peak RSS (MiB)."""
    started = time.perf_counter()
    with open(os.devnull, "wb") as sink:
        process = subprocess.Popen([CARDFLOW, *args, "--db", str(store)], stdout=sink, stderr=subprocess.PIPE, cwd=store.parent)
        _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - started
    if status != 0:
        raise SystemExit(f"cardflow {' '.join(args)} failed: {process.stderr.read().decode() if process.stderr else ''}")
    return elapsed, usage.ru_maxrss / 1024


def explain_in_process(store: Path, cards: int) -> float:
    """The median time of `card_story` (the work of `explain`, without start-up) over cards spread over the store."""
    from engine.report.explain import card_story
    from engine.store.db import connect, reading

    engine = connect(str(store))
    times = []
    with reading(engine) as connection:
        for card in range(1, cards + 1, max(1, cards // 20)):
            started = time.perf_counter()
            card_story(connection, card)
            times.append(time.perf_counter() - started)
    engine.dispose()
    return statistics.median(times)


def _verdict(met: bool) -> str:
    return "met" if met else "NOT met"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--store", type=Path, help="Use this store (made by an earlier run) instead of building one.")
    parser.add_argument("--record", action="store_true", help="Append the figures to bench/RESULTS.md.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        store = args.store or Path(folder) / "big.db"
        lines = []
        if args.store is None:
            seconds, rss = build(store, args.users)
            lines.append(
                f"store made by `cardflow run` for {args.users:,} users, case (b): {seconds:.0f} s wall, "
                f"{args.users / seconds:,.0f} cards/s; peak RSS {rss:.0f} MiB (budget 150 MiB: {_verdict(rss < 150)})"
            )
        from engine.store.db import connect

        engine = connect(str(store))
        with engine.connect() as connection:
            cards = int(connection.exec_driver_sql("select count(*) from cards").scalar_one())
            emails = int(connection.exec_driver_sql("select count(*) from outbox").scalar_one())
        engine.dispose()
        lines.append(f"{cards:,} cards, {emails:,} emails, store {store.stat().st_size / 2**20:,.0f} MiB")
        load = os.getloadavg()[0]
        for command in (["cards", "--json"], ["outbox", "--json"], ["explain", str(cards // 2)], ["batches"]):
            seconds, rss = child(command, store)
            verdict = "met" if rss < 100 else "NOT met"
            lines.append(
                f"`cardflow {' '.join(command)}`: {seconds:.2f} s wall (start-up included), peak RSS {rss:.0f} MiB ({verdict})"
            )
        story = explain_in_process(store, cards)
        lines.append(f"`explain` without start-up (card_story, median of 20 cards): {story * 1000:.1f} ms "
                     f"({'met' if story < 0.1 else 'NOT met'})")  # fmt: skip
        lines.append(f"load average before: {load:.2f}, after: {os.getloadavg()[0]:.2f}")
    print("\n".join(lines))
    if args.record:
        from batch import record_section

        record_section(f"read side, {cards:,} cards", lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
