"""Read models projected from the event log: feed state, articles, mentions and the review cursor.

Each view is one table of rows with a primary key, and a reducer per event type that it reads: a pure
function ``(current row or None, event) -> new row``. Catching up reads a batch of events after the view's
checkpoint, loads the rows those events touch, folds the events into them in position order, and writes
the changed rows and the new checkpoint in one transaction. A crash therefore leaves each view at a
consistent position, and the next catch-up resumes there.

``rebuild`` empties a view and replays the log into it. Because the reducers depend on nothing but the
events, in position order, the rebuilt state equals the live state (a test checks this row by row).

Each view has a version, stored beside its checkpoint. When a reducer's meaning changes, its version is
raised, and the view rebuilds itself at its next catch-up: no stale read model survives an upgrade.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    delete,
    func,
    select,
    tuple_,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from monitor.events.keys import entry_key
from storage.engine import UTCDateTime, reading
from storage.errors import StorageError, translating
from storage.eventlog import NO_UPCASTERS, RecordedEvent, Upcasters, decode_row, read_columns
from storage.tables import events_table

metadata = MetaData()
Position = BigInteger().with_variant(Integer(), "sqlite")

checkpoints = Table(
    "projection_checkpoints", metadata,
    Column("name", String(100), primary_key=True),
    Column("position", Position, nullable=False),
    Column("view_version", Integer),
)

feed_state = Table(
    "feed_state", metadata,
    Column("feed", String(300), primary_key=True),
    Column("url", Text),
    Column("status", String(40)),  # ok | not_modified | interrupted | failing
    Column("http_status", Integer),
    Column("etag", Text),
    Column("last_modified", Text),
    Column("last_polled_at", UTCDateTime()),
    Column("last_success_at", UTCDateTime()),
    Column("last_error_at", UTCDateTime()),
    Column("last_error_reason", String(100)),
    Column("last_error_message", Text),
    Column("consecutive_failures", Integer, nullable=False),
    Column("polls", Integer, nullable=False),
    Column("failures", Integer, nullable=False),
    Column("entries_seen", Integer, nullable=False),
    Column("articles", Integer, nullable=False),
    Column("current_url", Text),  # the URL polled now: the configured one, or where it moved
    Column("last_moved_at", UTCDateTime()),
    Column("interval", Float),  # seconds: the feed's normal interval, as the last success decided it
    Column("schedule", String(40)),  # why the next poll is when it is: adaptive | fixed | ttl | backoff | ...
    Column("next_poll_at", UTCDateTime()),
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
    Column("extraction_stage", String(20)),  # fetch | extract: where a failed extraction failed
    Column("entry_key", String(64)),  # entry_key(feed, entry_id): finds an entry whose link changed
    Column("entry_hash", String(64)),  # what the feed entry said (title, summary, content), to see revisions
    Column("revisions", Integer, nullable=False),
    Column("revised_at", UTCDateTime()),
    Index("ix_articles_entry_key", "entry_key"),
)

mentions = Table(
    "mentions", metadata,
    Column("article_id", String(64), primary_key=True),
    Column("topic", String(100), primary_key=True),
    Column("position", Position, nullable=False),  # of the MentionTagged event: the digest cursor
    Column("tagged_at", UTCDateTime(), nullable=False),
    Column("topic_version", String(40)),
    Column("decision", String(20)),
    Column("mention", Boolean, nullable=False),
    Column("score", Float, nullable=False),
    Column("sentences", JSON, nullable=False),
    Column("terms", JSON, nullable=False),
    Column("explanation", JSON, nullable=False),
    Index("ix_mentions_position", "position"),
)

review_cursor = Table(
    "review_cursor", metadata,
    Column("name", String(100), primary_key=True),
    Column("position", Position, nullable=False),
    Column("reviewed_at", UTCDateTime()),
)

# The single mentions reviewed (the web page's "mark reviewed"): the position of the tag reviewed.
reviewed_mentions = Table(
    "reviewed_mentions", metadata,
    Column("article_id", String(64), primary_key=True),
    Column("topic", String(100), primary_key=True),
    Column("position", Position, nullable=False),
    Column("reviewed_at", UTCDateTime()),
    Column("source", String(20)),
)

Row = dict[str, Any]
Reducer = Callable[..., Row | None]


@dataclass(frozen=True)
class View:
    name: str
    version: int
    table: Table
    row_key: Callable[[RecordedEvent], tuple[Any, ...]]  # the primary key of the row an event changes
    reducers: dict[str, Reducer]
    # For a view where one event changes several rows: their keys. Its reducers are then called with the key
    # as a third argument, ``(row or None, event, key)``.
    row_keys: Callable[[RecordedEvent], list[tuple[Any, ...]]] | None = None

    @property
    def key_columns(self) -> list[Column[Any]]:
        return list(self.table.primary_key.columns)


@functools.cache
def _template(table: Table) -> dict[str, Any]:
    """A new row's values: NULL, and 0 for the counters (non-null integers outside the key)."""
    return {column.name: 0 if isinstance(column.type, Integer) and not column.nullable and not column.primary_key
            else None for column in table.columns}


