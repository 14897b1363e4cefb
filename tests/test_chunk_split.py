"""Splitting a batch for workers without reading its users, and the wait for it woken by each chunk
done: the key ranges of every user come from one query of the ids (the same chunks as the pages a
batch reads), a chunk's users are read straight from the driver, and on PostgreSQL the command
waiting for its batch is told (LISTEN/NOTIFY) when the last chunk is done, not at its next look."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import Run, StoreUnderTest, chunk_rows_read, statements_run
from sqlalchemy import Engine, text

from engine.batch.chunks import (
    Prepared,
    chunk_for,
    merged,
    request_from_json,
    run_chunk,
    start_chunked,
    tapered,
    wait_for_batch,
)
from engine.batch.request import RunRequest, Selection
from engine.definitions.workspace import load_workspace
from engine.errors import UsageError
from engine.outbound.bureau import DropFolder
from engine.store import chunks, db, queries

ROOT = Path(__file__).resolve().parents[1]
ORDER = "CardsAddonExtProdBoProcOrderMultiple"
PEOPLE = "id,name,email,state,roles,department\nop1,Olle,op1@example.com,active,operator,Ops\n" + "".join(
    f"u{i:02d},User {i},u{i}@example.com,{'inactive' if i % 5 == 0 else 'active'},,{'Sales' if i % 2 else 'Support'}\n"
    for i in range(11)
)


@pytest.fixture
def engine(run: Run, stored: StoreUnderTest) -> Iterator[Engine]:
    """The store under test with an operator and eleven card holders (u00, u05, u10 inactive)."""
    (stored.folder / "users.csv").write_text(PEOPLE)
    assert run("users", "import", "users.csv").exit_code == 0
    opened = db.connect(stored.location)
    yield opened
    opened.dispose()


def test_the_ranges_of_every_user_are_the_pages_a_batch_reads(engine: Engine) -> None:
    """Chunks of four over twelve users, inactive ones included: the same first and last ids and
    counts as the pages of users, and each range reads back exactly its page."""
    pages = list(queries.user_chunks(engine, 4))
    with db.reading(engine) as connection:
        ranges = list(chunks.user_ranges(connection, 4))
        between = [chunks.users_between(connection, first, last) for first, last, _ in ranges]
    assert ranges == [(page[0]["id"], page[-1]["id"], len(page)) for page in pages]
    assert [len(page) for page in pages] == [4, 4, 4]
    assert between == pages


def test_chunks_larger_than_a_page_are_cut_a_page_at_a_time(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunks of six over twelve users, with pages of three: the index is walked a page at a time (a
    planner sorts the whole table for a range much larger than the pages it was analysed for), two
    pages a chunk."""
    monkeypatch.setattr("engine.batch.chunks.BATCH_CHUNK", 3)
    pages = list(queries.user_chunks(engine, 3))
    with statements_run(engine) as run:
        started = start_chunked(load_workspace(ROOT), engine, RunRequest(ORDER, "op1", Selection(all=True), {}), chunk=6)
    with db.reading(engine) as connection:
        split = [(c["first_user"], c["last_user"], c["users"]) for c in chunks.chunks_of(connection, started.batch)]
    assert split == [(pages[0][0]["id"], pages[1][-1]["id"], 6), (pages[2][0]["id"], pages[3][-1]["id"], 6)]
    assert len([statement for statement in run if statement.startswith("SELECT min(")]) == 5  # four pages, then none


def test_without_a_chunk_size_a_batch_is_cut_for_the_workers_live_now(engine: Engine, stored: StoreUnderTest) -> None:
    """Eight chunks for each worker with a recent heartbeat (a stale one does not count), of 2,000 to
    10,000 users; 2,000 where no worker is live (SQLite has no queue: none ever is)."""
    if stored.url.startswith("postgresql"):
        from engine.work.queue import install_schema

        install_schema(engine)
        with engine.begin() as connection:
            connection.execute(text("INSERT INTO procrastinate_workers (last_heartbeat) VALUES (now()), (now())"))
            connection.execute(text("INSERT INTO procrastinate_workers (last_heartbeat) VALUES (now() - interval '10 minutes')"))
        expected = {100_000: 6_250, 10_000: 2_000, 1_000_000: 10_000}  # two live workers: sixteen chunks
    else:
        expected = {100_000: 2_000, 10_000: 2_000, 1_000_000: 2_000}
    assert {users: chunk_for(engine, users) for users in expected} == expected


