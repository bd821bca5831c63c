"""The named reads of the read models (monitor.views.queries), on a real log, on SQLite and PostgreSQL: what
each returns, in which order, and what it leaves out (retracted tags, possible ones, reviewed ones)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlalchemy.engine import Connection

from monitor.events import catalogue as ev
from monitor.events.keys import entry_key
from monitor.language.features import StoryFeatures
from monitor.views import queries
from monitor.views.log import open_log, projections
from monitor.views.tables import articles, feed_state, story_features
from storage.engine import reading
from storage.eventlog import EventLog
from tests.builders import config_for
from tests.seeding import T0, Story, add

TOPIC = "india-russia-summit"
STORIES = [
    Story("first", "Putin to visit New Delhi", "Putin will visit New Delhi. Trade is on the agenda.",
          feed="feed-a", published=T0 - dt.timedelta(days=2), score=0.9),
    Story("second", "Modi meets Putin", "Modi met Putin in Tianjin. They rode in the same car.",
          feed="feed-b", published=T0 - dt.timedelta(days=1), score=0.7),
    Story("third", "Lavrov in Delhi", "Lavrov held talks in Delhi. Energy was discussed.",
          feed="feed-a", published=T0, score=0.6),
    Story("maybe", "A possible summit", "Perhaps Modi and Putin meet. Nothing is set.",
          feed="feed-b", published=T0, score=0.3),  # decision "possible": not a mention
]


class Ticking:
    """A clock that moves a second per call: discovery times follow the order of the appends."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> dt.datetime:
        self.now += dt.timedelta(seconds=1)
        return self.now


@pytest.fixture
def event_log(database_url: str, tmp_path: Path) -> Iterator[EventLog]:
    log = open_log(config_for(database_url, tmp_path), clock=Ticking())
    yield log
    log.close()


@pytest.fixture
def seeded(event_log: EventLog) -> EventLog:
    add(event_log, STORIES)
    return event_log


def story(slug: str) -> Story:
    return next(s for s in STORIES if s.slug == slug)


def retract(log: EventLog, item: Story) -> int:
    """Retract the tag of ``item`` as a retag would; returns the retraction's position."""
    with reading(log.engine) as conn:
        supersedes = queries.mention_tags(conn)[(item.article_id, item.topic)]["position"]
    log.append([ev.mention_retracted(item.article_id, item.topic, "v2", item.published, {
        "previous_decision": "mention", "decision": "none", "score": 0.1}, supersedes=supersedes)])
    projections(log).catch_up()
    return log.last_position()


def review(log: EventLog, refs: list[tuple[str, str, int]] | None = None, *, up_to: int | None = None) -> None:
    log.append([ev.digest_reviewed(up_to, T0, mentions=refs or [], source="web")])
    projections(log).catch_up()


def slugs(rows: list) -> list[str]:
    by_id = {s.article_id: s.slug for s in STORIES}
    return [by_id[row["article_id"]] for row in rows]


# -- articles ------------------------------------------------------------------------------------------

def test_newest_texts_are_the_latest_discovered_with_a_text_oldest_first(seeded: EventLog) -> None:
    url = "https://news.example.org/failed"
    article = ev.article_id(url)
    seeded.append([ev.article_discovered(article, T0, {"feed": "feed-a", "url": url, "canonical_url": url,
                                                       "entry_id": "failed", "title": "No text"}),
                   ev.extraction_failed(article, T0, {"url": url, "reason": "http_403", "message": "403",
                                                      "fallback": None})])
    projections(seeded).catch_up()
    with reading(seeded.engine) as conn:
        two = queries.newest_texts(conn, 2)
        every = queries.newest_texts(conn, 10)
    assert two == [(story("third").title, story("third").text), (story("maybe").title, story("maybe").text)]
    assert [title for title, _ in every] == [s.title for s in STORIES]  # the failed one has no text


