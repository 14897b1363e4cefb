"""`cardflow matrix`: the outcome of a batch process under every combination of its options."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from conftest import Run

ORDER = "CardsAddonExtProdBoProcOrderMultiple"
REQUEST = "CardsBoProcRequestMulitple"
APPROVAL = "CardsAddonExtProdBatchOrderApproval"
QUEUE = "CardsAddonExtProdQueue"
EMAIL = "CardsAddonExtProdOrderedEmail"
#: The options of the card in use (CardInUse, included by both lifecycles) and of its PIN: varied too,
#: pinned by the tests about ordering and requesting with `--set` (then shown as fixed).
IN_USE = {"CardsDeactivationApproval": False, "CardsEmailBeforeExpiringEachDay": True, "CardsMultipleActive": False}
ORDER_PIN = {"CardsAddonExtProdActivateSetPIN": True, "CardsAddonExtProdPINLength": "6"}
REQUEST_PIN = {"CardsPINDeliveryMethod": "print", "CardsPINLength": "6", "CardsPUKDeliveryMethod": "nopuk"}


def pinned(values: dict[str, Any]) -> list[str]:
    """`--set NAME=VALUE` for each (VALUE in YAML: a quoted "6" stays a string)."""
    return [arg for name, value in values.items() for arg in ("--set", f"{name}={json.dumps(value)}")]


PIN, PIN_REQUEST = pinned({**IN_USE, **ORDER_PIN}), pinned({**IN_USE, **REQUEST_PIN})
ORDER_BOOLS = [APPROVAL, "CardsAddonExtProdMultipleCards", EMAIL, QUEUE, "CardsAddonExtProdSelectProductionType"]
Golden = Callable[[str, str], None]
#: The options of the reminders' timers and the validity: not varied (no guard reads them, or not
#: a bool), shown with their values.
REMINDERS = {
    "CardsApprovalEscalationDays": 0,
    "CardsApprovalReminderDays": 3,
    "CardsEmailBeforeExpiringDays": [60, 30, 14, 7],
    "CardsValidityPeriod": "P3Y",
}


def matrix_json(run: Run, *args: str) -> dict[str, Any]:
    result = run("matrix", *args, "--json")
    assert result.exit_code == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def rows(data: dict[str, Any], **options: Any) -> list[dict[str, Any]]:
    """The combinations whose varied options have the given values."""
    return [c for c in data["combinations"] if all(c["options"][k] == v for k, v in options.items())]


def test_order_matrix_lists_every_combination_of_its_bools(cli: Run, golden: Golden) -> None:
    """The order process varies its 5 boolean options of ordering (2^5 rows, the card in use's pinned) in a
    stable order; golden JSON. Unpinned, it varies those too, each enumerated value of a text option among them."""
    result = cli("matrix", ORDER, *PIN, "--json")
    assert result.exit_code == 0
    golden("matrix_order.json", result.stdout)
    data = json.loads(result.stdout)
    assert data["process"] == ORDER
    assert data["varied"] == ORDER_BOOLS
    assert data["fixed"] == {"CardsAddonExtProdProductionTypes": ["standard"], **REMINDERS, **IN_USE, **ORDER_PIN}
    assert len(data["combinations"]) == 2 ** len(ORDER_BOOLS)
    assert [list(c["options"].values()) for c in data["combinations"][:3]] == [
        [False, False, False, False, False],
        [False, False, False, False, True],
        [False, False, False, True, False],
    ]
    everything = matrix_json(cli, ORDER)
    assert everything["varied"] == sorted([*ORDER_BOOLS, *IN_USE, *ORDER_PIN])
    assert len(everything["combinations"]) == 2 ** (len(ORDER_BOOLS) + len(IN_USE) + 1) * 2  # PINLength: "6" or "4"


def test_order_matrix_follows_the_domain(cli: Run) -> None:
    """Defaults queue the card; approval starts at requested; queue off orders or fails at once; cards end
    failed, aborted, rejected, or locked after their life in use (produced is no end: it is activated)."""
    data = matrix_json(cli, ORDER, *PIN)
    defaults = rows(data, **{APPROVAL: False, QUEUE: True, EMAIL: True})
    assert defaults and all(c["start"] == ["processing"] and c["flags"] == [] for c in defaults)
    assert {tuple(c["end_states"]) for c in defaults} == {("aborted", "failed", "locked")}
    for c in rows(data, **{APPROVAL: True}):
        assert c["start"] == ["requested"] and c["start_emails"] == {"requested": ["approval_requested"]}
        assert c["end_states"] == ["aborted", "failed", "locked", "rejected"]
    for c in rows(data, **{APPROVAL: False, QUEUE: False}):
        assert c["start"] == ["failed", "ordered"]
        assert c["flags"] == []  # the documented outcomes are alternatives: ordered is one
    assert all(c["stuck"] == [] for c in data["combinations"])


def test_ordered_email_option_changes_only_the_emails(cli: Run) -> None:
    """Flipping the "Card ordered" email option changes start emails and nothing else."""
    data = matrix_json(cli, ORDER, *PIN)
    without = {json.dumps({**c["options"], EMAIL: None}): c for c in rows(data, **{EMAIL: False})}
    changed = 0
    for c in rows(data, **{EMAIL: True}):
        other = without[json.dumps({**c["options"], EMAIL: None})]
        drop = ("options", "start_emails", "in_force")
        assert {k: v for k, v in c.items() if k not in drop} == {k: v for k, v in other.items() if k not in drop}
        changed += c["start_emails"] != other["start_emails"]
    assert changed == 4  # queue off, approval off: "ordered" sends card_ordered only with the option on
    emails = {json.dumps(c["start_emails"]) for c in rows(data, **{APPROVAL: False, QUEUE: False, EMAIL: True})}
    assert emails == {json.dumps({"failed": [], "ordered": ["card_ordered"]})}


def test_request_matrix_approval_off_and_on(cli: Run, golden: Golden) -> None:
    """The request process: approval off → approved; on → requested, then approved/rejected/aborted; an
    approved card is issued, activated and, in the end, locked; golden JSON."""
    result = cli("matrix", REQUEST, "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["varied"] == sorted(["CardsBatchRequestApproval", *IN_USE, *REQUEST_PIN])
    pinned_result = cli("matrix", REQUEST, *PIN_REQUEST, "--json")
    golden("matrix_request.json", pinned_result.stdout)
    data = json.loads(pinned_result.stdout)
    assert data["varied"] == ["CardsBatchRequestApproval"] and data["fixed"] == {**REMINDERS, **IN_USE, **REQUEST_PIN}
    off, on = data["combinations"]
    assert (off["options"], off["start"], off["end_states"]) == ({"CardsBatchRequestApproval": False}, ["approved"], ["locked"])
    assert off["flags"] == []
    assert (on["start"], on["end_states"], on["flags"]) == (["requested"], ["aborted", "locked", "rejected"], [])


def test_set_pins_a_variable_and_fixes_a_list(cli: Run) -> None:
    """--set pins a bool (not varied, shown as fixed) and gives a list its value."""
    data = matrix_json(cli, ORDER, *PIN, "--set", f"{QUEUE}=false", "--set", "CardsAddonExtProdProductionTypes=[a, b]")
    assert QUEUE not in data["varied"] and len(data["combinations"]) == 16
    assert data["fixed"] == {"CardsAddonExtProdProductionTypes": ["a", "b"], QUEUE: False, **REMINDERS, **IN_USE, **ORDER_PIN}
    assert all("processing" not in c["start"] for c in data["combinations"])


def test_human_output_is_a_table_with_the_fixed_line(cli: Run) -> None:
    """Without --json: a header with the varied options, one row per combination, then the fixed options."""
    result = cli("matrix", REQUEST, *PIN_REQUEST)
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["CardsBatchRequestApproval", "start", "end", "states", "flags"]
    assert lines[1].split()[:4] == ["*", "false", "approved", "locked"]
    assert lines[2].split()[:3] == ["true", "requested", "(approval_requested)"]
    fixed = " ".join(line.strip() for line in lines[lines.index("") + 1 :] if not line.startswith(("*:", "start:")))
    assert fixed == (
        "fixed: CardsApprovalEscalationDays = 0, CardsApprovalReminderDays = 3, CardsDeactivationApproval = false, "
        "CardsEmailBeforeExpiringDays = [60, 30, 14, 7], CardsEmailBeforeExpiringEachDay = true, "
        "CardsMultipleActive = false, CardsPINDeliveryMethod = print, CardsPINLength = 6, CardsPUKDeliveryMethod = nopuk, "
        "CardsValidityPeriod = P3Y"
    )
    assert max(map(len, lines)) <= 100


def test_the_row_of_the_options_in_force_is_marked(cli: Run, workspace: Path) -> None:
    """The row whose options the workspace (its `value:`) and --set give now is marked, in the table and in --json."""
    rules = workspace / "rules" / "CardsAddonExtProdScriptOptions.yaml"
    text = rules.read_text()
    block = text.index(f"  {APPROVAL}:")
    rules.write_text(text[:block] + text[block:].replace("    default: false\n", "    default: false\n    value: true\n", 1))
    ws = ["--workspace", str(workspace)]
    data = matrix_json(cli, ORDER, *ws, *PIN, "--set", f"{QUEUE}=false")
    (marked,) = [c for c in data["combinations"] if c["in_force"]]
    assert marked["options"] == {
        APPROVAL: True,
        "CardsAddonExtProdMultipleCards": False,
        EMAIL: True,
        "CardsAddonExtProdSelectProductionType": False,
    }
    lines = cli("matrix", ORDER, *ws, *PIN).stdout.splitlines()
    (row,) = [line for line in lines[1:] if line.startswith("*  ")]
    assert row.split()[1:7] == ["true", "false", "true", "true", "false", "requested"]
    assert "*: the options in force (the workspace's values and --set)" in lines


def stuck_workspace(workspace: Path) -> Path:
    """The request lifecycle where approve, reject and abort of `requested` need CardsRequestApproval."""
    path = workspace / "lifecycles" / "CardRequest.yaml"
    text = path.read_text()
    for trigger, dest in (("approve", "approved"), ("reject", "rejected"), ("abort", "aborted")):
        old = f"  - trigger: {trigger}\n    source: requested\n    dest: {dest}\n"
        assert old in text
        text = text.replace(old, f"{old}    guard: options.CardsRequestApproval\n")
    path.write_text(text)
    return workspace


def test_a_dead_end_under_some_options_is_flagged_stuck(cli: Run, workspace: Path) -> None:
    """A valid workspace whose `requested` only loops (postpone) when an option is off shows it stuck."""
    ws = str(stuck_workspace(workspace))
    assert cli("validate", "--workspace", ws).exit_code == 0
    data = matrix_json(cli, REQUEST, "--workspace", ws, *PIN_REQUEST)
    assert data["varied"] == ["CardsBatchRequestApproval", "CardsRequestApproval"]
    by_options = {tuple(c["options"].values()): c for c in data["combinations"]}
    stuck = by_options[(True, False)]
    assert (stuck["start"], stuck["end_states"], stuck["stuck"]) == (["requested"], ["requested"], ["requested"])
    assert stuck["unreachable_outcomes"] == ["approved", "rejected"]
    assert stuck["flags"] == ["no outcome reached (documented: approved, rejected)", "stuck: requested"]
    assert by_options[(True, True)]["flags"] == []
    assert by_options[(False, False)]["flags"] == by_options[(False, True)]["flags"] == []
    assert "stuck: requested" in cli("matrix", REQUEST, "--workspace", ws, *PIN_REQUEST).stdout


def test_a_cycle_without_an_end_is_flagged(cli: Run, workspace: Path) -> None:
    """States that loop among themselves with no path to a final or handover state are flagged "never ends"."""
    path = stuck_workspace(workspace) / "lifecycles" / "CardRequest.yaml"
    postpone = "  - trigger: postpone\n    source: requested\n    dest: requested\n"
    held = postpone.replace("dest: requested", "dest: held") + "  - trigger: approve\n    source: held\n    dest: requested\n"
    text = path.read_text()
    assert postpone in text
    path.write_text(text.replace(postpone, held).replace("  aborted:\n", "  held:\n    description: Postponed.\n  aborted:\n"))
    assert cli("validate", "--workspace", str(workspace)).exit_code == 0
    data = matrix_json(cli, REQUEST, "--workspace", str(workspace), *PIN_REQUEST)
    looping = {tuple(c["options"].values()): c for c in data["combinations"]}[(True, False)]
    assert (looping["end_states"], looping["stuck"]) == ([], [])
    assert looping["flags"] == [
        "never ends: held",
        "never ends: requested",
        "no outcome reached (documented: approved, rejected)",
    ]


def test_unknown_process_is_a_one_line_usage_error(cli: Run) -> None:
    """An unknown process name exits 2 with one line on stderr and nothing on stdout."""
    result = cli("matrix", "CardsBoProcRequestMultiple")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.strip().splitlines() == [
        "cardflow: unknown process 'CardsBoProcRequestMultiple' (did you mean 'CardsBoProcRequestMulitple'?)"
    ]


def test_action_process_is_a_one_line_usage_error(cli: Run) -> None:
    """An action process has no lifecycle of its own: exit 2 with one line naming what it acts on."""
    result = cli("matrix", "CardsBoProcDecideRequest", "--json")
    assert result.exit_code == 2
    assert json.loads(result.stdout)["error"]["code"] == "usage"  # --json: the refusal as JSON on stdout
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("cardflow: CardsBoProcDecideRequest is an action process")
    assert ORDER in line and REQUEST in line


def test_human_output_keeps_names_as_written_and_lines_short(cli: Run) -> None:
    """The table shows option columns as written, less their common prefix (named below), in lines under 160."""
    result = cli("matrix", ORDER, *PIN)
    lines = result.stdout.splitlines()
    assert lines[0].split()[:5] == ["BatchOrderApproval", "MultipleCards", "OrderedEmail", "Queue", "SelectProductionType"]
    assert "option columns: the variables named CardsAddonExtProd<column>" in lines
    assert max(map(len, lines)) < 160
    assert "unreachable" not in result.stdout and "no outcome reached" not in result.stdout
