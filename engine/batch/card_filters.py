"""The command line's flag of each filter of a bulk action (the fields of engine.store.pages.CardQuery),
in a module of its own so that `cardflow --help` lists them without loading the store."""

from __future__ import annotations

QUERY_FLAGS = {
    "process": "--card-process",
    "state": "--state",
    "holder": "--holder",
    "batch": "--in-batch",
    "reason": "--moved-because",
    "moved_from": "--moved-from",
    "moved_to": "--moved-to",
}
