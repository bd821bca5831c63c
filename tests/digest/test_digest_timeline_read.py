"""The digest's timeline read (``digest_events``) gives exactly the events of the whole merge that its mentions
report (``touched(timeline_events(...))``), on a seeded random log of sightings that overlap and touch across
participants and topics, with places that do and do not fit, retags, retractions, revised articles and articles
with no date; and the sightings table it reads is a projection like any other (rebuilt, it equals the live one)."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from monitor.digest import timeline as timeline_read
from monitor.digest.timeline import digest_events, forget, timeline_events, touched
from monitor.events import catalogue as ev
from monitor.views import queries, sightings
from monitor.views.projections import Projections
from monitor.views.tables import timeline, timeline_sightings
from storage.engine import reading
from storage.eventlog import EventLog, NewEvent

T0 = dt.datetime(2025, 8, 1, 9, 0, tzinfo=dt.UTC)
TOPICS = ("india-russia-summit", "india-russia-energy")
PEOPLE = {"Modi": {"name": "Narendra Modi", "side": "india", "role": "leader"},
          "Putin": {"name": "Vladimir Putin", "side": "russia", "role": "leader"},
          "Jaishankar": {"name": "Subrahmanyam Jaishankar", "side": "india", "role": "minister"},
          "Lavrov": {"name": "Sergey Lavrov", "side": "russia", "role": "minister"}}
PAIRS = (("Modi", "Putin"), ("Jaishankar", "Lavrov"), ("Modi", "Lavrov"), ("Jaishankar", "Putin"))
# Places that fit one another (Moscow within Russia) and that do not (Moscow and Kazan; Russia and India).
PLACES = ("", "", " in Moscow", " in Russia", " in Kazan", " in New Delhi", " in India", " in Tianjin")
TERMS = (["talks"], ["summit"], ["visit"], ["bilateral"], ["meeting"])
# Three seasons of meetings: dense (sightings chain into long components) and sparse (components apart).
SEASONS = ((dt.date(2025, 9, 1), 24), (dt.date(2025, 12, 1), 8), (dt.date(2026, 6, 1), 90))


@pytest.fixture
def event_log(database_url: str) -> Iterator[EventLog]:
    log = EventLog.open(database_url, migrate=True, upcasters=ev.UPCASTERS)
    forget()
    yield log
    forget()
    log.close()


def evidence(rng: random.Random) -> list[dict[str, Any]]:
    out = []
    for _ in range(rng.choice((1, 1, 2, 3))):
        first, days = rng.choice(SEASONS)
        start = first + dt.timedelta(rng.randrange(days))
        end = start + dt.timedelta(rng.choice((0, 0, 0, 0, 1, 2, 5, 30, 40)))  # 40: too long to date a meeting
        a, b = rng.choice(PAIRS)
        when = f"{start:%d %B}"
        text = f"{a} held talks with {b}{rng.choice(PLACES)} on {when}."
        dates = [{"text": when, "date": start.isoformat(), "end_date": end.isoformat()}]
        if rng.random() < 0.2:  # a vaguer date beside it: the most precise wins
            dates.append({"text": "this month", "date": start.replace(day=1).isoformat(),
                          "end_date": (start.replace(day=1) + dt.timedelta(27)).isoformat()})
        out.append({"field": rng.choice(("title", "text")), "text": text, "start": rng.choice((0, 0, 12, 40)),
                    "terms": [a, b, *rng.choice(TERMS)], "groups": ["india_leader", "russia_leader"],
                    "participants": [PEOPLE[a], PEOPLE[b]], "history": rng.random() < 0.05,
                    "context": rng.random() < 0.05, "dates": dates})
        if rng.random() < 0.1:  # the same sentence again at the same offset (another field): a tie in the merge
            out.append({**out[-1], "field": "summary"})
    return out


def tag(article: str, topic: str, version: str, at: dt.datetime, rng: random.Random, **extra: Any) -> NewEvent:
    mention = rng.random() < 0.85
    return ev.mention_tagged(article, topic, version, at, {
        "mention": mention, "decision": "mention" if mention else "possible", "score": 0.8 if mention else 0.5,
        "sentences": [], "terms": [], "evidence": evidence(rng)}, **extra)


def random_log(log: EventLog, seed: int, articles: int = 140) -> list[tuple[str, str]]:
    """Appends a random log, interleaving the articles' streams; returns every (article, topic) tagged."""
    rng = random.Random(seed)
    streams: list[list[NewEvent]] = []
    tagged = []
    for n in range(articles):
        url = f"https://outlet{n % 5}.example/{n}"
        article = ev.article_id(url)
        at = T0 + dt.timedelta(hours=rng.randrange(24 * 400))
        data = {"feed": f"feed-{n % 5}", "url": url, "canonical_url": url, "entry_id": url, "title": f"Report {n}",
                "published_at": at.isoformat() if rng.random() < 0.9 else None}
        stream = [ev.article_discovered(article, at, data)]
        for topic in rng.sample(TOPICS, rng.choice((1, 1, 2))):
            tagged.append((article, topic))
            stream.append(tag(article, topic, "v1", at, rng))
            roll = rng.random()
            if roll < 0.15:  # retagged: new sightings replace the old ones
                stream.append(tag(article, topic, "v2", at, rng, supersedes=1))
            elif roll < 0.25:
                stream.append(ev.mention_retracted(article, topic, "v2", at, {
                    "previous_decision": "mention", "decision": "none", "score": 0.1}, supersedes=1))
        if rng.random() < 0.1:
            stream.append(ev.article_revised(article, f"r{n}", at, {
                "feed": data["feed"], "changes": ["title", "url"], "url": url + "?v=2", "canonical_url": url,
                "entry_id": url, "entry_hash": f"e{n}",
                "title": f"Report {n}, revised"}))
        streams.append(stream)
    polls = [ev.feed_polled(f"feed-{n}", f"poll-{n}", T0, {"url": f"https://outlet{n}.example/rss", "status": "ok",
                                                            "feed_title": f"Outlet {n}"}) for n in range(3)]
    pending = [stream for stream in streams if stream]
    batch: list[NewEvent] = polls
    while pending:
        stream = rng.choice(pending)
        batch.append(stream.pop(0))
        if not stream:
            pending.remove(stream)
        if len(batch) >= 25:
            log.append(batch)
            batch = []
    log.append(batch)
    Projections(log.engine, upcasters=ev.UPCASTERS, batch_size=7).catch_up()  # live: rows replaced across batches
    return tagged