def _blank(table: Table, key: dict[str, Any]) -> Row:
    return {**_template(table), **key}


def _time(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value else None


# -- feed_state ----------------------------------------------------------------------------------------

def _schedule(row: Row, data: dict[str, Any], *, keep_interval: bool = False) -> None:
    if "next_poll_at" in data:  # events written before schedules were recorded leave these unknown
        row.update(next_poll_at=_time(data.get("next_poll_at")), schedule=data.get("schedule"))
        if not keep_interval:
            row["interval"] = data.get("interval")


def _polled_url(row: Row, data: dict[str, Any]) -> None:
    row.update(url=data.get("url"), current_url=data.get("requested_url") or data.get("url"))


def _feed_polled(row: Row | None, event: RecordedEvent) -> Row:
    data = event.data
    row = row or _blank(feed_state, {"feed": data["feed"]})
    status = data.get("status", "ok")
    _polled_url(row, data)
    _schedule(row, data)
    row.update(status=status, http_status=data.get("http_status"),
               last_polled_at=event.occurred_at, last_success_at=event.occurred_at, consecutive_failures=0,
               polls=row["polls"] + 1, entries_seen=data.get("entries_seen", row["entries_seen"]))
    # Keep the validators of the last full response: some servers omit them on a 304.
    if data.get("etag") or status != "not_modified":
        row["etag"] = data.get("etag")
    if data.get("last_modified") or status != "not_modified":
        row["last_modified"] = data.get("last_modified")
    return row


def _feed_failed(row: Row | None, event: RecordedEvent) -> Row:
    data = event.data
    row = row or _blank(feed_state, {"feed": data["feed"]})
    _polled_url(row, data)
    _schedule(row, data, keep_interval=True)  # a backoff is not the feed's interval
    row.update(status="gone" if data.get("reason") == "http_410" else "failing", http_status=data.get("http_status"),
               last_polled_at=event.occurred_at, last_error_at=event.occurred_at,
               last_error_reason=data.get("reason"), last_error_message=data.get("message"),
               consecutive_failures=row["consecutive_failures"] + 1, polls=row["polls"] + 1,
               failures=row["failures"] + 1)
    return row


def _feed_moved(row: Row | None, event: RecordedEvent) -> Row:
    data = event.data
    row = row or _blank(feed_state, {"feed": data["feed"]})
    row.update(url=data.get("url"), current_url=data["to_url"], last_moved_at=event.occurred_at)
    return row


def _feed_article(row: Row | None, event: RecordedEvent) -> Row:
    row = row or _blank(feed_state, {"feed": event.data["feed"]})
    row["articles"] += 1
    return row


# -- articles ------------------------------------------------------------------------------------------

def _article_discovered(row: Row | None, event: RecordedEvent) -> Row:
    data = event.data
    row = row or _blank(articles, {"article_id": data["article_id"]})
    row.update(url=data["url"], canonical_url=data["canonical_url"], feed=data.get("feed"),
               entry_id=data.get("entry_id"), title=data.get("title"),
               # occurred_at falls back to the discovery time when the feed gives no date; the view says unknown.
               published_at=_time(data.get("published_at")), discovered_at=event.recorded_at, status="discovered",
               entry_key=entry_key(data.get("feed"), data.get("entry_id")), entry_hash=data.get("entry_hash"))
    return row


def _article_revised(row: Row | None, event: RecordedEvent) -> Row | None:
    if row is None:
        return None
    data = event.data
    row.update(url=data["url"], canonical_url=data["canonical_url"], entry_id=data.get("entry_id"),
               entry_key=entry_key(row["feed"], data.get("entry_id")), entry_hash=data["entry_hash"],
               title=data.get("title") or row["title"], revisions=row["revisions"] + 1, revised_at=event.occurred_at)
    if data.get("text") is not None:
        row.update(text=data["text"], text_hash=data.get("text_hash"), text_source=data.get("text_source"),
                   word_count=data.get("word_count"), status="extracted")
    return row


def _article_extracted(row: Row | None, event: RecordedEvent) -> Row | None:
    if row is None:
        return None  # the discovery comes first in the same stream; nothing to attach to otherwise
    data = event.data
    row.update(status="extracted", text_source=data.get("text_source"), text=data.get("text"),
               text_hash=data.get("text_hash"), word_count=data.get("word_count"), language=data.get("language"),
               author=data.get("author"), title=data.get("title") or row["title"])
    return row


def _extraction_failed(row: Row | None, event: RecordedEvent) -> Row | None:
    if row is None:
        return None
    data = event.data
    row.update(extraction_reason=data.get("reason"), extraction_message=data.get("message"),
               extraction_stage=data.get("stage"))
    # An article whose page failed but whose feed text was used stays "extracted" (set by the
    # ArticleExtracted event that follows); one with no text at all is "failed".
    if row["status"] == "discovered":
        row["status"] = "failed"
    return row


# -- mentions and the review cursor ----------------------------------------------------------------------

def _mention_tagged(_row: Row | None, event: RecordedEvent) -> Row:
    data = event.data
    return {
        "article_id": data["article_id"], "topic": data["topic"], "position": event.position,
        "tagged_at": event.recorded_at, "topic_version": data.get("topic_version"),
        "decision": data.get("decision"), "mention": bool(data.get("mention")), "score": data["score"],
        "sentences": data.get("sentences", []), "terms": data.get("terms", []),
        "explanation": {k: v for k, v in data.items() if k not in ("sentences", "terms")},
    }


def _mention_retracted(row: Row | None, event: RecordedEvent) -> Row:
    """The tag stays visible as retracted (``explain`` shows it), out of every digest."""
    data = event.data
    return {
        **(row or {}), "article_id": data["article_id"], "topic": data["topic"], "position": event.position,
        "tagged_at": event.recorded_at, "topic_version": data.get("topic_version"), "decision": "retracted",
        "mention": False, "score": data["score"], "sentences": [], "terms": [],
        "explanation": {k: v for k, v in data.items() if k not in ("sentences", "terms")},
    }


def _digest_reviewed(row: Row | None, event: RecordedEvent) -> Row | None:
    """The cursor only moves forward: a review of single tags leaves it, and a late "up to" never rewinds it."""
    up_to = event.data.get("up_to_position")
    if up_to is None or (row is not None and row["position"] >= up_to):
        return None
    return {"name": "default", "position": up_to, "reviewed_at": event.occurred_at}


def _reviewed_keys(event: RecordedEvent) -> list[tuple[Any, ...]]:
    return [(m["article_id"], m["topic"]) for m in event.data.get("mentions") or ()]


def _mention_reviewed(row: Row | None, event: RecordedEvent, key: tuple[Any, ...]) -> Row | None:
    position = max(m["position"] for m in event.data["mentions"] if (m["article_id"], m["topic"]) == key)
    if row is not None and row["position"] >= position:
        return None
    return {"article_id": key[0], "topic": key[1], "position": position, "reviewed_at": event.occurred_at,
            "source": event.data.get("source")}


VIEWS: dict[str, View] = {
    "feed_state": View("feed_state", 3, feed_state, lambda e: (e.data["feed"],), {
        "FeedPolled": _feed_polled, "FeedFailed": _feed_failed, "FeedMoved": _feed_moved,
        "ArticleDiscovered": _feed_article,
    }),
    "articles": View("articles", 3, articles, lambda e: (e.data["article_id"],), {
        "ArticleDiscovered": _article_discovered, "ArticleExtracted": _article_extracted,
        "ExtractionFailed": _extraction_failed, "ArticleRevised": _article_revised,
    }),
    "mentions": View("mentions", 3, mentions, lambda e: (e.data["article_id"], e.data["topic"]), {
        "MentionTagged": _mention_tagged, "MentionRetracted": _mention_retracted,
    }),
    "review_cursor": View("review_cursor", 3, review_cursor, lambda e: ("default",), {
        "DigestReviewed": _digest_reviewed,
    }),
    "reviewed_mentions": View("reviewed_mentions", 1, reviewed_mentions, lambda e: (), {
        "DigestReviewed": _mention_reviewed,
    }, row_keys=_reviewed_keys),
}


class Projections:
    """Keeps the read models in step with the log. ``upcasters`` must be the log's, so that the reducers see
    current payloads."""

    def __init__(self, engine: Engine, *, upcasters: Upcasters = NO_UPCASTERS, batch_size: int = 500) -> None:
        self.engine = engine
        self.upcasters = upcasters
        self.batch_size = batch_size

    def catch_up(self, names: Iterable[str] | None = None) -> int:
        """Apply every event not yet applied to each view. Returns how many events were applied."""
        applied = 0
        views = [self._view(name) for name in names or VIEWS]
        with translating("cannot read the views' checkpoints", self.engine):
            behind = self._behind(views)
        for view in behind:
            with translating(f"cannot update the {view.name} view", self.engine):
                while (count := self._apply_batch(view)) > 0:
                    applied += count
        return applied

    def _behind(self, views: list[View]) -> list[View]:
        """The views that have something to apply: a view of another version, or one whose checkpoint is
        before the newest event of a type it reads. Found in one read (each newest position is an index
        lookup), so that catching up a view with nothing to do takes no write transaction: the daemon
        catches up after every poll."""
        newest = {t: select(func.max(events_table.c.position)).where(events_table.c.type == t).scalar_subquery()
                  for t in sorted({t for view in views for t in view.reducers})}
        with reading(self.engine) as conn:
            stored = {name: (position, version) for name, position, version in conn.execute(
                select(checkpoints.c.name, checkpoints.c.position, checkpoints.c.view_version))}
            row = conn.execute(select(*(q.label(f"t{i}") for i, q in enumerate(newest.values())))).one()
        latest = {t: position or 0 for t, position in zip(newest, row, strict=True)}
        out = []
        for view in views:
            position, version = stored.get(view.name, (0, None))
            if version != view.version or max(latest[t] for t in view.reducers) > position:
                out.append(view)
        return out

    def rebuild(self, names: Iterable[str] | None = None) -> int:
        """Empty the views and replay the whole log into them."""
        chosen = list(names or VIEWS)
        for name in chosen:
            view = self._view(name)
            with translating(f"cannot rebuild the {name} view", self.engine), self.engine.begin() as conn:
                self._lock_checkpoint(conn, view)
                self._reset(conn, view)
        return self.catch_up(chosen)

    def positions(self) -> dict[str, int]:
        """Each view's checkpoint (0 for a view that has applied nothing yet)."""
        with reading(self.engine) as conn:
            rows = conn.execute(select(checkpoints.c.name, checkpoints.c.position))
            stored = {name: position for name, position in rows}
        return {name: stored.get(name, 0) for name in VIEWS}

    @staticmethod
    def _view(name: str) -> View:
        try:
            return VIEWS[name]
        except KeyError:
            raise StorageError(f"unknown projection {name!r} (known: {', '.join(VIEWS)})") from None

    @staticmethod
    def _lock_checkpoint(conn: Connection, view: View) -> int:
        """The view's checkpoint, locked for this transaction; a view of an older version is reset first."""
        insert = (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(checkpoints)
        conn.execute(insert.values(name=view.name, position=0, view_version=view.version)
                     .on_conflict_do_nothing(index_elements=["name"]))
        query = select(checkpoints.c.position, checkpoints.c.view_version).where(checkpoints.c.name == view.name)
        if conn.dialect.name == "postgresql":
            query = query.with_for_update()  # one catching-up worker per view at a time
        position, version = conn.execute(query).one()
        if version != view.version:
            Projections._reset(conn, view)
            return 0
        return position

    @staticmethod
    def _reset(conn: Connection, view: View) -> None:
        conn.execute(delete(view.table))
        conn.execute(update(checkpoints).where(checkpoints.c.name == view.name)
                     .values(position=0, view_version=view.version))

    def _apply_batch(self, view: View) -> int:
        with self.engine.begin() as conn:
            position = self._lock_checkpoint(conn, view)
            rows = conn.execute(
                select(*read_columns(conn.dialect.name))
                .where(events_table.c.position > position, events_table.c.type.in_(sorted(view.reducers)))
                .order_by(events_table.c.position).limit(self.batch_size)
            ).all()
            if not rows:
                return 0
            batch = [decode_row(row, self.upcasters) for row in rows]
            try:
                keyed = ([(key, event) for event in batch for key in view.row_keys(event)] if view.row_keys
                         else [(view.row_key(event), event) for event in batch])
            except (KeyError, TypeError) as exc:
                raise StorageError(f"cannot update the {view.name} view: an event lacks {exc} in its payload "
                                   "(a corrupt or foreign event)") from exc
            state = self._load(conn, view, {key for key, _ in keyed})
            changed: set[tuple[Any, ...]] = set()
            for key, event in keyed:
                try:
                    reducer = view.reducers[event.type]
                    new = reducer(state.get(key), event, key) if view.row_keys else reducer(state.get(key), event)
                except (KeyError, TypeError, ValueError) as exc:
                    raise StorageError(f"cannot update the {view.name} view: event {event.position} ({event.type}) "
                                       f"has a payload it cannot read: {type(exc).__name__}: {exc}") from exc
                if new is not None:
                    state[key] = new
                    changed.add(key)
            if changed:
                self._store(conn, view, [state[key] for key in changed])
            conn.execute(update(checkpoints).where(checkpoints.c.name == view.name)
                         .values(position=batch[-1].position))
            return len(batch)

    @staticmethod
    def _load(conn: Connection, view: View, keys: set[tuple[Any, ...]]) -> dict[tuple[Any, ...], Row]:
        columns = view.key_columns
        found: dict[tuple[Any, ...], Row] = {}
        ordered = sorted(keys)
        for start in range(0, len(ordered), 500):
            chunk = ordered[start:start + 500]
            condition = (columns[0].in_([k[0] for k in chunk]) if len(columns) == 1
                         else tuple_(*columns).in_(chunk))
            for row in conn.execute(select(view.table).where(condition)).mappings():
                found[tuple(row[c.name] for c in columns)] = dict(row)
        return found

    @staticmethod
    def _store(conn: Connection, view: View, rows: list[Row]) -> None:
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        insert = dialect.insert(view.table)
        key_names = [c.name for c in view.key_columns]
        values = {c.name: insert.excluded[c.name] for c in view.table.columns if c.name not in key_names}
        conn.execute(insert.on_conflict_do_update(index_elements=key_names, set_=values), rows)


def unreviewed_position(conn: Connection) -> int:
    """The position up to which everything has been reviewed (0 before the first review)."""
    return conn.scalar(select(review_cursor.c.position).where(review_cursor.c.name == "default")) or 0


def unreviewed_condition(cursor: int) -> Any:
    """A WHERE clause over ``mentions`` (outer-joined with ``reviewed_mentions``, see ``with_review``) that
    holds for the tags nobody has reviewed: after the cursor (``unreviewed_position``), and not reviewed one
    by one since tagged."""
    return (mentions.c.position > cursor) & (
        reviewed_mentions.c.position.is_(None) | (reviewed_mentions.c.position < mentions.c.position))


def with_review(selectable: Any) -> Any:
    """``mentions`` (or a join starting with it) outer-joined with the single reviews of the same tags."""
    return selectable.outerjoin(reviewed_mentions, (reviewed_mentions.c.article_id == mentions.c.article_id)
                                & (reviewed_mentions.c.topic == mentions.c.topic))


__all__ = ["Projections", "VIEWS", "articles", "feed_state", "mentions", "review_cursor", "reviewed_mentions",
           "checkpoints", "entry_key", "unreviewed_position", "unreviewed_condition", "with_review"]