def test_articles_by_id_or_entry_key_finds_either_past_the_first_chunk(seeded: EventLog) -> None:
    first, third = story("first"), story("third")
    unknown = [f"unknown-{n}" for n in range(700)]
    with reading(seeded.engine) as conn:
        rows = queries.articles_by_id_or_entry_key(conn, [*unknown, third.article_id],
                                                   [entry_key(first.feed, first.slug)])
    assert sorted(row["article_id"] for row in rows) == sorted([first.article_id, third.article_id])
    found = {row["article_id"]: row for row in rows}
    assert found[first.article_id]["entry_key"] == entry_key("feed-a", "first")
    assert found[third.article_id]["feed"] == "feed-a" and found[third.article_id]["title"] == third.title
    assert set(found[first.article_id]) == {"article_id", "feed", "canonical_url", "url", "entry_key",
                                            "entry_hash", "title"}


def test_article_feeds_leaves_unknown_ids_out_past_the_first_chunk(seeded: EventLog) -> None:
    wanted = [f"unknown-{n:04}" for n in range(600)] + [story("second").article_id, story("first").article_id]
    with reading(seeded.engine) as conn:
        assert queries.article_feeds(conn, wanted) == {story("second").article_id: "feed-b",
                                                        story("first").article_id: "feed-a"}
        assert queries.article_feeds(conn, []) == {}


def test_articles_by_id_url_and_literal_prefix(seeded: EventLog) -> None:
    second = story("second")
    with reading(seeded.engine) as conn:
        [by_id] = queries.articles_with_id(conn, second.article_id)
        assert queries.articles_with_url(conn, second.url) == [by_id]
        assert queries.articles_with_id_prefix(conn, second.article_id[:8]) == [by_id]
        assert len(queries.articles_with_id_prefix(conn, "", limit=2)) == 2
        assert queries.articles_with_id_prefix(conn, "%") == []  # a wildcard character is taken literally
        assert queries.articles_with_id(conn, "nope") == [] and queries.articles_with_url(conn, "nope") == []
    assert by_id["title"] == second.title and by_id["text"] == second.text and by_id["status"] == "extracted"


# -- mentions ------------------------------------------------------------------------------------------

def test_tag_reads_keep_a_retracted_tag_with_its_new_position(seeded: EventLog) -> None:
    first = story("first")
    with reading(seeded.engine) as conn:
        before = queries.mention_positions(conn, [first.article_id])[(first.article_id, TOPIC)]
    retracted_at = retract(seeded, first)
    with reading(seeded.engine) as conn:
        tags = queries.mention_tags(conn)
        positions = queries.mention_positions(conn, [*(f"unknown-{n}" for n in range(600)), first.article_id])
        [row] = queries.article_mentions(conn, first.article_id)
        topics = queries.tagged_topics(conn)
    assert retracted_at > before
    assert positions == {(first.article_id, TOPIC): retracted_at}
    assert tags[(first.article_id, TOPIC)]["decision"] == "retracted"
    assert tags[(first.article_id, TOPIC)]["position"] == retracted_at
    assert {key: tag["decision"] for key, tag in tags.items() if key[0] != first.article_id} == {
        (story("second").article_id, TOPIC): "mention", (story("third").article_id, TOPIC): "mention",
        (story("maybe").article_id, TOPIC): "possible"}
    assert row["decision"] == "retracted" and row["mention"] is False and row["sentences"] == []
    assert topics == {TOPIC}


def test_review_counts_leave_out_retracted_and_possible_tags(seeded: EventLog) -> None:
    retract(seeded, story("first"))
    second = story("second")
    with reading(seeded.engine) as conn:
        assert queries.mention_review_counts(conn) == {(TOPIC, "unreviewed"): 2}
        position = queries.mention_positions(conn, [second.article_id])[(second.article_id, TOPIC)]
    review(seeded, [(second.article_id, TOPIC, position)])
    with reading(seeded.engine) as conn:
        assert queries.mention_review_counts(conn) == {(TOPIC, "unreviewed"): 1, (TOPIC, "reviewed"): 1}
    review(seeded, up_to=seeded.last_position())
    with reading(seeded.engine) as conn:
        assert queries.mention_review_counts(conn) == {(TOPIC, "reviewed"): 2}


