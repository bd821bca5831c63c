"""Entry identity: which of a feed's entries are new articles, which revise one, which are known already.

An entry is the article it was before when its canonical link is known (the article id derives from it,
monitor.events.keys), or, when its link changed, when its guid is (guids are per feed: ``entry_key``). A
publisher that changes every guid but keeps the links therefore adds nothing, and one that moves its links
but keeps the guids revises the articles it had. Another feed's copy of the same article is not a revision.

A revision is told by ``entry_hash`` (what a reader of the entry sees) and by the canonical link. What is
known comes from the read side, as ``Known``: the articles view's rows for a poll's entries and, for the
entries the view does not know, the ``ArticleDiscovered`` keys already in the log (the view may lag behind
another worker: the log has the last word on what is new). The pipeline reads it in one read transaction
and hands it here; nothing here reads or writes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit

from monitor.config import FeedSettings
from monitor.events import catalogue as ev
from monitor.events.keys import entry_key
from monitor.ingest.extract import from_feed
from monitor.ingest.parse import FeedEntry
from storage.eventlog import NewEvent


def entry_hash(entry: FeedEntry) -> str:
    """What a reader of the entry sees, hashed, to tell a revised entry: the sha256 hex of its title, summary and
    content, in that order, each with its whitespace folded (runs to one space, none at either end), joined by
    U+001F. Not its link, guid or date, which are its identity and time, not its content. Stored in events:
    changing this formula makes every known entry look revised."""
    parts = (" ".join(part.split()) for part in (entry.title, entry.summary, entry.content))
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


@dataclass(frozen=True)
class Distinct:
    """A fetch's distinct entries by article id, in feed order, and how many entries repeated another."""

    entries: dict[str, FeedEntry]
    duplicates: int


def _distinction(entry: FeedEntry) -> str:
    """What tells entries that share a link apart: the guid, or without one (``entry_id`` is then the link)
    the link as written, fragment included, and the title."""
    return entry.entry_id if entry.entry_id != entry.url else f"{entry.url}\x1f{entry.title}"


def distinct_entries(entries: list[FeedEntry]) -> Distinct:
    """The entries that are distinct articles, by article id, in feed order.

    An article id comes from the canonical link, so that a publisher who changes guids every poll adds
    nothing. Within one fetch, though, entries that share a canonical link are distinct articles when their
    guids differ, or, without guids, their links' fragments or their titles do: a podcast's episodes linking
    to one show page, a blog's ``post#item573`` permalinks. Those get an id of their own, from the link and
    the fragment (which their canonical link then keeps) or the guid. An entry listed twice is its first."""
    groups: dict[str, dict[str, FeedEntry]] = {}
    duplicates = 0
    for entry in entries:
        group = groups.setdefault(entry.canonical_url, {})
        key = _distinction(entry)
        if key in group:
            duplicates += 1
        else:
            group[key] = entry
    assigned: dict[int, tuple[str, FeedEntry]] = {}
    for canonical, group in groups.items():
        if len(group) == 1:
            (entry,) = group.values()
            assigned[id(entry)] = (ev.article_id(canonical), entry)
            continue
        fragments = [urlsplit(entry.url).fragment for entry in group.values()]
        by_fragment = all(fragments) and len(set(fragments)) == len(fragments)
        for (key, entry), fragment in zip(group.items(), fragments, strict=True):
            if by_fragment:
                entry = replace(entry, canonical_url=f"{canonical}#{fragment}")
                assigned[id(group[key])] = (ev.article_id(entry.canonical_url), entry)
            else:
                assigned[id(entry)] = (ev.article_id(f"{canonical}\n{key}"), entry)
    distinct = dict(assigned[id(entry)] for entry in entries if id(entry) in assigned)
    return Distinct(distinct, duplicates)


def unique_entries(entries: list[FeedEntry]) -> dict[str, FeedEntry]:
    """The distinct entries by article id, in feed order (see ``distinct_entries``)."""
    return distinct_entries(entries).entries


