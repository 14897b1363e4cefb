"""The names a process was known by before (`aliases:`): a renamed process keeps working under its
old name in commands, the API, scenarios and the rows stored under it (Workspace.process finds it).

    symbolic_name: CardsProcAbortRequest
    aliases: [CardsBoProcAbortRequest]
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from engine.definitions.model import OptionScript, Process
from engine.diagnostics import Diagnostic, diagnostic


def check_aliases(processes: Mapping[str, Process], scripts: Mapping[str, OptionScript]) -> Iterator[Diagnostic]:
    """A process's `aliases` name no other process, and no two processes share one (E288): a name finds one process."""
    owners: dict[str, str] = {}
    for process in processes.values():
        for index, alias in enumerate(process.aliases):
            where = process.document.at(("aliases", index))
            if alias in processes:
                what = "itself" if alias == process.symbolic_name else f"the process {alias}"
                yield diagnostic(where, "E288", name=alias, what=what)
            elif owners.setdefault(alias, process.symbolic_name) != process.symbolic_name:
                yield diagnostic(where, "E288", name=alias, what=f"an alias of {owners[alias]} too")
