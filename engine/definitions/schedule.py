"""The workspace's scheduled jobs (`schedule.yaml`): which job runs on which cron expression, checked.

A job is one of the commands a worker can run (COMMAND_JOBS), or the symbolic name of a process
the system runs (`actor: system`): the worker fires that process's triggers as the batch sync or
the order-status sync would, for it alone. Any other name is an E241 with a close name.

A cron expression has five fields (minute, hour, day of month, month, day of week) and an optional
sixth, the second, as procrastinate reads it; each field a `*`, a number, a range `a-b`, a step
`*/n` or `a-b/n`, or a comma list of those; months and days may be named (jan, mon). The
shorthands @hourly, @daily, @midnight, @weekly, @monthly, @yearly and @annually are accepted too.
"""

from __future__ import annotations

from collections.abc import Mapping

from engine.definitions.document import Document
from engine.definitions.model import Process
from engine.diagnostics import Diagnostic, diagnostic, did_you_mean

SCHEDULE = "schedule.yaml"
#: The commands a scheduled job may name: `queue run`, `outbox send`, `orders sync` and `calls send`.
COMMAND_JOBS = ("batch-sync", "outbox-send", "orders-sync", "calls-send", "timers-run")
SHORTHANDS = frozenset({"@hourly", "@daily", "@midnight", "@weekly", "@monthly", "@yearly", "@annually"})
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
#: (name, lowest, highest, names numbered from `lowest`)
_FIELDS = (
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day of month", 1, 31, ()),
    ("month", 1, 12, _MONTHS),
    ("day of week", 0, 7, _DAYS),
    ("second", 0, 59, ()),
)


def cron_problem(expression: str) -> str | None:
    """What is wrong with a cron expression, or None when it is good."""
    text = expression.strip().lower()
    if text.startswith("@"):
        return None if text in SHORTHANDS else f"unknown shorthand {expression!r} (one of {', '.join(sorted(SHORTHANDS))})"
    fields = text.split()
    if len(fields) not in (5, 6):
        return f"{len(fields)} field(s); a cron expression has 5 (minute hour day month weekday) or 6 (and second)"
    for value, (name, low, high, names) in zip(fields, _FIELDS, strict=False):
        problem = _field_problem(value, low, high, names)
        if problem:
            return f"{name} field {value!r}: {problem}"
    return None


def _field_problem(value: str, low: int, high: int, names: tuple[str, ...]) -> str | None:
    for item in value.split(","):
        span, _, step = item.partition("/")
        if step and not (step.isdigit() and int(step) > 0):
            return f"step {step!r} is not a positive number"
        if span == "*":
            continue
        first, _, last = span.partition("-")
        for part in (first, last) if last else (first,):
            number = _number(part, names, low)
            if number is None or not low <= number <= high:
                return f"{part!r} is not a number from {low} to {high}"
        if last and _number(first, names, low) > _number(last, names, low):  # type: ignore[operator]
            return f"range {span!r} runs backwards"
    return None


def _number(text: str, names: tuple[str, ...], low: int) -> int | None:
    if text.isdigit():
        return int(text)
    return names.index(text) + low if text in names else None


def system_processes(processes: Mapping[str, Process]) -> list[str]:
    """The symbolic names of the processes the system runs (a scheduled job may name each)."""
    return [name for name, process in processes.items() if process.kind == "action" and process.actor == "system"]


def read_schedules(document: Document, processes: Mapping[str, Process]) -> tuple[dict[str, str], list[Diagnostic]]:
    """The cron expression of each job of a schedule document, and a diagnostic for each bad one: an
    unknown job (E241), a bad cron expression (E701). The shape is validated apart: what is not a
    job with a schedule text is passed over here."""
    schedules: dict[str, str] = {}
    found: list[Diagnostic] = []
    known = [*COMMAND_JOBS, *system_processes(processes)]
    jobs = document.data.get("jobs") if isinstance(document.data, dict) else None
    for job, spec in (jobs if isinstance(jobs, dict) else {}).items():
        if not isinstance(job, str) or not isinstance(spec, dict) or not isinstance(spec.get("schedule"), str):
            continue
        if job not in known:
            where = document.key_at(("jobs", job))
            found.append(diagnostic(where, "E241", name=job, hint=did_you_mean(job, known), known=", ".join(known)))
            continue
        problem = cron_problem(spec["schedule"])
        if problem:
            found.append(diagnostic(document.at(("jobs", job, "schedule")), "E701", cron=spec["schedule"], detail=problem))
        else:
            schedules[job] = spec["schedule"]
    return schedules, found
