"""Read models projected from the event log: feed state, articles, mentions and the review cursor.

Each view has its own tables, the event types it reads and a checkpoint (the position of the last
event it applied). A view catches up in batches; each batch updates the tables and the checkpoint in one
transaction, so a crash leaves the view at a consistent position and the next catch-up resumes there.
``rebuild`` empties a view and replays the whole log; the result equals the live state because the
handlers are pure functions of the events, applied in position order.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    delete,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from monitor.errors import StorageError
from storage.eventlog import RecordedEvent, UTCDateTime, _describe_db_error, _to_recorded, events_table

metadata = MetaData()

checkpoints = Table(
    "projection_checkpoints", metadata,
    Column("name", String(100), primary_key=True),
    Column("position", Integer, nullable=False),
)

feed_state = Table(
    "feed_state", metadata,
    Column("feed", String(300), primary_key=True),
    Column("url", Text),
    Column("status", String(40)),  # ok | not_modified | failing
    Column("http_status", Integer),
    Column("etag", Text),
    Column("last_modified", Text),
    Column("last_polled_at", UTCDateTime()),
    Column("last_success_at", UTCDateTime()),
    Column("last_error_at", UTCDateTime()),
    Column("last_error_reason", String(100)),
    Column("last_error_message", Text),
    Column("consecutive_failures", Integer, nullable=False, default=0),
    Column("polls", Integer, nullable=False, default=0),
    Column("failures", Integer, nullable=False, default=0),
    Column("entries_seen", Integer, nullable=False, default=0),
    Column("articles", Integer, nullable=False, default=0),
)

articles = Table(
    "articles", metadata,
    Column("article_id", String(64), primary_key=True),
    Column("url", Text, nullable=False),
    Column("canonical_url", Text, nullable=False),
    Column("feed", String(300)),
    Column("entry_id", Text),
    Column("title", Text),
    Column("published_at", UTCDateTime()),
    Column("discovered_at", UTCDateTime()),
    Column("status", String(40), nullable=False),  # discovered | extracted | failed
    Column("text_source", String(40)),  # page | feed_content | feed_summary | title
    Column("text", Text),
    Column("text_hash", String(64)),
    Column("word_count", Integer),
    Column("language", String(20)),
    Column("author", Text),
    Column("extraction_reason", String(100)),
    Column("extraction_message", Text),
)

mentions = Table(
    "mentions", metadata,
    Column("article_id", String(64), primary_key=True),
    Column("topic", String(100), primary_key=True),
    Column("position", Integer, nullable=False),  # of the MentionTagged event: the digest cursor
    Column("tagged_at", UTCDateTime(), nullable=False),
    Column("topic_version", String(40)),
    Column("decision", String(20)),
    Column("mention", Boolean, nullable=False),
    Column("score", Float, nullable=False),
    Column("sentences", JSON, nullable=False),
    Column("terms", JSON, nullable=False),
    Column("explanation", JSON, nullable=False),
)

review_cursor = Table(
    "review_cursor", metadata,
    Column("name", String(100), primary_key=True),
    Column("position", Integer, nullable=False),
    Column("reviewed_at", UTCDateTime()),
)

Handler = Callable[[Connection, RecordedEvent], None]


@dataclass(frozen=True)
class View:
    name: str
    tables: tuple[Table, ...]
    handlers: dict[str, Handler]


def _upsert(conn: Connection, table: Table, key: dict[str, Any], values: dict[str, Any]) -> None:
    insert = (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(table)
    statement = insert.values({**key, **values})
    if values:
        statement = statement.on_conflict_do_update(index_elements=list(key), set_=values)
    else:
        statement = statement.on_conflict_do_nothing(index_elements=list(key))
    conn.execute(statement)


def _feed_row(conn: Connection, feed: str) -> dict[str, Any]:
    _upsert(conn, feed_state, {"feed": feed}, {})
    row = conn.execute(select(feed_state).where(feed_state.c.feed == feed)).mappings().one()
    return dict(row)


def _on_feed_polled(conn: Connection, event: RecordedEvent) -> None:
    data = event.data
    row = _feed_row(conn, data["feed"])
    values: dict[str, Any] = {
        "url": data.get("url"), "status": data.get("status", "ok"), "http_status": data.get("http_status"),
        "last_polled_at": event.occurred_at, "last_success_at": event.occurred_at, "consecutive_failures": 0,
        "polls": row["polls"] + 1, "entries_seen": data.get("entries_seen", row["entries_seen"]),
    }
    # Keep validators from the last full response: some servers omit them on a 304.
    if data.get("etag") or data.get("status") != "not_modified":
        values["etag"] = data.get("etag")
    if data.get("last_modified") or data.get("status") != "not_modified":
        values["last_modified"] = data.get("last_modified")
    conn.execute(update(feed_state).where(feed_state.c.feed == data["feed"]).values(values))


def _on_feed_failed(conn: Connection, event: RecordedEvent) -> None:
    data = event.data
    row = _feed_row(conn, data["feed"])
    conn.execute(update(feed_state).where(feed_state.c.feed == data["feed"]).values(
        url=data.get("url"), status="failing", http_status=data.get("http_status"),
        last_polled_at=event.occurred_at, last_error_at=event.occurred_at,
        last_error_reason=data.get("reason"), last_error_message=data.get("message"),
        consecutive_failures=row["consecutive_failures"] + 1, polls=row["polls"] + 1,
        failures=row["failures"] + 1,
    ))


def _on_article_discovered_feed(conn: Connection, event: RecordedEvent) -> None:
    row = _feed_row(conn, event.data["feed"])
    conn.execute(update(feed_state).where(feed_state.c.feed == event.data["feed"])
                 .values(articles=row["articles"] + 1))


def _on_article_discovered(conn: Connection, event: RecordedEvent) -> None:
    data = event.data
    _upsert(conn, articles, {"article_id": data["article_id"]}, {
        "url": data["url"], "canonical_url": data["canonical_url"], "feed": data.get("feed"),
        "entry_id": data.get("entry_id"), "title": data.get("title"),
        # occurred_at falls back to the discovery time when the feed gives no date; the view says unknown.
        "published_at": _parse_time(data.get("published_at")),
        "discovered_at": event.recorded_at, "status": "discovered",
    })


def _parse_time(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value else None


def _on_article_extracted(conn: Connection, event: RecordedEvent) -> None:
    data = event.data
    conn.execute(update(articles).where(articles.c.article_id == data["article_id"]).values(
        status="extracted", text_source=data.get("text_source"), text=data.get("text"),
        text_hash=data.get("text_hash"), word_count=data.get("word_count"), language=data.get("language"),
        author=data.get("author"), title=data.get("title") or articles.c.title,
    ))


def _on_extraction_failed(conn: Connection, event: RecordedEvent) -> None:
    data = event.data
    conn.execute(update(articles).where(articles.c.article_id == data["article_id"]).values(
        extraction_reason=data.get("reason"), extraction_message=data.get("message"),
    ))
    # An article whose page failed but whose feed text was used stays "extracted" (set by the
    # ArticleExtracted event that follows); one with no text at all is "failed".
    conn.execute(update(articles).where(articles.c.article_id == data["article_id"],
                                        articles.c.status == "discovered").values(status="failed"))


def _on_mention_tagged(conn: Connection, event: RecordedEvent) -> None:
    data = event.data
    _upsert(conn, mentions, {"article_id": data["article_id"], "topic": data["topic"]}, {
        "position": event.position, "tagged_at": event.recorded_at, "topic_version": data.get("topic_version"),
        "decision": data.get("decision"), "mention": bool(data.get("mention")), "score": data["score"],
        "sentences": data.get("sentences", []), "terms": data.get("terms", []),
        "explanation": {k: v for k, v in data.items() if k not in ("sentences", "terms")},
    })


def _on_digest_reviewed(conn: Connection, event: RecordedEvent) -> None:
    _upsert(conn, review_cursor, {"name": "default"},
            {"position": event.data["up_to_position"], "reviewed_at": event.occurred_at})


VIEWS: dict[str, View] = {
    "feed_state": View("feed_state", (feed_state,), {
        "FeedPolled": _on_feed_polled, "FeedFailed": _on_feed_failed,
        "ArticleDiscovered": _on_article_discovered_feed,
    }),
    "articles": View("articles", (articles,), {
        "ArticleDiscovered": _on_article_discovered, "ArticleExtracted": _on_article_extracted,
        "ExtractionFailed": _on_extraction_failed,
    }),
    "mentions": View("mentions", (mentions,), {"MentionTagged": _on_mention_tagged}),
    "review_cursor": View("review_cursor", (review_cursor,), {"DigestReviewed": _on_digest_reviewed}),
}


class Projections:
    """Keeps the read models in step with the log."""

    def __init__(self, engine: Engine, batch_size: int = 1000) -> None:
        self.engine = engine
        self.batch_size = batch_size

    def create_schema(self) -> None:
        try:
            with self.engine.begin() as conn:
                metadata.create_all(conn)
        except SQLAlchemyError as exc:
            raise StorageError(f"cannot create the read models: {_describe_db_error(exc)}") from exc

    def catch_up(self, names: Iterable[str] | None = None) -> int:
        """Apply every event not yet applied to each view. Returns how many events were applied."""
        applied = 0
        for name in names or VIEWS:
            view = self._view(name)
            try:
                while (count := self._apply_batch(view)) > 0:
                    applied += count
            except SQLAlchemyError as exc:
                raise StorageError(f"cannot update the {name} view: {_describe_db_error(exc)}") from exc
        return applied

    def rebuild(self, names: Iterable[str] | None = None) -> int:
        """Empty the views and replay the whole log into them."""
        chosen = list(names or VIEWS)
        for name in chosen:
            view = self._view(name)
            try:
                with self.engine.begin() as conn:
                    self._lock_checkpoint(conn, view.name)
                    for table in view.tables:
                        conn.execute(delete(table))
                    conn.execute(update(checkpoints).where(checkpoints.c.name == view.name).values(position=0))
            except SQLAlchemyError as exc:
                raise StorageError(f"cannot rebuild the {name} view: {_describe_db_error(exc)}") from exc
        return self.catch_up(chosen)

    @staticmethod
    def _view(name: str) -> View:
        try:
            return VIEWS[name]
        except KeyError:
            raise StorageError(f"unknown projection {name!r} (known: {', '.join(VIEWS)})") from None

    @staticmethod
    def _lock_checkpoint(conn: Connection, name: str) -> int:
        insert = (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(checkpoints)
        conn.execute(insert.values(name=name, position=0).on_conflict_do_nothing(index_elements=["name"]))
        query = select(checkpoints.c.position).where(checkpoints.c.name == name)
        if conn.dialect.name == "postgresql":
            query = query.with_for_update()  # one catching-up worker per view at a time
        return conn.scalar(query) or 0

    def _apply_batch(self, view: View) -> int:
        with self.engine.begin() as conn:
            position = self._lock_checkpoint(conn, view.name)
            rows = conn.execute(
                select(events_table).where(events_table.c.position > position,
                                           events_table.c.type.in_(sorted(view.handlers)))
                .order_by(events_table.c.position).limit(self.batch_size)
            ).mappings().all()
            for row in rows:
                event = _to_recorded(row)
                view.handlers[event.type](conn, event)
            if rows:
                conn.execute(update(checkpoints).where(checkpoints.c.name == view.name)
                             .values(position=rows[-1]["position"]))
            return len(rows)


def unreviewed_position(conn: Connection) -> int:
    """The position up to which everything has been reviewed (0 before the first review)."""
    return conn.scalar(select(review_cursor.c.position).where(review_cursor.c.name == "default")) or 0


__all__ = ["Projections", "VIEWS", "articles", "feed_state", "mentions", "review_cursor", "checkpoints",
           "unreviewed_position"]
