"""Tests for monitor.ingest.identity: the entry hash, and which entries are new, revised or known."""

from __future__ import annotations

import datetime as dt
from typing import Any

from monitor.config import FeedSettings
from monitor.events import catalogue as ev
from monitor.events.keys import canonical_url, entry_key
from monitor.ingest.identity import Known, NewEntry, entry_hash, entry_keys, triage, unique_entries, unknown
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
    first, again = entry("g1", "https://a.example/1"), entry("g2", "https://a.example/1?utm_source=rss")
    unique = unique_entries([first, entry("g3", "https://a.example/3"), again])
    assert list(unique.values()) == [first, entry("g3", "https://a.example/3")]
    assert entry_keys("wire", unique)[ev.article_id(first.canonical_url)] == entry_key("wire", "g1")


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
