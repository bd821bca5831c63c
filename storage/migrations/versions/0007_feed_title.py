"""The feed's own title in feed_state: what the digests, the page, the timeline and the API call the outlet.

- feed_state.title: the title the feed gave in its last full response (FeedPolled's ``feed_title``).
The feed_state view's version is raised with this, so it rebuilds itself from the log after the upgrade.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("feed_state") as batch:
        batch.add_column(sa.Column("title", sa.Text, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("feed_state") as batch:
        batch.drop_column("title")
