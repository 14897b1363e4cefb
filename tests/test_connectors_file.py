"""connectors.yaml: the systems a workspace calls, declared beside its processes (issue 22, item 2).
Its diagnostics are in the corpus (tests/cases/connector_*.yaml); here what a workspace gets from it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from conftest import Run, StoreUnderTest

from engine.definitions.connector_kinds import KINDS, environment
from engine.definitions.connectors import DEFAULT_CONNECTORS, read_connectors
from engine.definitions.workspace import init_workspace, load_workspace

ROOT = Path(__file__).resolve().parents[1]

HR = """connectors:
  hr:
    kind: webhook
    description: Tell HR about new cards.
    settings: {url: [HR_HOOK_URL, LEGACY_HOOK_URL], secret: HR_HOOK_SECRET}
    operations:
      notify:
        description: A card was activated.
        sends: {card: [id, state, production_type], holder: [id, name, department]}
"""


def test_a_workspace_without_the_file_calls_the_card_bureau(workspace: Path) -> None:
    """No connectors.yaml: the one connector a workspace of the old shape calls, the bureau; a call of any
    other connector (the shipped printer's) is then E315 where it is invoked."""
    (workspace / "connectors.yaml").unlink()
    loaded = load_workspace(workspace)
    assert loaded.connectors == DEFAULT_CONNECTORS
    assert sorted(loaded.connectors["bureau"].operations) == ["order", "status"]
    assert {(d.code, d.message.split("'")[1]) for d in loaded.diagnostics} == {("E315", "printer.print")}


def test_the_shipped_workspace_declares_the_card_bureau_with_order_and_status() -> None:
    loaded = load_workspace(ROOT)
    assert loaded.ok
    bureau = loaded.connectors["bureau"]
    assert (bureau.kind, sorted(bureau.operations)) == ("folder", ["order", "status"])
    assert environment(bureau, "folder") == ("CARDFLOW_ORDERS",)


def test_a_webhook_declares_its_operations_fields_and_the_variables_its_settings_come_from(workspace: Path) -> None:
    (workspace / "connectors.yaml").write_text(HR)
    connectors, found = read_connectors(workspace)
    assert found == []
    hr = connectors["hr"]
    assert (hr.kind, list(hr.operations)) == ("webhook", ["notify"])
    assert hr.operations["notify"].sends == {"card": ("id", "state", "production_type"), "holder": ("id", "name", "department")}
    assert environment(hr, "url") == ("HR_HOOK_URL", "LEGACY_HOOK_URL")
    assert environment(hr, "secret") == ("HR_HOOK_SECRET",)
    assert environment(hr, "timeout") == ()


def test_a_go_cards_connector_reads_the_vendors_variables_by_default() -> None:
    """Without `settings`, the GO Cards API is configured as the vendor's smartid.env does it."""
    assert KINDS["go_cards"].settings["client_id"] == ("CARDFLOW_BUREAU_CLIENT_ID", "IDM_CAAS_CLIENT_ID")
    assert KINDS["go_cards"].settings["url"] == ("CARDFLOW_BUREAU_URL", "IDM_CAAS_HOSTNAME")


def test_a_connectors_file_that_is_not_yaml_is_reported_at_its_line(workspace: Path, cli: Run) -> None:
    (workspace / "connectors.yaml").write_text("connectors:\n  bureau: [unclosed\n")
    result = cli("validate", "--workspace", str(workspace))
    assert result.exit_code == 1
    assert result.stdout.startswith("connectors.yaml:3:1: E00")


def test_a_value_written_where_a_variable_name_belongs_is_refused(workspace: Path, cli: Run) -> None:
    """Settings name environment variables; a URL written in the file is a shape error, not a secret kept."""
    (workspace / "connectors.yaml").write_text(HR.replace("[HR_HOOK_URL, LEGACY_HOOK_URL]", "https://hr.example.com/hook"))
    result = cli("validate", "--workspace", str(workspace))
    assert result.exit_code == 1
    assert "connectors.yaml:5:21: E1" in result.stdout


def test_init_copies_the_connectors(tmp_path: Path) -> None:
    init_workspace(tmp_path / "site")
    assert (tmp_path / "site" / "connectors.yaml").read_text() == (ROOT / "connectors.yaml").read_text()


def test_an_edited_connectors_file_is_read_again_past_the_cache(
    workspace: Path, cli: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CARDFLOW_CACHE", str(tmp_path / "cache"))
    shutil.copy(ROOT / "connectors.yaml", workspace / "connectors.yaml")
    assert cli("validate", "--workspace", str(workspace)).exit_code == 0
    (workspace / "connectors.yaml").write_text((ROOT / "connectors.yaml").read_text().replace("kind: folder", "kind: foldr"))
    result = cli("validate", "--workspace", str(workspace))
    assert result.exit_code == 1 and "E310" in result.stdout


def test_a_call_of_an_operation_connectors_yaml_does_not_declare_is_refused_where_it_is_invoked(
    workspace: Path, cli: Run
) -> None:
    """The processes call what connectors.yaml declares: renaming the bureau's `order` operation leaves
    every `invoke: bureau.order` of the order process calling nothing (E315 at each, with a close name)."""
    shipped = (ROOT / "connectors.yaml").read_text()
    (workspace / "connectors.yaml").write_text(shipped.replace("      order:\n", "      place_order:\n"))
    result = cli("validate", "--workspace", str(workspace))
    assert result.exit_code == 1
    refusals = [line for line in result.stdout.splitlines() if " E315 " in line]
    assert len(refusals) == 10  # each transition that invokes it, in the lifecycle and in the processes that order
    assert refusals[0] == (
        "lifecycles/CardOrder.yaml:65:13: E315 invoke 'bureau.order' names no connector"
        " operation connectors.yaml declares (did you mean 'bureau.place_order'?)"
        " (declared: bureau.place_order, bureau.status, printer.print)"
    )


USERS = """id,name,email,state,roles,department
op1,Olle Operator,op1@example.com,active,operator,IT
u1,Alice,alice@example.com,active,,Sales
"""


def _orders(workspace: Path, run: Run, stored: StoreUnderTest) -> list[dict[str, Any]]:
    (stored.folder / "users.csv").write_text(USERS)
    assert run("users", "import", "users.csv").exit_code == 0
    order = "CardsAddonExtProdBoProcOrderMultiple"
    result = run(
        "run", order, "--user", "u1", "--as", "op1", "--set", "CardsAddonExtProdQueue=false", "--workspace", str(workspace)
    )
    assert result.exit_code == 0, result.output
    return [json.loads(path.read_text()) for path in sorted((stored.folder / "orders").glob("*.json"))]


def test_an_order_sends_the_holder_attributes_the_operation_declares(workspace: Path, run: Run, stored: StoreUnderTest) -> None:
    """`sends: {holder: [...]}` on the bureau's order is what the order carries of its holder (as the
    vendor maps CardsMapUserToCard); without it, every attribute the holder has."""
    shipped = (ROOT / "connectors.yaml").read_text()
    (workspace / "connectors.yaml").write_text(
        shipped.replace("      order:\n", "      order:\n        sends: {holder: [id, name]}\n")
    )
    (order,) = _orders(workspace, run, stored)
    assert order["holder"] == {"id": "u1", "name": "Alice"}


def test_without_sends_an_order_carries_every_attribute_of_its_holder(workspace: Path, run: Run, stored: StoreUnderTest) -> None:
    (order,) = _orders(workspace, run, stored)
    assert order["holder"] == {
        "id": "u1",
        "name": "Alice",
        "email": "alice@example.com",
        "state": "active",
        "department": "Sales",
    }


def _declare_bureau_kind(workspace: Path, kind: str) -> None:
    shipped = (ROOT / "connectors.yaml").read_text()
    (workspace / "connectors.yaml").write_text(shipped.replace("    kind: folder\n", f"    kind: {kind}\n", 1))  # the bureau's


def test_the_bureau_kind_declared_is_the_one_a_run_orders_through(workspace: Path, run: Run, stored: StoreUnderTest) -> None:
    """`kind: simulated` in connectors.yaml: a run orders through the simulated bureau (no order file);
    `--connector dropfolder` still chooses for one command."""
    _declare_bureau_kind(workspace, "simulated")
    assert _orders(workspace, run, stored) == []
    assert json.loads(run("cards", "--json").stdout)[0]["state"] == "ordered"
    order = "CardsAddonExtProdBoProcOrderMultiple"
    queue_off = ("--set", "CardsAddonExtProdQueue=false")
    args = ("run", order, "--user", "u1", "--as", "op1", "--batch-id", "again", *queue_off, "--workspace", str(workspace))
    result = run(*args, "--connector", "dropfolder", "--set", "CardsAddonExtProdMultipleCards=true")
    assert result.exit_code == 0, result.output
    assert len(list((stored.folder / "orders").glob("*.json"))) == 1


def test_a_go_cards_bureau_without_its_settings_is_one_line_naming_them(
    workspace: Path, run: Run, stored: StoreUnderTest
) -> None:
    _declare_bureau_kind(workspace, "go_cards")
    (stored.folder / "users.csv").write_text(USERS)
    assert run("users", "import", "users.csv").exit_code == 0
    result = run("run", "CardsAddonExtProdBoProcOrderMultiple", "--user", "u1", "--as", "op1", "--workspace", str(workspace))
    assert result.exit_code == 2
    assert "CARDFLOW_BUREAU_URL (or IDM_CAAS_HOSTNAME)" in result.output


def test_a_bureau_declared_as_a_webhook_cannot_be_ordered_through(workspace: Path, cli: Run) -> None:
    """cardflow orders cards through a folder, the GO Cards API or the simulated bureau; a webhook
    named `bureau` would be quietly ignored, so each invoke of it is E316."""
    (workspace / "connectors.yaml").write_text(
        "connectors:\n  bureau:\n    kind: webhook\n    description: A bureau behind a webhook.\n"
        "    settings: {url: BUREAU_HOOK}\n    operations: {order: {}, status: {}}\n"
    )
    result = cli("validate", "--workspace", str(workspace))
    assert result.exit_code == 1
    lines = [line for line in result.stdout.splitlines() if " E316 " in line]
    assert len(lines) == 10  # each transition that invokes it, in the lifecycle and in the processes that order
    assert lines[0].endswith(
        "E316 invoke 'bureau.order': connector 'bureau' is a webhook, and cardflow makes this call through a connector"
        " of kind go_cards, folder, simulated"
    )
