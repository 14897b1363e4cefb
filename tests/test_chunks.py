"""A batch for workers: split into chunk jobs, each worked once, the batch finished by the last one;
the jobs on procrastinate's in-memory queue; no workers on SQLite."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import Run
from procrastinate import App
from procrastinate.testing import InMemoryConnector
from sqlalchemy import Engine, func, select, update

from engine.batch.chunks import batch_progress, request_from_json, run_chunk, start_chunked
from engine.batch.request import RunRequest, Selection
from engine.definitions.workspace import load_workspace
from engine.outbound.bureau import DropFolder
from engine.store import db
from engine.store.queries import upsert_users
from engine.store.users import user_row
from engine.work.jobs import CHUNK_TASK, CLEANUP_TASK, STALLED_TASK, Runtime, defer_chunks_on, register_jobs

ORDER = "CardsAddonExtProdBoProcOrderMultiple"
QUEUE_OFF = {"CardsAddonExtProdQueue": False}
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def store(tmp_path: Path) -> Engine:
    """An SQLite store with an operator and ten active card holders (u0 … u9)."""
    engine = db.connect(str(tmp_path / "cardflow.db"))
    people = [{"id": "op1", "name": "Olle", "email": "op1@example.com", "state": "active", "roles": ["operator"]}]
    people += [{"id": f"u{i}", "name": f"User {i}", "email": f"u{i}@example.com", "state": "active"} for i in range(10)]
    with engine.begin() as connection:
        upsert_users(connection, [user_row("test", person) for person in people])
    return engine


def count(engine: Engine, table: str) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(getattr(db, table))).scalar_one())


def holders(engine: Engine) -> list[str]:
    with engine.connect() as connection:
        return sorted(connection.execute(select(db.cards.c.user_id)).scalars())


def request(**fields: object) -> RunRequest:
    return RunRequest(ORDER, "op1", Selection(all=True), QUEUE_OFF, **fields)  # type: ignore[arg-type]


def test_a_batch_is_split_into_key_ranges_of_users(store: Engine) -> None:
    """Eleven selected users in chunks of four: three chunks, nothing worked yet, the batch running."""
    started = start_chunked(load_workspace(ROOT), store, request(), chunk=4)
    assert started.pending == [1, 2, 3]
    assert batch_progress(store, started.batch) == ("running", 0, 11)
    assert count(store, "cards") == 0


def test_every_chunk_worked_completes_the_batch_with_one_card_order_and_email_each(store: Engine, tmp_path: Path) -> None:
    """Each chunk worked once: eleven cards, audit rows, orders and emails; the last chunk completes the batch."""
    workspace = load_workspace(ROOT)
    started = start_chunked(workspace, store, request(), chunk=4)
    for number in started.pending:
        assert run_chunk(workspace, store, DropFolder(tmp_path / "orders"), request_from_json(started.request), number) == "done"
    assert batch_progress(store, started.batch) == ("complete", 11, 11)
    assert holders(store) == sorted(["op1", *(f"u{i}" for i in range(10))])
    assert [count(store, t) for t in ("cards", "transitions", "orders", "outbox")] == [11, 11, 11, 11]


def test_a_chunk_run_twice_gives_nobody_a_second_card_or_email(store: Engine, tmp_path: Path) -> None:
    """Run again (done), and even run again after its row was set back to pending, a chunk adds nothing."""
    workspace = load_workspace(ROOT)
    started = start_chunked(workspace, store, request(), chunk=4)
    again = request_from_json(started.request)
    bureau = DropFolder(tmp_path / "orders")
    assert run_chunk(workspace, store, bureau, again, 1) == "done"
    assert run_chunk(workspace, store, bureau, again, 1) == "already done"
    with store.begin() as connection:
        connection.execute(update(db.batch_chunks).where(db.batch_chunks.c.number == 1).values(status="pending"))
    assert run_chunk(workspace, store, bureau, again, 1) == "done"
    assert [count(store, t) for t in ("cards", "transitions", "orders", "outbox")] == [4, 4, 4, 4]


def test_starting_the_same_batch_again_defers_only_what_is_pending(store: Engine, tmp_path: Path) -> None:
    """A batch id started again keeps its chunks; the ones done are not offered again."""
    workspace = load_workspace(ROOT)
    started = start_chunked(workspace, store, request(batch_id="B1"), chunk=4)
    run_chunk(workspace, store, DropFolder(tmp_path / "orders"), request_from_json(started.request), 2)
    assert start_chunked(workspace, store, request(batch_id="B1"), chunk=4).pending == [1, 3]


def test_the_jobs_run_on_an_in_memory_queue(store: Engine, tmp_path: Path) -> None:
    """Chunk jobs deferred once each (a second deferral adds none), then worked by a worker until the queue is empty."""
    workspace = load_workspace(ROOT)
    app = App(connector=InMemoryConnector())
    register_jobs(app, Runtime(workspace, store, DropFolder(tmp_path / "orders")), {}, stalled_after=30)
    started = start_chunked(workspace, store, request(), chunk=4)
    with app.open():
        assert defer_chunks_on(app, started) == 3
        assert defer_chunks_on(app, started) == 0
        app.run_worker(wait=False, install_signal_handlers=False, listen_notify=False)
    assert batch_progress(store, started.batch) == ("complete", 11, 11)
    assert count(store, "cards") == 11


def test_a_batch_whose_chunk_waits_already_has_its_other_chunks_deferred(store: Engine, tmp_path: Path) -> None:
    """The jobs of a batch go on the queue in one statement; where one of them waits there already
    (its queueing lock), the others are still deferred, one at a time, and nothing twice."""
    workspace = load_workspace(ROOT)
    app = App(connector=InMemoryConnector())
    register_jobs(app, Runtime(workspace, store, DropFolder(tmp_path / "orders")), {}, stalled_after=30)
    started = start_chunked(workspace, store, request(), chunk=4)
    with app.open():
        app.configure_task(CHUNK_TASK, queueing_lock=f"{started.batch}:2").defer(
            batch=started.batch, number=2, request=started.request
        )
        assert defer_chunks_on(app, started) == 2
        jobs = app.connector.jobs.values()
        assert sorted(job["args"]["number"] for job in jobs) == [1, 2, 3]


def test_scheduled_jobs_are_periodic_with_a_lock_each(store: Engine, tmp_path: Path) -> None:
    """Each scheduled job is a periodic task on its cron expression with its own lock and queueing lock."""
    app = App(connector=InMemoryConnector())
    schedules = {"batch-sync": "*/5 * * * *", "orders-sync": "0 * * * *"}
    register_jobs(app, Runtime(load_workspace(ROOT), store, DropFolder(tmp_path)), schedules, stalled_after=30)
    periodic = {task.task.name: task for task in app.periodic_registry.periodic_tasks.values()}
    assert set(periodic) == {"cardflow.batch-sync", "cardflow.orders-sync", STALLED_TASK, CLEANUP_TASK}
    assert periodic["cardflow.batch-sync"].cron == "*/5 * * * *"
    sync = app.tasks["cardflow.batch-sync"]
    assert (sync.lock, sync.queueing_lock) == ("cardflow.batch-sync", "cardflow.batch-sync")
    assert CHUNK_TASK in app.tasks


@pytest.mark.parametrize("command", [["worker"], ["run", ORDER, "--all", "--as", "op1", "--workers"]])
def test_no_workers_on_sqlite(cli: Run, command: list[str]) -> None:
    """On SQLite, `worker` and `run --workers` exit 2 and say to run the three jobs from cron."""
    result = cli(*command, "--db", "cardflow.db")  # SQLite, whichever store the suite runs on
    assert result.exit_code == 2
    assert "no workers with SQLite" in result.stderr
    assert all(job in result.stderr for job in ("queue run", "outbox send", "orders sync"))


def test_batches_shows_the_progress_of_a_batch_for_workers(store: Engine, tmp_path: Path, cli: Run) -> None:
    """`cardflow batches --json` gives the users of the chunks done out of all, and the table shows done/users."""
    workspace = load_workspace(ROOT)
    started = start_chunked(workspace, store, request(), chunk=4)
    run_chunk(workspace, store, DropFolder(tmp_path / "orders"), request_from_json(started.request), 1)
    listed = cli("batches", "--json", "--db", str(tmp_path / "cardflow.db"))
    (batch,) = json.loads(listed.stdout)
    assert (batch["id"], batch["status"], batch["progress"]) == (started.batch, "running", {"done": 4, "users": 11})
    assert "4/11" in cli("batches", "--db", str(tmp_path / "cardflow.db")).stdout
