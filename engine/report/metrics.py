"""Prometheus metrics, for the site's monitoring: `GET /metrics` on the console and on a worker's
`--metrics-port`. Names start with `cardflow_`. Counters are this process's work since it started
(`engine.store.tally`): transitions by process and trigger, jobs by task and outcome, job durations.
Gauges are read from the store at each scrape, in one read transaction: cards by process and state,
emails, calls, timers and batches by status, timers due now, and on PostgreSQL the job queue by task
and status and each worker's seconds since its last heartbeat. A store that does not answer gives
`cardflow_store_up 0` and no gauges, never a failed scrape.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector
from sqlalchemy import Connection, Engine

from engine.clock import now
from engine.store import db, gauges, tally

log = logging.getLogger(__name__)

__all__ = ["CONTENT_TYPE_LATEST", "exposition", "registry_for", "serve_metrics"]

#: The store's tables counted by status (engine.store.gauges.BY_STATUS), with what each row is.
BY_STATUS = {
    "outbox": "Emails in the outbox, by status.",
    "calls": "Calls to connectors (the bureau, webhooks), by status.",
    "timers": "Timers on cards, by status.",
    "batches": "Batches, by status.",
}


class _Cardflow(Collector):
    """This process's counters and the store's gauges, collected at each scrape."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[Metric]:
        yield from _counters()
        try:
            with db.reading(self.engine) as connection:
                read = list(_gauges(connection))
        except Exception as error:  # down, restarting, unreachable: the scrape still answers, and says so
            log.warning("metrics: the store did not answer (%s: %s)", type(error).__name__, error)
            read = []
        up = GaugeMetricFamily("cardflow_store_up", "Whether the store answered this scrape (1) or not (0).")
        up.add_metric([], 1 if read else 0)
        yield up
        yield from read


def registry_for(engine: Engine) -> CollectorRegistry:
    """A registry of cardflow's metrics over `engine`'s store (the process's own defaults left out)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Cardflow(engine))
    return registry


def exposition(registry: CollectorRegistry) -> bytes:
    """The metrics in Prometheus' text format (CONTENT_TYPE_LATEST)."""
    return bytes(generate_latest(registry))


def serve_metrics(engine: Engine, port: int, host: str = "127.0.0.1") -> Any:
    """Serve `/metrics` on HTTP at host:port from a thread of this process (a worker's `--metrics-port`)."""
    server, _thread = start_http_server(port, addr=host, registry=registry_for(engine))
    return server


def _counters() -> Iterator[Metric]:
    transitions = CounterMetricFamily(
        "cardflow_transitions", "Transitions this process committed, by process and trigger.", labels=["process", "trigger"]
    )
    for (process, trigger), count in sorted(tally.TRANSITIONS.items()):
        transitions.add_metric([process, trigger], count)
    yield transitions
    jobs = CounterMetricFamily(
        "cardflow_jobs_worked", "Jobs this process worked, by task and outcome.", labels=["task", "outcome"]
    )
    for (task, outcome), count in sorted(tally.JOBS.items()):
        jobs.add_metric([task, outcome], count)
    yield jobs
    durations = HistogramMetricFamily(
        "cardflow_job_duration_seconds", "How long the jobs this process worked took, by task.", labels=["task"]
    )
    for task, counts in sorted(tally.JOB_DURATIONS.items()):
        buckets, total = [], 0
        for bound, count in zip(tally.JOB_BUCKETS, counts, strict=True):
            total += count
            buckets.append(("+Inf" if bound == float("inf") else repr(bound), total))
        durations.add_metric([task], buckets, tally.JOB_SECONDS[task])
    yield durations


def _gauges(connection: Connection) -> Iterator[Metric]:
    cards = GaugeMetricFamily("cardflow_cards", "Cards in the store, by process and state.", labels=["process", "state"])
    for process, state, count in gauges.cards(connection):
        cards.add_metric([process, state], count)
    yield cards
    for name, description in BY_STATUS.items():
        gauge = GaugeMetricFamily(f"cardflow_{name}", description, labels=["status"])
        for status, count in gauges.by_status(connection, name):
            gauge.add_metric([status], count)
        yield gauge
    due = GaugeMetricFamily("cardflow_timers_due", "Armed timers due now (fired by the next `timers run`).")
    due.add_metric([], gauges.timers_due(connection, now()))
    yield due
    if gauges.has_queue(connection):
        jobs = GaugeMetricFamily(
            "cardflow_queue_jobs", "Jobs on the workers' queue, by task and status.", labels=["task", "status"]
        )
        for task, status, count in gauges.queue_jobs(connection):
            jobs.add_metric([task, status], count)
        yield jobs
        beats = GaugeMetricFamily(
            "cardflow_worker_heartbeat_age_seconds", "Seconds since each registered worker's last heartbeat.", labels=["worker"]
        )
        for worker, age in gauges.heartbeat_ages(connection):
            beats.add_metric([str(worker)], float(age))
        yield beats
