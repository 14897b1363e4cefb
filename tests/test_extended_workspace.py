"""The extended workspace (tests/extended) is a valid workspace written in YAML alone."""

from __future__ import annotations

from pathlib import Path

from engine.definitions.workspace import load_workspace


def test_the_extended_workspace_validates_with_its_new_trigger_state_and_processes(extended_workspace: Path) -> None:
    """The overlay adds `activate`/`active` to the order process and two processes over existing cards, and validates clean."""
    workspace = load_workspace(extended_workspace)
    assert workspace.ok, [str(found) for found in workspace.diagnostics]
    order = workspace.process("CardsAddonExtProdBoProcOrderMultiple")
    assert "active" in order.states and "activate" in order.triggers
    assert {"TestProcActivateCard", "TestBoProcActivateMultiple"} <= set(workspace.processes)
