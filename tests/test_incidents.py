"""`cardflow incidents`: what needs a person, grouped, with counts, the oldest and the commands that
apply; exit 1 when anything does (both stores)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from conftest import Run, StoreUnderTest

ROOT = Path(__file__).resolve().parents[1]
ORDER, REQUEST = "CardsAddonExtProdBoProcOrderMultiple", "CardsBoProcRequestMulitple"
QUEUE_OFF = ("--set", "CardsAddonExtProdQueue=false")


def incidents(run: Run, workspace: Path, *args: str) -> tuple[int, list[dict[str, Any]]]:
    result = run("incidents", "--workspace", str(workspace), "--json", *args)
    return result.exit_code, json.loads(result.stdout)


@pytest.fixture
def ordered(run: Run, workspace: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Five sample users' cards ordered at a drop folder (the queue off), on 2026-03-02; the folder."""
    monkeypatch.setenv("CARDFLOW_NOW", "2026-03-02T09:00:00Z")
    orders = tmp_path / "orders"
    users = ROOT / "engine" / "testing" / "samples" / "users.csv"
    assert run("users", "import", str(users)).exit_code == 0
    picked = ("--user", "u001", "--user", "u002", "--user", "u003", "--user", "u004", "--user", "u006")
    done = run("run", ORDER, *picked, "--as", "op1", *QUEUE_OFF, "--orders", str(orders), "--workspace", str(workspace))
    assert done.exit_code == 0, done.output
    return orders


def report(orders: Path, answers: dict[int, dict[str, str]]) -> None:
    """The bureau's status files for the orders, by their place in the folder's sorted listing."""
    (orders / "status").mkdir(exist_ok=True)
    placed = sorted(orders.glob("*.json"))
    for index, answer in answers.items():
        (orders / "status" / placed[index].name).write_text(json.dumps(answer))


def test_nothing_needs_a_person_on_a_quiet_store(run: Run, ordered: Path, workspace: Path) -> None:
    assert incidents(run, workspace) == (0, [])
    result = run("incidents", "--workspace", str(workspace))
    assert (result.exit_code, result.stdout) == (0, "nothing needs a person\n")


def test_cards_the_bureau_failed_are_grouped_by_its_reason_with_what_to_do(run: Run, ordered: Path, workspace: Path) -> None:
    """A state marked `incident:` in the lifecycle: its cards by the trigger and reason that brought them
    there, with the lifecycle's advice and the commands people fire on them."""
    no_layout, no_photo = {"status": "failed", "reason": "no such layout"}, {"status": "failed", "reason": "the photo is missing"}
    report(ordered, {0: no_layout, 1: no_layout, 2: no_photo, 3: {"status": "produced"}})
    assert run("orders", "sync", "--orders", str(ordered), "--workspace", str(workspace)).exit_code in (0, 1)
    code, groups = incidents(run, workspace)
    assert code == 1
    cards = [group for group in groups if group["kind"] == "cards"]
    assert [(group["state"], group["reason"], group["count"]) for group in cards] == [
        ("failed", "the card bureau reports the order failed: no such layout", 2),
        ("failed", "the card bureau reports the order failed: the photo is missing", 1),
    ]
    first = cards[0]
    assert first["process"] == ORDER and first["oldest"] == "2026-03-02T09:00:00Z"
    assert first["what"].startswith("Deal with the bureau's reason")
    assert "cardflow retry CARD... --as YOU" in first["actions"]
    assert f"cardflow cards --process {ORDER} --state failed" in first["actions"]


