"""Every read of the read models, by name: the one place that knows their columns.

The pipeline, the daemon, the digest, the web page and retag read ``feed_state``, ``articles``, ``mentions``,
``review_cursor``, ``reviewed_mentions``, ``story_features`` and ``timeline`` only through these functions, so a
column change runs through this module and the projections, not through every layer. Each function takes a
Connection (the caller opens it with ``storage.engine.reading``, so that several reads share one snapshot) and
returns plain values: dicts, tuples, dataclasses or, for the digest's hot query, the row mappings themselves.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Integer, and_, bindparam, case, func, not_, or_, select, true, update
from sqlalchemy.engine import Connection, RowMapping

from monitor.language.features import StoryFeatures
from monitor.views.tables import articles, feed_state, mentions, review_cursor, reviewed_mentions, timeline
from monitor.views.tables import story_features as story_features_table
from monitor.views.tables import timeline_sightings as sightings_table
from storage.tables import checkpoints, events_table

_CHUNK = 500  # ids per IN (...): well under every backend's bound-parameter limit

# -- the review ---------------------------------------------------------------------------------------

def unreviewed_position(conn: Connection) -> int:
    """The position up to which everything has been reviewed (0 before the first review)."""
    return conn.scalar(select(review_cursor.c.position).where(review_cursor.c.name == "default")) or 0


def unreviewed_condition(cursor: int) -> Any:
    """A WHERE clause over ``mentions`` (outer-joined with ``reviewed_mentions``, see ``with_review``) that
    holds for the tags nobody has reviewed: after the cursor (``unreviewed_position``), and not reviewed one
    by one since tagged."""
    return (mentions.c.position > cursor) & (
        reviewed_mentions.c.position.is_(None) | (reviewed_mentions.c.position < mentions.c.position))


def listed_condition() -> Any:
    """A WHERE clause over ``mentions`` that holds for what a digest lists: the tags (decision "mention") the
    analyst has not rejected, and whatever the analyst accepted."""
    return or_(and_(mentions.c.mention.is_(True), or_(mentions.c.verdict.is_(None), mentions.c.verdict != "reject")),
               mentions.c.verdict == "accept")


def with_review(selectable: Any) -> Any:
    """``mentions`` (or a join starting with it) outer-joined with the single reviews of the same tags."""
    return selectable.outerjoin(reviewed_mentions, (reviewed_mentions.c.article_id == mentions.c.article_id)
                                & (reviewed_mentions.c.topic == mentions.c.topic))


# -- feed_state ----------------------------------------------------------------------------------------

_POLL_STATE_COLUMNS = (feed_state.c.feed, feed_state.c.url, feed_state.c.current_url, feed_state.c.etag,
                       feed_state.c.last_modified, feed_state.c.interval, feed_state.c.consecutive_failures)


@dataclass(frozen=True)
class FeedSchedule:
    """When the feed-state view says a feed is next due, and for which configured URL that was decided."""

    url: str | None
    next_poll_at: dt.datetime | None


def feed_states(conn: Connection) -> dict[str, dict[str, Any]]:
    """Every feed-state row (all columns), by feed name, in the order the database returns them."""
    return {row["feed"]: dict(row) for row in conn.execute(select(feed_state)).mappings()}


def feed_poll_state(conn: Connection, feed: str) -> dict[str, Any] | None:
    """What a poll of ``feed`` needs from its state (URLs, validators, interval, failures); None if never
    polled."""
    row = conn.execute(select(*_POLL_STATE_COLUMNS).where(feed_state.c.feed == feed)).mappings().first()
    return dict(row) if row is not None else None


def feed_poll_states(conn: Connection, feeds: Iterable[str] | None = None) -> dict[str, dict[str, Any]]:
    """``feed_poll_state`` of every feed in the view (or of ``feeds``), by feed name, in one read (500 names a
    statement)."""
    if feeds is None:
        return {row["feed"]: dict(row) for row in conn.execute(select(*_POLL_STATE_COLUMNS)).mappings()}
    names = sorted(set(feeds))
    out: dict[str, dict[str, Any]] = {}
    for start in range(0, len(names), 500):
        query = select(*_POLL_STATE_COLUMNS).where(feed_state.c.feed.in_(names[start:start + 500]))
        out.update((row["feed"], dict(row)) for row in conn.execute(query).mappings())
    return out


def feed_schedules(conn: Connection) -> dict[str, FeedSchedule]:
    """Each feed's recorded next poll, by feed name."""
    query = select(feed_state.c.feed, feed_state.c.url, feed_state.c.next_poll_at)
    return {feed: FeedSchedule(url, next_poll_at) for feed, url, next_poll_at in conn.execute(query)}