# -- the digest ----------------------------------------------------------------------------------------

def test_digest_mentions_oldest_first_the_limit_keeps_the_newest(seeded: EventLog) -> None:
    with reading(seeded.engine) as conn:
        every = queries.digest_mentions(conn, 0, status="all")
        newest = queries.digest_mentions(conn, 0, status="all", limit=2)
    assert slugs(every) == ["first", "second", "third"]  # "maybe" is only possible
    assert [row["position"] for row in every] == sorted(row["position"] for row in every)
    assert slugs(newest) == ["second", "third"]
    assert every[0]["url"] == story("first").url and every[0]["text"] == story("first").text
    assert not any(row["reviewed"] for row in every)


def review_second(log: EventLog) -> int:
    """Review the second story's tag one by one; its position."""
    second = story("second")
    with reading(log.engine) as conn:
        position = queries.mention_positions(conn, [second.article_id])[(second.article_id, TOPIC)]
    review(log, [(second.article_id, TOPIC, position)])
    return position


def test_digest_mentions_by_review_status_window_and_filters(seeded: EventLog) -> None:
    retract(seeded, story("third"))
    position = review_second(seeded)
    with reading(seeded.engine) as conn:
        cursor = queries.unreviewed_position(conn)
        unreviewed = queries.digest_mentions(conn, cursor, status="unreviewed")
        reviewed = queries.digest_mentions(conn, cursor, status="reviewed")
        after = queries.digest_mentions(conn, cursor, status="all", after_position=position - 1)
        up_to = queries.digest_mentions(conn, cursor, status="all", up_to_position=position - 1)
        by_feed = queries.digest_mentions(conn, cursor, status="all", feed="feed-b")
        by_score = queries.digest_mentions(conn, cursor, status="all", min_score=0.8)
        by_day = queries.digest_mentions(conn, cursor, status="all", date_from=(T0 - dt.timedelta(days=1)).date(),
                                         date_to=(T0 - dt.timedelta(days=1)).date())
        by_topic = queries.digest_mentions(conn, cursor, status="all", topic="another-topic")
        count = queries.unreviewed_count(conn, cursor)
    assert cursor == 0
    assert slugs(unreviewed) == ["first"] and count == 1  # third is retracted, second reviewed
    assert slugs(reviewed) == ["second"] and reviewed[0]["reviewed"]
    assert slugs(after) == ["second"] and slugs(up_to) == ["first"]
    assert slugs(by_feed) == ["second"] and slugs(by_score) == ["first"] and slugs(by_day) == ["second"]
    assert by_topic == []


def test_digest_mentions_carries_the_unreviewed_count_whatever_its_filters(seeded: EventLog) -> None:
    """``with_unreviewed_count``: every row holds what ``unreviewed_count`` gives for the whole view, however
    the rows are filtered, and the rows are those of the same call without it."""
    review_second(seeded)
    with reading(seeded.engine) as conn:
        cursor = queries.unreviewed_position(conn)
        count = queries.unreviewed_count(conn, cursor)
        assert count == 2  # first and third; second is reviewed
        for filters in ({"status": "unreviewed"}, {"status": "reviewed"}, {"status": "all", "feed": "feed-b"},
                        {"status": "all", "min_score": 0.8}, {"status": "all", "limit": 1}):
            plain = queries.digest_mentions(conn, cursor, **filters)
            counted = queries.digest_mentions(conn, cursor, with_unreviewed_count=True, **filters)
            assert plain and [dict(row) | {"unreviewed_count": count} for row in plain] == [dict(r) for r in counted]


