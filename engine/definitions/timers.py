"""Timers on states: what happens at a time while a card is in a state.

    states:
      requested:
        timers:
          - after: P3D          # ISO 8601: P3D, PT12H, P1W, P1M; or an expression over options
                                #   (`options.Days`: a whole number is days; 0 turns the timer off)
            fire: remind        # a trigger a transition takes from this state, or instead
                                #   effects: [...] of its own, run with the card kept in the state
            every: P1D          # optional: again each period ...
            max: 5              # ... at most this many times in all (required with `every`)
            working_days: true  # optional: the days are working days (calendar.yaml)

A timer is armed when a card enters the state (a row written with the change) and dropped when the
card leaves it; a transition back into the same state keeps it. `cardflow timers run` fires the
due ones (engine.batch.timers_due), each once.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from engine.clock import moment, stamp
from engine.definitions.declared import Calendar, Timer, is_own_trigger
from engine.definitions.expressions import ExpressionError, parse
from engine.definitions.model import OptionScript, Process
from engine.definitions.options import effective_options
from engine.diagnostics import Diagnostic, diagnostic, did_you_mean

if TYPE_CHECKING:
    from isodate import Duration

Processes = Mapping[str, Process]
Scripts = Mapping[str, OptionScript]


class BadDuration(ValueError):
    """Not an ISO 8601 duration longer than zero."""


def parse_duration(text: str) -> timedelta | Duration:
    """An ISO 8601 duration (`P3D`, `PT12H`, `P1M`); BadDuration when it is none, or not longer than zero."""
    import isodate  # a run imports it only when a card enters a state with timers

    try:
        duration = isodate.parse_duration(text)
    except (isodate.ISO8601Error, ValueError, TypeError):
        raise BadDuration(f"'{text}' is not an ISO 8601 duration (as P3D, PT12H, P1W, P1M)") from None
    start = datetime(2000, 1, 1, tzinfo=UTC)
    if start + duration <= start:
        raise BadDuration(f"'{text}' is not longer than zero")
    return duration


def after(at: str, text: str) -> str:
    """The ISO 8601 time (UTC, seconds) `text` after the ISO 8601 time `at`."""
    return stamp(moment(at) + parse_duration(text))


def working_days(text: str) -> int | None:
    """The number of days of a duration of whole days (`P3D`), else None."""
    return int(text[1:-1]) if re.fullmatch(r"P\d+D", text) else None


def due_after(at: str, text: str, calendar: Calendar | None = None) -> str:
    """The time `text` after `at`; with a `calendar` (a timer counting working days), that many of its
    working days after, at the same time of day."""
    days = working_days(text) if calendar is not None else None
    return calendar.add_working_days(at, days) if calendar is not None and days is not None else after(at, text)


def next_due(due: str, every: str, now: str, calendar: Calendar | None = None) -> str:
    """The first time after `now` that is `due` plus a whole number of periods `every` (a repeating
    timer that was not fired for a while fires once, then keeps its rhythm)."""
    following = due_after(due, every, calendar)
    while following <= now:
        following = due_after(following, every, calendar)
    return following


def literal(text: str) -> bool:
    """Whether a timer's duration is written as ISO 8601 (`P3D`, `-P60D`), not as an expression over options."""
    return text.lstrip("-").startswith("P")


def duration_of(text: str, options: Mapping[str, Any]) -> str | None:
    """A timer's duration as ISO 8601 text: as written, or the value of its expression over `options`
    (a whole number is that many days); None when that is zero or less (the timer is off)."""
    if literal(text):
        return text
    value = parse(text).evaluate({"options": options})[0]
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return f"P{value}D" if value > 0 else None
    return str(value) if _positive(str(value)) else None


def days_before(text: str, options: Mapping[str, Any]) -> list[int] | None:
    """The whole days before its date a timer with `before` is due at: its expression over `options`, a
    whole number or a list of them, each 0 or more (an empty list: none); None when it is neither."""
    value = parse(text).evaluate({"options": options})[0]
    days = [value] if isinstance(value, int) else value
    if not isinstance(days, list) or not all(isinstance(day, int) and not isinstance(day, bool) and day >= 0 for day in days):
        return None
    return sorted(set(days), reverse=True)


def _positive(text: str) -> bool:
    try:
        parse_duration(text)
    except BadDuration:
        return False
    return True


def timers_of(process: Process) -> Iterator[Timer]:
    """Every timer a process declares, state by state."""
    for state in process.states.values():
        yield from state.timers