def feed_overdue(conn: Connection, now: dt.datetime, default_interval: float) -> dict[str, float]:
    """Each feed whose next poll is later than one interval past: by how many seconds it is overdue."""
    overdue: dict[str, float] = {}
    for feed, next_at, interval in conn.execute(select(feed_state.c.feed, feed_state.c.next_poll_at,
                                                       feed_state.c.interval)):
        late = (now - next_at).total_seconds() if next_at is not None else 0.0
        if late > (interval or default_interval):
            overdue[feed] = late
    return overdue


def feed_poll_summary(conn: Connection) -> list[tuple[str | None, int]]:
    """``(status, polls)`` of every feed in the view: what a digest counts of the feeds' health."""
    return [(status, polls) for status, polls in conn.execute(select(feed_state.c.status, feed_state.c.polls))]


def feed_titles(conn: Connection) -> dict[str, str]:
    """The feeds' own titles, by feed name (feeds that never gave one are left out)."""
    query = select(feed_state.c.feed, feed_state.c.title).where(feed_state.c.title.is_not(None))
    return {feed: title for feed, title in conn.execute(query) if title}


def page_failures(conn: Connection) -> dict[str, dict[str, int]]:
    """Each feed's articles whose page (or text) failed, by reason: ``{"wire": {"http_404": 2}}``. An article
    whose page failed and whose feed text was used counts: its text is not the page's."""
    query = (select(articles.c.feed, articles.c.extraction_reason, func.count())
             .where(articles.c.extraction_reason.is_not(None))
             .group_by(articles.c.feed, articles.c.extraction_reason))
    failures: dict[str, dict[str, int]] = {}
    for feed, reason, count in conn.execute(query):
        failures.setdefault(feed or "", {})[reason] = count
    return failures


# -- articles ------------------------------------------------------------------------------------------

def newest_texts(conn: Connection, limit: int) -> list[tuple[str | None, str]]:
    """``(title, text)`` of the ``limit`` most recently discovered articles that have a text, oldest first."""
    rows = conn.execute(select(articles.c.title, articles.c.text).where(articles.c.text.is_not(None))
                        .order_by(articles.c.discovered_at.desc()).limit(limit)).all()
    return [(title, text) for title, text in reversed(rows)]


def article_texts(conn: Connection, article_ids: Sequence[str]) -> dict[str, tuple[str | None, str | None, str | None]]:
    """``(title, text, text_hash)`` of each of ``article_ids`` that the articles view holds."""
    wanted = list(article_ids)
    found: dict[str, tuple[str | None, str | None, str | None]] = {}
    for start in range(0, len(wanted), _CHUNK):
        query = select(articles.c.article_id, articles.c.title, articles.c.text, articles.c.text_hash).where(
            articles.c.article_id.in_(wanted[start:start + _CHUNK]))
        found.update((article, (title, text, text_hash)) for article, title, text, text_hash in conn.execute(query))
    return found


def story_features(conn: Connection, article_ids: Sequence[str]) -> dict[str, StoryFeatures]:
    """The stored story features of each of ``article_ids`` whose article still has the title and text they
    were computed from (an article revised since, or not yet computed, is left out: compute its features)."""
    wanted = list(article_ids)
    found: dict[str, StoryFeatures] = {}
    stored = story_features_table
    for start in range(0, len(wanted), _CHUNK):
        query = (select(stored.c.article_id, stored.c.words, stored.c.signature)
                 .select_from(stored.join(articles, articles.c.article_id == stored.c.article_id))
                 .where(stored.c.article_id.in_(wanted[start:start + _CHUNK]), _current_features()))
        found.update((article, StoryFeatures.from_json(words, signature))
                     for article, words, signature in conn.execute(query))
    return found


