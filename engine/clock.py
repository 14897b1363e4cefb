"""The time cardflow stamps on rows: UTC, ISO-8601; fixed by `frozen()` or `CARDFLOW_NOW` for reproducible runs."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

_fixed: list[str] = []


def now() -> str:
    """The current time as ISO-8601 text (seconds), unless frozen or set by `CARDFLOW_NOW`."""
    if _fixed:
        return _fixed[-1]
    fixed = os.environ.get("CARDFLOW_NOW")
    if fixed:
        return fixed
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def later(at: str, *, days: int = 0, hours: int = 0) -> str:
    """The ISO-8601 time (UTC, seconds) `days` and `hours` after the ISO-8601 time `at`."""
    moment = datetime.fromisoformat(at.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = (moment + timedelta(days=days, hours=hours)).astimezone(UTC).replace(microsecond=0)
    return moment.isoformat().replace("+00:00", "Z")


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
