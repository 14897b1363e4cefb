"""The outcome matrix of a batch process: what happens to a card under every combination of its options.

For each combination of the options a process reads (each bool both ways, each enumerated value;
a list or other non-enumerable variable, and any variable pinned with `--set`, keeps its value),
the process is compiled and a card of a representative user (active, no open cards) is followed:
its creating trigger is fired with both bureau answers, then every transition left in the compiled machine for
a trigger that some action process fires on the card is taken, whatever its runtime guard says.
The result names where the card starts, every state it can end in, the states where it gets stuck
(no way out but to itself, though neither final nor a handover) and the documented outcome states
no path reaches. The row of the options in force (the workspace's values and `--set`) is marked.
"""

from __future__ import annotations

import itertools
import textwrap
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from engine import effects
from engine.definitions.compile import CompiledProcess, compile_process
from engine.definitions.expressions import parse
from engine.definitions.model import Process, Variable, Workspace
from engine.definitions.never_fire import MAX_COMBINATIONS
from engine.definitions.options import declared_options, effective_options, values_of
from engine.definitions.placed import expressions_of
from engine.errors import UsageError

#: The representative card holder: active, without open cards.
#: The time the matrix's sample firings happen at (what `now` reads).
SAMPLE_NOW = "2026-01-02T09:00:00Z"
USER: dict[str, Any] = {
    "id": "matrix-user",
    "name": "Representative user",
    "email": "user@example.invalid",
    "state": "active",
    "roles": [],
    "open_cards": 0,
}
#: The operator who runs the batch.
OPERATOR: dict[str, Any] = {
    "id": "matrix-operator",
    "name": "Representative operator",
    "email": "operator@example.invalid",
    "state": "active",
    "roles": ["operator"],
}
BATCH_ID = "matrix"
#: The mark of the row whose options are the ones in force.
IN_FORCE = "*"


@dataclass(frozen=True)
class Combination:
    """What happens to a card under one combination of the varied options."""

    options: dict[str, Any]
    start: dict[str, list[str]]
    end_states: list[str]
    stuck: list[str]
    unreachable_outcomes: list[str]
    flags: list[str]
    in_force: bool = False

    def as_json(self) -> dict[str, Any]:
        """The combination as stable JSON data (`start_emails`: the templates sent, by start state;
        `in_force`: whether these are the values the workspace and --set give now)."""
        return {
            "options": self.options,
            "in_force": self.in_force,
            "start": sorted(self.start),
            "start_emails": {state: self.start[state] for state in sorted(self.start)},
            "end_states": self.end_states,
            "stuck": self.stuck,
            "unreachable_outcomes": self.unreachable_outcomes,
            "flags": self.flags,
        }


@dataclass(frozen=True)
class Matrix:
    """The outcome of a batch process under every combination of the options it reads."""

    process: str
    varied: list[str]
    fixed: dict[str, Any]
    combinations: list[Combination]

    def as_json(self) -> dict[str, Any]:
        """The matrix as stable JSON data."""
        return {
            "process": self.process,
            "varied": self.varied,
            "fixed": self.fixed,
            "combinations": [combination.as_json() for combination in self.combinations],
        }


def outcome_matrix(workspace: Workspace, name: str, overrides: Mapping[str, Any] | None = None) -> Matrix:
    """The matrix of batch process `name`; `overrides` (from `--set`) pin variables so they are not varied."""
    process = workspace.process(name)
    if process.kind != "batch":
        raise UsageError(
            f"{name} is an action process with no card lifecycle of its own; it acts on {', '.join(process.acts_on)}"
        )
    pinned = dict(overrides or {})
    read = options_read(process, workspace.scripts)
    domains = {var: values for var, variable in read.items() if var not in pinned and (values := values_of(variable))}
    base = effective_options(workspace.scripts, pinned).as_dict()
    fixed = {var: base[var] for var in read if var not in domains}
    _check_size(name, domains)
    triggers = later_triggers(workspace, process)
    combinations = []
    for values in itertools.product(*domains.values()):
        chosen = dict(zip(domains, values, strict=True))
        options = effective_options(workspace.scripts, {**pinned, **chosen})
        compiled = compile_process(process, options, workspace.fingerprint)
        found = combination_of(compiled, chosen, triggers)
        combinations.append(replace(found, in_force=all(base[var] == value for var, value in chosen.items())))
    return Matrix(name, list(domains), fixed, combinations)


