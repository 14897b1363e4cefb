"""Paging the console's lists: the query's `after`/`before` cursors and `order` as a store window
(`engine.store.pages`), and the links of a page (first, previous, next) keeping every other filter.

A cursor is the edge row's key as base64url JSON, opaque to the reader; one the console did not
write (edited by hand, cut short) is a usage error that says to start from the first page.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from datetime import date
from typing import Any
from urllib.parse import urlencode

from engine.errors import UsageError
from engine.store.pages import Key, Page, Window

Kinds = tuple[type, ...]
#: The kinds of a list's key: a row's id (cards, emails), a text id (users), when and an id (batches).
BY_ID: Kinds = (int,)
BY_TEXT: Kinds = (str,)
BY_TIME_AND_ID: Kinds = (str, str)
ORDERS = ("oldest", "newest")
#: The `before` of the last page's link.
LAST = "last"
#: Rows on one page of a list.
PAGE_SIZE = 50
_LARGEST = 2**63 - 1


def cursor(key: Key) -> str:
    """The key as a cursor a link carries."""
    return base64.urlsafe_b64encode(json.dumps(list(key), separators=(",", ":")).encode()).decode().rstrip("=")


def key_of(text: str, kinds: Kinds) -> Key:
    """The key a cursor carries: a value of each of `kinds` in turn (an id, a text), else a usage error."""
    try:
        values = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except (binascii.Error, ValueError):
        values = None
    if not isinstance(values, list) or len(values) != len(kinds) or not all(map(_plain, values, kinds)):
        raise UsageError("this page's link is damaged: open the list again from its first page")
    return tuple(values)


def _plain(value: Any, kind: type) -> bool:
    if kind is int:
        return type(value) is int and abs(value) <= _LARGEST
    return type(value) is kind


def day(text: str, named: str) -> date | None:
    """The day a date field gives (YYYY-MM-DD), None when it is empty, else a usage error naming the field."""
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        raise UsageError(f"{named}: {text!r} is not a day (YYYY-MM-DD)") from None


def window(after: str, before: str, order: str, default: str, kinds: Kinds = BY_ID) -> Window:
    """The window a list's query asks for (`before` "last": the last page; `order` empty: the list's `default`)."""
    chosen = order or default
    if chosen not in ORDERS:
        raise UsageError(f"order must be {' or '.join(ORDERS)}, not {order!r}")
    if after and before:
        raise UsageError("a page is either after or before a row, not both: open the list again from its first page")
    return Window(
        after=key_of(after, kinds) if after else None,
        before=key_of(before, kinds) if before and before != LAST else None,
        last=before == LAST,
        newest_first=chosen == "newest",
        size=PAGE_SIZE,
    )


def sorted_by(order: str) -> dict[str, str]:
    """The query parameter of a list's `order` (none for the default), to keep in a link; an unknown order is a usage error."""
    if order and order not in ORDERS:
        raise UsageError(f"order must be {' or '.join(ORDERS)}, not {order!r}")
    return dict(order=order) if order else {}  # the parameter named as the pages name it (`order: str`)


def links(path: str, query: Mapping[str, str], page: Page) -> dict[str, Any]:
    """What a page's pager shows: the rows' place (first, last, total) and the links to the first,
    previous and next pages, each keeping the query's filters and order."""
    kept = {name: value for name, value in query.items() if name not in ("after", "before") and value}

    def to(**edge: str) -> str:
        return f"{path}?{urlencode({**kept, **edge})}" if kept or edge else path

    return {
        "first": page.skipped + 1 if page.rows else 0,
        "last": page.skipped + len(page.rows),
        "total": page.total,
        "beginning": to() if page.skipped else None,
        "previous": to(before=cursor(page.earlier)) if page.earlier is not None else None,
        "next": to(after=cursor(page.later)) if page.later is not None else None,
        "end": to(before=LAST) if page.later is not None else None,
    }
