"""The effect registry (engine.effects): an effect entry's one kind key names its kind, and a kind
added at run time, in this test alone, is validated, shown and fired without touching any other
module of cardflow."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pytest
from conftest import Run, StoreUnderTest

from engine import effects
from engine.diagnostics import Diagnostic, Location, Source, diagnostic
from engine.effects.base import At, Effect, Firing, Kind

ORDER, ACTIVATE = "CardsAddonExtProdBoProcOrderMultiple", "TestBoProcActivateMultiple"
USERS = """id,name,email,state,roles
op1,Olle Operator,op1@example.com,active,operator
u1,Alice,alice@example.com,active,
u2,Bertil,bertil@example.com,active,
"""
#: What the toy kind "delivered": (card, text) when it fired, and the cards of each unit of work written.
FIRED: list[tuple[int, str]] = []
WRITTEN: list[list[int]] = []
PENDING: list[int] = []


@dataclass(frozen=True)
class Stamp(Effect):
    """The toy kind: stamp the card with a text (here: remember it)."""

    KIND: ClassVar[str] = "stamp"

    stamp: str


def _build(spec: Mapping[str, Any], when: Source | None, location: Location, at: At) -> Stamp:
    return Stamp(when, location, spec["stamp"])


def _fire(effect: Stamp, firing: Firing) -> None:
    FIRED.append((firing.card["id"], effect.stamp))
    PENDING.append(firing.card["id"])


def _check(effect: Stamp, process: Any, processes: Mapping[str, Any]) -> Iterator[Diagnostic]:
    if effect.stamp.isupper():
        yield diagnostic(effect.location, "E106", detail="a stamp must not shout")


def _flush(connection: Any, context: Any, work: Any, lost: set[int]) -> None:
    WRITTEN.append([card for card in PENDING if card not in lost])
    PENDING.clear()


STAMP = Kind(
    "stamp",
    {"stamp": {"type": "string", "required": True, "empty": False}},
    _build,
    _fire,
    lambda effect: f"stamp {effect.stamp}",
    check=_check,
    flush=_flush,
)


@pytest.fixture
def stamp() -> Iterator[None]:
    """The toy kind registered for one test."""
    effects.register(STAMP)
    FIRED.clear()
    WRITTEN.clear()
    PENDING.clear()
    yield
    effects.unregister("stamp")


def _stamped(workspace: Path, entry: str) -> Path:
    """The extended workspace whose `activate` transition carries the effect `entry`."""
    path = workspace / "processes" / f"{ORDER}.yaml"
    text = (Path(__file__).parent / "extended" / "processes" / f"{ORDER}.yaml").read_text()
    old = "  - trigger: activate\n    source: produced\n    dest: active\n"
    assert old in text
    path.write_text(text.replace(old, old + f"    effects:\n      - {entry}\n"))
    return workspace


def _diagnostics(run: Run, workspace: Path) -> list[tuple[str, int, int]]:
    result = run("validate", "--workspace", str(workspace), "--json")
    return [(found["code"], found["line"], found["col"]) for found in json.loads(result.stdout)]


def test_a_kind_registered_at_run_time_validates_and_is_shown(cli: Run, extended_workspace: Path, stamp: None) -> None:
    """A workspace using the toy kind validates clean and `show` lists its effect as the kind describes it."""
    workspace = _stamped(extended_workspace, "stamp: activated by the operator")
    assert _diagnostics(cli, workspace) == []
    detail = json.loads(cli("show", ORDER, "--workspace", str(workspace), "--json").stdout)
    (activate,) = [t for t in detail["transitions"] if t["trigger"] == "activate"]
    assert activate["effects"] == ["stamp activated by the operator"]


def test_a_registered_kind_s_shape_and_checks_are_diagnostics(cli: Run, extended_workspace: Path, stamp: None) -> None:
    """The kind's schema gives E105 for an empty stamp and its own check E106, at the effect's line and column."""
    assert _diagnostics(cli, _stamped(extended_workspace, "stamp: ''")) == [("E105", 173, 16)]
    assert _diagnostics(cli, _stamped(extended_workspace, "stamp: LOUD")) == [("E106", 173, 9)]


def test_an_unknown_kind_is_an_unknown_key_with_a_suggestion(cli: Run, extended_workspace: Path, stamp: None) -> None:
    """`stmp:` names no kind: E270 at the entry and E101 at the key, suggesting `stamp`."""
    workspace = _stamped(extended_workspace, "stmp: hello")
    result = json.loads(cli("validate", "--workspace", str(workspace), "--json").stdout)
    assert [(found["code"], found["line"], found["col"]) for found in result] == [("E101", 173, 9), ("E270", 173, 9)]
    assert "did you mean 'stamp'" in result[0]["message"]


def test_two_kind_keys_in_one_entry_are_refused(cli: Run, extended_workspace: Path, stamp: None) -> None:
    """An entry with `email:` and `stamp:` has two kinds: E270 at the second kind key."""
    workspace = _stamped(extended_workspace, "{email: card_ordered, to: holder, stamp: x}")
    assert [code for code, _, _ in _diagnostics(cli, workspace)] == ["E270"]


def test_a_registered_kind_fires_with_the_transition_and_writes_with_its_unit_of_work(
    run: Run, stored: StoreUnderTest, extended_workspace: Path, stamp: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Activating produced cards fires the toy kind once a card, and its flush runs when the unit of work is written."""
    monkeypatch.setenv("CARDFLOW_WORKSPACE", str(_stamped(extended_workspace, "stamp: activated")))
    (stored.folder / "users.csv").write_text(USERS)
    assert run("users", "import", "users.csv").exit_code == 0
    ordered = run("run", ORDER, "--user", "u1", "--user", "u2", "--as", "op1", "--json", "--set", "CardsAddonExtProdQueue=false")
    cards = sorted(result["card"] for result in json.loads(ordered.stdout)["results"])
    (stored.folder / "orders" / "status").mkdir(parents=True)
    for path in (stored.folder / "orders").glob("*.json"):
        (stored.folder / "orders" / "status" / path.name).write_text('{"status": "produced"}')
    assert run("orders", "sync").exit_code == 0 and FIRED == []
    result = run("run", ACTIVATE, "--all", "--as", "op1", "--json")
    assert result.exit_code == 0, result.output
    assert sorted(FIRED) == [(card, "activated") for card in cards]
    assert sorted(card for written in WRITTEN for card in written) == cards