def articles_by_id_or_entry_key(conn: Connection, article_ids: Sequence[str],
                                entry_keys: Sequence[str]) -> list[dict[str, Any]]:
    """The identity columns (id, feed, URLs, entry key and hash, title) of the articles whose id is in
    ``article_ids`` or whose entry key is in ``entry_keys``, read 500 of each at a time. An article found by
    both appears once per chunk that finds it."""
    columns = (articles.c.article_id, articles.c.feed, articles.c.canonical_url, articles.c.url,
               articles.c.entry_key, articles.c.entry_hash, articles.c.title)
    ids, keys = list(article_ids), list(entry_keys)
    out: list[dict[str, Any]] = []
    for start in range(0, max(len(ids), len(keys)), _CHUNK):
        query = select(*columns).where(or_(articles.c.article_id.in_(ids[start:start + _CHUNK]),
                                           articles.c.entry_key.in_(keys[start:start + _CHUNK])))
        out.extend(dict(row) for row in conn.execute(query).mappings())
    return out


def article_feeds(conn: Connection, article_ids: Sequence[str]) -> dict[str, str | None]:
    """The feed of each of ``article_ids`` that the articles view holds (unknown ids are left out)."""
    wanted = list(article_ids)
    found: dict[str, str | None] = {}
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start:start + _CHUNK]
        found.update((article, feed) for article, feed in conn.execute(
            select(articles.c.article_id, articles.c.feed).where(articles.c.article_id.in_(chunk))))
    return found


def articles_with_id(conn: Connection, article_id: str) -> list[dict[str, Any]]:
    """The article (all columns) with this exact id: a list of at most one."""
    return [dict(row) for row in conn.execute(select(articles).where(articles.c.article_id == article_id))
            .mappings()]


def articles_with_url(conn: Connection, url: str) -> list[dict[str, Any]]:
    """The articles (all columns) whose stored URL is exactly ``url``."""
    return [dict(row) for row in conn.execute(select(articles).where(articles.c.url == url)).mappings()]


def articles_with_id_prefix(conn: Connection, prefix: str, limit: int = 5) -> list[dict[str, Any]]:
    """Up to ``limit`` articles (all columns) whose id starts with ``prefix`` (taken literally: ``%`` and
    ``_`` are not wildcards)."""
    query = select(articles).where(articles.c.article_id.startswith(prefix, autoescape=True)).limit(limit)
    return [dict(row) for row in conn.execute(query).mappings()]


# -- mentions ------------------------------------------------------------------------------------------

def mention_tags(conn: Connection) -> dict[tuple[str, str], dict[str, Any]]:
    """Every stored tag, retracted ones included, by ``(article_id, topic)``: its decision, score,
    sentences, position and topic version (what a retag compares with)."""
    rows = conn.execute(select(mentions.c.article_id, mentions.c.topic, mentions.c.decision, mentions.c.score,
                               mentions.c.sentences, mentions.c.position, mentions.c.topic_version)).mappings()
    return {(row["article_id"], row["topic"]): dict(row) for row in rows}


def article_mentions(conn: Connection, article_id: str) -> list[dict[str, Any]]:
    """The mentions rows (all columns, retracted ones included) of one article."""
    return [dict(row) for row in conn.execute(select(mentions).where(mentions.c.article_id == article_id))
            .mappings()]


def mention_positions(conn: Connection, article_ids: Sequence[str]) -> dict[tuple[str, str], int]:
    """The current log position of every tag of ``article_ids``, by ``(article_id, topic)``."""
    ids = list(article_ids)
    known: dict[tuple[str, str], int] = {}
    for start in range(0, len(ids), _CHUNK):
        query = select(mentions.c.article_id, mentions.c.topic, mentions.c.position).where(
            mentions.c.article_id.in_(ids[start:start + _CHUNK]))
        known.update({(a, t): p for a, t, p in conn.execute(query)})
    return known


def mention_state(conn: Connection, article_id: str, topic: str) -> dict[str, Any] | None:
    """What a verdict on one article and topic judges and supersedes: the tag's decision, topic version and
    position, and the current verdict with its position; None when the view has no row for them."""
    query = select(mentions.c.decision, mentions.c.topic_version, mentions.c.position, mentions.c.mention,
                   mentions.c.verdict, mentions.c.verdict_position).where(
        mentions.c.article_id == article_id, mentions.c.topic == topic)
    row = conn.execute(query).mappings().first()
    return dict(row) if row is not None else None


