"""Stage 3, check: the external calls transitions declare (`invoke:`), one small check per rule.

A call is declared, never implied by reading a value: a guard reads a call's answer only on a
transition that declares the call (E260), the call is CONNECTOR.OPERATION (E261; which connectors
and operations there are is connectors.yaml's: E315), the transitions of one (trigger, source) make
one call (E262), both answers of a call lead somewhere, and elsewhere (E263), and a state entered on
an accepted answer is not entered without the call (E264).

The answers are weighed like the outcome matrix does: under every combination of the options the
group's guards read, the guards are tried in order with the call accepted and refused; a
combination where a guard depends on the card or the user is left undecided (not reported).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from engine.definitions.calls import BUREAU, ORDER, call_roots, connector_of, sample_answer, well_formed
from engine.definitions.closures import UNKNOWN
from engine.definitions.expressions import ExpressionError, parse
from engine.definitions.model import OptionScript, Process, Transition, Variable
from engine.definitions.options import declared_options
from engine.diagnostics import Diagnostic, diagnostic

Processes = Mapping[str, Process]
Scripts = Mapping[str, OptionScript]
#: The most option combinations weighed for one group of transitions.
MOST_COMBINATIONS = 4096


@dataclass(frozen=True)
class Outcome:
    """Where a group's call leads under one combination of options: the transition each answer takes."""

    when: str
    accepted: Transition | None
    refused: Transition | None


def check_guards_read_declared_calls(processes: Processes, scripts: Scripts) -> Iterator[Diagnostic]:
    """A guard reads a call's answer only where its transition declares that call (E260)."""
    invoked = invoked_calls(processes)
    for process in _batches(processes):
        for transition in process.transitions:
            for name, call in undeclared_reads(transition, invoked):
                fields = {"name": name, "label": transition.label, "call": call}
                yield diagnostic(transition.guard.location if transition.guard else transition.location, "E260", **fields)


def invoked_calls(processes: Processes) -> list[str]:
    """Every call a transition of the workspace declares, once each."""
    found = (t.invoke.text for process in processes.values() for t in process.transitions if t.invoke)
    return list(dict.fromkeys(found))


def invoked_roots(processes: Processes) -> frozenset[str]:
    """The roots guards may read call answers under: the bureau's, and each connector a transition invokes."""
    return call_roots(invoked_calls(processes))


def undeclared_reads(transition: Transition, invoked: list[str] | None = None) -> Iterator[tuple[str, str]]:
    """(what the guard reads, the call to declare) for each connector whose answer the guard reads
    while the transition declares no call of that connector; `invoked`: the workspace's calls (whose
    connectors' answers a guard could read), the bureau's order alone when not given."""
    if transition.guard is None:
        return
    try:
        guard = parse(transition.guard.text)
    except ExpressionError:
        return  # reported by check_expressions
    invoked = invoked or []
    declared = connector_of(transition.invoke.text) if transition.invoke else None
    for connector in sorted(guard.roots & call_roots(invoked) - {declared}):
        read = sorted(f"{root}.{attr}" for root, attr in guard.attributes if root == connector) or [connector]
        calls = [call for call in invoked if connector_of(call) == connector and well_formed(call)]
        if connector == BUREAU:
            calls = [f"{BUREAU}.{ORDER}"]
        yield read[0], calls[0] if len(calls) == 1 else f"{connector}.OPERATION"


def check_known_calls(processes: Processes, scripts: Scripts) -> Iterator[Diagnostic]:
    """`invoke` names a call as CONNECTOR.OPERATION (E261); connectors.yaml says which there are (E315)."""
    for process in _batches(processes):
        for transition in process.transitions:
            if transition.invoke and not well_formed(transition.invoke.text):
                yield diagnostic(transition.invoke.location, "E261", name=transition.invoke.text)


def check_one_call_per_group(processes: Processes, scripts: Scripts) -> Iterator[Diagnostic]:
    """The transitions of one trigger from one state declare one call, if any (E262)."""
    for process in _batches(processes):
        for (trigger, source), group in groups(process).items():
            calling = [t for t in group if t.invoke]
            for first, other in itertools.pairwise(calling):
                if first.invoke and other.invoke and first.invoke.text != other.invoke.text:
                    fields = {"first": first.label, "second": other.label, "trigger": trigger, "source": source}
                    yield diagnostic(other.invoke.location, "E262", **fields, one=first.invoke.text, other=other.invoke.text)
                    break


