"""A worker watched by the site's monitoring: its Prometheus metrics (`--metrics-port`: the jobs it
worked and the transitions it committed, read over HTTP from the worker process) and its JSON log
lines (`--log-format json`)."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families
from test_workers import CARDFLOW, ORDER, Site, site, wait_for

__all__ = ["site"]  # the fixture, used by name

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as answer:
        body = answer.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(body)
        for sample in family.samples
    }


def test_a_workers_metrics_count_its_chunks_and_their_transitions(site: Site) -> None:
    site.users(999)  # and op1: 1,000 users, two chunks of 500
    port = free_port()
    worker = site.worker("--metrics-port", str(port))
    site.cardflow("run", ORDER, "--all", "--as", "op1", "--workers", "--chunk-size", "500")
    chunks = ("cardflow_jobs_worked_total", (("outcome", "succeeded"), ("task", "cardflow.chunk")))
    wait_for(lambda: scrape(port).get(chunks) == 2, worker)
    samples = scrape(port)
    made = site.value("SELECT count(*) FROM transitions WHERE process = :process", process=ORDER)
    counted = sum(value for (name, labels), value in samples.items() if name == "cardflow_transitions_total")
    assert made == counted == 1_000
    assert samples["cardflow_job_duration_seconds_count", (("task", "cardflow.chunk"),)] == 2
    assert samples["cardflow_queue_jobs", (("status", "succeeded"), ("task", "cardflow.chunk"))] == 2
    assert sum(value for (name, _), value in samples.items() if name == "cardflow_worker_heartbeat_age_seconds") >= 0


def test_a_metrics_port_in_use_is_a_usage_error(site: Site) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        folders = ("--orders", str(site.folder / "orders"), "--to-dir", str(site.folder / "mail"))
        command = [CARDFLOW, "worker", "--metrics-port", str(port), *folders]
        done = subprocess.run(command, cwd=site.folder, env=site.env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert f"--metrics-port {port}: cannot listen on 127.0.0.1:{port}" in done.stderr
    assert "choose another port" in done.stderr and "Traceback" not in done.stderr


def test_a_workers_json_log_names_the_batch_and_the_job_of_each_line(site: Site) -> None:
    site.users(599)  # and op1: two chunks of 300
    worker = site.worker("--log-format", "json")
    site.cardflow("run", ORDER, "--all", "--as", "op1", "--workers", "--chunk-size", "300")
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=60) == 0
    lines = [json.loads(line) for line in (site.folder / "worker0.log").read_text().splitlines()]  # each line is JSON
    assert all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    batch = site.value("SELECT id FROM batches")
    chunks = [line for line in lines if line["logger"] == "engine.work.jobs"]
    assert [(line["batch"], line["level"]) for line in chunks] == [(batch, "info")] * 2
    jobs = {line["job"]["id"] for line in lines if line.get("job", {}).get("task") == "cardflow.chunk"}
    assert jobs == set(site.value("SELECT array_agg(id) FROM procrastinate_jobs WHERE task_name = 'cardflow.chunk'"))
    assert lines[0]["message"].startswith("worker started") and lines[-1]["message"] == "worker stopped"
