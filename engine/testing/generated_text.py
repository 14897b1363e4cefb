"""The text of a generated scenario: a header saying what it is, the users (one of each role that acts,
and a holder per path), the holders' other cards, the combination of options, each path's steps under
a comment naming what it is the first to reach, and the expectations (when the engine's outcome is known)."""

from __future__ import annotations

import itertools
import textwrap
from typing import Any

import yaml

from engine.definitions.model import Workspace
from engine.testing.criteria import independent, shown_value
from engine.testing.generate import Plan, reach
from engine.testing.scenario import Outcome, all_emails
from engine.testing.search import Move, Path, actor_id


def scenario_text(
    mark: str,
    workspace: Workspace,
    found: Plan,
    row: int,
    paths: list[Path],
    outcome: Outcome | None,
    notes: dict[int, list[str]],
) -> tuple[str, list[int]]:
    """The scenario of combination `row` with `paths` (holder u1 takes the first), expecting `outcome`
    when given, each path under its `notes` (`notes_of`); and for each step, the index of the path it
    belongs to. A user holds each role a person may hold (every email to a role reaches someone)."""
    name = found.process.symbolic_name
    about = (
        f"{name} under combination {row + 1} of {len(found.rows)} of the option values it reads ({_array(found)}). "
        "Each holder's card takes one path; the comment above its steps names what it is the first to reach. "
        "The expectations are what the engine did when this file was written (a regression oracle): change "
        "them where the rules should do otherwise."
    )
    lines = textwrap.wrap(about, width=104, initial_indent=f"{mark}: ", subsequent_indent="# ", break_on_hyphens=False)
    lines += [f"name: {name}, generated combination {row + 1} of {len(found.rows)}", "users:"]
    roles = sorted(name for name, role in workspace.roles.items() if not role.system)
    lines += [f"  - {_flow(_person(actor_id(role), role.replace('_', ' ').capitalize(), [role]))}" for role in roles]
    lines += [f"  - {_flow(_person(f'u{i + 1}', f'User {i + 1}', []))}" for i in range(len(paths))]
    seeds = [(i, state) for i, path in enumerate(paths) for state in [*(state for state, _ in path.seeds), path.start] if state]
    if seeds:
        lines.append("cards:  # made before the steps: the other cards a `fire` effect acts on, then a card a path starts from")
        creator = actor_id(found.process.actor)
        lines += [
            f"  - {_flow({'user': f'u{i + 1}', 'process': name, 'state': state, 'requester': creator})}" for i, state in seeds
        ]
    if found.rows[row]:
        lines.append("options:")
        lines += [f"  {option}: {_flow(value)}" for option, value in sorted(found.rows[row].items())]
    lines.append("steps:")
    owners: list[int] = []
    for i, path in enumerate(paths):
        said = notes.get(id(path)) or [_ends(path)]
        said = [f"its card made in state {path.start}", *said] if path.start else said
        lines += _wrapped(f"u{i + 1}: " + "; ".join(said))
        for edge in path.edges:
            lines += [f"  {line}" for line in _step(name, edge.move, f"u{i + 1}")]
            owners.append(i)
    if outcome is not None:
        lines += _expectations(outcome, len(paths))
    return "\n".join(lines) + "\n", owners


def _ends(path: Path) -> str:
    """Why a path that reaches nothing new is there: what it ends with shows in the final states."""
    besides = " and its effect on the holder's other cards" if path.edges[-1].others and path.seeds else ""
    return f"it ends with #{path.edges[-1].fired}{besides}: the final states show where it leads"


def _array(found: Plan) -> str:
    count = f"{found.exhaustive:,} in all"
    if len(found.rows) == found.exhaustive:
        return f"every combination: {count}"
    return f"a covering array of strength {found.strength}: every {found.strength} of them meet in each of their values; {count}"


def _person(user: str, name: str, roles: list[str]) -> dict[str, Any]:
    person: dict[str, Any] = {"id": user, "name": name, "email": f"{user}@example.com", "state": "active"}
    return {**person, "roles": roles} if roles else person


