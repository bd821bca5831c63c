"""The product's read models kept in step with the log: the view engine (``storage.projector``) given the
tables (``tables``) and reducers (``reducers``) of feed_state, articles, mentions, review_cursor and
reviewed_mentions.
"""

from __future__ import annotations

from sqlalchemy.engine import Engine

from monitor.views.reducers import VIEWS
from storage.eventlog import NO_UPCASTERS, Upcasters
from storage.projector import Projector


class Projections(Projector):
    """Keeps the read models in step with the log. ``upcasters`` must be the log's, so that the reducers see
    current payloads."""

    def __init__(self, engine: Engine, *, upcasters: Upcasters = NO_UPCASTERS, batch_size: int = 2000) -> None:
        super().__init__(engine, VIEWS, upcasters=upcasters, batch_size=batch_size)


__all__ = ["Projections", "VIEWS"]