def test_digest_mentions_reuses_its_statement_with_each_call_s_own_values(seeded: EventLog) -> None:
    """The statement of one set of filters is built once (the values are bound parameters): calls that differ only
    in their values each get their own rows."""
    with reading(seeded.engine) as conn:
        every = [row["position"] for row in queries.digest_mentions(conn, 0, status="all")]
        assert len(every) == 3
        for position in [0, *every]:
            after = queries.digest_mentions(conn, 0, status="all", after_position=position)
            unreviewed = queries.digest_mentions(conn, position, status="unreviewed")
            assert [row["position"] for row in after] == [p for p in every if p > position]
            assert [row["position"] for row in unreviewed] == [p for p in every if p > position]
            assert queries.unreviewed_count(conn, position) == len(unreviewed)
        for limit in (1, 2, 3):
            newest = queries.digest_mentions(conn, 0, status="all", limit=limit)
            assert [row["position"] for row in newest] == every[-limit:]
        for slug in ("first", "second"):
            by_feed = queries.digest_mentions(conn, 0, status="all", feed=story(slug).feed)
            assert {row["feed"] for row in by_feed} == {story(slug).feed}

def test_digest_mentions_with_features_carries_the_current_stored_features_in_place_of_their_texts(
        seeded: EventLog) -> None:
    """The digest's one read: each article's current stored features (those ``story_features`` serves), and its
    text only where there are none (features computed from another text do not count)."""
    stale = story("second").article_id
    with seeded.engine.begin() as conn:  # as if computed from an earlier text
        conn.execute(update(story_features).where(story_features.c.article_id == stale).values(text_hash="old"))
    with reading(seeded.engine) as conn:
        plain = queries.digest_mentions(conn, 0, status="all")
        rows = queries.digest_mentions(conn, 0, status="all", with_features=True, with_text=False)
        with_text = queries.digest_mentions(conn, 0, status="all", with_features=True)
        stored = queries.story_features(conn, [row["article_id"] for row in plain])
    assert [row["article_id"] for row in rows] == [row["article_id"] for row in plain]
    assert set(stored) == {row["article_id"] for row in plain} - {stale}
    for row, full, texted in zip(rows, plain, with_text, strict=True):
        assert texted["text"] == full["text"] and texted["story_words"] == row["story_words"]
        if row["article_id"] == stale:
            assert row["story_words"] is None and row["story_signature"] is None and row["text"] == full["text"]
        else:
            features = StoryFeatures.from_json(row["story_words"], row["story_signature"])
            assert features == stored[row["article_id"]] and row["text"] is None


def test_unreviewed_count_follows_the_cursor(seeded: EventLog) -> None:
    with reading(seeded.engine) as conn:
        assert queries.unreviewed_count(conn, 0) == 3
        assert queries.unreviewed_count(conn, queries.last_event_position(conn)) == 0



def separate_reads(conn: Connection, names: tuple[str, ...]) -> tuple:
    """What ``digest_summary`` stands for, read the way the digest read it before: one statement each."""
    cursor = queries.unreviewed_position(conn)
    return (queries.last_event_position(conn), cursor,
            sum(sum(reasons.values()) for reasons in queries.page_failures(conn).values()),
            sorted(queries.feed_poll_summary(conn), key=repr), queries.feed_titles(conn),
            queries.view_checkpoints(conn, names))


def combined_read(conn: Connection, names: tuple[str, ...]) -> tuple:
    summary = queries.digest_summary(conn, names)
    return (summary.last_position, summary.cursor, summary.pages_failed, sorted(summary.feeds, key=repr),
            summary.titles, summary.checkpoints)


