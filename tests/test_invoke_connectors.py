"""Any connector the workspace declares can be called by a transition (`invoke: NAME.OPERATION`), in
YAML alone: here the extended workspace's `activate` tells an HR system, a webhook on a real HTTP
receiver on 127.0.0.1 (or a folder of JSON files). The call is written with the card, sent once the
card is saved, retried under one key while the receiver is down, failing or slow, visible in
`cardflow calls`, and its answer (accepted, refused) routes the card."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import Run
from test_scenario_steps import scenario
from test_trigger_commands import USERS, produced_card
from webhook_server import FakeReceiver, accept, respond

ORDER_FILE = "processes/CardsAddonExtProdBoProcOrderMultiple.yaml"
ACTIVATE = """  - trigger: activate
    source: produced
    dest: active
"""
#: The order process's `activate`, calling the HR system: accepted, the card is active; refused, it stays produced.
CALLING = """  - trigger: activate
    source: produced
    dest: active
    guard: hr.accepted
    invoke: hr.card_activated
  - trigger: activate
    source: produced
    dest: produced
    guard: not hr.accepted
    invoke: hr.card_activated
"""
#: Its `reactivate` (which the reference's Reactivate card fires) enters `active` too: with the same call (E264).
REACTIVATE = """  - trigger: reactivate
    source: inactive
    dest: active
"""
REACTIVATE_CALLING = (
    REACTIVATE
    + """    guard: hr.accepted
    invoke: hr.card_activated
  - trigger: reactivate
    source: inactive
    dest: inactive
    guard: not hr.accepted
    invoke: hr.card_activated
"""
)
HR = """  hr:
    kind: KIND
    description: The HR system, told of each activated card.
    settings: SETTINGS
    operations:
      card_activated:
        description: A card was activated.
        sends: {card: [id, state], holder: [id, email]}
"""


def declare(workspace: Path, kind: str, settings: str) -> Path:
    """The extended workspace whose `activate` calls `hr`, a connector of `kind` with `settings`."""
    order = workspace / ORDER_FILE
    text = order.read_text(encoding="utf-8")
    assert ACTIVATE in text and REACTIVATE in text
    order.write_text(text.replace(ACTIVATE, CALLING).replace(REACTIVATE, REACTIVATE_CALLING), encoding="utf-8")
    hr = HR.replace("KIND", kind).replace("SETTINGS", settings)
    shipped = (workspace / "connectors.yaml").read_text(encoding="utf-8")  # the bureau and the printer
    (workspace / "connectors.yaml").write_text(shipped + hr, encoding="utf-8")
    return workspace


@pytest.fixture
def cf(run: Run, tmp_path: Path) -> Run:
    (tmp_path / "cwd" / "users.csv").write_text(USERS)
    assert run("users", "import", "users.csv").exit_code == 0
    return run


@pytest.fixture
def receiver() -> Iterator[FakeReceiver]:
    with FakeReceiver() as running:
        yield running


@pytest.fixture
def hooked(extended_workspace: Path, receiver: FakeReceiver, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The workspace whose `hr` is a webhook at the receiver, each attempt bounded to half a second."""
    monkeypatch.setenv("HR_HOOK_URL", receiver.url)
    monkeypatch.setenv("HR_HOOK_TIMEOUT", "0.5")
    return declare(extended_workspace, "webhook", "{url: HR_HOOK_URL, timeout: HR_HOOK_TIMEOUT}")


def ok(result: Any) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def states(cf: Run) -> list[str]:
    return [card["state"] for card in ok(cf("cards", "--json"))]


def activate(cf: Run, workspace: Path, tmp_path: Path) -> tuple[int, Any]:
    """A produced card of u1, then `activate` on it: the card and the command's result."""
    card = produced_card(cf, tmp_path / "cwd", workspace, "u1")
    return card, cf("activate", str(card), "--as", "op1", "--workspace", str(workspace))


