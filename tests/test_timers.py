"""Timers on states, in YAML alone: armed when a card enters the state (a row written with the change),
dropped when it leaves, fired once when due by `cardflow timers run` (as the system, in the audit
trail with the timer's FILE:LINE), repeating `every` period at most `max` times, once after a
downtime. Here a request that waits for an approver is reminded after three days, then daily."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import Run

from engine.definitions.workspace import load_workspace

REQUEST = "CardsBoProcRequestMulitple"
REQUEST_FILE = "lifecycles/CardRequest.yaml"  # the states, transitions and timers of the request
USERS = """id,name,email,state,roles
op1,Olle Operator,op1@example.com,active,operator
ap1,Anna Approver,ap1@example.com,active,approver
u1,Alice,alice@example.com,active,
u2,Bertil,bertil@example.com,active,
"""
WAITING = """  requested:
    description: The card request waits for an approver.
"""
TIMED = """  requested:
    description: The card request waits for an approver.
    timers:
      - after: P3D
        fire: remind
        every: P1D
        max: 3
"""
TRIGGERS = """triggers:
"""
REMIND = """triggers:
  remind:
    description: Remind the approvers of a request that waits.
"""
LOOP = """  - trigger: postpone
    source: requested
    dest: requested
"""
REMINDING = (
    LOOP
    + """  - trigger: remind
    source: requested
    dest: requested
"""
)
FRIDAY = "2026-12-04T09:00:00Z"
APPROVAL = ("--set", "CardsBatchRequestApproval=true")


#: The shipped reminders and escalation of a waiting request, which these tests replace by their own.
SHIPPED = """    # Reminders and escalation while it waits (CardsScriptReminderOptions; working days of calendar.yaml)
    timers:
      - after: options.CardsApprovalReminderDays
        every: options.CardsApprovalReminderDays
        max: 3
        working_days: true
        fire: remind_approvers
      - after: options.CardsApprovalEscalationDays
        working_days: true
        fire: escalate
