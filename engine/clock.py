"""The time cardflow stamps on rows: UTC, ISO-8601; fixed by `frozen()` or `CARDFLOW_NOW` for reproducible runs."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

_fixed: list[str] = []


def now() -> str:
    """The current time as ISO-8601 text (seconds), unless frozen or set by `CARDFLOW_NOW`."""
    if _fixed:
        return _fixed[-1]
    fixed = os.environ.get("CARDFLOW_NOW")
    if fixed:
        return fixed
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


@contextmanager
def frozen(at: str) -> Iterator[None]:
    """Within the block, `now()` is `at` (scenarios run at a fixed time)."""
    _fixed.append(at)
    try:
        yield
    finally:
        _fixed.pop()
