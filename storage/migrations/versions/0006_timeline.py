"""The timeline: per article and topic, the meetings its mention sentences report (merged when read).

- timeline: the sightings of the article's newest tag (participants, dates, place, kind, the sentence); a
  retracted or non-mention tag keeps its row with none, so the row always says which tag it reflects.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_POSITION = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "timeline",
        sa.Column("article_id", sa.String(64), primary_key=True),
        sa.Column("topic", sa.String(100), primary_key=True),
        sa.Column("position", _POSITION, nullable=False),
        sa.Column("meetings", sa.JSON(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
    )
    op.create_index("ix_timeline_count", "timeline", ["count"])


def downgrade() -> None:
    op.drop_index("ix_timeline_count", table_name="timeline")
    op.drop_table("timeline")
