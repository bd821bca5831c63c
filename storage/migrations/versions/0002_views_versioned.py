"""Versioned read models, 64-bit positions everywhere, an index for the unreviewed-mentions query.

- projection_checkpoints.view_version: a view whose code version differs from the stored one is
  rebuilt from the log at its next catch-up (NULL here, so every view is rebuilt once after this).
- positions in read models are 64-bit, like events.position on PostgreSQL.
- articles.extraction_stage: whether a failed extraction failed to fetch the page or to find text.
- ix_mentions_position: the digest reads mentions after the review cursor, in position order.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# As in the code's metadata: 64-bit on PostgreSQL; SQLite's INTEGER already is (and keeps rowid aliasing).
_POSITION = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_POSITION_COLUMNS = (("projection_checkpoints", "position"), ("mentions", "position"), ("review_cursor", "position"))


def upgrade() -> None:
    with op.batch_alter_table("projection_checkpoints") as batch:
        batch.add_column(sa.Column("view_version", sa.Integer, nullable=True))
    with op.batch_alter_table("articles") as batch:
        batch.add_column(sa.Column("extraction_stage", sa.String(20), nullable=True))
    for table, column in _POSITION_COLUMNS:
        with op.batch_alter_table(table) as batch:
            batch.alter_column(column, type_=_POSITION, existing_type=sa.Integer(), existing_nullable=False)
    op.create_index("ix_mentions_position", "mentions", ["position"])


def downgrade() -> None:
    op.drop_index("ix_mentions_position", table_name="mentions")
    for table, column in _POSITION_COLUMNS:
        with op.batch_alter_table(table) as batch:
            batch.alter_column(column, type_=sa.Integer(), existing_type=_POSITION, existing_nullable=False)
    with op.batch_alter_table("articles") as batch:
        batch.drop_column("extraction_stage")
    with op.batch_alter_table("projection_checkpoints") as batch:
        batch.drop_column("view_version")
