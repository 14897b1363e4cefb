"""`cardflow diff`: outcomes under two configurations, per user, each difference traced to its causes;
and the emails rendered differently (a changed template), by template and locale (`email_diff`).

The causes are the option values that differ between the two sides (with where the right side's
value comes from) and the guards whose result flipped for that user's card, with their YAML
locations. Differences are grouped by change for the summary:
"5 users: processing -> ordered, because CardsAddonExtProdQueue true -> false (--set)".
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from engine.batch.planner import Planner
from engine.batch.request import PLANNER, RunRequest, Selection, new_batch_id
from engine.batch.results import UserResult
from engine.definitions.model import Workspace
from engine.definitions.options import EffectiveOptions, effective_options
from engine.errors import UsageError
from engine.outbound.bureau import Simulated
from engine.store.queries import Row
from engine.testing.email_diff import EmailChanges
from engine.testing.scenario import Outcome, Scenario, find_scenarios, load_scenario, run_scenario


@dataclass(frozen=True)
class OptionChange:
    """An option whose value differs between the two sides."""

    name: str
    left: Any
    right: Any
    where: str

    def __str__(self) -> str:
        return f"{self.name} {_shown(self.left)} -> {_shown(self.right)} ({self.where})"


@dataclass(frozen=True)
class Flip:
    """A guard whose result differs between the two sides for one decision of a card."""

    trigger: str
    transition: int
    guard: str | None
    at: str
    left: Any
    right: Any

    def __str__(self) -> str:
        flipped = f"{_shown(self.left)} -> {_shown(self.right)}"
        return f"guard of transition #{self.transition} ({self.trigger}) at {self.at}: `{self.guard}` {flipped}"

    def as_json(self) -> Row:
        return {
            "trigger": self.trigger,
            "transition": self.transition,
            "guard": self.guard,
            "at": self.at,
            "left": self.left,
            "right": self.right,
        }


@dataclass
class UserDiff:
    """One user whose outcome differs: both outcomes and why."""

    user: str
    source: str
    left: Row
    right: Row
    options: list[OptionChange]
    flips: list[Flip]

    def as_json(self) -> Row:
        return {
            "user": self.user,
            "source": self.source,
            "left": self.left,
            "right": self.right,
            "options": [{"name": o.name, "left": o.left, "right": o.right, "where": o.where} for o in self.options],
            "guards": [flip.as_json() for flip in self.flips],
        }


@dataclass
class DiffReport:
    """All differences found, and how many users were compared; `overrides`: the --set values,
    which apply to the right side only."""

    compared: int = 0
    users: list[UserDiff] = field(default_factory=list)
    groups: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    emails: EmailChanges = field(default_factory=EmailChanges)
    overrides: dict[str, Any] = field(default_factory=dict)

    @property
    def same(self) -> bool:
        return not self.users and not self.emails.found

    def add(self, difference: UserDiff, keep: bool = True) -> None:
        because = "; ".join(str(o) for o in difference.options) or "the definitions differ"
        self.groups[(_summary(difference.left), _summary(difference.right), because)] += 1
        if keep:
            self.users.append(difference)

    def summary(self) -> list[str]:
        lines = [f"{self.compared} users compared, {sum(self.groups.values())} changed"]
        for (left, right, because), count in self.groups.most_common():
            lines.append(f"{count} user{'s' if count != 1 else ''}: {left} -> {right}, because {because}")
        lines += self.emails.summary()
        if self.overrides:
            values = " ".join(f"{name}={_shown(value)}" for name, value in self.overrides.items())
            lines.append(f"--set {values}: applied to the right side only")
        return lines

    def as_json(self) -> Row:
        return {
            "same": self.same,
            "compared": self.compared,
            "changed": sum(self.groups.values()),
            "groups": [
                {"count": n, "left": left, "right": right, "because": because}
                for (left, right, because), n in self.groups.most_common()
            ],
            "users": [user.as_json() for user in self.users],
            "emails_changed": self.emails.count,
            "emails": self.emails.as_json(),
            "set": {"side": "right", "values": self.overrides},
        }


def option_changes(left: EffectiveOptions, right: EffectiveOptions) -> list[OptionChange]:
    """The options whose values differ, with where the right side's value comes from."""
    changes = []
    for name, option in sorted(right.values.items()):
        before = left.values.get(name)
        if before is None or before.value != option.value:
            where = (
                option.source
                if option.source != "default"
                else f"default, {option.variable.location.file}:{option.variable.location.line}"
            )
            changes.append(OptionChange(name, before.value if before else None, option.value, where))
    return changes


def diff_scenarios(left: Workspace, right: Workspace, overrides: Mapping[str, Any], scenarios: Iterable[Scenario]) -> DiffReport:
    """Run each scenario under both sides and compare the outcome and the rendered emails of every user."""
    report = DiffReport(overrides=dict(overrides))
    for scenario in scenarios:
        before = run_scenario(left, scenario).outcome
        after = run_scenario(right, scenario, overrides).outcome
        changes = option_changes(
            effective_options(left.scripts, scenario.options), effective_options(right.scripts, {**scenario.options, **overrides})
        )
        for user in sorted(set(before.cards) | set(after.cards) | set(_users(scenario))):
            report.compared += 1
            left_outcome, right_outcome = _scenario_outcome(before, user), _scenario_outcome(after, user)
            if left_outcome != right_outcome:
                flips = _flips(before.decisions.get(user, []), after.decisions.get(user, []))
                report.add(UserDiff(user, scenario.file, left_outcome, right_outcome, _relevant(changes, flips), flips))
        for user in sorted(set(before.rendered) & set(after.rendered)):
            report.emails.compare(user, before.rendered[user], after.rendered[user])
    return report


