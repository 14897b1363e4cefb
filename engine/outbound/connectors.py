"""Choosing a bureau connector by name: the command line's `--connector`, or $CARDFLOW_CONNECTOR."""

from __future__ import annotations

import os
from pathlib import Path

from engine.errors import UsageError
from engine.outbound.bureau import Connector, DropFolder, Simulated


def connector_from(name: str | None, orders: str | None = None) -> Connector:
    """The connector named on the command line or in $CARDFLOW_CONNECTOR (default: drop folder)."""
    chosen = name or os.environ.get("CARDFLOW_CONNECTOR") or "dropfolder"
    if chosen == "dropfolder":
        return DropFolder(Path(orders or os.environ.get("CARDFLOW_ORDERS") or "orders"))
    if chosen == "simulated":
        return Simulated()
    if chosen == "http":
        from engine.outbound.bureau_http import HttpBureau

        return HttpBureau.from_env()
    raise UsageError(f"unknown connector '{chosen}' (dropfolder, http or simulated)")
