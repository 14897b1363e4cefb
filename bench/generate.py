"""Generating scenarios: time and scenario count, against an exhaustive enumeration of the options.

    python bench/generate.py [--record]

Two workspaces: the shipped one (every batch process), and a synthetic one with one batch process
that reads 10 bool options through 40 transitions (a ladder of 10 states: each step's guards read
two options, a wrong turn fails, every state can be closed, a failed card reopened). For each,
`generate` (a pairwise covering array, every criterion) is timed end to end (search, files written,
each scenario run once for its expectations), and beside it the exhaustive enumeration: a scenario
per combination of the option values, and the time of its search (what `--options all` runs before
writing; on its first SAMPLE combinations when there are more, scaled to all of them: each is
searched alone) with what its paths reach when it was searched whole. The synthetic process is
deliberately deep: a card reaches rung k only where k options hold at once, so a covering array of
low strength cannot reach its upper rungs, and the figures show by how much. `--record` appends the figures to
bench/RESULTS.md. Times are wall seconds of this process; the counts do not depend on the machine.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

sys.path.insert(0, str(ROOT / "tests"))

from ladder_workspace import ladder  # noqa: E402

SAMPLE = 1024  # the exhaustive enumeration's combinations searched, at most, per process


def measure(workspace_root: Path, out: Path) -> list[dict[str, object]]:
    """Per batch process: pairwise generation end to end, and the exhaustive enumeration's count and
    search time (measured on its first SAMPLE combinations when it has more: each is searched alone,
    so the time grows with their number)."""
    from engine.definitions.workspace import load_workspace
    from engine.testing.criteria import CRITERIA
    from engine.testing.generate import plan
    from engine.testing.generated import generate

    workspace = load_workspace(workspace_root).require_valid()
    processes = [p for p in workspace.processes.values() if p.kind == "batch"]
    started = time.perf_counter()
    result = generate(workspace, processes, out, CRITERIA, 2)
    wall = time.perf_counter() - started
    rows = []
    coverage = {entry.process.symbolic_name: entry for entry in result.coverage()}
    for found in result.plans:
        sample = min(found.exhaustive, SAMPLE)
        began = time.perf_counter()
        every = plan(workspace, found.process, CRITERIA, None, sample)
        searched = (time.perf_counter() - began) * found.exhaustive / sample
        rows.append(
            {
                "process": found.process.symbolic_name,
                "options": len(found.domains),
                "transitions": len(found.process.transitions),
                "pairwise scenarios": len({path.row for path in found.paths}),
                "users": len(found.paths),
                "exhaustive scenarios": found.exhaustive,
                "exhaustive search s": round(searched, 1),
                "of which measured": f"{sample} combinations",
                "coverage": entry_shown(coverage, found.process.symbolic_name),
                "exhaustive coverage": every.coverage.shown if sample == found.exhaustive else "not measured (sampled)",
            }
        )
    rows.append({"process": "(all, generated pairwise end to end)", "seconds": round(wall, 1), "files": len(result.files)})
    return rows


def entry_shown(coverage: dict[str, Any], name: str) -> str:
    return str(coverage[name].shown) if name in coverage else "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--record", action="store_true", help="Append the figures to bench/RESULTS.md.")
    args = parser.parse_args()
    lines = []
    with tempfile.TemporaryDirectory(prefix="cardflow-bench-generate-") as folder:
        base = Path(folder)
        for label, root in (
            ("shipped workspace", ROOT),
            ("synthetic: 10 options, 40 transitions", ladder(base / "ladder", 10, 10)),
        ):
            lines.append(f"{label}:")
            for row in measure(root, base / f"out-{len(lines)}"):
                lines.append("  " + ", ".join(f"{key}: {value}" for key, value in row.items()))
    for line in lines:
        print(line)
    if args.record:
        import subprocess

        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
        stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        text = "\n".join(
            [f"\n## {stamp}, generated scenarios (pairwise) against exhaustive enumeration, commit {commit}\n", *lines]
        )
        with (ROOT / "bench" / "RESULTS.md").open("a", encoding="utf-8") as results:
            results.write(text + "\n")


if __name__ == "__main__":
    main()
