"""Parse fetched feed bytes into entries, with feedparser (never letting it fetch anything itself)."""

from __future__ import annotations

import calendar
import datetime as dt
import hashlib
import html
import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import feedparser

from monitor.errors import FetchError

_TRACKING = re.compile(r"^(utm_[a-z_]+|fbclid|gclid|mc_cid|mc_eid|ocid|cmpid|ref_src|igshid|at_medium|at_campaign)$",
                       re.IGNORECASE)
_TAGS = re.compile(r"<[^>]+>")


@dataclass(frozen=True)
class FeedEntry:
    entry_id: str
    url: str
    canonical_url: str
    title: str
    published_at: dt.datetime | None
    summary: str
    content: str


@dataclass(frozen=True)
class ParsedFeed:
    title: str
    version: str
    bozo: bool
    bozo_message: str
    entries: list[FeedEntry]


def canonical_url(url: str) -> str:
    """Scheme and host lower-cased, default port, fragment and tracking parameters dropped."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    host = f"[{host}]" if ":" in host else host  # an IPv6 literal keeps its brackets
    port = parts.port
    netloc = host if port is None or (scheme, port) in (("http", 80), ("https", 443)) else f"{host}:{port}"
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _TRACKING.match(k)])
    return urlunsplit((scheme, netloc, parts.path or "/", query, ""))


def plain_text(markup: str) -> str:
    """Feed summaries are often HTML: strip tags and entities, keep paragraph breaks."""
    text = re.sub(r"(?i)<\s*(br|/p|/div|/li|/h[1-6])\s*/?>", "\n", markup or "")
    text = html.unescape(_TAGS.sub(" ", text))
    lines = [" ".join(line.split()) for line in text.splitlines()]
    return "\n".join(line for line in lines if line)


def _date(entry: feedparser.FeedParserDict) -> dt.datetime | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        value = entry.get(key)
        if value:
            try:
                return dt.datetime.fromtimestamp(calendar.timegm(value), dt.UTC)
            except (OverflowError, ValueError, TypeError):
                continue
    return None


def parse_feed(content: bytes, base_url: str, headers: dict[str, str] | None = None) -> ParsedFeed:
    """Entries of an RSS/Atom/RDF document. Raises FetchError('not_a_feed') when it holds no feed."""
    if not content.strip():
        raise FetchError("empty_body", f"{base_url} returned an empty body")
    # Without a Content-Type, feedparser flags even a well-formed feed as bozo; application/xml lets the
    # document's own XML declaration decide the charset (RFC 7303 §3.2).
    content_type = (headers or {}).get("content-type") or "application/xml"
    response_headers = {"content-location": base_url, "content-type": content_type}
    parsed = feedparser.parse(content, response_headers=response_headers, sanitize_html=True,
                              resolve_relative_uris=True)
    if not parsed.get("version") and not parsed.entries:
        problem = parsed.get("bozo_exception")
        detail = f": {' '.join(str(problem).split())[:150]}" if problem else ""
        raise FetchError("not_a_feed", f"{base_url} is not an RSS or Atom feed{detail}")
    entries: list[FeedEntry] = []
    for item in parsed.entries:
        link = (item.get("link") or "").strip()
        title = plain_text(item.get("title", "")).replace("\n", " ")
        published = _date(item)
        try:
            url = urljoin(base_url, link) if link else ""
            canonical = canonical_url(url) if url and urlsplit(url).scheme in ("http", "https") else ""
        except ValueError:  # a malformed link (bad port, broken IPv6 host): treat the entry as having none
            canonical = ""
        if not canonical:
            url = ""
            # No usable link: identity from the guid, else from the title and date.
            basis = item.get("id") or f"{title}|{published.isoformat() if published else ''}"
            canonical = f"urn:news-monitor:{hashlib.sha256(f'{base_url}|{basis}'.encode()).hexdigest()[:32]}"
        contents = item.get("content") or []
        content_text = plain_text(" ".join(c.get("value", "") for c in contents))
        entries.append(FeedEntry(
            entry_id=(item.get("id") or url or canonical).strip(), url=url, canonical_url=canonical, title=title,
            published_at=published, summary=plain_text(item.get("summary", "")), content=content_text,
        ))
    return ParsedFeed(
        title=plain_text(parsed.feed.get("title", "")), version=parsed.get("version", ""),
        bozo=bool(parsed.get("bozo")), bozo_message=str(parsed.get("bozo_exception", ""))[:200], entries=entries,
    )