def options_read(process: Process, scripts: Mapping[str, Any]) -> dict[str, Variable]:
    """The declared option variables the process's expressions read, sorted by name."""
    declared = declared_options(process, scripts)
    names = {
        attr for placed in expressions_of(process) for root, attr in parse(placed.source.text).attributes if root == "options"
    }
    return {name: declared[name] for name in sorted(names) if name in declared}


def later_triggers(workspace: Workspace, process: Process) -> frozenset[str]:
    """The triggers action processes fire on existing cards of `process` (its own creating trigger only creates cards)."""
    return frozenset(
        trigger
        for other in workspace.processes.values()
        if other.kind == "action" and process.symbolic_name in other.acts_on
        for trigger in other.triggers
    )


def combination_of(compiled: CompiledProcess, chosen: dict[str, Any], triggers: Iterable[str]) -> Combination:
    """Follow a representative card under one compiled combination of options."""
    process = compiled.process
    scope = representative_scope(compiled)
    skipped = failed_prerequisite(process, scope)
    start = {} if skipped else start_outcomes(compiled, scope)
    ways = successors(compiled, triggers)
    reached = reachable(start, ways)
    stuck = sorted(state for state in reached if not _closes(process, state) and not ways.get(state, set()) - {state})
    ends = sorted(state for state in reached if _closes(process, state) or state in stuck)
    unreachable = sorted(state for state in process.outcome if state not in reached)
    flags = [f"stuck: {state}" for state in stuck]
    if process.outcome and len(unreachable) == len(process.outcome):  # the outcomes are alternatives: one suffices
        flags.append(f"no outcome reached (documented: {', '.join(process.outcome)})")
    flags += [f"never ends: {state}" for state in sorted(reached - set(stuck)) if not _can_close(process, state, ways)]
    if skipped:
        flags.append(f"skipped: {skipped}")
    elif not start:
        flags.append(f"no transition of '{process.creating_trigger}' fits")
    return Combination(chosen, start, ends, stuck, unreachable, sorted(flags))


def representative_scope(compiled: CompiledProcess) -> dict[str, Any]:
    """The scope of a new card of the representative user, in a batch run by the representative operator."""
    process = compiled.process
    options = compiled.options.as_dict()
    production_type = first_production_type(process, options)
    card = {
        "id": 0,
        "user": USER["id"],
        "state": process.initial,
        "process": process.symbolic_name,
        "requester": OPERATOR["id"],
        "requested_by": OPERATOR["id"],
        "production_type": production_type,
        "batch": BATCH_ID,
    }
    batch = {"id": BATCH_ID, "process": process.symbolic_name, "actor": OPERATOR["id"], "production_type": production_type}
    return {"user": USER, "card": card, "options": options, "batch": batch, "actor": OPERATOR, "now": SAMPLE_NOW}


def first_production_type(process: Process, options: Mapping[str, Any]) -> Any:
    """The production type a batch uses when the operator chooses none: the first offered, or None."""
    if process.production_type is None:
        return None
    choices = parse(process.production_type.choices.text).evaluate({"options": options})[0]
    return choices[0] if isinstance(choices, list) and choices else None


def failed_prerequisite(process: Process, scope: Mapping[str, Any]) -> str | None:
    """The message of the first prerequisite the representative user fails, or None."""
    for prerequisite in process.prerequisites:
        if parse(prerequisite.rule.text).truth(scope)[0] is not True:
            return prerequisite.message
    return None


