"""Extract an article's text from its fetched page with trafilatura, or fall back to the feed's text.

trafilatura only ever sees bytes we fetched (it never downloads). When the page cannot be fetched or
yields no text, the feed's own content, else its summary, else the headline is used, and the result
says which (``text_source``) and why the page was not used (``failure``). ``extract_entry`` makes that
choice for one entry: the page when the feed asks for full text and the page has some, else the feed's.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass

import trafilatura

from monitor.errors import FetchError
from monitor.ingest.fetch import FetchResult
from monitor.ingest.parse import FeedEntry

# trafilatura logs every page it finds too short at WARNING; those are our events, not log noise.
logging.getLogger("trafilatura").setLevel(logging.ERROR)

MIN_PAGE_WORDS = 20


@dataclass(frozen=True)
class Extraction:
    text: str
    text_source: str  # page | feed_content | feed_summary | title
    title: str
    author: str | None
    language: str | None
    published: str | None  # the date trafilatura read from the page, as it gave it

    @property
    def text_hash(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()

    @property
    def word_count(self) -> int:
        return len(self.text.split())


@dataclass(frozen=True)
class PageFailure:
    reason: str  # fetch reason code, not_html, no_text, extractor_error
    message: str


def extract_page(html_bytes: bytes, url: str, content_type: str) -> Extraction | PageFailure:
    if content_type and not any(kind in content_type for kind in ("html", "xml", "text/plain")):
        return PageFailure("not_html", f"{url} is {content_type}, not an HTML page")
    try:
        raw = trafilatura.extract(html_bytes, url=url or None, output_format="json", with_metadata=True,
                                  include_comments=False, include_tables=False)
    except Exception as exc:  # trafilatura raises a wide variety on hostile markup
        return PageFailure("extractor_error", f"trafilatura failed on {url}: {type(exc).__name__}: {exc}"[:300])
    if not raw:
        return PageFailure("no_text", f"no article text found on {url}")
    data = json.loads(raw)
    text = (data.get("text") or "").strip()
    if len(text.split()) < MIN_PAGE_WORDS:
        return PageFailure("no_text", f"only {len(text.split())} words of text found on {url}")
    return Extraction(text=text, text_source="page", title=(data.get("title") or "").strip(),
                      author=data.get("author") or None, language=data.get("language") or None,
                      published=data.get("date") or None)


def from_feed(entry: FeedEntry) -> Extraction | None:
    """The entry's own text: its content, else its summary, else its headline."""
    for source, text in (("feed_content", entry.content), ("feed_summary", entry.summary), ("title", entry.title)):
        if text and text.strip():
            return Extraction(text=text.strip(), text_source=source, title=entry.title, author=None,
                              language=None, published=None)
    return None


def extract_entry(entry: FeedEntry, fetch: Callable[[str], FetchResult] | None
                  ) -> tuple[Extraction | None, PageFailure | None]:
    """The text of one entry, and why its page was not used. ``fetch`` gets the entry's page when the feed
    asks for full text (None: the feed's text is the article's text). The text is None only when the entry
    has none at all, and then the failure says so."""
    extraction, failure = _choose(entry, fetch)
    if extraction is None and failure is None:
        failure = PageFailure("no_text", "the entry has no link, text, summary or title")
    return extraction, failure


def _choose(entry: FeedEntry, fetch: Callable[[str], FetchResult] | None
            ) -> tuple[Extraction | None, PageFailure | None]:
    failure: PageFailure | None = None
    if fetch is not None and entry.url:
        try:
            page = fetch(entry.url)
            page_result = extract_page(page.content, page.url, page.content_type)
        except FetchError as error:
            page_result = PageFailure(error.reason, error.message)
        if isinstance(page_result, Extraction):
            return page_result, None
        failure = page_result
    elif fetch is not None:
        failure = PageFailure("no_link", "the entry has no http(s) link to fetch")
    return from_feed(entry), failure
