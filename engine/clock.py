"""The time cardflow stamps on rows: UTC, ISO-8601; fixed by `frozen()` or `CARDFLOW_NOW` for reproducible runs."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from engine.errors import UsageError

_fixed: list[str] = []


def now() -> str:
    """The current time as ISO-8601 text (seconds), unless frozen or set by `CARDFLOW_NOW`."""
    if _fixed:
        return _fixed[-1]
    fixed = os.environ.get("CARDFLOW_NOW")
    if fixed:
        try:
            moment(fixed)
        except ValueError:
            raise UsageError(f"CARDFLOW_NOW={fixed!r} is not an ISO 8601 time (as 2026-12-04T09:00:00Z)") from None
        return fixed
    return stamp(datetime.now(UTC))


def moment(at: str) -> datetime:
    """An ISO-8601 time (`Z` or an offset; without one, UTC) as an aware datetime; ValueError if it is none."""
    found = datetime.fromisoformat(at.replace("Z", "+00:00"))
    return found if found.tzinfo is not None else found.replace(tzinfo=UTC)


def stamp(when: datetime) -> str:
    """A datetime as the text rows are stamped with: UTC, to the second, `Z`."""
    return when.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def later(at: str, *, days: int = 0, hours: int = 0) -> str:
    """The ISO-8601 time (UTC, seconds) `days` and `hours` after the ISO-8601 time `at`."""
    return stamp(moment(at) + timedelta(days=days, hours=hours))


def move_to(at: str) -> None:
    """Within a `frozen` block, `now()` is `at` from here on (a scenario's clock moving on)."""
    if not _fixed:
        raise RuntimeError("move_to outside frozen()")
    _fixed[-1] = at


@contextmanager
def frozen(at: str) -> Iterator[None]:
    """Within the block, `now()` is `at` (scenarios run at a fixed time)."""
    _fixed.append(at)
    try:
        yield
    finally:
        _fixed.pop()