"""


def timed(workspace: Path, timers: str = TIMED) -> Path:
    """The reference workspace whose waiting requests are reminded (`remind`, a self-loop) by `timers`
    instead of the shipped timers."""
    path = workspace / REQUEST_FILE
    text = path.read_text(encoding="utf-8").replace(WAITING + SHIPPED, WAITING)
    assert WAITING in text and TRIGGERS in text and LOOP in text and SHIPPED not in text
    path.write_text(text.replace(WAITING, timers).replace(TRIGGERS, REMIND).replace(LOOP, REMINDING), encoding="utf-8")
    return workspace


@pytest.fixture
def cf(run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Run:
    (tmp_path / "cwd" / "users.csv").write_text(USERS)
    assert run("users", "import", "users.csv").exit_code == 0
    monkeypatch.setenv("CARDFLOW_NOW", FRIDAY)
    return run


def ok(result: Any) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def at(monkeypatch: pytest.MonkeyPatch, moment: str) -> None:
    monkeypatch.setenv("CARDFLOW_NOW", moment)


def test_a_timer_is_armed_on_entering_dropped_on_leaving_and_fired_once_when_due(
    cf: Run, workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = ("--workspace", str(timed(workspace)))
    results = ok(cf("run", REQUEST, "--user", "u1", "--user", "u2", "--as", "op1", "--json", *ws, *APPROVAL))["results"]
    first, second = (r["card"] for r in results)
    armed = ok(cf("timers", "--json"))
    due = "2026-12-07T09:00:00Z"
    assert [(t["card"], t["state"], t["due"]) for t in armed] == [(first, "requested", due), (second, "requested", due)]
    assert armed[0]["action"].startswith(f"fire remind (the timer at {REQUEST_FILE}:")

    assert ok(cf("approve", str(second), "--as", "ap1", "--json", *ws, *APPROVAL))[0]["to"] == "approved"
    assert [t["card"] for t in ok(cf("timers", "--json"))] == [first]  # the approved card left the state

    at(monkeypatch, "2026-12-06T09:00:00Z")
    assert cf("timers", "run", *ws).stdout.strip() == "no timer is due"

    at(monkeypatch, "2026-12-07T09:00:05Z")
    (fired,) = ok(cf("timers", "run", "--json", *ws))
    assert (fired["card"], fired["trigger"], fired["status"], fired["to"]) == (first, "remind", "fired", "requested")
    assert ok(cf("timers", "run", "--json", *ws)) == []  # fired once
    story = cf("explain", str(first), *ws).stdout
    assert f"fired by the timer at {REQUEST_FILE}:" in story and "due 2026-12-07T09:00:00Z" in story
    (following,) = ok(cf("timers", "--json"))
    assert (following["card"], following["due"]) == (first, "2026-12-08T09:00:00Z")


def test_a_repeating_timer_fires_once_after_a_downtime_and_stops_at_its_max(
    cf: Run, workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = ("--workspace", str(timed(workspace)))
    (card,) = (r["card"] for r in ok(cf("run", REQUEST, "--user", "u1", "--as", "op1", "--json", *ws, *APPROVAL))["results"])
    at(monkeypatch, "2026-12-07T10:00:00Z")
    assert len(ok(cf("timers", "run", "--json", *ws))) == 1
    at(monkeypatch, "2026-12-20T10:00:00Z")  # twelve daily firings missed: one now, the next tomorrow
    assert len(ok(cf("timers", "run", "--json", *ws))) == 1
    assert [t["due"] for t in ok(cf("timers", "--json"))] == ["2026-12-21T09:00:00Z"]
    at(monkeypatch, "2026-12-21T09:00:00Z")
    assert len(ok(cf("timers", "run", "--json", *ws))) == 1
    assert ok(cf("timers", "--json")) == []  # max: 3 firings in all
    reminded = [t for t in ok(cf("explain", str(card), "--json", *ws))["transitions"] if t["trigger"] == "remind"]
    assert len(reminded) == 3


@pytest.mark.parametrize(
    ("timers", "expected"),
    [
        ("      - after: P3X\n        fire: remind\n", "E265 after: 'P3X' is not an ISO 8601 duration"),
        ("      - after: PT0S\n        fire: remind\n", "E265 after: 'PT0S' is not longer than zero"),
        ("      - after: P3D\n        fire: remind\n        every: P1D\n", "E266 timer: repeats every P1D and has no `max`"),
        ("      - after: P3D\n        fire: remnd\n", "E267 timer: fires 'remnd', which no transition takes from 'requested'"),
    ],
    ids=["not-a-duration", "zero", "no-end", "unknown-trigger"],
)
def test_validate_says_what_is_wrong_with_a_timer(cli: Run, workspace: Path, timers: str, expected: str) -> None:
    timed(workspace, WAITING + "    timers:\n" + timers)
    result = cli("validate", "--workspace", str(workspace))
    assert result.exit_code == 1
    assert any(line.startswith(f"{REQUEST_FILE}:") and expected in line for line in result.stdout.splitlines()), result.stdout


REMINDER = {
    "subject.txt": "Card request {{ card.id }} for {{ holder.name }} still waits",
    "text.txt": "Hello {{ recipient.name }},\n\nCard request {{ card.id }} for {{ holder.name }} still waits for an approver.\n",
    "html": "<p>Hello {{ recipient.name }},</p><p>Card request {{ card.id }} for {{ holder.name }} still waits.</p>\n",
}
#: Two requests; u2's is decided after two days, u1's waits: reminded on days 3, 4 and 5 (max 3).
SCENARIO = """\
name: Waiting requests are reminded
now: 2026-12-04T09:00:00Z
users:
  - {id: op1, name: Olle Operator, email: op1@example.com, state: active, roles: [operator]}
  - {id: ap1, name: Anna Approver, email: ap1@example.com, state: active, roles: [approver]}
  - {id: u1, name: Alice, email: alice@example.com, state: active}
  - {id: u2, name: Bertil, email: bertil@example.com, state: active}
options:
  CardsBatchRequestApproval: true
steps:
  - run: CardsBoProcRequestMulitple
    as: op1
    users: [u1, u2]
  - advance: P2D
  - approve: [u2]
    as: ap1
  - advance: P8D
expect:
  cards:
    u1: [requested]
    u2: [approved]
  emails:
    - {template: approval_requested, to: ap1@example.com}
    - {template: request_approved, to: op1@example.com}
    - {template: request_reminder, to: op1@example.com}
    - {template: request_reminder, to: op1@example.com}
    - {template: request_reminder, to: op1@example.com}