def rows(log: EventLog, table: Any) -> list[dict[str, Any]]:
    with log.engine.connect() as conn:
        return sorted((dict(r) for r in conn.execute(select(table)).mappings()), key=repr)


def test_the_digest_reads_exactly_the_events_of_the_whole_merge(event_log: EventLog,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    # Each merge again of the sightings near a batch's (the timeline view's, as it catches up): the rows it read
    # per topic and participants, one read or more (widened along a chain).
    merges: list[dict[tuple[str, str], list[int]]] = []
    brief, components = queries.brief_sightings, sightings.components

    def counted_brief(conn: Any, topic: str, participants: str, starts: Any) -> list[dict[str, Any]]:
        found = brief(conn, topic, participants, starts)
        merges[-1].setdefault((topic, participants), []).append(len(found))
        return found

    def counted_components(*args: Any) -> list[dict[str, Any]]:
        merges.append({})
        return components(*args)

    monkeypatch.setattr(queries, "brief_sightings", counted_brief)
    monkeypatch.setattr(sightings, "components", counted_components)
    tagged = random_log(event_log, seed=16)
    untagged = [(ev.article_id("https://nowhere.example/1"), TOPICS[0])]
    read: list[int] = []  # the sightings each digest read
    found = queries.event_sightings
    monkeypatch.setattr(queries, "event_sightings", lambda conn, keys: (
        result := found(conn, keys), read.append(sum(len(s) for s in result.values())))[0])
    rng = random.Random(7)
    whole, reported = same_events(event_log, tagged + untagged, rng)
    total = sum(row["count"] for row in rows(event_log, timeline))
    # The log makes the merge work: events of several sightings and outlets, held and upcoming, places that split.
    events = whole[None]
    assert len(events) > 40 and max(e["articles"] for e in events) >= 3 and reported > 60
    assert {e["status"] for e in events} == {"held", "upcoming"}
    assert {e["topic"] for e in events} == set(TOPICS) and len({tuple(e["participants"]) for e in events}) >= 4
    assert len({(e["topic"], e["start"], e["end"], tuple(e["participants"])) for e in events}) < len(events)
    # A digest of one tag reads its events' sightings, not the log's; a batch merges again the sightings near its
    # own, some along chains that widen the read.
    assert min(read) < total / 10 and max(read) <= total
    assert sum(1 for merge in merges for counts in merge.values() if len(counts) > 1) >= 10
    assert min(sum(sum(counts) for counts in merge.values()) for merge in merges) < total / 10
    # Then only retractions: sightings leave, and the events they founded or joined (or chained) are merged again.
    retracted = rng.sample(tagged, len(tagged) // 4)
    event_log.append([ev.mention_retracted(a, t, "v3", T0, {"previous_decision": "mention", "decision": "none",
                                                             "score": 0.1}, supersedes=2) for a, t in retracted])
    Projections(event_log.engine, upcasters=ev.UPCASTERS, batch_size=5).catch_up()
    after, _ = same_events(event_log, tagged, rng)
    assert len(after[None]) < len(events)


def same_events(log: EventLog, tags: list[tuple[str, str]], rng: random.Random,
                rounds: int = 40) -> tuple[dict[str | None, list[dict[str, Any]]], int]:
    """Asserts, for random sets of the tags, with and without a topic, that the digest reads the events of the
    whole merge that they report; returns the whole merge by topic, and how many events the digests reported."""
    reported = 0
    with reading(log.engine) as conn:
        whole = {topic: [dict(e) for e in timeline_events(conn, topic=topic)] for topic in (None, *TOPICS)}
        for round_ in range(rounds):
            items = [{"article_id": a, "topic": t} for a, t in rng.sample(tags, rng.choice((1, 1, 2, 3, 8, 30)))]
            topic = (None, None, *TOPICS)[round_ % 4]
            forget()  # nothing kept: the digest's own read, as after a poll
            got = digest_events(conn, items, topic=topic)
            assert got == touched(whole[topic], items), f"round {round_}"
            reported += len(got)
    return whole, reported


def test_the_sightings_table_is_the_timeline_rows_meetings_and_rebuilds_to_the_same(event_log: EventLog) -> None:
    random_log(event_log, seed=3, articles=60)
    live, live_rows = rows(event_log, timeline_sightings), rows(event_log, timeline)
    meetings = sorted(((r["article_id"], r["topic"], n), m) for r in live_rows for n, m in enumerate(r["meetings"]))
    assert sorted(((r["article_id"], r["topic"], r["n"]), r["sighting"]) for r in live) == meetings
    assert len(live) > 30 and any(row["count"] == 0 for row in live_rows)  # retracted or possible: no sightings
    Projections(event_log.engine, upcasters=ev.UPCASTERS).rebuild(["timeline"])
    assert rows(event_log, timeline_sightings) == live and rows(event_log, timeline) == live_rows


def test_a_kept_digest_read_is_reused_until_a_view_moves(event_log: EventLog) -> None:
    tagged = random_log(event_log, seed=5, articles=30)
    items = [{"article_id": a, "topic": t} for a, t in tagged[:5]]
    with reading(event_log.engine) as conn:
        first = digest_events(conn, items)
        assert digest_events(conn, items) is first
        assert digest_events(conn, items[:2]) is not first  # other tags: read anew
    url = "https://late.example/1"
    event_log.append([ev.article_discovered(ev.article_id(url), T0, {"feed": "feed-0", "url": url,
                                                                     "canonical_url": url, "title": "Late"}),
                      tag(ev.article_id(url), TOPICS[0], "v1", T0, random.Random(1))])
    Projections(event_log.engine, upcasters=ev.UPCASTERS).catch_up()
    with reading(event_log.engine) as conn:
        assert timeline_read.digest_events(conn, items) is not first