def test_an_accepted_call_moves_the_card_and_sends_what_its_operation_declares(
    cf: Run, hooked: Path, receiver: FakeReceiver, tmp_path: Path
) -> None:
    """One POST, after the card is saved, with the declared card and holder fields; the card is
    active and the call answered with the receiver's reference; the decision trace names the call."""
    card, result = activate(cf, hooked, tmp_path)
    assert result.exit_code == 0, result.output
    assert states(cf) == ["active"]
    (delivery,) = receiver.deliveries
    assert delivery.operation == "card_activated" and delivery.key == f"hr%card_activated%card{card}.1"
    assert delivery.body == {
        "process": "CardsAddonExtProdBoProcOrderMultiple",
        "trigger": "activate",
        "card": {"id": card, "state": "produced"},
        "holder": {"id": "u1", "email": "alice@example.com"},
    }
    (call,) = [c for c in ok(cf("calls", "--json")) if c["call"] == "hr.card_activated"]
    assert (call["status"], call["outcome"], call["reference"], call["attempts"]) == ("answered", "accepted", "R-00001", 1)
    story = cf("explain", str(card), "--json", "--workspace", str(hooked))
    assert '"connector": "hr"' in story.stdout and '"operation": "card_activated"' in story.stdout


@pytest.mark.parametrize(
    ("first", "said"),
    [
        (respond(500, {"message": "try later"}), "the webhook hr answered HTTP 500: try later"),
        (accept(delay=2), "no answer from the webhook hr"),
    ],
    ids=["failing", "slow"],
)
def test_a_call_without_an_answer_waits_and_is_sent_again_under_its_key(
    cf: Run, hooked: Path, receiver: FakeReceiver, tmp_path: Path, first: Any, said: str
) -> None:
    """A receiver that fails or is too slow: the card stays produced, its call pending with one
    attempt and why; `calls send --now` sends it again under the same key, and the card is active.
    The slow receiver got it twice and, deduplicating by key, acted once."""
    receiver.then(first)
    card, result = activate(cf, hooked, tmp_path)
    assert result.exit_code == 1 and "calls send --now" in result.output, result.output
    assert states(cf) == ["produced"]
    (call,) = ok(cf("calls", "--json", "--status", "pending"))
    assert (call["call"], call["card"], call["attempts"]) == ("hr.card_activated", card, 1)
    assert call["message"].startswith(said)

    (sent,) = ok(cf("calls", "send", "--now", "--json", "--workspace", str(hooked)))
    assert (sent["status"], sent["outcome"], sent["to"]) == ("answered", "accepted", "active")
    assert states(cf) == ["active"]
    assert [d.key for d in receiver.deliveries] == [call["key"], call["key"]]
    assert len(receiver.taken) == 1


