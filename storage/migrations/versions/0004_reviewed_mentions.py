"""Single mentions reviewed: the web page marks one item (or all those shown) reviewed.

- reviewed_mentions: per article and topic, the position of the tag that was reviewed. A later tag of the
  same article and topic (a retag that changed it) is new again; the review cursor still covers
  everything up to a position.
The review_cursor view's version is raised with this (it now never moves back), so it rebuilds itself.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_POSITION = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "reviewed_mentions",
        sa.Column("article_id", sa.String(64), primary_key=True),
        sa.Column("topic", sa.String(100), primary_key=True),
        sa.Column("position", _POSITION, nullable=False),
        sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("source", sa.String(20), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("reviewed_mentions")