def judged_mentions(conn: Connection, topic: str) -> list[dict[str, Any]]:
    """The verdicts on ``topic``, oldest first: each judged article's id, url and title, the tag's decision,
    terms and explanation as they are now, and the verdict, its note and what it judged."""
    query = (select(mentions.c.article_id, mentions.c.decision, mentions.c.terms, mentions.c.explanation,
                    mentions.c.verdict, mentions.c.verdict_note, mentions.c.verdict_position, mentions.c.judged,
                    articles.c.url, articles.c.title)
             .select_from(mentions.outerjoin(articles, articles.c.article_id == mentions.c.article_id))
             .where(mentions.c.topic == topic, mentions.c.verdict.is_not(None))
             .order_by(mentions.c.verdict_position))
    return [dict(row) for row in conn.execute(query).mappings()]


def tagged_topics(conn: Connection) -> set[str]:
    """Every topic the mentions view has a row for (retracted tags included)."""
    return {row[0] for row in conn.execute(select(mentions.c.topic).distinct())}


def mention_review_counts(conn: Connection) -> dict[tuple[str, str], int]:
    """How many mentions (decision "mention") each topic has, by ``(topic, "unreviewed" | "reviewed")``;
    a topic with none in one state has no key for it."""
    unreviewed = unreviewed_condition(unreviewed_position(conn))
    query = (select(mentions.c.topic, unreviewed.label("unreviewed"), func.count())
             .select_from(with_review(mentions)).where(listed_condition())
             .group_by(mentions.c.topic, unreviewed))
    return {(topic, "unreviewed" if is_new else "reviewed"): count for topic, is_new, count in conn.execute(query)}


def _current_features(*conditions: Any) -> Any:
    """Stored features computed from the article's current title and text (over a join with ``articles``)."""
    stored = story_features_table
    return and_(*conditions, stored.c.words.is_not(None), stored.c.text_hash == articles.c.text_hash,
                stored.c.title.is_not_distinct_from(articles.c.title))


# -- the digest ----------------------------------------------------------------------------------------

def _day_start(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)


def digest_mentions(conn: Connection, cursor: int, *, status: str, since: dt.datetime | None = None,
                    after_position: int | None = None, up_to_position: int | None = None,
                    topic: str | None = None, feed: str | None = None, min_score: float | None = None,
                    date_from: dt.date | None = None, date_to: dt.date | None = None,
                    limit: int | None = None, with_features: bool = False,
                    with_text: bool = True, with_unreviewed_count: bool = False) -> list[RowMapping]:
    """The mentions (decision "mention", less those rejected, plus those accepted: ``listed_condition``) of a
    digest window joined with their articles, oldest first: every mentions column, the article's url, title,
    feed, published_at and text, and ``reviewed``.

    ``cursor`` is the review cursor (``unreviewed_position``, read once by the caller so that every count of
    one digest uses the same snapshot). ``status`` "unreviewed" or "reviewed" keeps those, "all" both;
    ``since`` is a tag time, ``after_position`` / ``up_to_position`` a log window, ``date_from`` /
    ``date_to`` inclusive publication days in UTC (the tag's time when the feed gave no date). ``limit``
    keeps the newest. This is the query the review page and every digest run: benchmarked, keep its shape.

    ``with_features`` adds each article's current stored story features (what ``story_features`` returns) as
    ``story_words`` and ``story_signature``, both None where there are none, in the same read: a second query
    for them took a third of a 1,000-item digest. ``with_text=False`` then leaves ``text`` None where the
    features stand in for it (grouping reads the text only to compute missing features).

    ``with_unreviewed_count`` adds ``unreviewed_count`` to every row: what ``unreviewed_count(conn, cursor)``
    gives, whatever the filters, in the same statement (an uncorrelated subquery, run once), so that a digest
    that lists anything needs no round trip of its own for it."""
    values: dict[str, Any] = {"cursor": cursor, "since": since, "after_position": after_position,
                              "up_to_position": up_to_position, "topic": topic or None, "feed": feed or None,
                              "min_score": min_score, "day_from": _day_start(date_from) if date_from else None,
                              "day_to": _day_start(date_to + dt.timedelta(days=1)) if date_to else None,
                              "limit": limit}
    given = frozenset(name for name, value in values.items() if value is not None)
    status = status if status in ("unreviewed", "reviewed") else "all"
    query = _digest_mentions_query(status, given, with_features, with_text, with_unreviewed_count)
    params = {name: values[name] for name in given}
    return list(reversed(conn.execute(query, params).mappings().all()))


