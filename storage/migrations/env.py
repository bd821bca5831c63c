"""Alembic environment: migrations always run on a connection that storage.migrate hands over.

Run them with ``news-monitor db upgrade`` (or automatically at start on SQLite), not with the alembic
command line: storage.migrate takes the lock that keeps two workers from migrating at once.
"""

from __future__ import annotations

from alembic import context

from storage.tables import metadata as log_metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    # Only storage's own tables (the log and the views' checkpoints): the read models' tables belong to the
    # product (monitor.views.tables), and the migrations spell every table out themselves, so nothing here
    # needs them.
    target_metadata=log_metadata,
    render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying them
)
with context.begin_transaction():
    context.run_migrations()
