"""`cardflow check-store`: is the store whole? SQLite's `integrity_check` (every page, index and
constraint), then the schema: the version recorded, every table and column this cardflow uses."""

from __future__ import annotations

from sqlalchemy import Engine, create_engine, inspect, text

from engine.store import checks, db

#: At most this many problems of `integrity_check` are listed.
MAX_PROBLEMS = 20


def answers(engine: Engine) -> bool:
    """Whether the store's database answers now (a worker waiting for a lost store asks)."""
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception:  # refused, reset, starting up, shutting down: not now
        return False
    return True


def check_store(location: str) -> list[str]:
    """The problems of the store at `location`, one line each (none: it is whole). It is only read."""
    path = checks.sqlite_path(location)
    if path is not None:
        checks.check_file(path, location, "read")
    engine = create_engine(location if path is None else checks.read_only_url(path))
    try:
        return _integrity(engine) + _schema(engine)
    except Exception as error:  # a store too broken to read its schema: that is the finding
        return [f"cannot read the store: {checks.one_line_error(error)}"]
    finally:
        engine.dispose()


def _integrity(engine: Engine) -> list[str]:
    if engine.dialect.name != "sqlite":
        return []
    with engine.connect() as connection:
        rows = [str(row[0]) for row in connection.execute(text(f"PRAGMA integrity_check({MAX_PROBLEMS})"))]
    return [] if rows == ["ok"] else [f"integrity: {row}" for row in rows]


def _schema(engine: Engine) -> list[str]:
    with engine.connect() as connection:
        tables = set(connection.dialect.get_table_names(connection))
        version = db.schema_version(connection) if "meta" in tables else 0
    if version == 0:
        return [f"not a cardflow store (no schema version; tables: {', '.join(sorted(tables)) or 'none'})"]
    problems = []
    if version != db.VERSION:
        problems.append(f"schema version {version}, this cardflow's is {db.VERSION} (`check-store --upgrade` upgrades it)")
    inspector = inspect(engine)
    for table in db.metadata.sorted_tables:
        if table.name not in tables:
            problems.append(f"table {table.name} is missing")
            continue
        found = {column["name"] for column in inspector.get_columns(table.name)}
        missing = [column.name for column in table.columns if column.name not in found]
        if missing and version == db.VERSION:
            problems.append(f"table {table.name} lacks the column(s) {', '.join(missing)}")
    return problems


def upgrade_store(location: str) -> int:
    """Upgrade the store to this cardflow's schema (what any write command does first); the version reached."""
    engine = db.connect(location, mode="write")
    try:
        with engine.connect() as connection:
            return db.schema_version(connection)
    finally:
        engine.dispose()
