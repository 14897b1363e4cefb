"""Scenarios (`*.scenario.yaml`): users, cards, options, steps and expectations, run in a fresh store.

A scenario is loaded and checked like every other file (diagnostics with file:line:col), then run
in a temporary SQLite store at a frozen time, with batch ids numbered by step and a simulated
bureau that refuses the orders of the users a step lists under `fail`. Each expectation that does
not hold is a failure located at its line in the scenario.
"""

from __future__ import annotations

import json
import tempfile
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from engine.batch.actions import act
from engine.batch.by_name import NamedRun, run_by_name
from engine.batch.queue import sync_queue
from engine.batch.status import sync_order_status
from engine.batch.timers_due import fire_due
from engine.clock import frozen, move_to, now
from engine.definitions.document import Document
from engine.definitions.load import load_file
from engine.definitions.model import Workspace
from engine.definitions.timers import after
from engine.definitions.validate import validate
from engine.diagnostics import Diagnostic, Location
from engine.errors import CardflowError, Refused, clause
from engine.outbound.bureau import Simulated
from engine.store import db, history, queries, timers
from engine.store.queries import Row
from engine.store.users import user_row
from engine.testing.expected import check_expected
from engine.testing.steps import check_options, check_step, step_action, step_triggers

SCENARIO_TIME = "2026-01-02T09:00:00Z"


@dataclass(frozen=True)
class Step:
    """One step of a scenario: its action, its arguments and where it stands."""

    number: int
    action: str
    data: dict[str, Any]
    location: Location


@dataclass(frozen=True)
class Scenario:
    """A loaded, checked scenario."""

    file: str
    name: str
    document: Document = field(repr=False)
    steps: tuple[Step, ...]

    @property
    def data(self) -> dict[str, Any]:
        return self.document.data  # type: ignore[no-any-return]

    @property
    def options(self) -> dict[str, Any]:
        return dict(self.data.get("options") or {})


@dataclass(frozen=True)
class Failure:
    """An expectation that did not hold, or a step that did not go as written."""

    location: Location
    message: str

    def __str__(self) -> str:
        return f"{self.location}: {self.message}"


@dataclass
class Outcome:
    """What a scenario run left in its store, per user: card states, emails, orders, decisions."""

    cards: dict[str, list[str]] = field(default_factory=dict)
    emails: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    orders: dict[str, list[bool]] = field(default_factory=dict)
    decisions: dict[str, list[list[Row]]] = field(default_factory=dict)
    lives: list[tuple[str, list[Row]]] = field(default_factory=list)  # each card's process and decision traces, in order
    rendered: dict[str, list[Row]] = field(default_factory=dict)  # the outbox rows, as rendered
    fields: dict[str, Row] = field(default_factory=dict)  # the card fields of each user's newest card
    timers: list[tuple[str, str]] = field(default_factory=list)  # (process, FILE:LINE) of each timer fired


@dataclass
class ScenarioResult:
    """A scenario run: its failures and its outcome."""

    scenario: Scenario
    failures: list[Failure]
    outcome: Outcome

    @property
    def passed(self) -> bool:
        return not self.failures


def find_scenarios(paths: list[Path]) -> list[Path]:
    """Scenario files named by `paths` (files, or folders searched for *.scenario.yaml), sorted."""
    found: list[Path] = []
    for path in paths:
        found += sorted(path.rglob("*.scenario.yaml")) if path.is_dir() else [path]
    return found


def load_scenario(path: Path, workspace: Workspace, shown: str | None = None) -> tuple[Scenario | None, list[Diagnostic]]:
    """Load, validate and check one scenario file."""
    document, problems = load_file(path, shown or str(path))
    if document is None:
        return None, problems
    shape, buildable = validate(document, "scenario")
    if not buildable or problems:
        return None, [*problems, *shape]
    triggers = step_triggers(workspace)
    steps = tuple(
        Step(i + 1, step_action(entry, triggers), entry, document.at(("steps", i)))
        for i, entry in enumerate(document.data["steps"])
    )
    name = document.data.get("name")  # descriptive: a missing or odd name is reported (E103/E102), not fatal
    scenario = Scenario(document.file, str(name) if name is not None else Path(document.file).name, document, steps)
    found = [*shape, *_check(scenario, workspace)]
    return (None if found else scenario), found


def _check(scenario: Scenario, workspace: Workspace) -> Iterator[Diagnostic]:
    users = {str(user["id"]) for user in scenario.data["users"]}
    yield from check_options(scenario.document, ("options",), scenario.options, workspace)
    for step in scenario.steps:
        yield from check_step(scenario.document, step.number, step.data, users, workspace)
    yield from check_expected(scenario.document, users, workspace)