def test_digest_summary_reads_what_the_separate_reads_do(event_log: EventLog) -> None:
    names = ("timeline", "articles", "no-such-view", "mentions")
    with reading(event_log.engine) as conn:  # an empty log: no feeds, no cursor, no failures
        assert combined_read(conn, names) == separate_reads(conn, names) == (0, 0, 0, [], {}, ())
        assert queries.digest_summary(conn).checkpoints == ()
    add(event_log, STORIES)
    event_log.append([ev.feed_polled("feed-a", "a-1", T0, {
        "feed": "feed-a", "url": "https://a.example/feed", "status": "ok", "http_status": 200, "interval": 900.0,
        "schedule": "adaptive"})])
    for n in range(2):
        event_log.append([ev.feed_failed("feed-b", f"b-{n}", T0, {
            "feed": "feed-b", "url": "https://b.example/feed", "reason": "timeout", "message": "timed out"})])
    review(event_log, up_to=event_log.last_position() - 1)
    projections(event_log).catch_up()
    with event_log.engine.begin() as conn:  # a titled feed, an untitled one; failed pages in two feeds
        conn.execute(update(feed_state).where(feed_state.c.feed == "feed-a").values(title="Feed A: World"))
        conn.execute(update(feed_state).where(feed_state.c.feed == "feed-b").values(title=""))
        for item, reason in ((story("first"), "http_404"), (story("second"), "timeout"), (story("third"), "http_404")):
            conn.execute(update(articles).where(articles.c.article_id == item.article_id)
                         .values(extraction_reason=reason))
    with reading(event_log.engine) as conn:
        separate, combined = separate_reads(conn, names), combined_read(conn, names)
    assert combined == separate
    position, cursor, pages, feeds, titles, checkpoints = combined
    assert position == event_log.last_position() and 0 < cursor < position and pages == 3
    assert feeds == [("failing", 2), ("ok", 1)] and titles == {"feed-a": "Feed A: World"}
    assert [name for name, _, _ in checkpoints] == ["articles", "mentions", "timeline"]

# -- feed_state and the log ----------------------------------------------------------------------------

def test_feed_reads_of_polled_failing_and_unpolled_feeds(event_log: EventLog) -> None:
    due = T0 + dt.timedelta(minutes=15)
    event_log.append([ev.feed_polled("feed-a", "a-1", T0, {
        "feed": "feed-a", "url": "https://a.example/feed", "status": "ok", "http_status": 200, "etag": '"e1"',
        "last_modified": "Thu, 04 Dec 2025 09:00:00 GMT", "interval": 900.0, "next_poll_at": due.isoformat(),
        "schedule": "adaptive"})])
    for n in range(2):
        event_log.append([ev.feed_failed("feed-b", f"b-{n}", T0, {
            "feed": "feed-b", "url": "https://b.example/feed", "reason": "timeout", "message": "timed out"})])
    projections(event_log).catch_up()
    with reading(event_log.engine) as conn:
        one = queries.feed_poll_state(conn, "feed-a")
        never = queries.feed_poll_state(conn, "feed-never")
        every = queries.feed_poll_states(conn)
        states = queries.feed_states(conn)
        schedules = queries.feed_schedules(conn)
        summary = queries.feed_poll_summary(conn)
    assert never is None
    assert one == {"feed": "feed-a", "url": "https://a.example/feed", "current_url": "https://a.example/feed",
                   "etag": '"e1"', "last_modified": "Thu, 04 Dec 2025 09:00:00 GMT", "interval": 900.0,
                   "consecutive_failures": 0}
    assert every["feed-a"] == one and every["feed-b"]["consecutive_failures"] == 2 and set(every) == {"feed-a",
                                                                                                      "feed-b"}
    assert states["feed-b"]["status"] == "failing" and states["feed-b"]["failures"] == 2
    assert states["feed-a"]["schedule"] == "adaptive" and states["feed-a"]["polls"] == 1
    assert schedules == {"feed-a": queries.FeedSchedule("https://a.example/feed", due),
                         "feed-b": queries.FeedSchedule("https://b.example/feed", None)}
    assert sorted(summary) == [("failing", 2), ("ok", 1)]


def test_last_event_position_is_zero_then_the_newest(event_log: EventLog) -> None:
    with reading(event_log.engine) as conn:
        assert queries.last_event_position(conn) == 0
    add(event_log, STORIES[:2])
    with reading(event_log.engine) as conn:
        assert queries.last_event_position(conn) == event_log.last_position() > 0
