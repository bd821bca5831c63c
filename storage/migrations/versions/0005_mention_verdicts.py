"""The analyst's verdicts in mentions: MentionJudged ("reject" a wrong tag, "accept" an untagged article).

- mentions.verdict, verdict_note, verdict_position, judged_at, judged: the newest verdict on the article and
  topic, kept across retags; a rejected tag leaves every digest, an accepted article enters it.
The mentions view's version is raised with this, so it rebuilds itself from the log after the upgrade.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_POSITION = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_COLUMNS = ("judged", "judged_at", "verdict_position", "verdict_note", "verdict")


def upgrade() -> None:
    with op.batch_alter_table("mentions") as batch:
        batch.add_column(sa.Column("verdict", sa.String(20), nullable=True))
        batch.add_column(sa.Column("verdict_note", sa.Text, nullable=True))
        batch.add_column(sa.Column("verdict_position", _POSITION, nullable=True))
        batch.add_column(sa.Column("judged_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("judged", sa.JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("mentions") as batch:
        for column in _COLUMNS:
            batch.drop_column(column)