def test_cards_waiting_too_long_with_no_timer_are_an_incident(
    run: Run, ordered: Path, workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CARDFLOW_NOW", "2026-03-10T09:00:00Z")
    assert incidents(run, workspace) == (0, [])  # eight days: not yet
    monkeypatch.setenv("CARDFLOW_NOW", "2026-03-20T09:00:00Z")
    code, groups = incidents(run, workspace)
    assert code == 1
    assert [(group["kind"], group["process"], group["state"], group["count"]) for group in groups] == [
        ("waiting", ORDER, "ordered", 5)
    ]
    assert incidents(run, workspace, "--waiting-longer-than", "P30D") == (0, [])


def test_the_human_form_names_each_group_and_its_commands(run: Run, ordered: Path, workspace: Path) -> None:
    report(ordered, {0: {"status": "failed", "reason": "no such layout"}})
    run("orders", "sync", "--orders", str(ordered), "--workspace", str(workspace))
    result = run("incidents", "--workspace", str(workspace))
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[0].startswith("cards: 1, the oldest 2026-03-02T09:00:00Z: Deal with the bureau's reason")
    assert "  reason: the card bureau reports the order failed: no such layout" in lines
    assert "  $ cardflow retry CARD... --as YOU" in lines
    assert result.stderr.strip() == "cardflow: 1 group(s) need a person (1 in all)"


def test_a_duration_that_is_none_is_a_usage_error(cli: Run, workspace: Path) -> None:
    result = cli("incidents", "--workspace", str(workspace), "--waiting-longer-than", "14 days")
    assert result.exit_code == 2
    assert "--waiting-longer-than: '14 days' is not an ISO 8601 duration" in result.stderr


def test_a_card_waits_with_no_timer_once_its_last_timer_has_fired(
    run: Run, workspace: Path, stored: StoreUnderTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Requests waiting for approval arm their reminders and escalation: a card is not `timerless`
    (the incidents read that mark, not the timers) while one is armed, however overdue, and waits
    with no timer once the last has fired (`timers run`)."""
    monkeypatch.setenv("CARDFLOW_NOW", "2026-03-02T09:00:00Z")
    users = ROOT / "engine" / "testing" / "samples" / "users.csv"
    assert run("users", "import", str(users)).exit_code == 0
    approval = ("--set", "CardsBatchRequestApproval=true")
    asked = run("run", REQUEST, "--user", "u001", "--user", "u002", "--as", "op1", *approval, "--workspace", str(workspace))
    assert asked.exit_code == 0, asked.output
    assert stored.scalar("SELECT count(*) FROM cards WHERE state = 'requested' AND NOT timerless") == 2
    monkeypatch.setenv("CARDFLOW_NOW", "2026-06-01T09:00:00Z")
    assert [g for g in incidents(run, workspace)[1] if g["kind"] == "waiting"] == []  # overdue, but armed
    for week in range(1, 10):  # a run a week fires what is due; the reminder re-arms until its last
        monkeypatch.setenv("CARDFLOW_NOW", f"2026-06-{week * 3:02d}T09:00:00Z")
        assert run("timers", "run", "--workspace", str(workspace)).exit_code == 0
        armed = stored.scalar("SELECT count(*) FROM timers WHERE status = 'armed'")
        assert stored.scalar("SELECT count(*) FROM cards WHERE timerless") == 2 - armed  # a reminder each, or none
        if armed == 0:
            break
    assert armed == 0 and stored.scalar("SELECT count(*) FROM cards WHERE timerless") == 2
    monkeypatch.setenv("CARDFLOW_NOW", "2026-08-01T09:00:00Z")
    waiting = [(g["state"], g["count"]) for g in incidents(run, workspace)[1] if g["kind"] == "waiting"]
    assert waiting == [("requested", 2)]


def test_a_card_entering_a_state_whose_timers_are_all_off_waits_with_none(
    run: Run, workspace: Path, stored: StoreUnderTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reminders and escalation both off (0 days): a request enters `requested`, which declares timers,
    with none armed; it is `timerless` at once and waits too long after the threshold."""
    monkeypatch.setenv("CARDFLOW_NOW", "2026-03-02T09:00:00Z")
    assert run("users", "import", str(ROOT / "engine" / "testing" / "samples" / "users.csv")).exit_code == 0
    off = ("--set", "CardsBatchRequestApproval=true", "--set", "CardsApprovalReminderDays=0")
    assert run("run", REQUEST, "--user", "u003", "--as", "op1", *off, "--workspace", str(workspace)).exit_code == 0
    assert stored.scalar("SELECT count(*) FROM timers") == 0
    assert stored.scalar("SELECT count(*) FROM cards WHERE state = 'requested' AND timerless") == 1
    monkeypatch.setenv("CARDFLOW_NOW", "2026-04-01T09:00:00Z")
    waiting = [(g["state"], g["count"]) for g in incidents(run, workspace)[1] if g["kind"] == "waiting"]
    assert waiting == [("requested", 1)]


def test_the_upgrade_marks_the_cards_stored_that_wait_with_no_timer(stored: StoreUnderTest) -> None:
    """Migration 17 on a store of the version before: a card in a state some timer was armed in, with
    none armed now, is `timerless`; a card with an armed timer, or in a state without timers, is not."""
    from sqlalchemy import text

    from engine.store import db, migrations

    older = db.connect(stored.location, migrate=False)
    db.upgrade(older, target=migrations.MIGRATIONS.index(migrations._timerless_cards))
    card = {"process": REQUEST, "open": True, "requester": "op1", "batch_id": "b", "created_at": "t", "updated_at": "t"}
    timer = "INSERT INTO timers (card_id, process, state, timer, location, trigger, due_at, fired, status, armed_at) VALUES"
    with older.begin() as connection:
        for number, (user, state) in enumerate([("u1", "requested"), ("u2", "requested"), ("u3", "approved")], start=1):
            connection.execute(db.cards.insert().values(id=number, user_id=user, state=state, **card))
        for card_id, status in ((1, "fired"), (2, "armed")):  # as version 17 stored them
            connection.execute(text(f"{timer} ({card_id}, '{REQUEST}', 'requested', 0, 'x:1', 'go', 't', 0, '{status}', 't')"))
    db.upgrade(older)
    older.dispose()
    assert stored.rows("SELECT id FROM cards WHERE timerless ORDER BY id") == [(1,)]