"""


def reminding(workspace: Path) -> Path:
    """The timed workspace whose `remind` emails the requester a reminder."""
    timed(workspace)
    path = workspace / REQUEST_FILE
    text = path.read_text(encoding="utf-8")
    loop = "  - trigger: remind\n    source: requested\n    dest: requested\n"
    emailing = loop + "    effects:\n      - email: request_reminder\n        to: requester\n"
    path.write_text(text.replace(loop, emailing), encoding="utf-8")
    for part, body in REMINDER.items():
        (workspace / "templates" / "email" / f"request_reminder.{part}").write_text(body, encoding="utf-8")
    return workspace


def test_a_scenario_advances_its_clock_and_the_timers_fire_as_the_days_pass(cli: Run, workspace: Path, tmp_path: Path) -> None:
    """`advance: P8D` fires each timer at its due time, in order: three daily reminders for the
    request that waits, none for the one decided; a wrong count fails the scenario."""
    path = tmp_path / "remind.scenario.yaml"
    path.write_text(SCENARIO, encoding="utf-8")
    ws = ("--workspace", str(reminding(workspace)))
    result = cli("test", str(path), *ws, "--json")
    assert result.exit_code == 0, result.stdout
    path.write_text(SCENARIO.replace("advance: P8D", "advance: P2DT12H"), encoding="utf-8")  # day 4.5: two
    failed = cli("test", str(path), *ws, "--json")
    assert failed.exit_code == 1 and "missing request_reminder to op1@example.com" in failed.stdout


def test_a_step_that_advances_by_no_duration_is_E265(cli: Run, workspace: Path, tmp_path: Path) -> None:
    path = tmp_path / "remind.scenario.yaml"
    path.write_text(SCENARIO.replace("advance: P2D", "advance: two days"), encoding="utf-8")
    result = cli("test", str(path), "--workspace", str(reminding(workspace)))
    assert result.exit_code == 1 and "E265 advance: 'two days' is not an ISO 8601 duration" in result.stdout


def test_working_days_skip_the_weekend_and_the_holidays_at_the_same_time_of_day() -> None:
    """Friday 10:00 plus 3 working days is Wednesday 10:00; a listed holiday, and a country's public
    holidays (the holidays library), are skipped too."""
    from datetime import date

    from engine.definitions.calendar import Calendar

    assert Calendar().add_working_days("2026-12-04T10:00:00Z", 3) == "2026-12-09T10:00:00Z"
    listed = Calendar(holidays=frozenset({date(2026, 12, 7)}))
    assert listed.add_working_days("2026-12-04T10:00:00Z", 3) == "2026-12-10T10:00:00Z"
    sweden = Calendar(country="SE")  # Christmas Day, a Friday in 2026, is a public holiday there
    assert sweden.add_working_days("2026-12-24T10:00:00Z", 1) == "2026-12-28T10:00:00Z"
    assert Calendar().add_working_days("2026-12-24T10:00:00Z", 1) == "2026-12-25T10:00:00Z"


CALENDAR_FILE = "calendar:\n  holidays: [2026-12-08]\n"


def test_a_reminder_after_three_working_days_waits_over_the_weekend_and_a_holiday(
    cf: Run, workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A request made on Friday 09:00 with a holiday on Tuesday is reminded on Thursday 09:00, not before."""
    working = TIMED.replace("        max: 3\n", "        max: 3\n        working_days: true\n")
    timed(workspace, working)
    (workspace / "calendar.yaml").write_text(CALENDAR_FILE, encoding="utf-8")
    ws = ("--workspace", str(workspace))
    assert cf("run", REQUEST, "--user", "u1", "--as", "op1", *ws, *APPROVAL).exit_code == 0
    assert [t["due"] for t in ok(cf("timers", "--json"))] == ["2026-12-10T09:00:00Z"]
    at(monkeypatch, "2026-12-09T09:00:00Z")
    assert ok(cf("timers", "run", "--json", *ws)) == []
    at(monkeypatch, "2026-12-10T09:00:00Z")
    assert len(ok(cf("timers", "run", "--json", *ws))) == 1
    assert [t["due"] for t in ok(cf("timers", "--json"))] == ["2026-12-11T09:00:00Z"]  # every P1D: the next working day