def run_scenario(
    workspace: Workspace, scenario: Scenario, overrides: Mapping[str, Any] | None = None, sources: Mapping[str, str] | None = None
) -> ScenarioResult:
    """Run a scenario in a fresh temporary store; `overrides` (e.g. a diff's --set) win over the scenario's options."""
    start = scenario.data.get("now") or SCENARIO_TIME
    with tempfile.TemporaryDirectory(prefix="cardflow-scenario-") as folder, frozen(start):
        engine = db.connect(str(Path(folder) / "scenario.db"))
        try:
            runner = _Runner(workspace, scenario, engine, dict(overrides or {}), dict(sources or {}))
            failures = runner.run()
            outcome = collect_outcome(engine)
            failures += expectations(scenario, outcome)
        finally:
            engine.dispose()
    return ScenarioResult(scenario, failures, outcome)


@dataclass
class _Runner:
    workspace: Workspace
    scenario: Scenario
    engine: Engine
    overrides: dict[str, Any]
    sources: dict[str, str]

    def run(self) -> list[Failure]:
        self._seed()
        failures = []
        for step in self.scenario.steps:
            problem = self._step(step)
            if problem:
                failures.append(Failure(step.location, problem))
        return failures

    def _seed(self) -> None:
        people = enumerate(self.scenario.data["users"])
        users = [user_row(f"{self.scenario.file}: user #{i + 1}", dict(u), list(self.workspace.roles)) for i, u in people]
        with self.engine.begin() as connection:
            queries.upsert_users(connection, users)
            queries.write_rows(connection, {"cards": self._seed_cards()})

    def _seed_cards(self) -> list[Row]:
        """The scenario's cards as rows, numbered from 1; a user's second card is of another (earlier) batch."""
        seen: dict[str, int] = {}
        rows = []
        for i, card in enumerate(self.scenario.data.get("cards") or []):
            seen[card["user"]] = seen.get(card["user"], 0) + 1
            process = self.workspace.processes.get(card["process"])
            finals = process.finals if process else frozenset()
            rows.append(
                {
                    "id": i + 1,
                    "user_id": card["user"],
                    "process": card["process"],
                    "state": card["state"],
                    "open": card["state"] not in finals,
                    "requester": card.get("requester", "system"),
                    "requested_by": card.get("requester", "system"),
                    "production_type": card.get("production_type"),
                    "batch_id": "existing" if seen[card["user"]] == 1 else f"existing-{seen[card['user']]}",
                    "created_at": SCENARIO_TIME,
                    "updated_at": SCENARIO_TIME,
                }
            )
        return rows

    def _options(self, step: Step) -> tuple[dict[str, Any], dict[str, str]]:
        where = f"{self.scenario.file}:{self.scenario.document.at(('options',)).line}"
        options = {**self.scenario.options, **(step.data.get("set") or {}), **self.overrides}
        sources = {name: where for name in self.scenario.options}
        sources.update({name: f"{self.scenario.file}:{step.location.line}" for name in step.data.get("set") or {}})
        sources.update({name: self.sources.get(name, "--set") for name in self.overrides})
        return options, sources

    def _step(self, step: Step) -> str | None:
        reason = step.data.get("reason")
        statuses = {
            str(user): (status, reason if status == "failed" else None)
            for user, status in (step.data.get("status") or {}).items()
        }
        bureau = Simulated(refuse=frozenset(str(user) for user in step.data.get("fail") or []), statuses=statuses)
        options, sources = self._options(step)
        try:
            self._do(step, bureau, options, sources)
        except CardflowError as error:
            return None if step.data.get("refused") else f"step {step.number} ({step.action}) failed: {error.message}"
        return (
            f"step {step.number} ({step.action}) was expected to be refused, but it was done"
            if step.data.get("refused")
            else None
        )

    def _do(self, step: Step, bureau: Simulated, options: dict[str, Any], sources: dict[str, str]) -> None:
        data = step.data
        if step.action == "run":
            self._run(step, bureau, options, sources)
        elif step.action == "queue":
            sync_queue(self.workspace, self.engine, bureau, limit=data.get("limit"), overrides=options, sources=sources)
        elif step.action == "orders":
            sync_order_status(self.workspace, self.engine, bureau, overrides=options)
        elif step.action == "advance":
            self._advance(str(data["advance"]), bureau)
        else:
            cards = self._cards(data[step.action])
            act(
                self.workspace,
                self.engine,
                step.action,
                cards,
                str(data.get("as", "")),
                bureau,
                reason=data.get("reason"),
                overrides=options,
                sources=sources,
            )

    def _advance(self, duration: str, bureau: Simulated) -> None:
        """Move the clock on by `duration`, firing each timer at its due time, in order (a daily reminder
        over a week fires seven times, as the days pass)."""
        target = after(now(), duration)
        while True:
            with self.engine.connect() as connection:
                due = timers.next_due(connection, target, 1)
            if not due:
                break
            move_to(max(now(), due[0]["due_at"]))
            refused = [r for r in fire_due(self.workspace, self.engine, bureau) if r.status == "refused"]
            if refused:
                raise Refused(f"the timer of card {refused[0].card} was refused: {refused[0].message}")
        move_to(target)

    def _run(self, step: Step, bureau: Simulated, options: dict[str, Any], sources: dict[str, str]) -> None:
        """A run step: any process by name, over users or over cards (a refused card refuses the step, as it
        makes `cardflow run` exit 1)."""
        data = step.data
        request = NamedRun(
            data["run"],
            str(data.get("as", "")),
            users=tuple(str(u) for u in data.get("users") or ()),
            cards=tuple(self._cards(data.get("cards") or [])),
            all=bool(data.get("all")),
            where=data.get("where"),
            trigger=data.get("trigger"),
            reason=data.get("reason"),
            production_type=data.get("production_type"),
            batch_id=f"{Path(self.scenario.file).name.split('.')[0]}-{step.number}",
            overrides=options,
            sources=sources,
        )
        refused = [
            r for r in run_by_name(self.workspace, self.engine, request, bureau).as_json()["results"] if r["status"] == "refused"
        ]
        if refused:
            raise Refused("; ".join(f"card {r['card']} ({r['from']}) refused: {clause(r['reason'] or '')}" for r in refused))

    def _cards(self, refs: list[Any]) -> list[int]:
        """Card ids for references: a number is a card id; a user id means that user's latest card."""
        cards = []
        with db.reading(self.engine) as connection:
            for ref in refs:
                if isinstance(ref, int):
                    cards.append(ref)
                    continue
                mine = queries.find_cards(connection, user=ref)
                if not mine:
                    raise CardflowError(f"user {ref} has no card")
                cards.append(mine[-1]["id"])
        return cards


