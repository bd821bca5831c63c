"""What a new entry's text, language and tags are: the part of ``Monitor.process_entry`` that needs neither the log
nor the clock, so that a parse worker can do it beside the parse (monitor.ingest.parse_pool).

A first cycle over many feeds without page fetches is parsing and tagging: the daemon's core also fetches, triages
against the views, writes and projects, and it was the cycle's bottleneck while the parse worker waited. So for a
feed whose entries are their own text (``fetch_full_text = false``), the daemon sends its tagger, pickled, with a
feed's body (once per worker and tagger: a generation number says which), and the worker returns, beside the
parsed feed, each entry's ``Prepared``. The daemon still decides which entries are new, and builds every event
itself, with its clock; for each new entry it takes the ``Prepared`` the worker made instead of making it, which
is the same: the same function (``prepare``) over the same tagger state (a pickle round trip of it), and tests
hold a parallel cycle's events equal to a serial one's. An entry the worker could not prepare (its preparation
raised, or no worker took the feed) is prepared in the daemon, and fails there, alone, as it would have.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from monitor.ingest.extract import extract_entry
from monitor.ingest.parse import FeedEntry
from monitor.ingest.worker import Extraction, PageFailure

if TYPE_CHECKING:
    from monitor.tagging.rules import Tagger, TopicResult

__all__ = ["EntryPreparer", "Prepared", "prepare", "tag_extraction"]


@dataclass(frozen=True)
class Prepared:
    """An entry's text (or why it has none), its title and language, its tags, and the seconds tagging took."""

    extraction: Extraction | None
    failure: PageFailure | None
    title: str
    language: str  # "" when neither the page nor detection gave one
    results: dict[str, TopicResult]
    tag_seconds: float


def tag_extraction(tagger: Tagger, entry: FeedEntry, extraction: Extraction) -> tuple[str, str, dict[str, TopicResult],
                                                                                   float]:
    """The entry's title, language and tags, from its text, and the seconds they took. The page's declared
    language when the extractor found one, else detected from the text."""
    title = entry.title or extraction.title
    began = time.perf_counter()
    language = extraction.language or tagger.language(title, extraction.text) or ""
    results = tagger.tag(title, extraction.text, entry.published_at, skip_hopeless=True,
                         language=language.split("-")[0].lower() or None)
    return title, language, results, time.perf_counter() - began


def prepare(tagger: Tagger, entry: FeedEntry) -> Prepared:
    """What ``process_entry`` computes of an entry whose text is the feed's own (no page fetched)."""
    extraction, failure = extract_entry(entry, None)
    if extraction is None:
        return Prepared(None, failure, entry.title, "", {}, 0.0)
    title, language, results, seconds = tag_extraction(tagger, entry, extraction)
    return Prepared(extraction, failure, title, language, results, seconds)


class EntryPreparer:
    """``prepare`` with one tagger, as a parse worker calls it on each entry of a feed it parsed. Pickles with
    its tagger."""

    def __init__(self, tagger: Tagger) -> None:
        self.tagger = tagger

    def __call__(self, entry: FeedEntry) -> Prepared:
        return prepare(self.tagger, entry)
