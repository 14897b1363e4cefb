"""What arming timers adds to a batch, measured by turning it off and on, each run in a fresh process.

    python bench/arming.py [--users 100000] [--repeat 5] [--record]

Case (c) of bench/batch.py ("Request multiple cards") with the approval on, so that every card
enters `requested` and arms its reminder (and its escalation, when the options turn it on), run on
a fresh store with the reference workspace and with a copy whose `requested` declares no timers.
Each run is a fresh process of its own (the first batch of a process pays for what the later ones
find loaded: until 2026-12-04 the runs took turns in one process, and the figure swung from -19% to
+25% with which of the two ran first); the two take turns for `--repeat` rounds (the order turned
each round). The figure is the ratio of the medians, in CPU time and in wall time: what arming costs
the batch (budget: at most +10%). `--record` appends it to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from batch import make_store, record_section  # noqa: E402

REQUEST = "CardsBoProcRequestMulitple"
OPTIONS = {"CardsBatchRequestApproval": True}
#: The `timers:` list of state `requested` in the lifecycle of REQUEST (up to the next state).
TIMERS = re.compile(r"(?m)^    timers:\n(?:^      .*\n|^        .*\n)+(?=^  approved:)")


def untimed(folder: Path) -> Path:
    """A copy of the reference workspace whose waiting requests arm no timer."""
    for name in ("processes", "lifecycles", "rules", "templates"):
        shutil.copytree(ROOT / name, folder / name)
    for name in ("roles.yaml", "calendar.yaml", "connectors.yaml"):
        shutil.copy2(ROOT / name, folder / name)
    path = folder / "lifecycles" / "CardRequest.yaml"
    text, found = TIMERS.subn("", path.read_text(encoding="utf-8"))
    assert found == 1, "the timers of `requested` were not found"
    path.write_text(text, encoding="utf-8")
    return folder


def measure(location: str, workspace: Path, users: int) -> tuple[float, float, int]:
    """One batch over `users` users on a fresh store: wall and CPU seconds, and the timers it armed."""
    from sqlalchemy import text

    from engine.batch.request import RunRequest, Selection
    from engine.batch.run import run_batch
    from engine.definitions.workspace import load_workspace
    from engine.outbound.bureau import Simulated
    from engine.store.db import connect

    make_store(location, users)
    found = load_workspace(workspace)
    engine = connect(location)
    started, cpu = time.perf_counter(), time.process_time()
    run_batch(found, engine, RunRequest(REQUEST, "op1", Selection(all=True), OPTIONS), Simulated(), keep_results=False)
    elapsed, used = time.perf_counter() - started, time.process_time() - cpu
    with engine.connect() as connection:
        armed = connection.execute(text("select count(*) from timers")).scalar_one()
    engine.dispose()
    return elapsed, used, armed


def one_measure(workspace: Path, users: int) -> None:
    """One batch in this fresh process, on a fresh store: print its wall and CPU time and its timers as JSON."""
    with tempfile.TemporaryDirectory() as folder:
        elapsed, used, armed = measure(str(Path(folder) / "measure.db"), workspace, users)
    print(json.dumps({"seconds": elapsed, "cpu": used, "armed": armed}))


def interleaved(workspaces: dict[str, Path], users: int, rounds: int) -> dict[str, list[tuple[float, float, int]]]:
    """The batch with and without timers, each run in a fresh process, taking turns (the order turned each round)."""
    runs: dict[str, list[tuple[float, float, int]]] = {"timed": [], "untimed": []}
    for round_ in range(rounds):
        for name in ("timed", "untimed") if round_ % 2 == 0 else ("untimed", "timed"):
            command = [sys.executable, __file__, "--child", str(workspaces[name]), "--users", str(users)]
            output = subprocess.run(command, capture_output=True, text=True, check=True)
            figures = json.loads(output.stdout.strip().splitlines()[-1])
            runs[name].append((figures["seconds"], figures["cpu"], figures["armed"]))
    return runs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5, help="Rounds (at least 3): the batch with and without timers once each.")
    parser.add_argument("--record", action="store_true", help="Append the figures to bench/RESULTS.md.")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        one_measure(Path(args.child), args.users)
        return 0
    if args.repeat < 3:
        parser.error("--repeat: at least 3 rounds")
    with tempfile.TemporaryDirectory() as folder:
        runs = interleaved({"timed": ROOT, "untimed": untimed(Path(folder) / "ws")}, args.users, args.repeat)
    assert all(armed == 0 for _, _, armed in runs["untimed"]) and all(armed > 0 for _, _, armed in runs["timed"])

    def median(name: str, part: int) -> float:
        return statistics.median(run[part] for run in runs[name])

    cpu, wall = (median("timed", part) / median("untimed", part) for part in (1, 0))
    line = (
        f"arming: case (c) with the approval on, {args.users:,} users, {runs['timed'][0][2]:,} timers armed; "
        f"median CPU {median('untimed', 1):.2f} s without timers, {median('timed', 1):.2f} s with: {cpu - 1:+.1%} "
        f"(wall {wall - 1:+.1%}), {args.repeat} rounds, each run in a fresh process"
    )
    print(line)
    if args.record:
        record_section(f"arming timers, {args.users:,} users, SQLite", [line])
    return 0


if __name__ == "__main__":
    sys.exit(main())