def collect_outcome(engine: Engine) -> Outcome:
    """Per user: card states oldest first, emails (and as rendered), bureau answers, and each card's decisions."""
    outcome = Outcome()
    with db.reading(engine) as connection:
        cards = queries.find_cards(connection)
        owner = {card["id"]: card for card in cards}
        for card in cards:
            outcome.cards.setdefault(card["user_id"], []).append(card["state"])
            outcome.fields[card["user_id"]] = json.loads(card["fields"])
            moves = history.card_history(connection, card["id"])
            outcome.decisions.setdefault(card["user_id"], []).append(
                [{"trigger": row["trigger"], "dest": row["dest"], "trace": row["trace"]} for row in moves]
            )
            outcome.lives.append((card["process"], [row["trace"] for row in moves]))
        outcome.timers = [(row["process"], row["location"]) for row in timers.listing(connection, status="fired")]
        for email in queries.list_outbox(connection):
            user = owner[email["card_id"]]["user_id"] if email["card_id"] in owner else "(batch)"
            outcome.emails.setdefault(user, []).append((email["template"], email["recipient"]))
            outcome.rendered.setdefault(user, []).append(email)
        for order in history.all_orders(connection):
            outcome.orders.setdefault(owner[order["card_id"]]["user_id"], []).append(bool(order["accepted"]))
    return outcome


def all_emails(outcome: Outcome) -> list[tuple[str, str]]:
    return [email for emails in outcome.emails.values() for email in emails]


def expectations(scenario: Scenario, outcome: Outcome) -> list[Failure]:
    """Each expectation of the scenario that `outcome` does not meet."""
    expect = scenario.data.get("expect") or {}
    document = scenario.document
    failures = []
    for user, states in (expect.get("cards") or {}).items():
        actual = outcome.cards.get(str(user), [])
        if list(states) != actual:
            failures.append(
                Failure(document.key_at(("expect", "cards", user)), f"cards of {user}: expected {states}, got {actual}")
            )
    for user, wanted_fields in (expect.get("fields") or {}).items():
        got_fields = {name: outcome.fields.get(str(user), {}).get(name) for name in wanted_fields}
        if got_fields != wanted_fields:
            where = document.key_at(("expect", "fields", user))
            failures.append(Failure(where, f"card fields of {user}'s newest card: expected {wanted_fields}, got {got_fields}"))
    if "emails" in expect:
        wanted = Counter((e["template"], e["to"]) for e in expect["emails"] or [])
        got = Counter(all_emails(outcome))
        if wanted != got:
            missing, extra = sorted((wanted - got).elements()), sorted((got - wanted).elements())
            message = (
                "emails differ:"
                + (f" missing {_emails(missing)}" if missing else "")
                + (f" unexpected {_emails(extra)}" if extra else "")
            )
            failures.append(Failure(document.key_at(("expect", "emails")), message))
    return failures


def _emails(pairs: list[tuple[str, str]]) -> str:
    return ", ".join(f"{template} to {to}" for template, to in pairs)


def result_json(result: ScenarioResult) -> Row:
    """A scenario result as `cardflow test --json` gives it."""
    return {
        "scenario": result.scenario.file,
        "name": result.scenario.name,
        "passed": result.passed,
        "failures": [
            {"file": f.location.file, "line": f.location.line, "col": f.location.col, "message": f.message}
            for f in result.failures
        ],
    }
