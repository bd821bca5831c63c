"""The schema of the walking skeleton: the event log and four read models.

Databases created before migrations existed hold exactly this schema; storage.migrate stamps them with
this revision before upgrading.

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from storage.engine import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

Payload = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("position", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True,
                  autoincrement=True),
        sa.Column("stream", sa.String(300), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("type", sa.String(100), nullable=False),
        sa.Column("schema", sa.Integer, nullable=False),
        sa.Column("key", sa.String(500), nullable=False),
        sa.Column("occurred_at", UTCDateTime(), nullable=False),
        sa.Column("recorded_at", UTCDateTime(), nullable=False),
        sa.Column("data", Payload, nullable=False),
        sa.UniqueConstraint("stream", "version", name="uq_events_stream_version"),
        sa.UniqueConstraint("key", name="uq_events_key"),
    )
    op.create_index("ix_events_type_position", "events", ["type", "position"])
    op.create_table(
        "projection_checkpoints",
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("position", sa.Integer, nullable=False),
    )
    op.create_table(
        "feed_state",
        sa.Column("feed", sa.String(300), primary_key=True),
        sa.Column("url", sa.Text),
        sa.Column("status", sa.String(40)),
        sa.Column("http_status", sa.Integer),
        sa.Column("etag", sa.Text),
        sa.Column("last_modified", sa.Text),
        sa.Column("last_polled_at", UTCDateTime()),
        sa.Column("last_success_at", UTCDateTime()),
        sa.Column("last_error_at", UTCDateTime()),
        sa.Column("last_error_reason", sa.String(100)),
        sa.Column("last_error_message", sa.Text),
        sa.Column("consecutive_failures", sa.Integer, nullable=False),
        sa.Column("polls", sa.Integer, nullable=False),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("entries_seen", sa.Integer, nullable=False),
        sa.Column("articles", sa.Integer, nullable=False),
    )
    op.create_table(
        "articles",
        sa.Column("article_id", sa.String(64), primary_key=True),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("canonical_url", sa.Text, nullable=False),
        sa.Column("feed", sa.String(300)),
        sa.Column("entry_id", sa.Text),
        sa.Column("title", sa.Text),
        sa.Column("published_at", UTCDateTime()),
        sa.Column("discovered_at", UTCDateTime()),
        sa.Column("status", sa.String(40), nullable=False),
        sa.Column("text_source", sa.String(40)),
        sa.Column("text", sa.Text),
        sa.Column("text_hash", sa.String(64)),
        sa.Column("word_count", sa.Integer),
        sa.Column("language", sa.String(20)),
        sa.Column("author", sa.Text),
        sa.Column("extraction_reason", sa.String(100)),
        sa.Column("extraction_message", sa.Text),
    )
    op.create_table(
        "mentions",
        sa.Column("article_id", sa.String(64), primary_key=True),
        sa.Column("topic", sa.String(100), primary_key=True),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("tagged_at", UTCDateTime(), nullable=False),
        sa.Column("topic_version", sa.String(40)),
        sa.Column("decision", sa.String(20)),
        sa.Column("mention", sa.Boolean, nullable=False),
        sa.Column("score", sa.Float, nullable=False),
        sa.Column("sentences", sa.JSON, nullable=False),
        sa.Column("terms", sa.JSON, nullable=False),
        sa.Column("explanation", sa.JSON, nullable=False),
    )
    op.create_table(
        "review_cursor",
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("reviewed_at", UTCDateTime()),
    )


def downgrade() -> None:
    for table in ("review_cursor", "mentions", "articles", "feed_state", "projection_checkpoints", "events"):
        op.drop_table(table)