@functools.lru_cache(maxsize=128)
def _digest_mentions_query(status: str, given: frozenset[str], with_features: bool, with_text: bool,
                           with_unreviewed_count: bool = False) -> Any:
    """``digest_mentions``'s statement for one set of filters (``given``: the parameters that have a value), every
    value a bound parameter, built once: building it took a tenth of a small digest on SQLite. The SQL is what a
    statement built afresh compiles to (SQLAlchemy binds literal values as parameters anyway)."""
    unreviewed = unreviewed_condition(bindparam("cursor"))
    stored = story_features_table
    joined = mentions.join(articles, articles.c.article_id == mentions.c.article_id)
    text: Any = articles.c.text
    extra: list[Any] = []
    if with_features:
        joined = joined.outerjoin(stored, _current_features(stored.c.article_id == mentions.c.article_id))
        extra = [stored.c.words.label("story_words"), stored.c.signature.label("story_signature")]
        if not with_text:
            text = case((stored.c.article_id.is_(None), articles.c.text), else_=None).label("text")
    if with_unreviewed_count:
        extra.append(_unreviewed_count_query().scalar_subquery().label("unreviewed_count"))
    columns = [mentions, articles.c.url, articles.c.title, articles.c.feed, articles.c.published_at,
               text, not_(unreviewed).label("reviewed"), *extra]
    query = select(*columns).select_from(with_review(joined)).where(listed_condition())
    conditions: list[Any] = []
    if "since" in given:
        conditions.append(mentions.c.tagged_at >= bindparam("since"))
    if "after_position" in given:
        conditions.append(mentions.c.position > bindparam("after_position"))
    if "up_to_position" in given:
        conditions.append(mentions.c.position <= bindparam("up_to_position"))
    if status == "unreviewed":
        conditions.append(unreviewed)
    elif status == "reviewed":
        conditions.append(not_(unreviewed))
    if "topic" in given:
        conditions.append(mentions.c.topic == bindparam("topic"))
    if "feed" in given:
        conditions.append(articles.c.feed == bindparam("feed"))
    if "min_score" in given:
        conditions.append(mentions.c.score >= bindparam("min_score"))
    published = func.coalesce(articles.c.published_at, mentions.c.tagged_at)
    if "day_from" in given:
        conditions.append(published >= bindparam("day_from"))
    if "day_to" in given:
        conditions.append(published < bindparam("day_to"))
    query = query.where(*conditions).order_by(mentions.c.position.desc())
    if "limit" in given:
        query = query.limit(bindparam("limit", type_=Integer))
    return query


def unreviewed_count(conn: Connection, cursor: int) -> int:
    """How many mentions (decision "mention") in the whole view nobody has reviewed, given the review
    cursor ``cursor``."""
    return conn.scalar(_unreviewed_count_query(), {"cursor": cursor}) or 0


@functools.cache
def _unreviewed_count_query() -> Any:
    """``unreviewed_count``'s statement, the cursor a parameter, built once (every digest and the daemon's status
    count: building it cost more than SQLite took to run it)."""
    return (select(func.count()).select_from(with_review(mentions))
            .where(listed_condition(), unreviewed_condition(bindparam("cursor"))))


def oldest_unreviewed_tagged_at(conn: Connection, cursor: int) -> dt.datetime | None:
    """When the oldest mention nobody has reviewed was tagged (None when there is none)."""
    return conn.scalar(select(func.min(mentions.c.tagged_at)).select_from(with_review(mentions))
                       .where(listed_condition(), unreviewed_condition(cursor)))



@dataclass(frozen=True)
class DigestSummary:
    """What a digest reads besides its mentions and the unreviewed count, from ``digest_summary``'s one statement:
    each field is what the separate read named beside it returns in the same snapshot."""

    last_position: int  # last_event_position
    cursor: int  # unreviewed_position
    pages_failed: int  # the failures of page_failures, summed over feeds and reasons
    feeds: list[tuple[str | None, int]]  # feed_poll_summary (in no particular order)
    titles: dict[str, str]  # feed_titles
    checkpoints: tuple[tuple[str, int, int], ...]  # view_checkpoints(checkpoint_names)