def _users(scenario: Scenario) -> list[str]:
    return [str(user["id"]) for user in scenario.data["users"]]


def _scenario_outcome(outcome: Outcome, user: str) -> Row:
    return {
        "cards": outcome.cards.get(user, []),
        "emails": sorted(f"{template} to {to}" for template, to in outcome.emails.get(user, [])),
        "orders": ["ordered" if accepted else "refused" for accepted in outcome.orders.get(user, [])],
    }


def _flips(left: list[list[Row]], right: list[list[Row]]) -> list[Flip]:
    """Guards whose results differ, decision by decision, card by card."""
    flips = []
    for left_card, right_card in zip(left, right, strict=False):
        for left_step, right_step in zip(left_card, right_card, strict=False):
            flips += _trace_flips(left_step["trace"], right_step["trace"])
    return flips


def _trace_flips(left: Row | None, right: Row | None) -> list[Flip]:
    if not left or not right or left["trigger"] != right["trigger"]:
        return []
    before = {c["transition"]: c for c in left["candidates"]}
    flips = []
    for candidate in right["candidates"]:
        old = before.get(candidate["transition"])
        if old is not None and old["result"] != candidate["result"]:
            flips.append(
                Flip(
                    right["trigger"],
                    candidate["transition"],
                    candidate["guard"],
                    candidate["at"],
                    old["result"],
                    candidate["result"],
                )
            )
    return flips


def _relevant(changes: list[OptionChange], flips: list[Flip]) -> list[OptionChange]:
    """The option changes that a flipped guard reads (all of them when no guard names one)."""
    named = [change for change in changes if any(flip.guard and f"options.{change.name}" in flip.guard for flip in flips)]
    return named or changes


def diff_population(
    left: Workspace,
    right: Workspace,
    overrides: Mapping[str, Any],
    engine: Engine,
    process: str,
    selection: Selection,
    *,
    keep: int = 1000,
) -> DiffReport:
    """Plan the process for every selected user of the store under both sides, in lockstep; nothing is written."""
    batch = new_batch_id()  # one for both sides, so that the emails that name it agree
    before = Planner(left, engine, RunRequest(process, PLANNER["id"], selection, {}, batch_id=batch, dry_run=True), Simulated())
    request = RunRequest(process, PLANNER["id"], selection, overrides, batch_id=batch, dry_run=True)
    after = Planner(right, engine, request, Simulated())
    changes = option_changes(before.options, after.options)
    report = DiffReport(emails=EmailChanges(cards=False), overrides=dict(overrides))
    for users in before.users():
        for old, new in zip(before.plan(users), after.plan(users), strict=True):
            report.compared += 1
            report.emails.compare(old.user, old.rendered or [], new.rendered or [])
            left_outcome, right_outcome = _planned_outcome(old), _planned_outcome(new)
            if left_outcome != right_outcome:
                flips = _trace_flips(old.trace, new.trace)
                report.add(
                    UserDiff(old.user, "store", left_outcome, right_outcome, _relevant(changes, flips), flips),
                    keep=len(report.users) < keep,
                )
    return report


def _planned_outcome(result: UserResult) -> Row:
    return {
        "cards": [result.state] if result.state else [],
        "emails": sorted(f"{template} to {to}" for template, to in result.emails or []),
        "orders": ["ordered" if accepted else "refused" for accepted in result.orders or []],
        "timers": [f"{timer['fire']} due {timer['due']} ({timer['timer']})" for timer in result.timers or []],
        "skipped": result.reason if result.status == "skipped" else None,
    }


def _summary(outcome: Row) -> str:
    """The outcome in a few words, without addresses, so that users group by the change."""
    if outcome.get("skipped"):
        return "skipped"
    text = ", ".join(outcome["cards"]) or "no card"
    templates = sorted({email.split(" to ")[0] for email in outcome["emails"]})
    text += f" (emails: {', '.join(templates)})" if templates else ""
    armed = list(dict.fromkeys(timer.split(" (")[0] for timer in outcome.get("timers", [])))  # without where declared
    return text + (f" (timers: {', '.join(armed)})" if armed else "")


def describe(outcome: Row) -> str:
    """The outcome of one user in full, for the detail lines."""
    parts = [", ".join(outcome["cards"]) or ("skipped: " + outcome["skipped"] if outcome.get("skipped") else "no card")]
    if outcome["emails"]:
        parts.append("emails: " + "; ".join(outcome["emails"]))
    if outcome["orders"]:
        parts.append("bureau: " + ", ".join(outcome["orders"]))
    if outcome.get("timers"):
        parts.append("timers: " + "; ".join(outcome["timers"]))
    return " | ".join(parts)


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def render_report(report: DiffReport, shown: int = 50) -> str:
    """The diff for a reader: the summary grouped by change, then each changed user with the causes,
    then a sample of each template rendered differently."""
    lines = report.summary()
    for user in report.users[:shown]:
        lines += ["", f"{user.user} ({user.source}):", f"  left:  {describe(user.left)}", f"  right: {describe(user.right)}"]
        lines += [f"  because {change}" for change in user.options] + [f"  {flip}" for flip in user.flips]
    if len(report.users) > shown:
        lines.append(f"... and {len(report.users) - shown} more users (--json gives them all)")
    lines += report.emails.details()
    return "\n".join(lines)


def load_scenarios(paths: list[Path], workspace: Workspace) -> list[Scenario]:
    """The scenarios under `paths`; any diagnostic makes them unusable for a diff (UsageError)."""
    loaded = []
    for path in find_scenarios(paths):
        scenario, found = load_scenario(path, workspace)
        if found or scenario is None:
            raise UsageError("; ".join(str(d) for d in found))
        loaded.append(scenario)
    if not loaded:
        raise UsageError("no scenarios found")
    return loaded
