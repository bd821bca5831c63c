"""Tests for monitor.ingest.identity: the entry hash, and which entries are new, revised or known."""

from __future__ import annotations

import datetime as dt
from typing import Any

from monitor.config import FeedSettings
from monitor.events import catalogue as ev
from monitor.events.keys import canonical_url, entry_key
from monitor.ingest.identity import (
    Known,
    NewEntry,
    distinct_entries,
    entry_hash,
    entry_keys,
    triage,
    unique_entries,
    unknown,
)
from monitor.ingest.parse import FeedEntry

AT = dt.datetime(2025, 9, 1, 12, tzinfo=dt.UTC)
FEED = FeedSettings(name="wire", url="https://a.example/feed.xml", fetch_full_text=False)


def entry(guid: str, url: str, title: str = "Title", content: str = "Body") -> FeedEntry:
    return FeedEntry(guid, url, canonical_url(url), title, None, "Summary", content)


def row(e: FeedEntry, *, feed: str = "wire", **changes: Any) -> dict[str, Any]:
    data = {"article_id": ev.article_id(e.canonical_url), "feed": feed, "canonical_url": e.canonical_url,
            "url": e.url, "entry_key": entry_key(feed, e.entry_id), "entry_hash": entry_hash(e), "title": e.title}
    return {**data, **changes}


def test_entry_hash_follows_what_a_reader_sees() -> None:
    base = FeedEntry("id-1", "https://a.example/1", "https://a.example/1", "Title", None, "Summary", "Body")
    same = FeedEntry("id-2", "https://a.example/moved", "https://a.example/moved", "Title ", None, "Summary",
                     "Body")
    changed = FeedEntry("id-1", "https://a.example/1", "https://a.example/1", "Title", None, "Summary", "Body!")
    assert entry_hash(base) == entry_hash(same)  # link, guid and whitespace are not content
    assert entry_hash(base) != entry_hash(changed)


def test_an_article_listed_twice_is_its_first_entry() -> None:
    first, again = entry("g1", "https://a.example/1"), entry("g1", "https://a.example/1?utm_source=rss")
    distinct = distinct_entries([first, entry("g3", "https://a.example/3"), again])
    assert list(distinct.entries.values()) == [first, entry("g3", "https://a.example/3")]
    assert distinct.duplicates == 1
    assert entry_keys("wire", distinct.entries)[ev.article_id(first.canonical_url)] == entry_key("wire", "g1")


def test_entries_with_distinct_guids_sharing_a_link_are_distinct_articles() -> None:
    """A podcast's episodes all link to the show's page: each guid is an episode of its own."""
    episodes = [entry(f"episode-{n}", "https://a.example/show", title=f"Episode {n}") for n in range(5)]
    distinct = distinct_entries([*episodes, episodes[2]])
    assert list(distinct.entries.values()) == episodes and distinct.duplicates == 1
    assert len(set(distinct.entries)) == 5
    assert distinct_entries(list(reversed(episodes))).entries.keys() == distinct.entries.keys()  # order-free


def test_permalinks_that_differ_by_fragment_keep_it() -> None:
    """RSS 2.0's own sample: permalinks ``/2003/06/03.html#item573`` and the like, no other guid."""
    items = [entry(f"https://a.example/2003/06.html#item{n}", f"https://a.example/2003/06.html#item{n}",
                   title=f"Item {n}") for n in (570, 571, 572)]
    distinct = distinct_entries(items)
    assert [e.canonical_url for e in distinct.entries.values()] == [
        f"https://a.example/2003/06.html#item{n}" for n in (570, 571, 572)]
    assert list(distinct.entries) == [ev.article_id(e.canonical_url) for e in distinct.entries.values()]


def test_guidless_entries_sharing_a_link_are_told_apart_by_title() -> None:
    one, two = entry("https://a.example/live", "https://a.example/live", title="Update 1"), \
        entry("https://a.example/live", "https://a.example/live", title="Update 2")
    assert len(distinct_entries([one, two, one]).entries) == 2
    assert distinct_entries([one, two, one]).duplicates == 1


def test_a_guid_changed_every_poll_is_still_the_same_article() -> None:
    """Alone on its link, an entry is its link's article, whatever its guid says this time."""
    monday, tuesday = entry("rand-1", "https://a.example/1"), entry("rand-2", "https://a.example/1")
    assert distinct_entries([monday]).entries.keys() == distinct_entries([tuesday]).entries.keys()


def test_an_entry_told_apart_for_the_first_time_keeps_its_article() -> None:
    """Polled alone before, then beside a second episode on the same link: the known one is known, the other new."""
    before = entry("episode-1", "https://a.example/show", title="Episode 1")
    known = Known(by_id={}, by_entry={entry_key("wire", "episode-1"): row(before)}, logged=set())
    later = [before, entry("episode-2", "https://a.example/show", title="Episode 2")]
    found = list(triage(FEED, distinct_entries(later).entries, known, lambda: dt.datetime(2025, 1, 1, tzinfo=dt.UTC)))
    assert [f.entry.entry_id for f in found if isinstance(f, NewEntry)] == ["episode-2"]
    assert all(isinstance(f, NewEntry) for f in found)  # the known one is unchanged: no revision


def test_new_known_revised_and_moved_entries() -> None:
    known_same, retitled = entry("g1", "https://a.example/1"), entry("g2", "https://a.example/2")
    moved, new, elsewhere = entry("g3", "https://a.example/3-moved"), entry("g4", "https://a.example/4"), \
        entry("g5", "https://a.example/5")
    old_moved = entry("g3", "https://a.example/3")
    unique = unique_entries([known_same, entry("g2", "https://a.example/2", title="New title"), moved, new,
                             elsewhere])
    by_id = {r["article_id"]: r for r in (row(known_same), row(retitled), row(elsewhere, feed="other"))}
    by_entry = {r["entry_key"]: r for r in (row(old_moved),)}
    found = list(triage(FEED, unique, Known(by_id, by_entry, set()), lambda: AT))

    revised = [f for f in found if not isinstance(f, NewEntry)]
    assert [(e.data["changes"], e.data["entry_id"]) for e in revised] == [(["title"], "g2"), (["url"], "g3")]
    assert revised[0].data["text"] == "Body"  # the feed's text is the article's text
    assert "text" not in revised[1].data  # a new link alone changes no text
    assert [f.entry for f in found if isinstance(f, NewEntry)] == [new]  # another feed's copy is no revision


def test_an_entry_the_log_has_but_the_view_not_yet_is_not_new() -> None:
    new = entry("g4", "https://a.example/4")
    unique = unique_entries([new])
    missing = unknown(entry_keys("wire", unique), {}, {})
    assert missing == {f"{ev.ARTICLE_DISCOVERED}:{ev.article_id(new.canonical_url)}"}
    assert list(triage(FEED, unique, Known({}, {}, missing), lambda: AT)) == []