@functools.lru_cache(maxsize=16)
def _summary_query(names: tuple[str, ...]) -> Any:
    """``digest_summary``'s statement for the checkpoints ``names`` (sorted), built once: it has no other
    parameter, and building its dozen subqueries cost as much as running it on SQLite."""
    columns = [
        func.coalesce(select(func.max(events_table.c.position)).scalar_subquery(), 0).label("last_position"),
        func.coalesce(select(review_cursor.c.position).where(review_cursor.c.name == "default").scalar_subquery(),
                      0).label("cursor"),
        select(func.count()).select_from(articles).where(articles.c.extraction_reason.is_not(None))
        .scalar_subquery().label("pages_failed"),
    ]
    for index, name in enumerate(names):
        row = checkpoints.c.name == name
        columns += [select(checkpoints.c.position).where(row).scalar_subquery().label(f"checkpoint_{index}"),
                    select(checkpoints.c.view_version).where(row).scalar_subquery().label(f"version_{index}")]
    summary = select(*columns).subquery("summary")
    return (select(summary, feed_state.c.feed, feed_state.c.title, feed_state.c.status, feed_state.c.polls)
            .select_from(summary.outerjoin(feed_state, true())))


def digest_summary(conn: Connection, checkpoint_names: Sequence[str] = ()) -> DigestSummary:
    """The log's last position, the review cursor, the failed pages, the feeds' health and titles and the
    checkpoints of the views named, in one statement: a one-row select of scalar subqueries, outer-joined with
    ``feed_state``. On PostgreSQL each separate read was a round trip (with the driver's and SQLAlchemy's
    per-statement work), most of a small digest; one statement is also one snapshot under READ COMMITTED. Both
    backends evaluate the uncorrelated subqueries once, however many feeds.

    The unreviewed count is not read here but with the digest's mentions (``digest_mentions(with_unreviewed_count=
    True)``), given the cursor read here: with the cursor a subquery, PostgreSQL cannot estimate ``position >
    cursor`` and scans the whole mentions view."""
    names = tuple(sorted(set(checkpoint_names)))
    query = _summary_query(names)
    rows = conn.execute(query).all()
    first = rows[0]._mapping
    feeds = [(row.status, row.polls) for row in rows if row.feed is not None]
    titles = {row.feed: row.title for row in rows if row.feed is not None and row.title}
    found = tuple((name, first[f"checkpoint_{i}"], first[f"version_{i}"]) for i, name in enumerate(names)
                  if first[f"checkpoint_{i}"] is not None)
    return DigestSummary(first["last_position"] or 0, first["cursor"] or 0, first["pages_failed"] or 0, feeds, titles,
                         found)


# -- the event log -------------------------------------------------------------------------------------

def last_event_position(conn: Connection) -> int:
    """The newest position in the event log (0 when empty), in the caller's snapshot: a digest window's end."""
    return conn.scalar(select(func.max(events_table.c.position))) or 0


def last_of(conn: Connection, stream: str, types: Sequence[str]) -> tuple[dt.datetime, dict[str, Any]] | None:
    """``(occurred_at, data)`` of the stream's newest event of one of ``types``, from the log (not a view)."""
    row = conn.execute(select(events_table.c.occurred_at, events_table.c.data)
                       .where(events_table.c.stream == stream, events_table.c.type.in_(list(types)))
                       .order_by(events_table.c.version.desc()).limit(1)).first()
    return (row[0], row[1]) if row is not None else None


def stream_head(conn: Connection, stream: str) -> int | None:
    """The position of a stream's newest event (None for an empty stream); by version, the unique index's order."""
    return conn.scalar(select(events_table.c.position).where(events_table.c.stream == stream)
                       .order_by(events_table.c.version.desc()).limit(1))


__all__ = ["DigestSummary", "FeedSchedule", "article_feeds", "article_mentions", "article_texts",
           "articles_by_id_or_entry_key", "articles_with_id", "articles_with_id_prefix", "articles_with_url",
           "digest_mentions", "digest_summary", "feed_overdue",
           "feed_poll_state", "feed_poll_states", "feed_poll_summary", "feed_schedules", "feed_states", "feed_titles",
           "judged_mentions", "known_names", "last_event_position", "last_of", "listed_condition", "mention_positions",
           "mention_review_counts", "mention_state", "mention_tags", "newest_texts", "oldest_unreviewed_tagged_at",
           "story_features", "stream_head", "tagged_topics", "timeline_sightings", "unreviewed_condition",
           "brief_sightings", "event_sightings", "set_sighting_events", "sighting_events",
           "unreviewed_count", "unreviewed_position", "view_checkpoints", "with_review"]



