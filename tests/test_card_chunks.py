"""A run over cards for workers (`engine.batch.card_chunks`), worked here without a worker: the cards
split into chunks of card ids, each chunk worked once, a chunk worked again firing no card twice,
the batch finished by the last chunk; and the job of a worker telling a chunk of cards from one of users."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import Run, StoreUnderTest, chunk_rows_read, statements_run
from sqlalchemy import Engine
from test_run_over_cards import ACTIVATE, ORDER, USERS, produce

from engine.batch.card_chunks import card_request_as_json, card_request_from_json, run_card_chunk, start_card_chunks
from engine.batch.card_request import CardRunRequest, CardSelection
from engine.batch.chunks import batch_progress
from engine.definitions.model import Workspace
from engine.definitions.workspace import load_workspace
from engine.errors import UsageError
from engine.outbound.bureau import DropFolder
from engine.store import db
from engine.work.jobs import Runtime, work_chunk


@pytest.fixture
def cf(run: Run, stored: StoreUnderTest, extended_workspace: Path, monkeypatch: pytest.MonkeyPatch) -> Run:
    """The CLI on the extended workspace, with users in the store."""
    monkeypatch.setenv("CARDFLOW_WORKSPACE", str(extended_workspace))
    (stored.folder / "users.csv").write_text(USERS)
    assert run("users", "import", "users.csv").exit_code == 0
    return run


@pytest.fixture
def found(extended_workspace: Path) -> Workspace:
    """The extended workspace, loaded."""
    return load_workspace(extended_workspace)


@pytest.fixture
def engine(cf: Run, stored: StoreUnderTest) -> Iterator[Engine]:
    """The store under test, to write."""
    opened = db.connect(stored.location)
    yield opened
    opened.dispose()


def every_card(**fields: object) -> CardRunRequest:
    return CardRunRequest(ACTIVATE, "op1", CardSelection(all=True), **fields)  # type: ignore[arg-type]


def test_the_cards_a_trigger_may_move_are_split_into_ranges_of_card_ids(
    cf: Run, stored: StoreUnderTest, found: Workspace, engine: Engine
) -> None:
    """Three produced cards in chunks of two: two chunks of card ids, nothing fired yet, the batch running."""
    cards = produce(cf, stored.folder, "u1", "u2", "u4")
    started = start_card_chunks(found, engine, every_card(), chunk=2)
    assert started.pending == [1, 2]
    assert stored.rows("SELECT first_user, last_user, users FROM batch_chunks ORDER BY number") == [
        (str(cards["u1"]), str(cards["u2"]), 2),
        (str(cards["u4"]), str(cards["u4"]), 1),
    ]
    assert batch_progress(engine, started.batch) == ("running", 0, 3)
    assert stored.scalar("SELECT count(*) FROM transitions WHERE trigger = 'activate'") == 0


def test_a_chunk_of_cards_worked_again_fires_no_card_twice(
    cf: Run, stored: StoreUnderTest, found: Workspace, engine: Engine, tmp_path: Path
) -> None:
    """A chunk worked, then worked again as a retried job would after its mark was lost: its cards are
    reported done before, no second audit row; the last chunk finishes the batch with every card counted."""
    produce(cf, stored.folder, "u1", "u2", "u4")
    started = start_card_chunks(found, engine, every_card(), chunk=2)
    again = carried(started.request)
    bureau = DropFolder(tmp_path / "orders")
    assert run_card_chunk(found, engine, bureau, again, 1) == "done"
    assert run_card_chunk(found, engine, bureau, again, 1) == "already done"
    with engine.begin() as connection:  # as if the chunk's mark had not been written
        connection.execute(db.batch_chunks.update().where(db.batch_chunks.c.number == 1).values(status="pending"))
    assert run_card_chunk(found, engine, bureau, again, 1) == "done"
    assert run_card_chunk(found, engine, bureau, again, 2) == "done"
    assert stored.scalar("SELECT count(*) FROM transitions WHERE trigger = 'activate'") == 3
    assert stored.rows("SELECT status, created, skipped FROM batches WHERE id = :b", b=started.batch) == [("complete", 3, 0)]


def test_a_chunk_job_of_cards_reads_its_own_chunk_row_alone(
    cf: Run, stored: StoreUnderTest, found: Workspace, engine: Engine, tmp_path: Path
) -> None:
    """A job of a run over three chunks reads only the row of the chunk it works (a run may have
    thousands), and an unknown chunk is a usage error."""
    produce(cf, stored.folder, "u1", "u2", "u4")
    started = start_card_chunks(found, engine, every_card(), chunk=1)
    again, bureau = carried(started.request), DropFolder(tmp_path / "orders")
    with statements_run(engine) as statements:
        assert run_card_chunk(found, engine, bureau, again, 2) == "done"
    read = chunk_rows_read(statements)
    assert read and all("batch_chunks.number =" in statement for statement in read), read
    with pytest.raises(UsageError, match="has no chunk 4"):
        run_card_chunk(found, engine, bureau, again, 4)


def carried(data: dict[str, object]) -> CardRunRequest:
    """The request as a job carries it (through JSON)."""
    return card_request_from_json(json.loads(json.dumps(data)))


def test_the_chunk_job_works_a_chunk_of_cards(
    cf: Run, stored: StoreUnderTest, found: Workspace, engine: Engine, tmp_path: Path
) -> None:
    """The workers' chunk job, given the request of a run over cards, fires its trigger on the chunk's cards."""
    cards = produce(cf, stored.folder, "u1")
    named = CardRunRequest(ACTIVATE, "op1", CardSelection(cards=(cards["u1"], cards["u3"])))
    started = start_card_chunks(found, engine, named)
    assert card_request_as_json(named)["over"] == started.request["over"] == "cards"
    runtime = Runtime(found, engine, DropFolder(tmp_path / "orders"))
    assert work_chunk(runtime, json.loads(json.dumps(started.request)), 1) == "done"
    assert stored.rows("SELECT status, created, skipped FROM batches WHERE id = :b", b=started.batch) == [("complete", 1, 1)]


def test_a_dry_run_does_not_go_to_workers(cf: Run, found: Workspace, engine: Engine) -> None:
    """`--dry-run` with `--workers` over cards is a usage error: a plan is worked out here."""
    with pytest.raises(UsageError, match="--dry-run and --workers do not go together"):
        start_card_chunks(found, engine, every_card(dry_run=True))


def test_workers_over_cards_need_postgres(cf: Run) -> None:
    """On SQLite, `run NAME --workers` over cards exits 2 as over users: there are no workers, run from cron."""
    result = cf("run", ACTIVATE, "--all", "--as", "op1", "--workers", "--db", "cardflow-sqlite.db")
    assert result.exit_code == 2
    assert "no workers with SQLite" in result.stderr


def test_a_chunk_whose_move_the_store_refuses_works_each_card_alone(
    cf: Run, stored: StoreUnderTest, extended_workspace: Path, engine: Engine, tmp_path: Path
) -> None:
    """When the store refuses a move of a chunk (a second open card of an exclusive process), that card
    is refused and the chunk's other cards are still done, each alone; the chunk is done once, the batch complete."""
    retry = extended_workspace / "processes" / "CardsAddonExtProdProcRetryOrder.yaml"
    text = retry.read_text(encoding="utf-8")
    retry.write_text(text[: text.index("  - rule: options.CardsAddonExtProdMultipleCards")], encoding="utf-8")
    cards = produce(cf, stored.folder)
    for path in (stored.folder / "orders").glob("*.json"):
        if ".u1." in path.name or ".u2." in path.name:
            (stored.folder / "orders" / "status" / path.name).write_text('{"status": "failed", "reason": "Chip defect"}')
    assert cf("orders", "sync").exit_code == 0
    assert cf("run", ORDER, "--user", "u1", "--as", "op1").exit_code == 0  # u1's new card is open
    found = load_workspace(extended_workspace)
    request = CardRunRequest("CardsAddonExtProdProcRetryOrder", "op1", CardSelection(cards=(cards["u1"], cards["u2"])))
    started = start_card_chunks(found, engine, request)
    assert run_card_chunk(found, engine, DropFolder(tmp_path / "orders"), carried(started.request), 1) == "done"
    assert stored.rows("SELECT status, created, skipped FROM batches WHERE id = :b", b=started.batch) == [("complete", 1, 1)]
    moved = "SELECT card_id FROM transitions WHERE batch_id = :b"
    assert stored.rows(moved, b=started.batch) == [(cards["u2"],)]
    assert stored.rows("SELECT status FROM batch_chunks WHERE batch_id = :b", b=started.batch) == [("done",)]