def check_timers(processes: Processes, scripts: Scripts) -> Iterator[Diagnostic]:
    """A timer's durations are ISO 8601 and longer than zero (E265), a repeating one has an end (E266),
    the trigger it fires is taken by a transition from its state (E267), working days are whole days
    (E268), and it is due `after` a duration or `at` a date field of the card (E276, E277), `before`
    it by whole days (E287); it either fires a trigger or runs effects of its own (E289)."""
    values = effective_options(scripts).as_dict()
    for process in processes.values():
        for timer in timers_of(process):
            where = ("states", timer.state, "timers", timer.index)
            for key in ("after", "every"):
                text = getattr(timer, key)
                try:
                    if text is not None and literal(text):  # an expression over options: check_expressions
                        parse_duration(text)
                except BadDuration as bad:
                    yield diagnostic(process.document.at((*where, key)), "E265", key=key, problem=str(bad))
            for key in ("after", "every") if timer.working_days else ():
                text = getattr(timer, key)
                if text is not None and literal(text) and working_days(text) is None:
                    yield diagnostic(process.document.at((*where, key)), "E268", key=key, text=text)
            if timer.every is not None and timer.most is None:
                yield diagnostic(process.document.key_at((*where, "every")), "E266", every=timer.every)
            yield from _anchor_problems(process, timer, where)
            yield from _before_problems(process, timer, where, values)
            yield from _action_problems(process, timer, where)


def _action_problems(process: Process, timer: Timer, where: tuple[object, ...]) -> Iterator[Diagnostic]:
    """It fires a trigger a transition takes from its state (E267) or runs effects of its own, not
    both nor neither (E289)."""
    if not timer.fire or (timer.effects and not is_own_trigger(timer.fire)):
        found = ": it has both" if timer.fire else ""
        yield diagnostic(process.document.at(where), "E289", found=found)
        return
    taken = {t.trigger for t in process.transitions if timer.state in t.source}
    if timer.fire not in taken:
        hint = did_you_mean(timer.fire, taken)
        known = ", ".join(sorted(taken)) or "none"
        yield diagnostic(
            process.document.at((*where, "fire")), "E267", name=timer.fire, state=timer.state, hint=hint, known=known
        )


def _before_problems(
    process: Process, timer: Timer, where: tuple[object, ...], options: Mapping[str, Any]
) -> Iterator[Diagnostic]:
    """`before` goes with `at` alone (not `offset`, `every` or `working_days`) and gives whole days
    under the options in force (E287)."""
    if timer.before is None:
        return
    place = process.document.at((*where, "before"))
    others = (("offset", timer.offset), ("every", timer.every), ("working_days", timer.working_days))
    clash = [key for key, given in others if given]
    if timer.at is None or clash:
        problem = "needs `at` (a date field of the card)" if timer.at is None else f"goes with `at` alone, not with `{clash[0]}`"
        yield diagnostic(place, "E287", problem=problem)
        return
    try:
        days = days_before(timer.before, options)
    except ExpressionError:
        return  # check_expressions reports it at its place
    if days is None:
        problem = f"'{timer.before}' gives no whole number of days, nor a list of them, under the options in force"
        yield diagnostic(place, "E287", problem=problem)


def _anchor_problems(process: Process, timer: Timer, where: tuple[object, ...]) -> Iterator[Diagnostic]:
    """Exactly one of `after` and `at` (E277); `at` a date field of the card (E276), `offset` a duration (E265)."""
    if (timer.after is None) == (timer.at is None):
        found = ": it has both" if timer.after is not None else ""
        yield diagnostic(process.document.at(where), "E277", found=found)
    if timer.at is not None:
        dates = {name: f for name, f in process.fields.items() if f.type in ("date", "datetime")}
        if timer.at not in dates:
            hint, known = did_you_mean(timer.at, dates), ", ".join(sorted(dates)) or "none"
            yield diagnostic(process.document.at((*where, "at")), "E276", name=timer.at, hint=hint, known=known)
    if timer.offset is not None:
        import isodate

        try:
            isodate.parse_duration(timer.offset)
        except (isodate.ISO8601Error, ValueError, TypeError):
            problem = f"'{timer.offset}' is not an ISO 8601 duration (as -P60D, P1D)"
            yield diagnostic(process.document.at((*where, "offset")), "E265", key="offset", problem=problem)


def at_date(value: object, offset: str | None) -> str | None:
    """When a timer `at` a card's date field with `value` is due: the date at 00:00 UTC (a date and
    time as it is), moved by `offset`; None when the field has no date."""
    if not isinstance(value, str) or not value:
        return None
    try:
        when = moment(value)
    except ValueError:
        return None
    if offset:
        import isodate

        when = when + isodate.parse_duration(offset)
    return stamp(when)
