"""The read models' tables: what the product projects from its log (see ``reducers`` for how).

``feed_state`` (one row a feed: its health, validators and schedule), ``articles`` (one row an article: what
was discovered and extracted), ``mentions`` (one row an article and topic: the newest tag, and the analyst's
verdict on it), ``story_features`` (what story grouping compares of each tagged article), ``review_cursor``
(how far the analyst has reviewed), ``reviewed_mentions`` (the tags reviewed one by one) and ``timeline`` (the
meetings each tag's sentences report, merged across outlets when read: ``timeline``), with ``timeline_sightings``
(the same meetings one row each, for reads by date). Every read of them goes
through ``queries``. The migrations in ``storage/migrations`` create the same tables.
"""

from __future__ import annotations

from sqlalchemy import JSON, Boolean, Column, Date, Float, Index, Integer, MetaData, String, Table, Text, text

from storage.engine import UTCDateTime
from storage.tables import Position

metadata = MetaData()

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
    Column("title", Text),  # the feed's own title, from its last full response: the outlet's name
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
    # The digest counts failed pages by feed and reason: only those rows, read from the index alone.
    Index("ix_articles_extraction_reason", "extraction_reason", "feed",
          sqlite_where=text("extraction_reason IS NOT NULL"), postgresql_where=text("extraction_reason IS NOT NULL")),
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
    # The analyst's verdict (MentionJudged), kept across retags: "reject" takes the tag out of every digest,
    # "accept" puts an untagged article in as a mention (decision "accepted" where it is shown).
    Column("verdict", String(20)),
    Column("verdict_note", Text),
    Column("verdict_position", Position),  # of the MentionJudged event: what the next verdict supersedes
    Column("judged_at", UTCDateTime()),
    Column("judged", JSON),  # what was judged: the tag's decision, topic version and position at the time
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

# Per article and topic, the meetings its newest tag's sentences report (monitor.views.timeline.sentence_meetings);
# ``count`` lets the merge read only the rows that have any.
timeline = Table(
    "timeline", metadata,
    Column("article_id", String(64), primary_key=True),
    Column("topic", String(100), primary_key=True),
    Column("position", Position, nullable=False),
    Column("meetings", JSON, nullable=False),
    Column("count", Integer, nullable=False),
    Index("ix_timeline_count", "count"),
)

# The same meetings one row a sighting (``timeline`` rows' details, replaced with them): what the digest's merge reads
# instead of every sighting. A sighting merges only with sightings of the same topic and participants whose dates
# overlap or touch: when a batch changes sightings, the view merges the sightings near them again, read by range
# (``ix_timeline_sightings_group``), and records each one's event (``event_article``, ``event_n``: the key of the
# sighting that founded it; ``monitor.views.sightings``); a digest reads only its mentions' events
# (``ix_timeline_sightings_event``). ``participants`` is the sighting's participants as one key (JSON); ``tie_rank``
# orders a tag's sightings as the merge does (offset, then sentence).
timeline_sightings = Table(
    "timeline_sightings", metadata,
    Column("article_id", String(64), primary_key=True),
    Column("topic", String(100), primary_key=True),
    Column("n", Integer, primary_key=True),  # the sighting's index in the timeline row's ``meetings``
    Column("participants", Text, nullable=False),
    Column("start_date", Date, nullable=False),
    Column("end_date", Date, nullable=False),
    Column("tie_rank", Integer, nullable=False),
    Column("place", JSON),
    Column("sighting", JSON, nullable=False),
    Column("event_article", String(64)),  # the event's founding sighting: its article and n (same topic)
    Column("event_n", Integer),
    Index("ix_timeline_sightings_group", "topic", "participants", "start_date"),
    Index("ix_timeline_sightings_event", "topic", "event_article", "event_n"),
)

# Per article tagged (or accepted), what story grouping compares (monitor.language.features), computed once from
# the article's title and text as the articles view holds them; ``title`` and ``text_hash`` say which, so that a
# digest uses them only while the article still reads so (and computes them from the text otherwise).
story_features = Table(
    "story_features", metadata,
    Column("article_id", String(64), primary_key=True),
    Column("title", Text),
    Column("text_hash", String(64)),
    Column("words", JSON),  # folded word -> [stem, weight, specific]; NULL until computed
    Column("signature", JSON),  # the MinHash values; NULL for a text too short to have one
)
