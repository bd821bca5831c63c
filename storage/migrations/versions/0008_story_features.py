"""Story features, and an index for the digest's count of failed pages.

- story_features: per tagged article, what story grouping compares (content words and MinHash signature,
  ``monitor.language.features``), with the title and text hash they were computed from, so that a digest
  groups from stored features instead of reading every text again;
- ix_articles_extraction_reason: the articles whose page failed, by feed and reason, found without reading
  every article (partial: only those rows).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "story_features",
        sa.Column("article_id", sa.String(64), primary_key=True),
        sa.Column("title", sa.Text()),
        sa.Column("text_hash", sa.String(64)),
        sa.Column("words", sa.JSON()),
        sa.Column("signature", sa.JSON()),
    )
    op.create_index("ix_articles_extraction_reason", "articles", ["extraction_reason", "feed"],
                    sqlite_where=sa.text("extraction_reason IS NOT NULL"),
                    postgresql_where=sa.text("extraction_reason IS NOT NULL"))


def downgrade() -> None:
    op.drop_index("ix_articles_extraction_reason", table_name="articles")
    op.drop_table("story_features")
