"""Feed schedules and moves in feed_state; entry identity and revisions in articles.

- feed_state.current_url, last_moved_at: a feed that moved (301/308, autodiscovery) is polled at its new URL.
- feed_state.interval, schedule, next_poll_at: the schedule each poll decided; a restarted daemon resumes it.
- articles.entry_key (indexed), entry_hash, revisions, revised_at: an entry whose link changed is found by its
  guid, and one whose content changed is recorded as revised.
The view versions in the code are raised with this, so both views rebuild from the log after the upgrade.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_UTC = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("feed_state") as batch:
        batch.add_column(sa.Column("current_url", sa.Text, nullable=True))
        batch.add_column(sa.Column("last_moved_at", _UTC, nullable=True))
        batch.add_column(sa.Column("interval", sa.Float, nullable=True))
        batch.add_column(sa.Column("schedule", sa.String(40), nullable=True))
        batch.add_column(sa.Column("next_poll_at", _UTC, nullable=True))
    with op.batch_alter_table("articles") as batch:
        batch.add_column(sa.Column("entry_key", sa.String(64), nullable=True))
        batch.add_column(sa.Column("entry_hash", sa.String(64), nullable=True))
        batch.add_column(sa.Column("revisions", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("revised_at", _UTC, nullable=True))
    op.create_index("ix_articles_entry_key", "articles", ["entry_key"])


def downgrade() -> None:
    op.drop_index("ix_articles_entry_key", table_name="articles")
    with op.batch_alter_table("articles") as batch:
        for column in ("revised_at", "revisions", "entry_hash", "entry_key"):
            batch.drop_column(column)
    with op.batch_alter_table("feed_state") as batch:
        for column in ("next_poll_at", "schedule", "interval", "last_moved_at", "current_url"):
            batch.drop_column(column)