def test_the_chunks_shrink_towards_the_end_so_the_workers_finish_together() -> None:
    """100,000 users in pages of 2,000 for two workers (chunks of 6,250 at least): chunks of 8,000 while
    each worker has two or more of them left, then half a worker's share of what is left, down to a
    page; every page in one chunk, in order. One worker's chunks stay whole; with no worker live, a
    chunk a page."""
    pages = [(f"u{n:02d}a", f"u{n:02d}z", 2000) for n in range(50)]
    chunks = list(tapered(pages, 6250, 2))
    assert [users for _, _, users in chunks] == [8000] * 10 + [6000, 4000, 4000, 2000, 2000, 2000]
    assert [first for first, _, _ in chunks] == [f"u{n:02d}a" for n in (*range(0, 40, 4), 40, 43, 45, 47, 48, 49)]
    assert [last for _, last, _ in chunks] == [f"u{n:02d}z" for n in (*range(3, 40, 4), 42, 44, 46, 47, 48, 49)]
    assert list(tapered(pages, 10_000, 1)) == list(merged(pages, 10_000))
    assert [users for _, _, users in tapered(pages[:3], 2000, 0)] == [2000, 2000, 2000]


def test_a_batch_cut_for_live_workers_ends_in_smaller_chunks(
    engine: Engine, stored: StoreUnderTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Twelve users, pages of one, two live workers wanting six users a chunk: the batch is cut into
    chunks of 3, 3, 2, 1, 1, 1 and 1 users, the last ones smaller."""
    if not stored.url.startswith("postgresql"):
        pytest.skip("live workers are PostgreSQL's (SQLite has no queue)")
    from engine.work.queue import install_schema

    install_schema(engine)
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO procrastinate_workers (last_heartbeat) VALUES (now()), (now())"))
    monkeypatch.setattr("engine.batch.chunks.BATCH_CHUNK", 1)
    monkeypatch.setattr("engine.batch.chunks.CHUNKS_A_WORKER", 1)
    started = start_chunked(load_workspace(ROOT), engine, RunRequest(ORDER, "op1", Selection(all=True), {}))
    with db.reading(engine) as connection:
        split = [(c["first_user"], c["users"]) for c in chunks.chunks_of(connection, started.batch)]
    assert split == [("op1", 3), ("u02", 3), ("u05", 2), ("u07", 1), ("u08", 1), ("u09", 1), ("u10", 1)]


def test_a_batch_over_a_selection_is_split_over_the_users_it_selects(engine: Engine) -> None:
    """`--where` still reads the users to split: each page of two users keeps its Sales holder, and
    the pages are joined into chunks of two selected users."""
    selection = Selection(all=False, where="user.department == 'Sales'")
    started = start_chunked(load_workspace(ROOT), engine, RunRequest(ORDER, "op1", selection, {}), chunk=2)
    with db.reading(engine) as connection:
        split = [(c["first_user"], c["last_user"], c["users"]) for c in chunks.chunks_of(connection, started.batch)]
    assert split == [("u01", "u03", 2), ("u05", "u07", 2), ("u09", "u09", 1)]


def test_the_wait_for_a_batch_ends_when_its_last_chunk_is_done_not_at_its_next_look(
    engine: Engine, stored: StoreUnderTest, tmp_path: Path
) -> None:
    """With a look every ten minutes, the wait returns as soon as the chunks are worked elsewhere: on
    PostgreSQL a notice wakes it at each chunk done. (SQLite has no workers: there it would look again
    after the pause, which this test does not wait for.)"""
    if not stored.url.startswith("postgresql"):
        pytest.skip("workers, and so the notices of their chunks, are PostgreSQL's")
    workspace = load_workspace(ROOT)
    started = start_chunked(workspace, engine, RunRequest(ORDER, "op1", Selection(all=True), {}), chunk=5)
    seen: list[int] = []
    waited: list[dict[str, object]] = []
    waiter = threading.Thread(target=lambda: waited.append(wait_for_batch(engine, started.batch, seen.append, poll=600)))
    waiter.start()
    request = request_from_json(started.request)
    for number in started.pending:
        assert run_chunk(workspace, engine, DropFolder(tmp_path / "orders"), request, number) == "done"
    waiter.join(timeout=60)
    assert not waiter.is_alive(), "the wait did not hear the chunks done"
    assert [record["status"] for record in waited] == ["complete"]
    assert sum(seen) == 12
    assert stored.scalar("SELECT count(*) FROM cards") == 9  # the active holders and the operator


def test_a_chunk_job_reads_its_own_chunk_row_alone(engine: Engine, tmp_path: Path) -> None:
    """A job of a batch of six chunks reads only the row of the chunk it works (every query of the
    chunks' rows names the chunk; the batch's end is told by one count over them), once done says
    so, and an unknown chunk is a usage error."""
    workspace = load_workspace(ROOT)
    started = start_chunked(workspace, engine, RunRequest(ORDER, "op1", Selection(all=True), {}), chunk=2)
    request, bureau = request_from_json(started.request), DropFolder(tmp_path / "orders")
    assert len(started.pending) == 6
    with statements_run(engine) as statements:
        assert run_chunk(workspace, engine, bureau, request, 3) == "done"
    read = chunk_rows_read(statements)
    assert read and all("batch_chunks.number =" in statement for statement in read), statements
    assert run_chunk(workspace, engine, bureau, request, 3) == "already done"
    with pytest.raises(UsageError, match="has no chunk 7"):
        run_chunk(workspace, engine, bureau, request, 7)


def test_a_worker_prepares_a_batch_once_for_all_its_chunks(engine: Engine, stored: StoreUnderTest, tmp_path: Path) -> None:
    """With the batches a worker prepared, only a batch's first chunk reads the batch and its actor
    again; the later chunks start from a copy (not stopped by an earlier chunk's bureau), the batch
    completes with the same cards, a chunk done is still "already done" and an unknown one an error."""
    workspace = load_workspace(ROOT)
    started = start_chunked(workspace, engine, RunRequest(ORDER, "op1", Selection(all=True), {}), chunk=4)
    request, bureau, prepared = request_from_json(started.request), DropFolder(tmp_path / "orders"), Prepared()
    read_again: list[bool] = []
    for number in started.pending:
        with statements_run(engine) as statements:
            assert run_chunk(workspace, engine, bureau, request, number, prepared) == "done"
        read_again.append(any("FROM users WHERE users.id IN" in s or "batches.fingerprint" in s for s in statements))
    assert read_again == [True, False, False]
    with db.reading(engine) as connection:
        assert queries.get_batch(connection, started.batch)["status"] == "complete"  # type: ignore[index]
    assert stored.scalar("SELECT count(*) FROM cards") == 9  # the active holders and the operator
    assert run_chunk(workspace, engine, bureau, request, 2, prepared) == "already done"
    with pytest.raises(UsageError, match="has no chunk 7"):
        run_chunk(workspace, engine, bureau, request, 7, prepared)
    kept = prepared.get(workspace, request)
    assert kept is not None
    kept.stopped = "the card bureau did not answer"
    again = prepared.get(workspace, request)
    assert again is not None and again.stopped is None and again.record == kept.record and again.record is not kept.record


def test_of_the_last_two_chunks_done_at_once_the_second_to_commit_finishes_the_batch(
    engine: Engine, stored: StoreUnderTest
) -> None:
    """Each chunk's transaction ends by looking whether its batch is done: the second of two last
    chunks done at once waits for the first's lock on the batch, then sees it done and finishes the
    batch (without the lock, each would see the other pending and the batch would stay running)."""
    if not stored.url.startswith("postgresql"):
        pytest.skip("on SQLite one transaction writes at a time")
    started = start_chunked(load_workspace(ROOT), engine, RunRequest(ORDER, "op1", Selection(all=True), {}), chunk=6)
    assert started.pending == [1, 2]
    counts = {"created": 6, "skipped": 0, "deferred": 0}
    finished: list[str | None] = []

    def second() -> None:
        with engine.begin() as connection:
            chunks.finish_chunk(connection, started.batch, 2, counts)
            finished.append(chunks.finish_batch_if_done(connection, started.batch))

    with engine.begin() as first:
        chunks.finish_chunk(first, started.batch, 1, counts)
        assert chunks.finish_batch_if_done(first, started.batch) is None  # chunk 2 is pending
        other = threading.Thread(target=second)
        other.start()
        waiting = "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
        while not stored.scalar(waiting):
            assert other.is_alive(), "the second chunk did not wait for the first"
    other.join(timeout=60)
    assert finished == ["complete"]
    assert stored.scalar("SELECT status FROM batches WHERE id = :id", id=started.batch) == "complete"