def entry_keys(feed: str, unique: dict[str, FeedEntry]) -> dict[str, str | None]:
    """Each article id's entry key in this feed (None for an entry without a guid)."""
    return {article: entry_key(feed, entry.entry_id) for article, entry in unique.items()}


@dataclass(frozen=True)
class Known:
    """What the read side knows of a poll's entries."""

    by_id: dict[str, dict[str, Any]]  # the articles view's rows, by article id
    by_entry: dict[str, dict[str, Any]]  # this feed's rows, by entry key
    logged: set[str]  # the ArticleDiscovered keys in the log, of the entries matched by neither


def unknown(keys: dict[str, str | None], by_id: dict[str, Any], by_entry: dict[str, Any]) -> set[str]:
    """The ArticleDiscovered keys to look for in the log: those of the articles the view matched neither by id
    nor by entry key."""
    return {f"{ev.ARTICLE_DISCOVERED}:{a}" for a, key in keys.items() if a not in by_id and key not in by_entry}


@dataclass(frozen=True)
class NewEntry:
    """An entry that is an article not recorded yet."""

    article: str
    entry: FeedEntry


def triage(feed: FeedSettings, unique: dict[str, FeedEntry], known: Known,
           clock: Callable[[], dt.datetime]) -> Iterator[NewEvent | NewEntry]:
    """Each entry, in order, that is new (a ``NewEntry``) or revises a known article (its ``ArticleRevised``).
    Known and unchanged entries, and entries another worker discovered already, yield nothing. Lazy: the
    caller may stop between entries. A known row stands for one entry of the fetch: when entries that share a
    guid-less link are told apart for the first time, the one the feed lists first keeps the article."""
    claimed: set[str] = set()
    for article, entry in unique.items():
        row = known.by_id.get(article)
        if row is None:
            row = known.by_entry.get(entry_key(feed.name, entry.entry_id) or "")
            if row is not None and (row["article_id"] in claimed or row["article_id"] in unique):
                row = None  # that article is another entry of this fetch
        if row is not None:
            claimed.add(row["article_id"])
            revised = revision(feed, row, entry, clock)
            if revised is not None:
                yield revised
            continue
        if f"{ev.ARTICLE_DISCOVERED}:{article}" in known.logged:
            continue
        yield NewEntry(article, entry)


def revision(feed: FeedSettings, row: dict[str, Any], entry: FeedEntry,
             clock: Callable[[], dt.datetime]) -> NewEvent | None:
    """An ArticleRevised when this feed's entry for a known article changed: its title or content (as
    the feed says it), or its link. Another feed's copy of the same article is not a revision."""
    if row["feed"] != feed.name or not row["entry_hash"]:
        return None  # older articles recorded no entry hash: nothing to compare with
    new_hash = entry_hash(entry)
    changes: list[str] = []
    if new_hash != row["entry_hash"]:
        changes.append("title" if entry.title != row["title"] else "content")
    if entry.canonical_url != row["canonical_url"]:
        changes.append("url")
    if not changes:
        return None
    data: dict[str, Any] = {
        "feed": feed.name, "changes": changes, "url": entry.url, "canonical_url": entry.canonical_url,
        "entry_id": entry.entry_id, "title": entry.title, "entry_hash": new_hash,
        "previous_entry_hash": row["entry_hash"],
    }
    if not feed.fetch_full_text and changes != ["url"]:  # the feed's text is the article's text
        extraction = from_feed(entry)
        if extraction is not None:
            data.update(text=extraction.text, text_hash=extraction.text_hash,
                        text_source=extraction.text_source, word_count=extraction.word_count)
    revision = hashlib.sha256(f"{new_hash}|{entry.canonical_url}".encode()).hexdigest()[:16]
    return ev.article_revised(row["article_id"], revision, clock(), data)
