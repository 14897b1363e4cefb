"""The workspace's business days (`calendar.yaml`), which a timer with `working_days: true` counts:

    calendar:
      weekend: [saturday, sunday]          # the default
      holidays: [2026-12-24, 2026-12-25]   # days off besides the weekend
      country: SE                          # and that country's public holidays (the holidays library)

N working days after a moment is the same time of day N business days later: Friday 10:00 plus 3 is
Wednesday 10:00. A workspace without the file works Monday to Friday.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

from engine.definitions.declared import Calendar
from engine.definitions.document import Document
from engine.definitions.files import CALENDAR
from engine.definitions.load import load_file
from engine.definitions.schemas import WEEKDAYS
from engine.definitions.validate import validate
from engine.diagnostics import Diagnostic, diagnostic


def read_calendar(root: Path) -> tuple[Calendar, list[Diagnostic], bytes]:
    """The calendar of the workspace at `root`, the diagnostics of its calendar.yaml and its bytes (for
    the fingerprint); Monday to Friday without the file, or when it cannot be built."""
    path = root / CALENDAR
    if not path.is_file():
        return Calendar(), [], b""
    document, found = load_file(path, CALENDAR)
    if document is None:
        return Calendar(), found, path.read_bytes()
    shape, buildable = validate(document, "calendar")
    if not buildable or found:
        return Calendar(), found + shape, path.read_bytes()
    problems = list(_problems(document))
    return (Calendar() if problems else build_calendar(document)), found + shape + problems, path.read_bytes()


def build_calendar(document: Document) -> Calendar:
    spec: dict[str, Any] = document.data["calendar"]
    weekend = frozenset(WEEKDAYS.index(day) for day in spec.get("weekend", ("saturday", "sunday")))
    holidays = frozenset(date.fromisoformat(str(day)) for day in spec.get("holidays", ()))
    return Calendar(weekend, holidays, spec.get("country"))


def _problems(document: Document) -> Iterator[Diagnostic]:
    """A holiday that is no date, a country whose public holidays are unknown (E269)."""
    spec = document.data["calendar"]
    for index, day in enumerate(spec.get("holidays", ())):
        try:
            date.fromisoformat(str(day))
        except ValueError:
            yield diagnostic(document.at(("calendar", "holidays", index)), "E269", problem=f"'{day}' is not a date (YYYY-MM-DD)")
    country = spec.get("country")
    if country is not None:
        import holidays

        if country not in holidays.list_supported_countries():
            problem = f"no public holidays are known for country '{country}' (an ISO 3166 code, as SE, NO, FI, DE, GB)"
            yield diagnostic(document.at(("calendar", "country")), "E269", problem=problem)
