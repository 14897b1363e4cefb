"""The connectors a transition calls (`invoke: NAME.OPERATION`), made from their declarations in
connectors.yaml, each with its settings read from the environment when it is made:

    webhook     a JSON POST a call (engine.outbound.webhook)
    folder      one JSON file a call, `<folder>/<key>.json`, written whole: print jobs for a local
                printer, or files another system picks up; accepted once written, the file's name
                its reference
    simulated   accepts every call and writes nothing

The card's order at the bureau (`bureau.order`) is not made here: it goes through the bureau's
connector (engine.outbound.bureau), which the command line may choose (`--connector`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol

from engine.definitions.connector_kinds import environment
from engine.definitions.declared import Connector
from engine.outbound.bureau import Simulated, write_once
from engine.outbound.calls import Call, CallAnswer
from engine.outbound.webhook import DEFAULT_TIMEOUT, Webhook


class Caller(Protocol):
    """Anything that makes a call and answers it, never raising for what the other side does."""

    def call(self, call: Call) -> CallAnswer: ...


class Folder:
    """Writes each call once as `<folder>/<key>.json`; a call whose file exists (an attempt before a
    crash) is accepted as it is."""

    def __init__(self, name: str, folder: Path) -> None:
        self.name, self.folder = name, folder

    def call(self, call: Call) -> CallAnswer:
        data = {"key": call.key, "operation": call.operation, "card": call.card, **call.payload}
        try:
            name = write_once(self.folder, call.key, data)
        except OSError as error:
            return CallAnswer("unavailable", message=f"the connector {self.name} cannot write {self.folder}: {error.strerror}")
        return CallAnswer("accepted", reference=name)


class Unset:
    """A connector whose needed setting has no value in the environment: every call waits, saying which."""

    def __init__(self, name: str, setting: str, variables: tuple[str, ...]) -> None:
        self.message = f"the connector {name} has no {setting}: set ${' or $'.join(variables)} and send again"

    def call(self, call: Call) -> CallAnswer:
        return CallAnswer("unavailable", message=self.message)


def caller_of(connector: Connector) -> Caller:
    """The caller of a declared connector of kind webhook, folder or simulated (validate refuses a
    transition's call of any other: E317)."""
    values = {setting: _setting(connector, setting) for setting in ("url", "secret", "timeout", "folder")}
    if connector.kind == "simulated":
        return Simulated()
    needed = "folder" if connector.kind == "folder" else "url"
    if not values[needed]:
        return Unset(connector.name, needed, environment(connector, needed))
    if connector.kind == "folder":
        return Folder(connector.name, Path(str(values["folder"])))
    timeout = _seconds(values["timeout"])
    return Webhook(connector.name, str(values["url"]), secret=values["secret"], timeout=timeout)


def _setting(connector: Connector, setting: str) -> str | None:
    """The first of the setting's variables that has a value, else None."""
    for variable in environment(connector, setting):
        value = os.environ.get(variable)
        if value:
            return value
    return None


def _seconds(text: str | None) -> float:
    try:
        return float(text) if text else DEFAULT_TIMEOUT
    except ValueError:
        return DEFAULT_TIMEOUT
