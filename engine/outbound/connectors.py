"""Choosing the bureau's connector: the command line's `--connector`, else $CARDFLOW_CONNECTOR, else the
kind connectors.yaml declares for the bureau, else the drop folder."""

from __future__ import annotations

import os
from pathlib import Path

from engine.errors import UsageError
from engine.outbound.bureau import Connector, DropFolder, Simulated

#: The connector of each kind of connectors.yaml that can order cards.
BY_KIND = {"folder": "dropfolder", "go_cards": "http", "simulated": "simulated"}


def connector_from(name: str | None, orders: str | None = None, declared: str | None = None) -> Connector:
    """The connector named on the command line or in $CARDFLOW_CONNECTOR, else the one of the kind the
    workspace `declared` for the bureau (default: drop folder)."""
    chosen = name or os.environ.get("CARDFLOW_CONNECTOR") or BY_KIND.get(declared or "", "dropfolder")
    if chosen == "dropfolder":
        return DropFolder(Path(orders or os.environ.get("CARDFLOW_ORDERS") or "orders"))
    if chosen == "simulated":
        return Simulated()
    if chosen == "http":
        from engine.outbound.bureau_http import HttpBureau

        return HttpBureau.from_env()
    raise UsageError(f"unknown connector '{chosen}' (dropfolder, http or simulated)")