# -- the timeline ----------------------------------------------------------------------------------------

def timeline_sightings(conn: Connection, topic: str | None = None) -> list[dict[str, Any]]:
    """Every meeting sighting of the timeline view (only the rows that have one), each with its tag's topic,
    article and the article's URL, title, feed and publication (the tag's time when the feed gave none)."""
    query = (select(timeline.c.article_id, timeline.c.topic, timeline.c.meetings, articles.c.url, articles.c.title,
                    articles.c.feed, articles.c.published_at, mentions.c.tagged_at)
             .select_from(timeline.join(mentions, (mentions.c.article_id == timeline.c.article_id)
                                        & (mentions.c.topic == timeline.c.topic))
                          .outerjoin(articles, articles.c.article_id == timeline.c.article_id))
             .where(timeline.c.count > 0))
    if topic is not None:
        query = query.where(timeline.c.topic == topic)
    out = []
    for row in conn.execute(query).mappings():
        published = row["published_at"] or row["tagged_at"]
        for meeting in row["meetings"]:
            out.append({**meeting, "topic": row["topic"], "article_id": row["article_id"], "url": row["url"],
                        "title": row["title"], "feed": row["feed"],
                        "published_at": published.isoformat() if published else None})
    return out


def _published(published: dt.datetime | None, tagged_at: dt.datetime | None) -> str | None:
    value = published or tagged_at
    return value.isoformat() if value else None


def _sightings_joined() -> Any:
    """``timeline_sightings`` with the tags (inner: only the sightings ``timeline_sightings`` reads) and articles."""
    t = sightings_table
    return t.join(mentions, (mentions.c.article_id == t.c.article_id) & (mentions.c.topic == t.c.topic)).outerjoin(
        articles, articles.c.article_id == t.c.article_id)


def brief_sightings(conn: Connection, topic: str, participants: str,
                    starts: Sequence[tuple[dt.date, dt.date]]) -> list[dict[str, Any]]:
    """The sightings of ``topic`` with ``participants`` (a key: ``timeline.participants_key``) that start within
    any of the ranges ``starts`` (inclusive), as the merge orders and founds events from them (no sentence, no
    article but its id and publication): ``topic``, ``participants`` (a tuple), ``start``, ``end`` (ISO dates, and
    as ordinals ``start_day`` and ``end_day``), ``place``, ``article_id``, ``published_at``, ``tie_rank``, ``n``
    (with the article and topic, the sighting's key), and the event recorded (``event_article``, ``event_n``)."""
    if not starts:
        return []
    people = tuple(json.loads(participants))
    t = sightings_table
    query = (select(t.c.article_id, t.c.n, t.c.start_date, t.c.end_date, t.c.tie_rank, t.c.place, t.c.event_article,
                    t.c.event_n, articles.c.published_at, mentions.c.tagged_at)
             .select_from(_sightings_joined())
             .where(t.c.topic == topic, t.c.participants == participants,
                    or_(*(t.c.start_date.between(lo, hi) for lo, hi in starts))))
    return [{"topic": topic, "participants": people, "start": start.isoformat(), "end": end.isoformat(),
             "start_day": start.toordinal(), "end_day": end.toordinal(), "place": place, "article_id": article_id,
             "published_at": _published(published, tagged_at), "tie_rank": tie_rank, "n": n,
             "event_article": event_article, "event_n": event_n}
            for article_id, n, start, end, tie_rank, place, event_article, event_n, published, tagged_at
            in conn.execute(query)]


def set_sighting_events(conn: Connection, changes: Sequence[dict[str, Any]]) -> None:
    """Record sightings' events: each change has the sighting's key (``key_article``, ``key_topic``, ``key_n``)
    and its event's (``new_article``, ``new_n``)."""
    if changes:
        t = sightings_table
        conn.execute(update(t).where(t.c.article_id == bindparam("key_article"), t.c.topic == bindparam("key_topic"),
                                     t.c.n == bindparam("key_n"))
                     .values(event_article=bindparam("new_article"), event_n=bindparam("new_n")), list(changes))


