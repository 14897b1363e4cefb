"""The PostgreSQL the tests run against is a real server, and each test gets a database of its own."""

from __future__ import annotations

from sqlalchemy import create_engine, text


def test_each_test_gets_a_fresh_database_on_a_real_server(postgres_url: str) -> None:
    """The database is PostgreSQL, empty, and named for this test alone."""
    engine = create_engine(postgres_url)
    with engine.connect() as connection:
        version = connection.execute(text("SELECT version()")).scalar_one()
        tables = connection.execute(text("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")).scalar_one()
        name = connection.execute(text("SELECT current_database()")).scalar_one()
    engine.dispose()
    assert version.startswith("PostgreSQL") and tables == 0 and name.startswith("cardflow_test_")
