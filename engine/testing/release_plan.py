"""What publishing a workspace would change, planned against the store's real cards and users before
it goes live (Terraform's plan): its files and option values against the live release, the open
cards it would strand (and where its release.yaml moves them), the cards in states whose timers it
changes, and, for each process that creates cards, the outcome diff on a sample of the store's users.

A plan is written to a file (`publish --plan --out FILE`) and published exactly (`--plan-file`),
refused once the workspace, the live release or the store's cards and users changed since.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine

from engine.batch.over_cards import creates_cards
from engine.batch.request import Selection
from engine.definitions.model import Workspace
from engine.definitions.release_moves import read_moves
from engine.errors import CardflowError, Refused, UsageError
from engine.releases.compare import Comparison, compare, comparison_lines
from engine.releases.contents import address, workspace_files
from engine.releases.live import release_workspace
from engine.releases.stranding import Stranded, stranded, timers_changed
from engine.store import queries, releases
from engine.store.queries import Row
from engine.store.releases import LIVE
from engine.testing.diff import diff_population

NONE: tuple[str, dict[str, bytes]] = ("(none)", {})  # the side before the first release
SAMPLE = 100  # users of the store each process is planned for on both sides


@dataclass
class ReleasePlan:
    """A workspace planned against the live release and the store (`store`: the store's mark then)."""

    release: str
    live: str | None
    store: str
    comparison: Comparison
    stranded: list[Stranded] = field(default_factory=list)
    timers: list[Row] = field(default_factory=list)  # {process, state, cards, before, after}: timers changed
    population: list[Row] = field(default_factory=list)  # {process, compared, changed, summary}

    @property
    def same(self) -> bool:
        return self.comparison.same

    def as_json(self) -> Row:
        return {
            "release": self.release,
            "live": self.live,
            "store": self.store,
            "same": self.same,
            **self.comparison.as_json(),
            "stranded": [entry.as_json() for entry in self.stranded],
            "timers": self.timers,
            "population": self.population,
        }


def plan_release(workspace: Workspace, engine: Engine, sample: int = SAMPLE) -> ReleasePlan:
    """Plan publishing `workspace` (valid) against the store's live release, cards and users."""
    files = workspace_files(workspace.root)
    with engine.connect() as connection:
        live = releases.release_with_status(connection, LIVE)
        before = release_workspace(connection, live["id"]) if live else None
        moves, problems = read_moves(workspace.root, workspace)
        if problems:
            raise UsageError("; ".join(map(str, problems)))
        plan = ReleasePlan(
            address(files),
            live["id"] if live else None,
            releases.store_mark(connection),
            compare(
                (live["id"] if live else "(none)", releases.release_files(connection, live["id"]) if live else {}),
                (address(files), files),
            ),
            stranded(connection, before, workspace, moves),
            timers_changed(connection, before, workspace) if before else [],
        )
        users = [user["id"] for user in queries.user_page(connection, None, sample)]
    if before is not None and not plan.same and users:
        plan.population = [_population(before, workspace, engine, name, users) for name in _planned(before, workspace)]
    return plan


def render_plan(plan: Row) -> str:
    """A plan (as JSON) for a reader: what changes, then the cards it strands, timers, outcomes."""
    if plan["same"]:
        return f"the workspace is release {plan['live']}, live: nothing to publish"
    lines = comparison_lines(plan)
    for entry in plan["stranded"]:
        where = f"-> '{entry['to']}' (release.yaml)" if entry["to"] else "STRANDED: say where they go in release.yaml"
        lines.append(f"cards: {entry['count']} of {entry['process']} in '{entry['state']}' ({entry['why']}) {where}")
    for entry in plan["timers"]:
        lines.append(
            f"timers: {entry['cards']} card(s) of {entry['process']} in '{entry['state']}': {entry['before']} timer(s) "
            f"-> {entry['after']}; the timers armed before stay armed, new ones are not armed for them (`incidents` shows them)"
        )
    for entry in plan["population"]:
        lines.append(f"outcomes: {entry['process']}: {entry['compared']} users planned, {entry['changed']} changed")
        lines += [f"  {line}" for line in entry["summary"]]
    return "\n".join(lines)


def require_current(kept: Row, workspace: Workspace, engine: Engine) -> None:
    """Refuse a plan file once what it planned changed: the workspace's files, the live release, the store."""
    with engine.connect() as connection:
        live = releases.release_with_status(connection, LIVE)
        mark = releases.store_mark(connection)
    changed = [
        what
        for what, same in (
            ("the workspace's files", kept.get("release") == address(workspace_files(workspace.root))),
            ("the live release", kept.get("live") == (live["id"] if live else None)),
            ("the store's cards or users", kept.get("store") == mark),
        )
        if not same
    ]
    if changed:
        raise Refused(f"the plan is stale: {' and '.join(changed)} changed since; make a new one (`publish --plan --out FILE`)")


def read_plan(path: Path) -> Row:
    """A plan file written by `publish --plan --out FILE`."""
    try:
        kept = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise UsageError(f"--plan-file {path}: not a plan written by `cardflow publish --plan --out` ({error})") from None
    if not isinstance(kept, dict) or not {"release", "live", "store"} <= kept.keys():
        raise UsageError(f"--plan-file {path}: not a plan written by `cardflow publish --plan --out`")
    return kept


def _planned(before: Workspace, after: Workspace) -> list[str]:
    """The processes that create cards on both sides (run for users), in name order."""
    return sorted(name for name, process in after.processes.items() if creates_cards(process) and name in before.processes)


def _population(before: Workspace, after: Workspace, engine: Engine, name: str, users: list[str]) -> Row:
    try:
        report = diff_population(before, after, {}, engine, name, Selection(users=tuple(users)), keep=0)
    except CardflowError as error:  # a process the planner cannot run for users (the system's own): said so
        return {"process": name, "compared": 0, "changed": 0, "summary": [f"not planned: {error.message}"]}
    changed = sum(report.groups.values())
    return {"process": name, "compared": report.compared, "changed": changed, "summary": report.summary()[1:]}
