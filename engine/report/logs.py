"""The log lines of the long-running processes (`worker`, `serve`) on stderr: one line of text each,
or with `--log-format json` one JSON object a line for the site's log collector: `time` (UTC),
`level`, `logger`, `message`, and where the line is about one, `batch`, `card` and `job` (its id and
task). A traceback is kept out of both unless CARDFLOW_DEBUG is set.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

FORMATS = ("text", "json")


class _OneLine(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        if not os.environ.get("CARDFLOW_DEBUG"):
            record.exc_info, record.exc_text = None, None
        return super().format(record)


class JsonLines(logging.Formatter):
    """A record as one JSON object: time, level, logger, message, and the batch, card and job it is about."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in ("batch", "card"):
            if getattr(record, key, None) is not None:
                entry[key] = getattr(record, key)
        job = getattr(record, "job", None)  # procrastinate's records carry the job they are about as a dict
        if isinstance(job, dict):
            entry["job"] = {"id": job.get("id"), "task": job.get("task_name")}
        if record.exc_info and os.environ.get("CARDFLOW_DEBUG"):
            entry["traceback"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def log_to_stderr(log_format: str, prefix: str, loggers: Iterable[str], *, work: Iterable[str] = ()) -> None:
    """Send the records of `loggers` (and their children) to stderr, one line each (`prefix` before a
    text line), from warnings up; with json, those of `work` from information up too: the work done
    (a job started and finished, a chunk worked), each line with its batch or job."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonLines() if log_format == "json" else _OneLine(f"{prefix}%(message)s"))
    for name in loggers:
        logger = logging.getLogger(name)
        logger.setLevel(logging.WARNING)
        logger.addHandler(handler)
    for name in work if log_format == "json" else ():
        logging.getLogger(name).setLevel(logging.INFO)


def say(log_format: str, message: str) -> None:
    """A line of the process's own on stderr (started, where it listens, stopped): as text, or as a
    JSON line like the others."""
    if log_format == "json":
        record = logging.LogRecord("cardflow", logging.INFO, __file__, 0, message, None, None)
        print(JsonLines().format(record), file=sys.stderr, flush=True)
    else:
        print(f"cardflow: {message}", file=sys.stderr, flush=True)
