"""Start-up: the median wall time of short commands, beside `python -c pass`, in interleaved runs.

    python bench/startup.py [--runs 20] [--record] [--no-bytecode]

Each round runs every command once, in turn (`python -c pass`, `cardflow --help`, `validate`,
`options`, `processes`, `cards` on a small store, and `validate` with the workspace cache off, as
after an edit of the workspace), so a busy machine slows them alike; the
figures are the medians over the rounds, in wall time and in CPU time (the child's user and
system time, from wait4: on a shared machine it does not count the waits for a core). The
commands use a workspace cache of their own ($CARDFLOW_CACHE in a temporary folder), filled by one
round before the timed ones, and cardflow's modules are byte-compiled first as `pip install` does
(`--no-bytecode`: from source, see bench/batch.py). Budgets (issue 14): `validate` under 150 ms, `cards` under 250 ms.
`--record` appends the figures to bench/RESULTS.md.
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
CARDFLOW = str(Path(sys.executable).with_name("cardflow"))
BUDGETS = {"validate": 0.150, "cards": 0.250}


def commands(store: Path) -> dict[str, list[str]]:
    return {
        "python -c pass": [sys.executable, "-c", "pass"],
        "--help": [CARDFLOW, "--help"],
        "validate": [CARDFLOW, "validate"],
        "options": [CARDFLOW, "options"],
        "processes": [CARDFLOW, "processes"],
        "cards": [CARDFLOW, "cards", "--db", str(store)],
        "validate, cache off": [CARDFLOW, "validate"],
    }


def small_store(folder: Path) -> Path:
    """A store with a few users and cards (not timed)."""
    users = folder / "users.csv"
    users.write_text("id,name,email,state,roles\nop1,Olle,op1@example.com,active,operator\n"
                     + "".join(f"u{i},User {i},u{i}@example.com,active,\n" for i in range(20)))  # fmt: skip
    store = folder / "small.db"
    for args in (["users", "import", str(users)], ["run", "CardsBoProcRequestMulitple", "--all", "--as", "op1"]):
        subprocess.run([CARDFLOW, *args, "--db", str(store)], cwd=folder, check=True, capture_output=True)
    return store


def measure(runs: int) -> dict[str, tuple[float, float]]:
    """The median wall time and the median CPU time (user and system, s) of each command over
    `runs` interleaved rounds."""
    with tempfile.TemporaryDirectory() as folder:
        listed = commands(small_store(Path(folder)))
        times: dict[str, list[tuple[float, float]]] = {name: [] for name in listed}
        env = {key: value for key, value in os.environ.items() if not key.startswith("CARDFLOW_")}
        env["CARDFLOW_CACHE"] = str(Path(folder) / "cache")
        for round in range(runs + 1):  # the first round fills the cache and is not counted
            for name, command in listed.items():
                started = time.perf_counter()
                chosen = {**env, "CARDFLOW_CACHE": "off"} if name.endswith("cache off") else env
                process = subprocess.Popen(command, cwd=ROOT, env=chosen, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                _, status, usage = os.wait4(process.pid, 0)
                if status != 0:
                    raise SystemExit(f"{name} failed")
                if round:
                    times[name].append((time.perf_counter() - started, usage.ru_utime + usage.ru_stime))
    return {
        name: (statistics.median(t[0] for t in values), statistics.median(t[1] for t in values)) for name, values in times.items()
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--record", action="store_true", help="Append the figures to bench/RESULTS.md.")
    parser.add_argument("--no-bytecode", action="store_true", help="Remove cardflow's compiled modules: measure from source.")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "bench"))
    from batch import bytecode

    compiled = bytecode(compiled=not args.no_bytecode)
    load = os.getloadavg()[0]
    medians = measure(args.runs)
    base = medians["python -c pass"][0]
    lines = [compiled]
    for name, (seconds, cpu) in medians.items():
        budget = BUDGETS.get(name)
        verdict = f" (budget {budget * 1000:.0f} ms: {'met' if seconds <= budget else 'NOT met'})" if budget else ""
        lines.append(
            f"`{name}`: {seconds * 1000:.0f} ms wall, {seconds / base:.1f}x `python -c pass`; {cpu * 1000:.0f} ms CPU{verdict}"
        )
    lines.append(f"load average before: {load:.2f}, after: {os.getloadavg()[0]:.2f}")
    print("\n".join(lines))
    if args.record:
        from batch import record_section

        record_section(f"start-up, median of {args.runs} interleaved runs", lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
