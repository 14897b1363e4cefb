"""For the site's monitoring: /healthz, /readyz and /metrics on the console, without a session or a
token, on the store under test (both stores)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine, text
from test_web_api_processes import ORDER, api, console, store, token

from engine.store import db
from engine.web.app import SECURITY_HEADERS, create_app
from engine.web.console import Console

__all__ = ["api", "console", "store"]  # the fixtures, used by name

ROOT = Path(__file__).resolve().parents[2]
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(client: TestClient) -> Samples:
    """Every sample of GET /metrics, by name and labels."""
    answer = client.get("/metrics")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain; version=")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
    }


def test_health_answers_without_signing_in(api: TestClient) -> None:
    answer = api.get("/healthz")
    assert (answer.status_code, answer.json()) == (200, {"status": "ok"})
    assert all(answer.headers[name] == value for name, value in SECURITY_HEADERS.items())


def test_metrics_move_by_exactly_the_batchs_cards(api: TestClient, console: Console) -> None:
    """After a batch through the API, the transitions counter moved by the transitions the store holds,
    for each process and trigger, and the cards gauge is the store's count by process and state."""
    before = scrape(api)
    answer = api.post(f"/api/processes/{ORDER}/run", json={"users": ["u01", "u02", "u03", "u05"]}, headers=token(console, "op1"))
    assert answer.status_code == 200, answer.text
    after = scrape(api)
    with console.engine.connect() as connection:
        made = connection.execute(text("SELECT process, trigger, count(*) FROM transitions GROUP BY process, trigger")).all()
        cards = connection.execute(text("SELECT process, state, count(*) FROM cards GROUP BY process, state")).all()
    assert sum(count for *_, count in made) == 3  # u05 is skipped
    for process, trigger, count in made:
        key = ("cardflow_transitions_total", (("process", process), ("trigger", trigger)))
        assert after[key] - before.get(key, 0) == count
    gauged = {labels: value for (name, labels), value in after.items() if name == "cardflow_cards"}
    assert gauged == {(("process", process), ("state", state)): count for process, state, count in cards}
    assert after["cardflow_store_up", ()] == 1


def test_metrics_give_the_outbox_and_the_timers_due(api: TestClient, console: Console) -> None:
    api.post(f"/api/processes/{ORDER}/run", json={"users": ["u01"]}, headers=token(console, "op1"))
    samples = scrape(api)
    with console.engine.connect() as connection:
        outbox = dict(connection.execute(text("SELECT status, count(*) FROM outbox GROUP BY status")).all())
    assert {dict(labels)["status"]: value for (name, labels), value in samples.items() if name == "cardflow_outbox"} == outbox
    assert samples["cardflow_timers_due", ()] == 0


def test_ready_until_the_store_is_of_another_schema_version(api: TestClient, console: Console) -> None:
    """/readyz: 200 while the store answers at this cardflow's schema version and the workspace loads;
    503 naming the failed check otherwise, and ready again once it is mended."""
    answer = api.get("/readyz")
    assert (answer.status_code, answer.json()["status"]) == (200, "ready")
    assert answer.json()["checks"] == {"store": {"ok": True, "detail": "answers"}, "workspace": {"ok": True, "detail": "loads"}}
    version = db.meta.c.key == "schema_version"
    with console.engine.begin() as connection:
        connection.execute(db.meta.update().where(version).values(value=str(db.VERSION - 1)))
    answer = api.get("/readyz")
    assert (answer.status_code, answer.json()["status"]) == (503, "not ready")
    assert "check-store --upgrade" in answer.json()["checks"]["store"]["detail"]
    with console.engine.begin() as connection:
        connection.execute(db.meta.update().where(version).values(value=str(db.VERSION)))
    assert api.get("/readyz").status_code == 200


def test_not_ready_while_the_workspace_on_disk_has_errors(api: TestClient, console: Console) -> None:
    path = console.workspace.root / "processes" / f"{ORDER}.yaml"
    kept = path.read_text(encoding="utf-8")
    path.write_text(kept.replace("symbolic_name:", "symbolic_nme:", 1), encoding="utf-8")
    answer = api.get("/readyz")
    assert answer.status_code == 503
    assert answer.json()["checks"]["workspace"]["ok"] is False
    assert "run `cardflow validate`" in answer.json()["checks"]["workspace"]["detail"]
    path.write_text(kept, encoding="utf-8")
    assert api.get("/readyz").status_code == 200


@pytest.fixture
def lost_store(console: Console, postgres_url: str) -> Iterator[TestClient]:
    """The console on a PostgreSQL database the test can close to connections (the store down)."""
    served = Console(console.workspace, db.connect(postgres_url), console.connector, secret=console.secret)
    with TestClient(create_app(served)) as client:
        yield client
    served.engine.dispose()


def test_not_ready_while_the_store_is_down_and_ready_after(lost_store: TestClient, postgres_url: str) -> None:
    name = postgres_url.rsplit("/", 1)[1]
    admin = create_engine(postgres_url.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")
    assert lost_store.get("/readyz").status_code == 200
    try:
        with admin.connect() as connection:
            connection.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
            others = text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :name")
            connection.execute(others, {"name": name})
        down = lost_store.get("/readyz")
        assert down.status_code == 503 and down.json()["checks"]["store"]["ok"] is False
        assert scrape(lost_store)["cardflow_store_up", ()] == 0
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
        admin.dispose()
    assert lost_store.get("/readyz").status_code == 200
    assert scrape(lost_store)["cardflow_store_up", ()] == 1


def test_the_grafana_dashboard_reads_only_metrics_cardflow_serves(api: TestClient) -> None:
    """docs/grafana-dashboard.json: every panel's query names metrics /metrics gives (the queue's on PostgreSQL with workers)."""
    suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_count", "_sum"], "gauge": [""]}
    families = text_string_to_metric_families(api.get("/metrics").text)
    served = {family.name + suffix for family in families for suffix in suffixes[family.type]}
    served |= {"cardflow_queue_jobs", "cardflow_worker_heartbeat_age_seconds"}
    dashboard = json.loads((ROOT / "docs" / "grafana-dashboard.json").read_text(encoding="utf-8"))
    queries = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    named = {name for query in queries for name in re.findall(r"cardflow_\w+", query)}
    assert named and named <= served, named - served
    assert {"cardflow_transitions_total", "cardflow_cards", "cardflow_job_duration_seconds_bucket"} <= named
