"""The worker queue (PostgreSQL only): procrastinate's schema, and who each worker is.

- procrastinate's own tables, types and functions (procrastinate_jobs, procrastinate_workers, ...), from the
  schema SQL the installed procrastinate ships, so they are migrated with ours and never by hand;
- queue_workers: the host and pid of each live procrastinate worker (procrastinate keeps only an id and a
  heartbeat), what ``news-monitor workers status`` names a worker by. A pruned worker takes its row along;
- queue_takeovers: each job of a dead worker given to another (what ``workers status`` shows as the last
  takeover; procrastinate's own job events go with the jobs it deletes once done).

SQLite has no workers (``news-monitor worker`` refuses it): nothing changes there.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_WORKERS = """
CREATE TABLE queue_workers (
    worker_id bigint PRIMARY KEY REFERENCES procrastinate_workers(id) ON DELETE CASCADE,
    host text NOT NULL,
    pid integer NOT NULL,
    concurrency integer NOT NULL,
    started_at timestamp with time zone NOT NULL DEFAULT NOW()
);
CREATE TABLE queue_takeovers (
    id bigserial PRIMARY KEY,
    job_id bigint NOT NULL,
    lock text,
    worker_id bigint,
    at timestamp with time zone NOT NULL DEFAULT NOW()
);
CREATE INDEX ix_queue_takeovers_at ON queue_takeovers (at);
"""


def _raw(sql: str) -> None:
    # The driver's own execute: the schema holds many statements, dollar-quoted functions and % signs that
    # neither SQLAlchemy's text() nor a parametrised execute may reinterpret.
    op.get_bind().connection.driver_connection.execute(sql)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    from procrastinate.schema import SchemaManager

    _raw(SchemaManager.get_schema())
    _raw(_WORKERS)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    _raw("DROP TABLE IF EXISTS queue_takeovers; DROP TABLE IF EXISTS queue_workers")
    # Everything procrastinate created is named procrastinate_*: drop it by name, whatever its version shipped.
    _raw("""
DO $$
DECLARE item record;
BEGIN
    FOR item IN SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE n.nspname = current_schema() AND c.relkind = 'r' AND c.relname LIKE 'procrastinate\\_%' LOOP
        EXECUTE format('DROP TABLE IF EXISTS %I CASCADE', item.relname);
    END LOOP;
    FOR item IN SELECT p.oid::regprocedure AS signature FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                WHERE n.nspname = current_schema() AND p.proname LIKE 'procrastinate\\_%' LOOP
        EXECUTE format('DROP FUNCTION IF EXISTS %s CASCADE', item.signature);
    END LOOP;
    FOR item IN SELECT t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
                WHERE n.nspname = current_schema() AND t.typname LIKE 'procrastinate\\_%' AND t.typtype IN ('e', 'c')
                LOOP
        EXECUTE format('DROP TYPE IF EXISTS %I CASCADE', item.typname);
    END LOOP;
END $$;
""")