@pytest.mark.parametrize(
    ("calendar", "expected"),
    [
        ("calendar:\n  holidays: [2026-13-01]\n", "E269 calendar: '2026-13-01' is not a date"),
        ("calendar:\n  country: XX\n", "E269 calendar: no public holidays are known for country 'XX'"),
        ("calendar:\n  weekend: [caturday]\n", "E104 value 'caturday' is not one of monday"),
    ],
    ids=["bad-date", "unknown-country", "unknown-weekday"],
)
def test_validate_says_what_is_wrong_with_the_calendar(cli: Run, workspace: Path, calendar: str, expected: str) -> None:
    (workspace / "calendar.yaml").write_text(calendar, encoding="utf-8")
    result = cli("validate", "--workspace", str(workspace))
    assert result.exit_code == 1
    assert any(line.startswith("calendar.yaml:") and expected in line for line in result.stdout.splitlines()), result.stdout


def test_working_days_count_whole_days_only(cli: Run, workspace: Path) -> None:
    timed(workspace, WAITING + "    timers:\n      - after: PT36H\n        fire: remind\n        working_days: true\n")
    result = cli("validate", "--workspace", str(workspace))
    assert "E268 timer: working_days counts whole days: after 'PT36H' is not a number of days" in result.stdout


DECIDE_BY = """fields:
  decide_by:
    type: date
    description: The day by which the request should be decided.
"""
SETS_IT = """      - email: approval_requested
        to: approvers
"""
AT_DATE = """  requested:
    description: The card request waits for an approver.
    timers:
      - at: decide_by
        offset: -P1D
        fire: remind
"""


def dated(workspace: Path, timers: str = AT_DATE) -> Path:
    """The timed workspace whose requests get a `decide_by` date, and are reminded the day before it."""
    timed(workspace, timers)
    lifecycle, process = workspace / REQUEST_FILE, workspace / "processes" / f"{REQUEST}.yaml"
    text, creating = lifecycle.read_text(encoding="utf-8"), process.read_text(encoding="utf-8")
    assert text.count("\nfields:\n") == 1 and creating.count(SETS_IT) == 1
    setting = SETS_IT + "      - set: {decide_by: \"'2026-12-10'\"}\n"
    lifecycle.write_text(text.replace("\nfields:\n", "\n" + DECIDE_BY), encoding="utf-8")  # beside the PIN's fields
    process.write_text(creating.replace(SETS_IT, setting), encoding="utf-8")
    return workspace


