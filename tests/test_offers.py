"""What a person may start, read from the workspace alone (engine.batch.offers), over the extended
workspace (tests/extended/): processes by role, the batch orders, where a card process acts."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.batch import offers
from engine.definitions.workspace import load_workspace
from engine.errors import Refused


def test_a_role_may_start_the_processes_whose_actor_it_is(extended_workspace: Path) -> None:
    """An operator may start the operator's processes, the new ones too; never the system's nor another role's."""
    workspace = load_workspace(extended_workspace).require_valid()
    names = [p.symbolic_name for p in offers.startable(workspace, ["operator"])]
    assert {"TestProcActivateCard", "TestBoProcActivateMultiple", "CardsAddonExtProdBoProcOrderMultiple"} <= set(names)
    assert all(workspace.processes[name].actor == "operator" for name in names)
    assert [p.symbolic_name for p in offers.startable(workspace, ["approver"])] == ["CardsBoProcDecideRequest"]


def test_batch_orders_are_the_processes_started_from_the_batch_order_menu(extended_workspace: Path) -> None:
    """BATCH ORDERS holds the processes that create cards and those whose start is "Batch order > …"."""
    workspace = load_workspace(extended_workspace).require_valid()
    orders = {p.symbolic_name: offers.acts_on_cards(p) for p in offers.batch_orders(workspace, ["operator"])}
    assert orders == {
        "CardsAddonExtProdBoProcOrderMultiple": False,
        "CardsAddonExtProdProcOrder": False,  # "User > Order card": creates cards, so offered here too
        "CardsBoProcRequestMulitple": False,
        "CardsProcRequest": False,
        "CardsBoProcIssueMultiple": True,  # "Batch order > Issue multiple cards": over approved cards
        "TestBoProcActivateMultiple": True,
    }


def test_a_card_process_is_started_from_one_card(extended_workspace: Path) -> None:
    """ "Activate card" is started from a card's page; the batch order over cards and the system's processes are not."""
    workspace = load_workspace(extended_workspace).require_valid()
    on_a_card = {name for name, p in workspace.processes.items() if offers.on_one_card(p)}
    assert "TestProcActivateCard" in on_a_card
    assert not on_a_card & {"TestBoProcActivateMultiple", "CardsAddonExtProdBatchSync", "CardsAddonExtProdBoProcOrderMultiple"}


def test_a_card_process_acts_on_the_states_its_triggers_leave(extended_workspace: Path) -> None:
    """The cards "Activate card" waits for: those in the states its trigger leaves, in each process it acts on
    (the produced cards of an order, the issued cards of a request)."""
    workspace = load_workspace(extended_workspace).require_valid()
    process = workspace.process("TestProcActivateCard")
    assert offers.acting_states(workspace, process) == {
        "CardsAddonExtProdBoProcOrderMultiple": ["produced"],
        "CardsAddonExtProdProcOrder": ["produced"],
        "CardsBoProcRequestMulitple": ["issued"],
        "CardsProcRequest": ["issued"],
    }


def test_a_person_without_the_processs_role_is_refused_naming_it(extended_workspace: Path) -> None:
    """The console's batch pages refuse through the engine: who, the role needed and the process's name; its holder passes."""
    workspace = load_workspace(extended_workspace).require_valid()
    process = workspace.processes["TestBoProcActivateMultiple"]
    with pytest.raises(Refused) as refused:
        offers.require_may_start(process, {"id": "ap1", "roles": ["approver"]})
    assert refused.value.message == f"ap1 does not have the operator role needed for {process.name}"
    offers.require_may_start(process, {"id": "op1", "roles": ["operator"]})