def _step(process: str, move: Move, user: str) -> list[str]:
    """A move as the lines of one step."""
    if move.action == "run":
        lines = [f"- run: {process}", f"  users: [{user}]", f"  as: {actor_id(move.actor or '')}"]
    elif move.action == "trigger":
        lines = [f"- {move.trigger}: [{user}]", f"  as: {actor_id(move.actor or '')}"]
        lines += ["  reason: Generated (a reason is required)."] if move.reason else []
    elif move.action == "queue":
        lines = ["- queue: run"]
    elif move.action == "orders":
        lines = ["- orders: sync", f"  status: {{{user}: {move.status}}}"]
    else:
        lines = [f"- advance: {move.advance}  # past every timer of the state"]
    return lines + ([f"  fail: [{user}]"] if move.refused else [])


def _expectations(outcome: Outcome, holders: int) -> list[str]:
    lines = ["expect:", "  cards:"]
    users = [f"u{i + 1}" for i in range(holders)]
    lines += [f"    {user}: {_flow(outcome.cards.get(user, []))}" for user in users]
    fields = [(user, outcome.fields[user]) for user in users if outcome.fields.get(user)]
    if fields:
        lines.append("  fields:  # of each holder's newest card")
        lines += [f"    {user}: {_flow(values)}" for user, values in fields]
    emails = all_emails(outcome)
    lines.append("  emails:" + ("" if emails else " []"))
    lines += [f"    - {_flow({'template': template, 'to': to})}" for template, to in emails]
    return lines


def notes_of(found: Plan) -> dict[int, list[str]]:
    """Per path (by id), the targets it is the first of the plan's paths to reach, in words; and for each
    MC/DC target, the two paths whose evaluations show the condition deciding alone."""
    notes: dict[int, list[str]] = {}
    seen: set[Any] = set()
    criteria = [c for c in found.criteria if c not in ("mcdc", "option-pairs")]
    for path in found.paths:
        entry = reach(found.process, tuple(criteria), found.domains, found.rows, [path])
        new = [(c, t) for c in criteria for t in entry.reached_targets(c) if (c, t) not in seen]
        seen.update(new)
        notes[id(path)] = [_short(found, c, t) for c, t in new]
    if "mcdc" in found.criteria:
        _witnesses(found, notes)
    return notes


def _witnesses(found: Plan, notes: dict[int, list[str]]) -> None:
    whole = reach(found.process, ("mcdc",), found.domains, found.rows, found.paths)
    own = [(path, reach(found.process, ("mcdc",), found.domains, found.rows, [path]).vectors) for path in found.paths]
    for index, i in whole.conditions.targets():
        pair = independent(whole.vectors.get(index, ()), i)
        if pair is None:
            continue
        condition = whole.conditions.of[index][i]
        paths = [next(path for path, vectors in own if vector in vectors.get(index, ())) for vector in pair]
        for (vector, path), (other, elsewhere) in itertools.permutations(zip(pair, paths, strict=True)):
            where = f"`{condition}` {shown_value(vector[i])} makes guard #{index} {shown_value(vector[-1])}"
            against = f"{shown_value(other[i])} -> {shown_value(other[-1])} for {_holder(found, elsewhere)}"
            notes[id(path)].append(f"MC/DC: {where}, against {against} (the other conditions alike where both read them)")


def _holder(found: Plan, path: Path) -> str:
    """The user whose card takes `path`, and the scenario: `u3 of combination 2`."""
    mine = [other for other in found.paths if other.row == path.row]
    return f"u{next(i for i, other in enumerate(mine) if other is path) + 1} of combination {path.row + 1}"


def _short(found: Plan, criterion: str, target: Any) -> str:
    transitions = found.process.transitions
    if criterion == "transitions":
        return f"the timer at {target}" if isinstance(target, str) else transitions[target - 1].label
    if criterion == "guards":
        return f"guard #{target[0]} {shown_value(target[1])}"
    return f"#{target[0]} then #{target[1]}"


def _wrapped(text: str) -> list[str]:
    return [f"  # {line}" for line in textwrap.wrap(text, width=104, subsequent_indent="  ", break_on_hyphens=False)]


def _flow(value: Any) -> str:
    """A value in YAML's flow style, on one line."""
    return yaml.safe_dump(value, default_flow_style=True, width=10**6, sort_keys=False).strip().removesuffix("...").strip()