def test_a_receiver_that_is_down_leaves_the_call_pending_until_it_is_back(
    cf: Run, extended_workspace: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing listens at the URL: the call waits (the connection refused, said), and is made once
    a receiver listens there."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("HR_HOOK_URL", f"http://127.0.0.1:{port}/hook")
    workspace = declare(extended_workspace, "webhook", "{url: HR_HOOK_URL}")
    _, result = activate(cf, workspace, tmp_path)
    assert result.exit_code == 1, result.output
    (call,) = ok(cf("calls", "--json", "--status", "pending"))
    assert "refused the connection" in call["message"]
    with FakeReceiver() as back:
        monkeypatch.setenv("HR_HOOK_URL", back.url)
        (sent,) = ok(cf("calls", "send", "--now", "--json", "--workspace", str(workspace)))
    assert (sent["outcome"], sent["to"]) == ("accepted", "active") and len(back.deliveries) == 1


def test_a_refused_call_takes_the_refused_route(cf: Run, hooked: Path, receiver: FakeReceiver, tmp_path: Path) -> None:
    """A 4xx is a refusal: the card takes the transition for a refused answer (it stays produced),
    and the call is answered refused with the receiver's reason; it is not tried again."""
    receiver.then(respond(422, {"message": "unknown employee"}))
    _, result = activate(cf, hooked, tmp_path)
    assert result.exit_code == 0, result.output
    assert states(cf) == ["produced"]
    (call,) = [c for c in ok(cf("calls", "--json")) if c["call"] == "hr.card_activated"]
    assert (call["status"], call["outcome"], call["message"]) == ("answered", "refused", "unknown employee")
    assert ok(cf("calls", "send", "--now", "--json", "--workspace", str(hooked))) == []
    assert len(receiver.deliveries) == 1


def test_a_call_whose_connector_has_no_url_waits_saying_which_variable_to_set(
    cf: Run, extended_workspace: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HR_HOOK_URL", raising=False)
    workspace = declare(extended_workspace, "webhook", "{url: HR_HOOK_URL}")
    _, result = activate(cf, workspace, tmp_path)
    assert result.exit_code == 1
    (call,) = ok(cf("calls", "--json", "--status", "pending"))
    assert call["message"] == "the connector hr has no url: set $HR_HOOK_URL and send again"
    assert states(cf) == ["produced"]


def test_a_folder_connector_writes_one_file_a_call(
    cf: Run, extended_workspace: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A connector of kind folder (a printer's print jobs, a folder another system reads): one JSON
    file a call, named after its key, holding what the operation sends; the file's name is its reference."""
    jobs = tmp_path / "hr-jobs"
    monkeypatch.setenv("HR_FOLDER", str(jobs))
    workspace = declare(extended_workspace, "folder", "{folder: HR_FOLDER}")
    card, result = activate(cf, workspace, tmp_path)
    assert result.exit_code == 0, result.output
    (written,) = jobs.glob("*.json")
    data = json.loads(written.read_text(encoding="utf-8"))
    assert (data["operation"], data["card"], data["holder"]) == (
        "card_activated",
        {"id": card, "state": "produced"},
        {
            "id": "u1",
            "email": "alice@example.com",
        },
    )
    (call,) = [c for c in ok(cf("calls", "--json")) if c["call"] == "hr.card_activated"]
    assert call["reference"] == written.stem and states(cf) == ["active"]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            ("    guard: hr.accepted\n    invoke: hr.card_activated\n", "    guard: hr.accepted\n"),
            "E260 guard reads 'hr.accepted', but",
        ),
        (("invoke: hr.card_activated", "invoke: hr.card_activate"), "E315 invoke 'hr.card_activate' names no connector"),
        (("guard: hr.accepted\n", "guard: hr.order_id == 'x'\n"), "E303"),
        (("invoke: hr.card_activated", "invoke: hr"), "E261 invoke 'hr' is not a call"),
    ],
    ids=["read-undeclared", "unknown-operation", "unknown-field", "malformed"],
)
def test_validate_says_what_is_wrong_with_a_call(
    cli: Run, extended_workspace: Path, change: tuple[str, str], expected: str
) -> None:
    workspace = declare(extended_workspace, "webhook", "{url: HR_HOOK_URL}")
    order = workspace / ORDER_FILE
    text = order.read_text(encoding="utf-8")
    assert change[0] in text
    order.write_text(text.replace(change[0], change[1], 1), encoding="utf-8")
    result = cli("validate", "--workspace", str(workspace))
    assert result.exit_code == 1
    assert any(f"{ORDER_FILE}:" in line and expected in line for line in result.stdout.splitlines()), result.stdout


def test_a_go_cards_connector_other_than_the_bureau_is_not_called_by_a_transition(cli: Run, extended_workspace: Path) -> None:
    workspace = declare(extended_workspace, "go_cards", "{url: A, client_id: B, client_secret: C, org_id: D}")
    text = (workspace / "connectors.yaml").read_text(encoding="utf-8")
    (workspace / "connectors.yaml").write_text(text.replace("card_activated:", "order:"), encoding="utf-8")
    order = workspace / ORDER_FILE
    order.write_text(order.read_text(encoding="utf-8").replace("hr.card_activated", "hr.order"), encoding="utf-8")
    result = cli("validate", "--workspace", str(workspace))
    assert result.exit_code == 1
    assert "E317 invoke 'hr.order' cannot be made by a transition: cardflow orders through the GO Cards API" in result.stdout


def test_a_scenario_fires_a_calling_transition_and_reaches_no_other_system(
    cli: Run, hooked: Path, receiver: FakeReceiver, tmp_path: Path
) -> None:
    """In a scenario the simulated bureau answers every call (accepted): the card is active, and the
    HR webhook the workspace declares receives nothing."""
    path = scenario(tmp_path, "  - activate: [u1]\n    as: op1\n", "  cards:\n    u1: [active]\n    u2: [produced]\n")
    result = cli("test", str(path), "--workspace", str(hooked), "--json")
    assert result.exit_code == 0, result.stdout
    assert json.loads(result.stdout)["passed"] == 1
    assert receiver.deliveries == []