def _by_topic(keys: Sequence[tuple[str, str]]) -> list[tuple[str, list[str]]]:
    """(topic, article ids) pairs, in chunks: keys as one column's IN (...) per topic, which both backends look up in
    an index (SQLite scans the table for a row-value IN)."""
    topics: dict[str, set[str]] = {}
    for topic, article in keys:
        topics.setdefault(topic, set()).add(article)
    return [(topic, ids[start:start + _CHUNK]) for topic, found in sorted(topics.items())
            for ids in [sorted(found)] for start in range(0, len(ids), _CHUNK)]


def sighting_events(conn: Connection, tags: Sequence[tuple[str, str]]) -> set[tuple[str, str, int]]:
    """The events (topic, founding article, its n) of the sightings of the tags (article id, topic) given."""
    t = sightings_table
    out: set[tuple[str, str, int]] = set()
    for topic, ids in _by_topic([(topic, article) for article, topic in tags]):
        out.update((topic, article, n) for article, n in conn.execute(
            select(t.c.event_article, t.c.event_n).where(t.c.article_id.in_(ids), t.c.topic == topic))
                   if article is not None)
    return out


def event_sightings(conn: Connection, events: Sequence[tuple[str, str, int]]) -> dict[tuple[str, str, int],
                                                                                      list[dict[str, Any]]]:
    """The sightings of each event given (topic, founding article, its n), each as ``timeline_sightings`` gives it
    (with its ``n``), by article and n. A sighting has an event only once its tag was in the mentions view (whose
    rows stay), so only the sightings of an article with no publication read their tag's time."""
    t = sightings_table
    wanted = set(events)
    out: dict[tuple[str, str, int], list[dict[str, Any]]] = {}
    for topic, ids in _by_topic([(topic, article) for topic, article, _n in wanted]):
        query = (select(t.c.event_article, t.c.event_n, t.c.article_id, t.c.n, t.c.sighting, articles.c.url,
                        articles.c.title, articles.c.feed, articles.c.published_at)
                 .select_from(t.outerjoin(articles, articles.c.article_id == t.c.article_id))
                 .where(t.c.topic == topic, t.c.event_article.in_(ids)))
        # Ordered here: asked to, SQLite walks the whole table in key order instead of the event index.
        rows = sorted(conn.execute(query).mappings(), key=lambda r: (r["article_id"], r["n"]))
        undated = sorted({row["article_id"] for row in rows if row["published_at"] is None})
        tagged: dict[str, dt.datetime] = {}
        for start in range(0, len(undated), _CHUNK):
            tagged.update(conn.execute(select(mentions.c.article_id, mentions.c.tagged_at).where(
                mentions.c.article_id.in_(undated[start:start + _CHUNK]), mentions.c.topic == topic)).all())
        for row in rows:
            key = (topic, row["event_article"], row["event_n"])
            if key in wanted:
                out.setdefault(key, []).append({
                    **row["sighting"], "topic": topic, "article_id": row["article_id"], "url": row["url"],
                    "title": row["title"], "feed": row["feed"], "n": row["n"],
                    "published_at": _published(row["published_at"], tagged.get(row["article_id"]))})
    return out


def view_checkpoints(conn: Connection, names: Sequence[str]) -> tuple[tuple[str, int, int], ...]:
    """The checkpoints (name, position, version) of the views named: a read of them can be reused while
    these stay the same, since a view changes only as its checkpoint moves (or its version does)."""
    rows = conn.execute(select(checkpoints.c.name, checkpoints.c.position, checkpoints.c.view_version)
                        .where(checkpoints.c.name.in_(list(names))).order_by(checkpoints.c.name))
    return tuple((name, position, version) for name, position, version in rows)


def known_names(conn: Connection) -> tuple[set[str], set[str]]:
    """The topics the log has tags for and the feeds it has state or articles for: with the config's, the
    values a ``--topic`` or ``--feed`` may name."""
    feeds = set(conn.scalars(select(feed_state.c.feed))) | {
        f for f in conn.scalars(select(articles.c.feed).distinct()) if f}
    return tagged_topics(conn), feeds
