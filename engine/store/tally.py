"""What this process has done, counted for its `/metrics`: the transitions it committed, by process
and trigger, and the jobs it worked, by task, outcome and duration. A unit of work tallies its
transitions on the connection as it writes them; the tally joins the process's counts when the
transaction commits and is dropped when it rolls back, so a chunk redone after a conflict, or a
firing refused, is counted once or not at all. Nothing here imports the metrics library: the
command line does not pay for it."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, event

_PENDING = "cardflow_tally"

#: The transitions this process committed, by (process, trigger), since it started.
TRANSITIONS: Counter[tuple[str, str]] = Counter()
#: The upper bounds, in seconds, of the buckets a job's duration is counted in (the last: any).
JOB_BUCKETS = (0.1, 0.5, 1.0, 5.0, 30.0, 120.0, 600.0, float("inf"))
#: The jobs this process worked, by (task, outcome: succeeded | error).
JOBS: Counter[tuple[str, str]] = Counter()
#: By task: how many jobs took at most each bound of JOB_BUCKETS (not cumulative), and their seconds in all.
JOB_DURATIONS: dict[str, list[int]] = {}
JOB_SECONDS: dict[str, float] = {}


def transitions(connection: Connection, pairs: Iterable[tuple[Any, Any]]) -> None:
    """Tally transitions written in the connection's transaction, each a (process, trigger) pair."""
    pending: Counter[tuple[str, str]] = connection.info.setdefault(_PENDING, Counter())
    pending.update(pairs)


@contextmanager
def job(task: str) -> Iterator[None]:
    """Count the job worked in the block: its outcome (error when it raises, else succeeded) and how long it took."""
    started, outcome = time.monotonic(), "error"
    try:
        yield
        outcome = "succeeded"
    finally:
        took = time.monotonic() - started
        JOBS[task, outcome] += 1
        buckets = JOB_DURATIONS.setdefault(task, [0] * len(JOB_BUCKETS))
        buckets[next(i for i, bound in enumerate(JOB_BUCKETS) if took <= bound)] += 1
        JOB_SECONDS[task] = JOB_SECONDS.get(task, 0.0) + took


def _committed(connection: Connection) -> None:
    pending = connection.info.pop(_PENDING, None)
    if pending:
        TRANSITIONS.update(pending)


def _rolled_back(connection: Connection) -> None:
    connection.info.pop(_PENDING, None)


event.listen(Engine, "commit", _committed)
event.listen(Engine, "rollback", _rolled_back)
