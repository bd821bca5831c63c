"""``reading``: a read-only connection. With ``statements_apart`` on PostgreSQL its statements run outside any
transaction (no BEGIN, no ROLLBACK round trips), and each still sees what is committed; on SQLite the reads stay
one snapshot."""

from __future__ import annotations

from sqlalchemy import select

from storage.engine import make_engine, reading
from storage.migrate import upgrade
from storage.tables import events_table


def test_statements_apart_run_outside_a_transaction_on_postgresql(database_url: str) -> None:
    engine = make_engine(database_url)
    upgrade(engine)
    try:
        with reading(engine, statements_apart=True) as conn:
            assert conn.scalar(select(events_table.c.position).limit(1)) is None
            driver = conn.connection.driver_connection
            if engine.dialect.name == "postgresql":
                import psycopg

                # Idle after a read: no transaction was opened, so none is rolled back at the end either.
                assert driver.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
                assert driver.autocommit
            else:
                assert driver.in_transaction  # SQLite: one snapshot for all the reads
        with reading(engine) as conn:
            conn.scalar(select(events_table.c.position).limit(1))
            driver = conn.connection.driver_connection
            if engine.dialect.name == "postgresql":
                import psycopg

                assert driver.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS
        with engine.connect() as conn:  # the pooled connection is back to transactions
            conn.scalar(select(events_table.c.position).limit(1))
            assert conn.in_transaction()
            if engine.dialect.name == "postgresql":
                assert not conn.connection.driver_connection.autocommit
    finally:
        engine.dispose()