def test_a_timer_at_a_date_of_the_card_is_due_then_moved_by_its_offset(
    cf: Run, workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`at: decide_by` with `offset: -P1D`: due at 00:00 UTC the day before the date the transition set."""
    ws = ("--workspace", str(dated(workspace)))
    assert cf("run", REQUEST, "--user", "u1", "--as", "op1", *ws, *APPROVAL).exit_code == 0
    assert [t["due"] for t in ok(cf("timers", "--json"))] == ["2026-12-09T00:00:00Z"]
    at(monkeypatch, "2026-12-09T00:00:00Z")
    (fired,) = ok(cf("timers", "run", "--json", *ws))
    assert (fired["trigger"], fired["status"]) == ("remind", "fired")


def test_a_timer_before_a_date_is_due_on_each_day_still_to_come(
    cf: Run, workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`before: [30, 3, 1]` days of `decide_by` (2026-12-10), armed on Friday 2026-12-04: the 30-day one has
    passed and is not sent late; the others are due at 00:00 UTC those days, each fired once."""
    ws = ("--workspace", str(dated(workspace, AT_DATE.replace("offset: -P1D", "before: [30, 3, 1]"))))
    assert cf("run", REQUEST, "--user", "u1", "--as", "op1", *ws, *APPROVAL).exit_code == 0
    assert [t["due"] for t in ok(cf("timers", "--json"))] == ["2026-12-07T00:00:00Z", "2026-12-09T00:00:00Z"]
    at(monkeypatch, "2026-12-09T00:00:00Z")
    assert [(t["trigger"], t["status"]) for t in ok(cf("timers", "run", "--json", *ws))] == [("remind", "fired")] * 2


@pytest.mark.parametrize(
    ("timers", "expected"),
    [
        (AT_DATE.replace("at: decide_by", "at: decide_bye"), "E276 timer: at: 'decide_bye' is no date field of the card"),
        (AT_DATE.replace("offset: -P1D", "after: P1D"), "E277 timer: needs exactly one of `after`"),
        (AT_DATE.replace("offset: -P1D", "offset: a day before"), "E265 offset: 'a day before' is not an ISO 8601 duration"),
        (
            AT_DATE.replace("offset: -P1D", "offset: -P1D\n        before: 2"),
            "E287 timer: before: goes with `at` alone, not with `offset`",
        ),
        (
            AT_DATE.replace("offset: -P1D", "before: options.CardsBatchRequestApproval"),
            "E287 timer: before: 'options.CardsBatchRequestApproval' gives no whole number of days",
        ),
        (
            AT_DATE.replace("at: decide_by\n        offset: -P1D", "after: P1D\n        before: 2"),
            "E287 timer: before: needs `at`",
        ),
    ],
    ids=["unknown-field", "both", "bad-offset", "before-and-offset", "before-no-days", "before-without-at"],
)
def test_validate_says_what_is_wrong_with_a_timer_at_a_date(cli: Run, workspace: Path, timers: str, expected: str) -> None:
    dated(workspace, timers)
    result = cli("validate", "--workspace", str(workspace))
    assert any(expected in line for line in result.stdout.splitlines()), result.stdout


def test_expressions_read_now_the_time_every_command_runs_at(cf: Run, workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A prerequisite on `now` (requests close at the end of 2026) holds or not as CARDFLOW_NOW says."""
    path = workspace / "processes" / f"{REQUEST}.yaml"
    text = path.read_text(encoding="utf-8")
    closing = "prerequisites:\n  - rule: now < '2027-01-01'\n    message: Requests close at the end of 2026.\n"
    path.write_text(text.replace("prerequisites:\n", closing, 1), encoding="utf-8")
    ws = ("--workspace", str(workspace))
    checked = cf("validate", *ws)
    assert checked.exit_code == 0, checked.stdout
    (made,) = ok(cf("run", REQUEST, "--user", "u1", "--as", "op1", "--json", *ws))["results"]
    assert made["status"] == "created"
    at(monkeypatch, "2027-01-02T09:00:00Z")
    (late,) = ok(cf("run", REQUEST, "--user", "u2", "--as", "op1", "--json", *ws))["results"]
    assert (late["status"], late["reason"]) == ("skipped", "Requests close at the end of 2026.")


def test_coverage_counts_each_timer_fired_by_the_scenarios(cli: Run, workspace: Path, tmp_path: Path) -> None:
    """A timer is a coverage goal: reached once a scenario fires it, named as missing until then."""
    path = tmp_path / "remind.scenario.yaml"
    ws = ("--workspace", str(reminding(workspace)))
    line = (workspace / REQUEST_FILE).read_text(encoding="utf-8").splitlines().index("      - after: P3D") + 1
    path.write_text(SCENARIO, encoding="utf-8")
    reached = json.loads(cli("test", str(path), *ws, "--json").stdout)["coverage"]
    (request,) = [c for c in reached if c["process"] == REQUEST]
    declared = sum(len(state.timers) for state in load_workspace(workspace).processes[REQUEST].states.values())
    assert request["timers"] == {"fired": [f"{REQUEST_FILE}:{line}"], "total": declared}  # and the card in use's
    path.write_text(SCENARIO.split("  - advance: P2D\n")[0] + "expect:\n  cards:\n    u1: [requested]\n", encoding="utf-8")
    unreached = json.loads(cli("test", str(path), *ws, "--json").stdout)["coverage"]
    (request,) = [c for c in unreached if c["process"] == REQUEST]
    assert request["timers"]["fired"] == [] and f"the timer at {REQUEST_FILE}:{line} never fired" in request["missing"]


def test_a_timer_whose_trigger_no_transition_takes_is_refused_and_the_others_of_its_chunk_fire(
    cf: Run, workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The due timers of one transaction fire together: u2's reminder is refused (its guard does not
    hold), marked so with why (exit 1), while u1's fires and is written."""
    timed(workspace, TIMED.replace("        every: P1D\n        max: 3\n", ""))
    path = workspace / REQUEST_FILE
    text = path.read_text(encoding="utf-8")
    looping = "  - trigger: remind\n    source: requested\n    dest: requested\n"
    path.write_text(text.replace(looping, looping + "    guard: user.id == 'u1'\n"), encoding="utf-8")
    ws = ("--workspace", str(workspace))
    first, second = (
        r["card"]
        for r in ok(cf("run", REQUEST, "--user", "u1", "--user", "u2", "--as", "op1", "--json", *ws, *APPROVAL))["results"]
    )
    at(monkeypatch, "2026-12-07T09:00:00Z")
    result = cf("timers", "run", "--json", *ws)
    assert result.exit_code == 1
    outcome = {r["card"]: (r["status"], r["message"]) for r in json.loads(result.stdout)}
    assert outcome[first] == ("fired", None)
    assert outcome[second][0] == "refused" and "no transition of it fits" in outcome[second][1]
    reminded = [t for t in ok(cf("explain", str(first), "--json", *ws))["transitions"] if t["trigger"] == "remind"]
    refused = [t for t in ok(cf("explain", str(second), "--json", *ws))["transitions"] if t["trigger"] == "remind"]
    assert len(reminded) == 1 and refused == []


def test_a_date_or_a_clock_that_is_no_time_is_a_one_line_error(cf: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    """`--due-before tomorrow` and `CARDFLOW_NOW=yesterday` would compare as text and find nothing:
    each is a usage error (exit 2) saying what to write."""
    result = cf("timers", "--due-before", "tomorrow")
    assert result.exit_code == 2 and "--due-before 'tomorrow' is not an ISO 8601 date or time" in result.output
    monkeypatch.setenv("CARDFLOW_NOW", "yesterday")
    result = cf("timers", "run")
    assert result.exit_code == 2 and "CARDFLOW_NOW='yesterday' is not an ISO 8601 time (as 2026-12-04T09:00:00Z)" in result.output


def test_plan_names_the_timers_each_card_would_arm(cf: Run) -> None:
    """`plan` says which timers a run would arm, where each is declared and when it falls due: the
    reminder three working days after Friday 09:00 is Wednesday 09:00; none when the option turns it off."""
    planned = ok(cf("plan", REQUEST, "--user", "u1", *APPROVAL, "--json"))
    [timer] = planned["results"][0]["timers"]
    assert (timer["fire"], timer["due"]) == ("remind_approvers", "2026-12-09T09:00:00Z")
    assert timer["timer"].startswith("lifecycles/CardRequest.yaml:")
    assert (
        ok(cf("plan", REQUEST, "--user", "u1", *APPROVAL, "--set", "CardsApprovalReminderDays=0", "--json"))["results"][0][
            "timers"
        ]
        == []
    )
    text = cf("plan", REQUEST, "--user", "u1", *APPROVAL).stdout
    assert "remind_approvers 2026-12-09T09:00:00Z" in text and "1 timer(s) armed" in text


def test_diff_population_names_the_timers_a_change_moves_or_disarms(cf: Run, workspace: Path) -> None:
    """`diff --population` shows a timer that a changed option moves (due two working days later) or
    turns off, for each user, in the groups and the details, even where nothing else changes."""
    rules = workspace / "rules" / "CardsScriptOptions.yaml"  # the approval step on, on both sides
    rules.write_text(
        rules.read_text().replace(
            "    type: bool\n    default: false\n", "    type: bool\n    default: false\n    value: true\n", 1
        )
    )
    base = ("diff", "--left", str(workspace), "--population", REQUEST, "--where", "user.id == 'u1'")
    moved = cf(*base, "--set", "CardsApprovalReminderDays=5", "--json")
    assert moved.exit_code == 1, moved.output
    [group] = json.loads(moved.stdout)["groups"]
    assert group["left"].endswith("(timers: remind_approvers due 2026-12-09T09:00:00Z)")
    assert group["right"].endswith("(timers: remind_approvers due 2026-12-11T09:00:00Z)")
    off = json.loads(cf(*base, "--set", "CardsApprovalReminderDays=0", "--json").stdout)
    [user] = off["users"]
    assert [timer.split(" (")[0] for timer in user["left"]["timers"]] == ["remind_approvers due 2026-12-09T09:00:00Z"]
    assert (user["left"]["cards"], user["right"]["cards"], user["right"]["timers"]) == (["requested"], ["requested"], [])
    assert "timers: remind_approvers due 2026-12-09T09:00:00Z" in cf(*base, "--set", "CardsApprovalReminderDays=0").stdout
