"""The check of the trigger that creates a batch process's cards (`creates:`, or the one leaving the initial state)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from engine.definitions.model import OptionScript, Process
from engine.diagnostics import Diagnostic, diagnostic, did_you_mean


def check_creating_trigger(processes: Mapping[str, Process], scripts: Mapping[str, OptionScript]) -> Iterator[Diagnostic]:
    """A batch process has one trigger that creates its cards: `creates`, else the one leaving the initial state."""
    for process in (p for p in processes.values() if p.kind == "batch"):
        initials = [state.name for state in process.states.values() if state.initial]
        if len(initials) != 1:
            continue  # E204 says so
        initial = initials[0]
        leaving = process.initial_triggers
        if process.creates is not None:
            where = process.document.at(("creates",))
            if process.creates not in process.triggers:
                yield diagnostic(where, "E220", name=process.creates, hint=did_you_mean(process.creates, process.triggers))
            elif process.creates not in leaving:
                yield diagnostic(where, "E221", name=process.creates, initial=initial)
        elif not leaving:
            yield diagnostic(process.states[initial].location, "E222", initial=initial)
        elif len(leaving) > 1:
            names = ", ".join(f"'{name}'" for name in leaving)
            yield diagnostic(process.states[initial].location, "E223", names=names, initial=initial)