def start_outcomes(compiled: CompiledProcess, scope: Mapping[str, Any]) -> dict[str, list[str]]:
    """The states the creating trigger sends a new card to, with the bureau accepting and refusing, and the
    emails sent to reach each."""
    outcomes: dict[str, set[str]] = {}
    for accepted in (True, False):
        bureau = {
            "accepted": accepted,
            "reason": None if accepted else "refused",
            "order_id": "matrix-order" if accepted else None,
        }
        decision = compiled.fire(str(compiled.process.creating_trigger), compiled.process.initial, {**scope, "bureau": bureau})
        if decision.dest is not None:
            outcomes.setdefault(decision.dest, set()).update(email for email, _ in effects.emails(decision.effects))
    return {state: sorted(emails) for state, emails in sorted(outcomes.items())}


def successors(compiled: CompiledProcess, triggers: Iterable[str]) -> dict[str, set[str]]:
    """For each state, the states a transition of the compiled machine for one of `triggers` may lead to."""
    ways: dict[str, set[str]] = {}
    for trigger in sorted(triggers):
        event = compiled.machine.events.get(trigger)
        for source, transitions in event.transitions.items() if event else ():
            ways.setdefault(source, set()).update(compiled.candidate_of(t).transition.dest for t in transitions)
    return ways


def reachable(starts: Iterable[str], ways: Mapping[str, set[str]]) -> set[str]:
    """The states reachable from `starts` (included) along `ways`."""
    reached, frontier = set(starts), list(starts)
    while frontier:
        for dest in ways.get(frontier.pop(), set()) - reached:
            reached.add(dest)
            frontier.append(dest)
    return reached


def _closes(process: Process, state: str) -> bool:
    """Whether a card in `state` is done with this process: the state is final or a handover."""
    found = process.states.get(state)
    return bool(found and (found.final or found.handover))


def _can_close(process: Process, state: str, ways: Mapping[str, set[str]]) -> bool:
    """Whether some path from `state` reaches a final or handover state."""
    return any(_closes(process, other) for other in reachable([state], ways))


def render_matrix(matrix: Matrix) -> str:
    """The matrix for a reader: one row per combination, then the fixed options."""
    from engine.report.tables import table

    prefix = _common_prefix(matrix.varied)
    headers = ["", *(name.removeprefix(prefix) for name in matrix.varied), "start", "end states", "flags"]
    rows = [_row(matrix.varied, combination) for combination in matrix.combinations]
    fixed = ", ".join(f"{name} = {_shown(value)}" for name, value in matrix.fixed.items()) or "none"
    lines = textwrap.wrap(f"fixed: {fixed}", width=100, subsequent_indent="       ", break_on_hyphens=False)
    legend = [
        f"{IN_FORCE}: the options in force (the workspace's values and --set)",
        "start: the states a new card reaches (both bureau answers), with the emails sent in parentheses",
    ]
    if prefix:
        legend.append(f"option columns: the variables named {prefix}<column>")
    return "\n".join([table(headers, rows, upper=False), "", *lines, *legend])


def _common_prefix(names: list[str]) -> str:
    """The prefix all `names` share, up to the start of a capitalized word ('' for fewer than two names)."""
    if len(names) < 2:
        return ""
    shared = names[0]
    for name in names[1:]:
        while not name.startswith(shared):
            shared = shared[:-1]
    while shared and not all(len(name) > len(shared) and name[len(shared)].isupper() for name in names):
        shared = shared[:-1]
    return shared


def _row(varied: list[str], combination: Combination) -> list[Any]:
    values = [combination.options[name] for name in varied]
    return [
        IN_FORCE if combination.in_force else "",
        *values,
        _start_cell(combination.start),
        ", ".join(combination.end_states),
        "; ".join(combination.flags),
    ]


def _start_cell(start: Mapping[str, list[str]]) -> str:
    return ", ".join(f"{state} ({', '.join(emails)})" if emails else state for state, emails in start.items()) or "-"


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(_shown(item) for item in value) + "]"
    return str(value)


def _check_size(name: str, domains: Mapping[str, tuple[Any, ...]]) -> None:
    count = 1
    for values in domains.values():
        count *= len(values)
    if count > MAX_COMBINATIONS:
        raise UsageError(f"{name}: {count} combinations of options (more than {MAX_COMBINATIONS}); pin some with --set VAR=VALUE")
