"""The floors of bench/batch.py stay honest: on the same users, each writes the rows the engine
writes for its case, table by table, with the same columns filled and values of the same sizes (a
column the engine starts writing, or a call it starts making, fails this until the floor does too)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text

BENCH = Path(__file__).resolve().parents[1] / "bench"
USERS = 60
#: Tables whose rows are the run's own bookkeeping, not the work a floor does.
BOOKKEEPING = {"batches", "decisions"}


def written(location: Path, before: dict[str, int]) -> dict[str, tuple[int, frozenset[str], int]]:
    """Per table the run wrote to: rows written, the columns filled in them, the size of their values."""
    found = {}
    engine = create_engine(f"sqlite:///{location}")
    with engine.connect() as connection:
        for table in inspect(engine).get_table_names():
            result = connection.execute(text(f'SELECT * FROM "{table}" LIMIT -1 OFFSET :skip'), {"skip": before.get(table, 0)})
            columns, rows = list(result.keys()), result.fetchall()
            if rows and table not in BOOKKEEPING:
                filled = frozenset(name for i, name in enumerate(columns) if any(row[i] is not None for row in rows))
                found[table] = (len(rows), filled, sum(len(str(value)) for row in rows for value in row if value is not None))
    engine.dispose()
    return found


def counts(location: Path) -> dict[str, int]:
    engine = create_engine(f"sqlite:///{location}")
    with engine.connect() as connection:
        found = {
            table: connection.execute(text(f'SELECT count(*) FROM "{table}"')).scalar_one()
            for table in inspect(engine).get_table_names()
        }
    engine.dispose()
    return found


@pytest.mark.parametrize("case", ["a", "b", "c"])
def test_a_floor_writes_the_rows_the_engine_writes(case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(BENCH))
    import batch  # bench/batch.py

    outcome = {}
    for who, work in (("floor", batch.floor), ("engine", batch.engine_api)):
        store = tmp_path / f"{who}.db"
        batch.prepared_store(str(store), USERS, case)
        before = counts(store)
        work(str(store), case)
        outcome[who] = written(store, before)
    floor, engine = outcome["floor"], outcome["engine"]
    assert floor.keys() == engine.keys()
    for table in engine:
        rows, filled, size = engine[table]
        assert (table, floor[table][0], floor[table][1]) == (table, rows, filled)
        sizes = f"{table}: the floor's values are {floor[table][2]} bytes, the engine's {size}"
        assert abs(floor[table][2] - size) <= 0.1 * size, sizes
