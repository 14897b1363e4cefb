"""`cardflow diff --population` over a large store: wall time, and proof that nothing was written.

    python bench/diff_population.py --users 100000 [--record]

Builds a store of N active users, then runs `cardflow diff --population
CardsAddonExtProdBoProcOrderMultiple --left <reference> --set CardsAddonExtProdQueue=false` through
the CLI, as a user would, timing it start-up included. The budget (issue "Testers' tools") is under
a minute at 100,000 users; the store's bytes must be the same before and after.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from batch import make_store, record_section  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--record", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        store = Path(folder) / "population.db"
        make_store(store, args.users)
        before = hashlib.sha256(store.read_bytes()).hexdigest()
        command = [
            str(Path(sys.executable).with_name("cardflow")),
            "diff",
            "--population",
            "CardsAddonExtProdBoProcOrderMultiple",
        ]
        command += ["--left", str(ROOT), "--set", "CardsAddonExtProdQueue=false", "--db", str(store), "--json"]
        started = time.perf_counter()
        done = subprocess.run(command, cwd=folder, capture_output=True, text=True)
        elapsed = time.perf_counter() - started
        after = hashlib.sha256(store.read_bytes()).hexdigest()
    report = json.loads(done.stdout)
    line = (
        f"diff --population over {report['compared']:,} users: {elapsed:.1f} s wall (start-up included), "
        f"{report['changed']:,} changed, exit {done.returncode}, store bytes {'unchanged' if before == after else 'CHANGED'}"
    )
    print(line)
    if args.record:
        record_section(f"{args.users:,} users, SQLite", [line])
    return 0 if before == after else 1


if __name__ == "__main__":
    sys.exit(main())
