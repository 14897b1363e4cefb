"""The vocabulary a workspace declares beside its processes' states and transitions: the roles users
hold (roles.yaml), the systems it calls (connectors.yaml) and the timers of states, as frozen
dataclasses built from validated documents."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from engine.clock import moment, stamp
from engine.definitions.document import Document
from engine.diagnostics import Location

#: Actor keywords that are not roles: anyone may try; cardflow itself runs it.
ACTOR_KEYWORDS = ("any", "system")


@dataclass(frozen=True)
class Role:
    """A role users may hold and processes may require of their actor (roles.yaml)."""

    name: str
    description: str
    sv: str | None = None  # the description in Swedish, for the console
    system: bool = False  # the role the system's own processes run as
    location: Location = field(default=Location(""), compare=False)


@dataclass(frozen=True)
class Operation:
    """One thing a connector does; `sends` (root → fields) is what its call carries, None: the kind's own."""

    name: str
    description: str
    sends: Mapping[str, tuple[str, ...]] | None = None
    location: Location = field(default=Location(""), compare=False)


@dataclass(frozen=True)
class Connector:
    """A system the workspace calls (connectors.yaml), by the name its transitions use."""

    name: str
    kind: str
    description: str
    operations: Mapping[str, Operation]
    #: each setting the connector names with the environment variables it is read from, in order
    settings: Mapping[str, tuple[str, ...]]
    location: Location = field(default=Location(""), compare=False)


@dataclass(frozen=True)
class Timer:
    """A timer on a state: `after` (an ISO 8601 duration) in the state, or `at` a date field of the card
    moved by `offset`, it fires `fire`; with `every`, again each period, `most` times in all. A timer
    that runs `effects` of its own fires a trigger of its own (`own_trigger`), taken by a transition
    that keeps the card in the state (engine.definitions.build)."""

    state: str
    index: int
    after: str | None
    fire: str
    every: str | None = None
    most: int | None = None
    location: Location = field(default=Location(""), compare=False)
    #: the durations count working days of the workspace's calendar (engine.definitions.calendar)
    working_days: bool = False
    #: instead of `after`: the card's date field it is due at, moved by `offset` (`-P60D`: 60 days before)
    at: str | None = None
    offset: str | None = None
    #: with `at`: an expression over options giving whole days, or a list of them: due that many days before
    before: str | None = None
    #: it runs its own `effects` (and `fire` is its own trigger), instead of firing a declared trigger
    effects: bool = False

    @classmethod
    def of(cls, document: Document, state: str, index: int, spec: Mapping[str, Any]) -> Timer:
        """The timer of a validated entry of `state`'s `timers` list."""
        where = document.at(("states", state, "timers", index))
        before = spec.get("before")
        written = before if before is None or isinstance(before, str) else json.dumps(before)  # `[60, 30]`: an expression
        anchor = (spec.get("working_days", False), spec.get("at"), spec.get("offset"), written)
        runs = "effects" in spec
        fire = spec.get("fire") or (own_trigger(state, index) if runs else "")
        return cls(state, index, spec.get("after"), fire, spec.get("every"), spec.get("max"), where, *anchor, runs)

    @property
    def where(self) -> str:
        """FILE:LINE of its declaration, as the audit trail names it."""
        return f"{self.location.file}:{self.location.line}"


def own_trigger(state: str, index: int) -> str:
    """The trigger of a timer that runs its own effects: `timer:STATE:N` (N counts from 1, as its
    place in the state's list); no YAML name has a colon, so no declared trigger is ever the same."""
    return f"timer:{state}:{index + 1}"


def is_own_trigger(name: str) -> bool:
    """Whether `name` is the trigger of a timer's own effects (nobody but the timer fires it)."""
    return name.startswith("timer:")


@dataclass(frozen=True)
class Calendar:
    """The days that are not working days: weekdays of the weekend (0 Monday .. 6 Sunday), listed
    holidays, and the public holidays of `country`."""

    weekend: frozenset[int] = frozenset({5, 6})
    holidays: frozenset[date] = frozenset()
    country: str | None = None
    _public: dict[int, frozenset[date]] = field(default_factory=dict, compare=False, repr=False)

    def working(self, day: date) -> bool:
        return day.weekday() not in self.weekend and day not in self.holidays and day not in self._of_year(day.year)

    def add_working_days(self, at: str, days: int) -> str:
        """The ISO 8601 time `days` working days after `at`, at the same time of day."""
        when, counted = moment(at), 0
        while counted < days:
            when += timedelta(days=1)
            counted += self.working(when.date())
        return stamp(when)

    def _of_year(self, year: int) -> frozenset[date]:
        if self.country is None:
            return frozenset()
        if year not in self._public:
            import holidays  # only a calendar naming a country needs it

            self._public[year] = frozenset(holidays.country_holidays(self.country, years=[year]))
        return self._public[year]


def system_role(roles: Mapping[str, Role]) -> str | None:
    """The role the system's own processes run as, if the workspace marks one."""
    return next((role.name for role in roles.values() if role.system), None)
