"""The time cardflow stamps on rows: UTC, ISO-8601; `CARDFLOW_NOW` fixes it for reproducible runs."""

from __future__ import annotations

import os
from datetime import UTC, datetime


def now() -> str:
    """The current time as ISO-8601 text (seconds), or `CARDFLOW_NOW` when set."""
    fixed = os.environ.get("CARDFLOW_NOW")
    if fixed:
        return fixed
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
