"""Wall time of `cardflow validate` on the reference workspace, start-up included.

    python bench/validate_time.py [--runs 20]

Runs the installed console script as a user would, from an empty folder, and prints the median
and worst wall time. The budget (DESIGN.md) is 0.5 s.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BUDGET = 0.5


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    runs = parser.parse_args().runs
    script = shutil.which("cardflow") or str(Path(sys.executable).with_name("cardflow"))
    times = []
    with tempfile.TemporaryDirectory() as empty:
        for _ in range(runs):
            started = time.perf_counter()
            subprocess.run([script, "validate"], cwd=empty, check=True, capture_output=True)
            times.append(time.perf_counter() - started)
    median, worst = statistics.median(times), max(times)
    print(f"cardflow validate: median {median:.3f} s, worst {worst:.3f} s over {runs} runs (budget {BUDGET} s)")
    return 0 if median < BUDGET else 1


if __name__ == "__main__":
    sys.exit(main())
