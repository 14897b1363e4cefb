"""Cards a release would strand, and where its `release.yaml` moves them.

A release strands the open cards of a process it no longer has, of a state that process no longer
has, or of a state that a trigger no longer leaves (the cards wait for it). Such a release does not
go live unless its `release.yaml` says where each stranded state's cards go, checked against the
release's own processes:

    moves:
      PROCESS:
        OLD_STATE: NEW_STATE

When it goes live the cards are moved, each with an audit row naming the release, and their armed
timers dropped (a card moved into a state with timers waits with none: `cardflow incidents` shows it).
Cards in a state whose timers the release changes keep those armed when they entered it; those left
with none armed are marked so the incidents show them too.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection

from engine.definitions.files import RELEASE_FILE
from engine.definitions.model import Process, Workspace
from engine.definitions.release_moves import Moves
from engine.errors import Refused
from engine.store import releases, timers
from engine.store.queries import Row

#: the trigger an audit row of a card moved by a release names
MOVED_BY_RELEASE = "release"


@dataclass(frozen=True)
class Stranded:
    """Open cards a release would strand: how many, where, why, and where `release.yaml` moves them."""

    process: str
    state: str
    count: int
    why: str
    to: str | None

    def as_json(self) -> Row:
        return {"process": self.process, "state": self.state, "count": self.count, "why": self.why, "to": self.to}

    def __str__(self) -> str:
        said = f"{self.count} card(s) of {self.process} in '{self.state}' ({self.why})"
        return f"{said} go to '{self.to}'" if self.to else said


def stranded(connection: Connection, before: Workspace | None, after: Workspace, moves: Moves) -> list[Stranded]:
    """The open cards of the store that `after` would strand (`before`: the live release, for the
    triggers that no longer leave a state), each group with where `moves` sends it."""
    found = []
    for name, state, count in releases.open_cards(connection):
        why = _why_stranded(before.processes.get(name) if before else None, after.processes.get(name), state)
        if why:
            found.append(Stranded(name, state, count, why, moves.get((name, state))))
    return found


def require_none_left(found: list[Stranded], release_id: str) -> None:
    """Refuse a release that strands cards `release.yaml` does not move, naming each group."""
    left = [entry for entry in found if entry.to is None]
    if left:
        where = f"{RELEASE_FILE} (moves: PROCESS: {{STATE: NEW_STATE}})"
        raise Refused(
            f"release {release_id} would strand {sum(e.count for e in left)} open card(s): "
            + "; ".join(map(str, left))
            + f"; say where they go in {where}"
        )


def move_stranded(connection: Connection, found: list[Stranded], after: Workspace, release: Row, actor: str, at: str) -> int:
    """Move the stranded cards as `release.yaml` says, each with an audit row naming the release; how many."""
    moved = 0
    for entry in found:
        if entry.to is None:
            continue
        state = after.process(entry.process).states[entry.to]
        trace = {"candidates": [], "release": release["id"], "moved": f"{entry.state} ({entry.why})"}
        audit = {
            "trigger": MOVED_BY_RELEASE,
            "actor": actor,
            "at": at,
            "fingerprint": f"{release['fingerprint']}:{MOVED_BY_RELEASE}",
            "reason": f"moved by release {release['id']}: {entry.why}",
            "trace": trace,
        }
        ids = releases.move_cards(connection, entry.process, entry.state, {"state": entry.to, "open": not state.final}, audit)
        if state.timers:  # a card here waits with no timer armed: the incidents show it
            timers.settle(connection, ids)
        moved += len(ids)
    return moved


def _why_stranded(before: Process | None, after: Process | None, state: str) -> str | None:
    if after is None:
        return "its process is gone"
    if state not in after.states:
        return "its state is gone"
    if before is None or state not in before.states:
        return None
    gone = sorted(_leaving(before, state) - _leaving(after, state))
    return f"no transition takes {', '.join(gone)} from it any more" if gone else None


def _leaving(process: Process, state: str) -> set[str]:
    return {transition.trigger for transition in process.transitions if state in transition.source}


def timers_changed(connection: Connection, before: Workspace, after: Workspace) -> list[Row]:
    """The open cards in states whose timers a release changes, by state ({process, state, cards,
    before, after}: the number of timers on each side): they keep the timers armed when they entered it."""
    changed = []
    for name, state, count in releases.open_cards(connection):
        old, new = before.processes.get(name), after.processes.get(name)
        if old is None or new is None or state not in old.states or state not in new.states:
            continue
        was, now = old.states[state].timers, new.states[state].timers
        if was != now:  # what each does and when (where it is written is not compared)
            changed.append({"process": name, "state": state, "cards": count, "before": len(was), "after": len(now)})
    return changed


def settle_timers(connection: Connection, changed: list[Row]) -> None:
    """Mark the cards of states whose timers changed that wait with none armed now (`cardflow incidents` shows them)."""
    for group in changed:
        timers.settle(connection, releases.open_card_ids(connection, group["process"], group["state"]))
