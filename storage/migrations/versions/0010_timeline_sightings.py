"""The timeline's sightings one row each, with the event each belongs to: a digest reads only its mentions' events.

- timeline_sightings: per article, topic and sighting (the ``timeline`` row's meetings, one row each), its
  participants (as one key), date range, place, the merge's tie order within the tag, the sighting itself, and
  its event (the key of the sighting that founded it); indexed by topic, participants and start (to merge again
  the sightings near those a batch changes) and by event (a digest reads only its mentions' events). The
  timeline view's version is raised with it, so that its next catch-up rebuilds it and fills the table.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "timeline_sightings",
        sa.Column("article_id", sa.String(64), primary_key=True),
        sa.Column("topic", sa.String(100), primary_key=True),
        sa.Column("n", sa.Integer(), primary_key=True),
        sa.Column("participants", sa.Text(), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=False),
        sa.Column("tie_rank", sa.Integer(), nullable=False),
        sa.Column("place", sa.JSON()),
        sa.Column("sighting", sa.JSON(), nullable=False),
        sa.Column("event_article", sa.String(64)),
        sa.Column("event_n", sa.Integer()),
    )
    op.create_index("ix_timeline_sightings_group", "timeline_sightings", ["topic", "participants", "start_date"])
    op.create_index("ix_timeline_sightings_event", "timeline_sightings", ["topic", "event_article", "event_n"])


def downgrade() -> None:
    op.drop_index("ix_timeline_sightings_event", table_name="timeline_sightings")
    op.drop_index("ix_timeline_sightings_group", table_name="timeline_sightings")
    op.drop_table("timeline_sightings")
