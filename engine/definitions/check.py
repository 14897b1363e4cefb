"""Stage 3, check: the meaning of valid documents, one small named check per rule (each `check_*`
takes the processes and option scripts and yields diagnostics with locations)."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from engine import effects
from engine.definitions.aliases import check_aliases
from engine.definitions.call_checks import CALL_CHECKS, invoked_roots
from engine.definitions.calls import answer_fields
from engine.definitions.compared import check_compared_values
from engine.definitions.creating import check_creating_trigger
from engine.definitions.declared import is_own_trigger
from engine.definitions.exclusive import check_exclusive
from engine.definitions.expressions import Compiled, ExpressionError, parse
from engine.definitions.fields import card_fields, check_fields
from engine.definitions.model import OptionScript, Process, Transition, Variable
from engine.definitions.never_fire import MAX_COMBINATIONS, check_never_fire, reachable_states
from engine.definitions.options import declared_options
from engine.definitions.placed import expressions_of
from engine.definitions.timers import check_timers
from engine.definitions.variable_checks import check_variables
from engine.diagnostics import Diagnostic, diagnostic, did_you_mean
from engine.records import readable_fields

#: Which roots an expression may read, by where it stands.
ROOTS_BY_PLACE: dict[str, frozenset[str]] = {
    "batch prerequisite": frozenset({"user", "options", "batch", "actor", "now"}),
    "action prerequisite": frozenset({"user", "card", "options", "actor", "now"}),
    "guard": frozenset({"user", "card", "options", "batch", "actor", "now"}),  # and the answers of calls (`call_roots`)
    "effect condition": frozenset({"user", "card", "options", "batch", "actor", "now"}),
    "effect value": frozenset({"user", "card", "options", "batch", "actor", "now"}),
    "production type": frozenset({"options"}),  # also `exclusive`: both are decided by the options alone
    "timer duration": frozenset({"options"}),
    "selection": frozenset({"user"}),
}
#: The attributes of the fixed records; `user` and `actor` carry any imported attribute.
FIXED_ATTRIBUTES: dict[str, frozenset[str]] = {
    "card": readable_fields("card"),
    "batch": readable_fields("batch"),
}

Processes = Mapping[str, Process]
Scripts = Mapping[str, OptionScript]


def run_checks(processes: Processes, scripts: Scripts) -> list[Diagnostic]:
    """Every check over the workspace, in one list."""
    found: list[Diagnostic] = []
    for check in CHECKS:
        found.extend(check(processes, scripts))
    return found


def expression_problems(
    expression: Compiled,
    roots: frozenset[str],
    options: Mapping[str, Variable],
    fields: frozenset[str] = frozenset(),
    calls: frozenset[str] = frozenset(),
) -> Iterator[tuple[str, dict[str, Any]]]:
    """(code, fields) for every name an expression may not read in its place; `fields`: the declared card
    fields; `calls`: the roots of call answers (a guard's)."""
    roots |= calls
    for root in sorted(expression.roots - roots):
        yield "E303", {"name": root, "known": ", ".join(sorted(roots))}
    for root, attr in sorted(expression.attributes):
        fixed = answer_fields(root) if root in calls else FIXED_ATTRIBUTES.get(root)
        known = (fixed or frozenset()) | (fields if root == "card" else frozenset())
        if root == "options" and attr not in options:
            yield "E302", {"name": attr, "hint": did_you_mean(attr, options)}
        elif fixed is not None and root in roots and attr not in known:
            yield "E303", {"name": f"{root}.{attr}", "known": ", ".join(sorted(known))}


def check_expressions(processes: Processes, scripts: Scripts) -> Iterator[Diagnostic]:
    calls = invoked_roots(processes)
    for process in processes.values():
        options = declared_options(process, scripts)
        declared = frozenset(card_fields(process, processes))
        for placed in expressions_of(process):
            try:
                expression = parse(placed.source.text)
            except ExpressionError as error:
                yield diagnostic(placed.source.location, error.code, **error.fields)
                continue
            read = calls if placed.place == "guard" else frozenset()
            for code, fields in expression_problems(expression, ROOTS_BY_PLACE[placed.place], options, declared, read):
                yield diagnostic(placed.source.location, code, **fields)


def check_file_names(processes: Processes, scripts: Scripts) -> Iterator[Diagnostic]:
    for process in processes.values():
        if process.document.file != f"processes/{process.symbolic_name}.yaml":
            yield diagnostic(process.document.at(("symbolic_name",)), "E201", what="symbolic name", name=process.symbolic_name)
    for script in scripts.values():
        if script.document.file != f"rules/{script.script}.yaml":
            yield diagnostic(script.document.at(("script",)), "E201", what="script", name=script.script)


def check_duplicate_variables(processes: Processes, scripts: Scripts) -> Iterator[Diagnostic]:
    seen: dict[str, Variable] = {}
    for script in scripts.values():
        for name, variable in script.variables.items():
            if name in seen:
                yield diagnostic(variable.location, "E202", what="option variable", name=name, other=seen[name].location.file)
            else:
                seen[name] = variable


def check_option_scripts_exist(processes: Processes, scripts: Scripts) -> Iterator[Diagnostic]:
    for process in processes.values():
        for i, name in enumerate(process.options):
            if name not in scripts:
                yield diagnostic(process.document.at(("options", i)), "E212", name=name, hint=did_you_mean(name, scripts))


def check_state_references(processes: Processes, scripts: Scripts) -> Iterator[Diagnostic]:
    for process in _batches(processes):
        known = process.states
        for transition in process.transitions:
            where = ("transitions", transition.index)
            for j, name in enumerate(transition.source):
                if name not in known:
                    path = (
                        (*where, "source")
                        if len(transition.source) == 1
                        and isinstance(process.document.data["transitions"][transition.index]["source"], str)
                        else (*where, "source", j)
                    )
                    yield diagnostic(process.document.at(path), "E203", name=name, hint=did_you_mean(name, known))
            if transition.dest not in known:
                yield diagnostic(
                    process.document.at((*where, "dest")), "E203", name=transition.dest, hint=did_you_mean(transition.dest, known)
                )
        for i, name in enumerate(process.outcome):
            if name not in known:
                yield diagnostic(process.document.at(("outcome", i)), "E203", name=name, hint=did_you_mean(name, known))


def check_one_initial(processes: Processes, scripts: Scripts) -> Iterator[Diagnostic]:
    for process in _batches(processes):
        initials = [state for state in process.states.values() if state.initial]
        if len(initials) != 1:
            where = initials[1].location if len(initials) > 1 else process.document.key_at(("states",))
            yield diagnostic(where, "E204", count=len(initials))


def check_final_or_handover(processes: Processes, scripts: Scripts) -> Iterator[Diagnostic]:
    for process in _batches(processes):
        for state in process.states.values():
            if state.final and state.handover:
                yield diagnostic(state.location, "E213", name=state.name)


def check_reachable(processes: Processes, scripts: Scripts) -> Iterator[Diagnostic]:
    for process in _batches(processes):
        initial = _single_initial(process)
        if initial is None:
            continue
        reached = reachable_states(process, initial)
        for state in process.states.values():
            if state.name not in reached:
                yield diagnostic(state.location, "E205", name=state.name, initial=initial)
        for i, name in enumerate(process.outcome):
            if name in process.states and name not in reached:
                yield diagnostic(process.document.at(("outcome", i)), "E207", name=name)


def check_dead_ends(processes: Processes, scripts: Scripts) -> Iterator[Diagnostic]:
    for process in _batches(processes):
        leaving = {source for t in process.transitions if t.dest not in t.source for source in t.source}
        for state in process.states.values():
            if not (state.final or state.handover or state.name in leaving):
                yield diagnostic(state.location, "E206", name=state.name)


def check_triggers(processes: Processes, scripts: Scripts) -> Iterator[Diagnostic]:
    """Every trigger declared has transitions, and every transition's trigger is fired by some process."""
    for process in processes.values():
        for trigger in process.triggers.values():
            targets = [process] if process.kind == "batch" else [processes[n] for n in process.acts_on if n in processes]
            for target in targets:
                if target.kind == "batch" and not any(t.trigger == trigger.name for t in target.transitions):
                    yield diagnostic(trigger.location, "E210", name=trigger.name, process=target.symbolic_name)
    for process in _batches(processes):
        fired = set(process.triggers) | {
            name for other in processes.values() if process.symbolic_name in other.acts_on for name in other.triggers
        }
        for transition in process.transitions:
            if transition.trigger not in fired and not is_own_trigger(transition.trigger):  # a timer fires its own
                where = process.document.at(("transitions", transition.index, "trigger"))
                yield diagnostic(where, "E214", name=transition.trigger, process=process.symbolic_name)


def check_actions(processes: Processes, scripts: Scripts) -> Iterator[Diagnostic]:
    """An action process acts on known batch processes and its outcome states are reached there."""
    for process in processes.values():
        if process.kind != "action":
            continue
        targets = []
        for i, name in enumerate(process.acts_on):
            target = processes.get(name)
            if target is None or target.kind != "batch":
                yield diagnostic(process.document.at(("acts_on", i)), "E209", name=name, hint=did_you_mean(name, processes))
            else:
                targets.append(target)
        dests = {t.dest for target in targets for t in target.transitions if t.trigger in process.triggers}
        states = {state for target in targets for state in target.states}
        for i, name in enumerate(process.outcome):
            if targets and name not in states:
                yield diagnostic(process.document.at(("outcome", i)), "E203", name=name, hint=did_you_mean(name, states))
            elif targets and name not in dests:
                yield diagnostic(process.document.at(("outcome", i)), "E207", name=name)


def check_production_types(processes: Processes, scripts: Scripts) -> Iterator[Diagnostic]:
    """The production types a process offers, as the options in force give them, must not be empty."""
    for process in _batches(processes):
        if process.production_type is None:
            continue
        options = declared_options(process, scripts)
        try:
            read = parse(process.production_type.choices.text).attributes
        except ExpressionError:
            continue  # reported by check_expressions
        for root, name in sorted(read):
            variable = options.get(name)
            if root != "options" or variable is None or variable.type != "list":
                continue
            value = variable.value if variable.has_value else variable.default
            if isinstance(value, list) and not value:
                where = variable.value_location if variable.has_value and variable.value_location else variable.location
                detail = f"{process.symbolic_name} needs at least one production type here"
                yield diagnostic(where, "E404", name=name, detail=detail)


def check_ambiguous(processes: Processes, scripts: Scripts) -> Iterator[Diagnostic]:
    """Two transitions for the same trigger and source must never both be able to fire."""
    for process in _batches(processes):
        options = declared_options(process, scripts)
        groups: dict[tuple[str, str], list[Transition]] = {}
        for transition in process.transitions:
            for source in transition.source:
                groups.setdefault((transition.trigger, source), []).append(transition)
        for (trigger, source), group in groups.items():
            for first, second in itertools.combinations(group, 2):
                witness = _both_fire(first, second, options)
                if witness is not None:
                    yield diagnostic(
                        second.location,
                        "E208",
                        first=first.label,
                        second=second.label,
                        trigger=trigger,
                        source=source,
                        when=witness,
                    )


def _both_fire(first: Transition, second: Transition, options: Mapping[str, Variable]) -> str | None:
    """A description of a situation where both guards hold, or None when there is none."""
    try:
        guards = [parse(t.guard.text) if t.guard else None for t in (first, second)]
    except ExpressionError:
        return None
    attributes = sorted({attr for guard in guards if guard for attr in guard.attributes})
    if any(root == "options" and attr not in options for root, attr in attributes):
        return None  # an undeclared option is reported by check_expressions
    constants = {c for guard in guards if guard for c in guard.constants}
    domains = [_domain(root, attr, options, constants) for root, attr in attributes]
    combinations = 1
    for domain in domains:
        combinations *= len(domain)
    if combinations > MAX_COMBINATIONS:
        return None
    for values in itertools.product(*domains):
        scope: dict[str, dict[str, Any]] = {}
        for (root, attr), value in zip(attributes, values, strict=True):
            scope.setdefault(root, {})[attr] = value
        if all(guard is None or guard.truth(scope)[0] is True for guard in guards):
            shown = [
                f"{root}.{attr} = {value!r}" for (root, attr), value in zip(attributes, values, strict=True) if root == "options"
            ]
            return f" when {', '.join(shown)}" if shown else ""
    return None


def _domain(root: str, attr: str, options: Mapping[str, Variable], constants: set[Any]) -> list[Any]:
    if root == "options" and attr in options:
        variable = options[attr]
        return list(variable.allowed or ()) if variable.type != "list" and variable.allowed else [variable.default]
    return [True, False, None, *sorted(constants, key=repr)]


def _single_initial(process: Process) -> str | None:
    initials = [state.name for state in process.states.values() if state.initial]
    return initials[0] if len(initials) == 1 else None


def _batches(processes: Processes) -> Iterator[Process]:
    return (process for process in processes.values() if process.kind == "batch")


CHECKS: tuple[Callable[[Processes, Scripts], Iterator[Diagnostic]], ...] = (
    check_file_names,
    check_duplicate_variables,
    check_option_scripts_exist,
    check_variables,
    check_expressions,
    check_state_references,
    check_one_initial,
    check_final_or_handover,
    check_reachable,
    check_dead_ends,
    check_triggers,
    check_creating_trigger,
    check_exclusive,
    check_aliases,
    check_actions,
    check_ambiguous,
    check_production_types,
    *CALL_CHECKS,
    check_fields,
    check_timers,
    check_compared_values,
    effects.check_effects,
    check_never_fire,
)