def check_answers_lead_somewhere(processes: Processes, scripts: Scripts) -> Iterator[Diagnostic]:
    """Both answers of a call take a transition, and not the same one (E263)."""
    for process in _batches(processes):
        options = declared_options(process, scripts)
        for (trigger, source), group in groups(process).items():
            call = group_call(group)
            if call is None:
                continue
            for outcome in outcomes(group, call, options):
                problem = _problem(outcome)
                if problem:
                    where = next(t.invoke.location for t in group if t.invoke)
                    fields = {"call": call, "trigger": trigger, "source": source, "when": outcome.when}
                    yield diagnostic(where, "E263", **fields, **problem)
                    break


def check_called_states(processes: Processes, scripts: Scripts) -> Iterator[Diagnostic]:
    """A state a card enters on a call's accepted answer is entered only with that call (E264)."""
    for process in _batches(processes):
        options = declared_options(process, scripts)
        entered: dict[str, tuple[str, Transition]] = {}
        for group in groups(process).values():
            call = group_call(group)
            for outcome in outcomes(group, call, options) if call else ():
                taken = outcome.accepted
                if taken is not None and taken.invoke and taken.dest not in taken.source:  # a state entered, not kept
                    entered.setdefault(taken.dest, (str(call), taken))
        for transition in process.transitions:
            if transition.invoke is None and transition.dest in entered and transition.dest not in transition.source:
                call, other = entered[transition.dest]
                where = process.document.at(("transitions", transition.index, "dest"))
                yield diagnostic(where, "E264", label=transition.label, state=transition.dest, call=call, other=other.label)


def groups(process: Process) -> dict[tuple[str, str], list[Transition]]:
    """The transitions of a process by (trigger, source), in the order the machine tries them."""
    found: dict[tuple[str, str], list[Transition]] = {}
    for transition in process.transitions:
        for source in transition.source:
            found.setdefault((transition.trigger, source), []).append(transition)
    return found


def group_call(group: list[Transition]) -> str | None:
    """The one call a group declares; None when it declares none, a malformed one or several."""
    calls = {t.invoke.text for t in group if t.invoke}
    return calls.pop() if len(calls) == 1 and all(well_formed(call) for call in calls) else None


def outcomes(group: list[Transition], call: str, options: Mapping[str, Variable]) -> Iterator[Outcome]:
    """Per combination of the options the group's guards read: the transition each answer takes,
    when the call is made and the options and the answer alone decide it."""
    try:
        guards = [parse(t.guard.text) if t.guard else None for t in group]
    except ExpressionError:
        return
    read = sorted({attr for guard in guards if guard for root, attr in guard.attributes if root == "options"})
    if any(name not in options for name in read):
        return  # an undeclared option is reported by check_expressions
    domains = [_values(options[name]) for name in read]
    if _size(domains) > MOST_COMBINATIONS:
        return
    connector = connector_of(call)
    for values in itertools.product(*domains):
        chosen = dict(zip(read, values, strict=True))
        scopes = [{"options": chosen, connector: sample_answer(call, accepted)} for accepted in (True, False)]
        taken = [_taken(group, guards, scope, connector) for scope in scopes]
        if all(called is not None for _, called in taken) and any(called for _, called in taken):
            shown = ", ".join(f"options.{name} = {value!r}" for name, value in chosen.items())
            yield Outcome(f" when {shown}" if shown else "", taken[0][0], taken[1][0])


def _taken(
    group: list[Transition], guards: list[Any], scope: dict[str, Any], connector: str
) -> tuple[Transition | None, bool | None]:
    """The transition the guards take in order, and whether the call was made on the way (a guard
    read its answer, or the transition taken declares it); (None, None) when the card decides."""
    called = False
    for transition, guard in zip(group, guards, strict=True):
        held, reads = guard.truth(scope) if guard else (True, [])
        called = called or any(name.partition(".")[0] == connector for name, _ in reads)
        if held is UNKNOWN:
            return None, None
        if held:
            return transition, called or transition.invoke is not None
    return None, called


def _problem(outcome: Outcome) -> dict[str, str] | None:
    if outcome.refused is None:
        return {"answer": "a refused", "why": "no transition takes it"}
    if outcome.accepted is None:
        return {"answer": "an accepted", "why": "no transition takes it"}
    if outcome.accepted is outcome.refused:
        return {"answer": "a refused", "why": f"it takes {outcome.refused.label}, as an accepted one does"}
    return None


def _values(variable: Variable) -> list[Any]:
    return list(variable.allowed or ()) if variable.type != "list" and variable.allowed else [variable.default]


def _size(domains: list[list[Any]]) -> int:
    size = 1
    for domain in domains:
        size *= len(domain)
    return size


def _batches(processes: Processes) -> Iterator[Process]:
    return (process for process in processes.values() if process.kind == "batch")


CALL_CHECKS = (
    check_guards_read_declared_calls,
    check_known_calls,
    check_one_call_per_group,
    check_answers_lead_somewhere,
    check_called_states,
)
