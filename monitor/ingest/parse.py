"""Parse fetched feed bytes into entries, with feedparser (never letting it fetch anything itself).

RSS, Atom and RDF go through feedparser, JSON Feed through pydantic models; ``find_feed_links`` reads the
feeds an HTML page announces. ``fetch_feed`` is a poll's first step: GET the feed with the fetcher it is
given, parse it, and follow an HTML page's feed link once (autodiscovery), saying when the feed moved.
"""

from __future__ import annotations

import calendar
import datetime as dt
import email.utils
import hashlib
import html
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any
from urllib.parse import urljoin, urlsplit

import feedparser
import lxml.etree
import lxml.html
import orjson
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, ValidationError

from monitor.errors import FeedError, ParseError
from monitor.events.keys import canonical_url
from monitor.ingest.fetch import FetchResult
from monitor.language.text import without_surrogates

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
    ttl: float | None = None  # RSS <ttl>, in seconds: how long the publisher says the feed may be cached
    # Entries that are not articles, by reason: "empty_entry" (no title, no link, no text: a truncated
    # feed's half-parsed tail), "bad_entry" (one that cannot be read at all). Each costs only itself.
    skipped: dict[str, int] = field(default_factory=dict)


_INVISIBLE = re.compile(r"(?is)<(script|style|template|noscript)\b.*?(?:</\1\s*>|$)|<!--.*?(?:-->|$)")


def plain_text(markup: str) -> str:
    """Feed summaries are often HTML: drop what a reader never sees (scripts, styles, comments), strip tags and
    entities, keep paragraph breaks."""
    text = markup or ""
    if "<" in text:
        text = re.sub(r"(?i)<\s*(br|/p|/div|/li|/h[1-6])\s*/?>", "\n", _INVISIBLE.sub(" ", text))
    text = html.unescape(_TAGS.sub(" ", text)) if "<" in text or "&" in text else text
    lines = [" ".join(line.split()) for line in text.splitlines()]
    return "\n".join(line for line in lines if line)


_CHARREF = re.compile(rb"&#(?:[xX]0*([0-9a-fA-F]+)|0*([0-9]+));")


def _unwritable(match: re.Match[bytes]) -> bytes:
    """``&#xFFFD;`` for a reference to a surrogate or past U+10FFFF (no text can hold it: feedparser's loose
    parser raised on ``&#xD800;``, failing the whole feed), the reference itself otherwise."""
    hexa, decimal = match.group(1), match.group(2)
    if len(hexa or decimal) > 8:
        return b"&#xFFFD;"
    code = int(hexa, 16) if hexa is not None else int(decimal)
    return b"&#xFFFD;" if 0xD800 <= code <= 0xDFFF or code > 0x10FFFF else match.group(0)


def _safe_charrefs(content: bytes) -> bytes:
    return _CHARREF.sub(_unwritable, content) if b"&#" in content else content


def run_feedparser(content: bytes, base_url: str, headers: dict[str, str] | None = None, *,
                   markup: bool = False) -> Any:
    """feedparser's result for fetched bytes, given the response's headers (it never fetches anything).

    We keep only the text of a feed's HTML (``plain_text``), so by default feedparser neither sanitises it
    nor resolves the URIs inside it: two more HTML parses of every summary and content, a third of the time
    of parsing a feed, for markup we drop. ``markup=True`` does both, as feedparser does by default."""
    headers = headers or {}
    # Without a Content-Type, feedparser flags even a well-formed feed as bozo; application/xml lets the
    # document's own XML declaration decide the charset (RFC 7303 §3.2). Relative links resolve against the
    # response's Content-Location when it sent one (RFC 9110 §8.7), else the URL fetched.
    # Content-Language is the default language of the entries (feedparser's *_detail.language).
    response_headers = {"content-location": urljoin(base_url, headers.get("content-location") or ""),
                        "content-type": headers.get("content-type") or "application/xml",
                        **({"content-language": headers["content-language"]} if "content-language" in headers else {})}
    return feedparser.parse(_safe_charrefs(content), response_headers=response_headers, sanitize_html=markup,
                            resolve_relative_uris=markup)


def _entry(base_url: str, link: str, guid: str, title: str, published: dt.datetime | None, summary: str,
           content: str) -> FeedEntry:
    """An entry with its identity: the canonical link; without a usable link, the guid, else title and date.
    Lone surrogates (``&#xD800;`` in a title), which no UTF-8 writer can store, become U+FFFD."""
    link, guid, title = without_surrogates(link), without_surrogates(guid), without_surrogates(title)
    summary, content = without_surrogates(summary), without_surrogates(content)
    try:
        url = urljoin(base_url, link) if link else ""
        canonical = canonical_url(url) if url and urlsplit(url).scheme in ("http", "https") else ""
    except ValueError:  # a malformed link (bad port, broken IPv6 host): treat the entry as having none
        canonical = ""
    if not canonical:
        url = ""
        basis = guid or f"{title}|{published.isoformat() if published else ''}"
        canonical = f"urn:news-monitor:{hashlib.sha256(f'{base_url}|{basis}'.encode()).hexdigest()[:32]}"
    return FeedEntry(entry_id=(guid or url or canonical).strip(), url=url, canonical_url=canonical, title=title,
                     published_at=published, summary=summary, content=content)


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
    """Entries of an RSS/Atom/RDF document or a JSON Feed. Raises ParseError('not_a_feed') when it holds no
    feed, ParseError('empty_body') when it holds nothing."""
    if not content.strip():
        raise ParseError("empty_body", f"{base_url} returned an empty body")
    kind = (headers or {}).get("content-type", "").split(";")[0].strip().lower()
    # The body decides over the label: servers send JSON Feeds as text/plain and RSS as application/json.
    start = content.removeprefix(_UTF8_BOM).lstrip()[:1]
    if start == b"{" or (kind in _JSON_TYPES and start != b"<"):
        return parse_json_feed(content, base_url)
    parsed = run_feedparser(content, base_url, headers)
    if not parsed.get("version") and not parsed.entries:
        problem = parsed.get("bozo_exception")
        detail = f": {' '.join(str(problem).split())[:150]}" if problem else ""
        raise ParseError("not_a_feed", f"{base_url} is not an RSS or Atom feed{detail}")
    entries: list[FeedEntry] = []
    skipped: Counter[str] = Counter()
    for entry in read_entries(parsed, base_url):
        _keep(entry, entries, skipped)
    return ParsedFeed(
        title=without_surrogates(plain_text(parsed.feed.get("title", ""))), version=parsed.get("version", ""),
        bozo=bool(parsed.get("bozo")), bozo_message=str(parsed.get("bozo_exception", ""))[:200], entries=entries,
        ttl=_ttl(parsed.feed.get("ttl")), skipped=dict(skipped),
    )


def read_entries(parsed: Any, base_url: str) -> list[FeedEntry | None]:
    """Every entry of feedparser's result, in order, each read on its own: None for one that cannot be read
    (it costs only itself). Articles or not: ``parse_feed`` keeps the articles."""
    entries: list[FeedEntry | None] = []
    for item in parsed.entries:
        try:
            contents = item.get("content") or []
            entries.append(_entry(base_url, str(item.get("link") or "").strip(), str(item.get("id") or ""),
                                  _title(item), _date(item), plain_text(item.get("summary", "")),
                                  plain_text(" ".join(c.get("value", "") for c in contents))))
        except (ValueError, TypeError, AttributeError, UnicodeError):
            entries.append(None)
    return entries


def _title(item: Any) -> str:
    """The title as the feed declares it: text is already text once feedparser has decoded it ("Nice
    &lt;gorilla&gt;" is the title "Nice <gorilla>", not a tag to strip); HTML and XHTML titles lose their markup."""
    title = item.get("title", "")
    if str((item.get("title_detail") or {}).get("type", "")).lower() == "text/plain":
        return " ".join(str(title).split())
    return plain_text(title).replace("\n", " ")


def is_article(entry: FeedEntry) -> bool:
    """An entry is an article when it has something to show or read: a title, a link or some text."""
    return bool(entry.title.strip() or entry.url or entry.summary.strip() or entry.content.strip())


def _keep(entry: FeedEntry | None, entries: list[FeedEntry], skipped: Counter[str]) -> None:
    """Add ``entry`` if it is an article; count it by reason if not."""
    if entry is None:
        skipped["bad_entry"] += 1
    elif not is_article(entry):
        skipped["empty_entry"] += 1
    else:
        entries.append(entry)


# -- JSON Feed (https://www.jsonfeed.org/version/1.1/): feedparser does not read it --------------------------

_JSON_TYPES = {"application/feed+json", "application/json", "text/json"}
_JSON_VERSION = re.compile(r"https://jsonfeed\.org/version/1(?:\.(\d{1,3}))?/?")
_JSON_LOOSE_VERSION = re.compile(r"(?:https?://(?:www\.)?jsonfeed\.org/version/)?v?1(?:\.(\d{1,3}))?/?")
_UTF8_BOM = b"\xef\xbb\xbf"
_JSON_KINDS = {dict: "object", list: "array", str: "string", int: "number", float: "number", bool: "boolean"}


def _coerce_id(value: object) -> object:
    # The spec: "If an id is presented as a number or other type, a JSON Feed reader must coerce it to a string."
    # Numbers are; null, booleans, lists and objects are no id at all.
    return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


def _non_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("an item id must not be blank")
    return value.strip()


class _JsonFeedModel(BaseModel):
    model_config = ConfigDict(extra="ignore")
    version: str
    title: str | None = None
    home_page_url: str | None = None
    feed_url: str | None = None
    items: list[Any]


_OPTIONAL_FEED_FIELDS = {"title", "home_page_url", "feed_url"}


class _JsonItemModel(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: Annotated[str, BeforeValidator(_coerce_id), AfterValidator(_non_blank)]
    url: str | None = None
    external_url: str | None = None
    title: str | None = None
    content_html: str | None = None
    content_text: str | None = None
    summary: str | None = None
    date_published: str | None = None
    date_modified: str | None = None


def _json_kind(value: object) -> str:
    return _JSON_KINDS.get(type(value), "null")


def _problem(error: Any, where: str = "") -> str:
    """One pydantic error as a line: the path of the value, then what is wrong with it."""
    path = ".".join([*([where] if where else []), *(str(part) for part in error["loc"])])
    return f"{path or 'document'}: {error['msg']}"


def _not_a_json_feed(base_url: str, problem: str) -> ParseError:
    return ParseError("not_a_feed", f"{base_url} is not a JSON Feed: {problem}")


def _validate_json_feed(document: dict[str, Any], base_url: str) -> tuple[_JsonFeedModel, list[str]]:
    """The feed's top level. A wrong optional field (a title that is not text) is dropped and reported rather
    than costing every item; a wrong version or items is not a JSON Feed."""
    try:
        return _JsonFeedModel.model_validate(document), []
    except ValidationError as exc:
        errors = exc.errors()
    fatal = [error for error in errors if not error["loc"] or error["loc"][0] not in _OPTIONAL_FEED_FIELDS]
    if fatal:
        raise _not_a_json_feed(base_url, _problem(fatal[0])) from None
    dropped = {error["loc"][0] for error in errors}
    kept = {key: value for key, value in document.items() if key not in dropped}
    return _JsonFeedModel.model_validate(kept), [_problem(error) for error in errors]


def parse_json_feed(content: bytes, base_url: str) -> ParsedFeed:
    """A JSON Feed 1.x, validated. A document that is not one raises ParseError('not_a_feed'); an item that
    breaks the spec (no id, a title that is not text...) is skipped and the feed marked bozo."""
    try:
        document = orjson.loads(content.removeprefix(_UTF8_BOM))  # RFC 8259 §8.1: a reader may ignore a BOM
    except orjson.JSONDecodeError as exc:
        raise _not_a_json_feed(base_url, f"invalid JSON ({exc})") from None
    if not isinstance(document, dict):
        raise _not_a_json_feed(base_url, f"the document is a JSON {_json_kind(document)}, not an object")
    feed, problems = _validate_json_feed(document, base_url)
    version = _json_version(feed.version, problems)
    if version is None:
        raise ParseError("not_a_feed", f"{base_url} is not a JSON Feed 1.x: its version is {feed.version[:80]!r}")
    entries: list[FeedEntry] = []
    skipped: Counter[str] = Counter()
    base = _json_base(feed, base_url)
    for index, raw in enumerate(feed.items):
        if not isinstance(raw, dict):
            problems.append(f"items[{index}]: a JSON {_json_kind(raw)}, not an object")
            continue
        try:
            item = _JsonItemModel.model_validate(raw)
        except ValidationError as exc:
            problems.append(_problem(exc.errors()[0], f"items[{index}]"))
            skipped["bad_entry"] += 1
            continue
        _keep(_json_entry(item, base), entries, skipped)
    return ParsedFeed(title=without_surrogates(plain_text(feed.title or "").replace("\n", " ")), version=version,
                      bozo=bool(problems), bozo_message="; ".join(problems)[:200], entries=entries,
                      skipped=dict(skipped))


def _json_version(declared: str, problems: list[str]) -> str | None:
    """``json1`` or ``json11`` from the spec's version URL. Forms seen in the wild ("1.0", "1.1", "1",
    "http://" for "https://", "version/1.0") are read as the version they name and reported (the feed is
    bozo); anything else is no JSON Feed 1.x."""
    text = declared.strip()
    matched = _JSON_VERSION.fullmatch(text)
    if matched is not None and matched.group(1) != "0":
        return f"json1{matched.group(1) or ''}"
    loose = _JSON_LOOSE_VERSION.fullmatch(text.lower())
    if loose is None:
        return None
    minor = loose.group(1) if loose.group(1) and loose.group(1) != "0" else ""
    named = f"1.{minor}" if minor else "1"
    problems.append(f"version: {text[:40]!r} is not the spec's version URL (read as JSON Feed {named})")
    return f"json1{minor}"


def _json_base(feed: _JsonFeedModel, base_url: str) -> str:
    """What a relative item URL is read against: the site's home page, else the feed's own URL, else the URL
    fetched. (Item URLs should be absolute; some feeds give paths.)"""
    for candidate in (feed.home_page_url, feed.feed_url):
        url = _http_url(base_url, candidate.strip()) if candidate and candidate.strip() else None
        if url:
            return url
    return base_url


def _json_entry(item: _JsonItemModel, base: str) -> FeedEntry:
    title = plain_text(item.title or "").replace("\n", " ")
    published = _json_date(item.date_published) or _json_date(item.date_modified)
    # content_html is what the publisher means readers to see; content_text is its plain alternative.
    content = plain_text(item.content_html) if item.content_html else " ".join((item.content_text or "").split())
    # url is the item's permalink; external_url, for link posts, the page it talks about.
    link = (item.url or item.external_url or "").strip()
    return _entry(base, link, item.id, title, published, plain_text(item.summary or ""), content)


def _json_date(value: str | None) -> dt.datetime | None:
    """An RFC 3339 date, in UTC; None when absent or unreadable (a date is optional in JSON Feed). Some feeds
    copy their RSS dates (RFC 822) unchanged: those are read too."""
    text = (value or "").strip()
    if not text:
        return None
    try:
        parsed = dt.datetime.fromisoformat(text.upper())  # RFC 3339 §5.6 allows a lower-case "t" and "z"
    except ValueError:
        try:
            parsed = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
    try:
        return parsed.replace(tzinfo=dt.UTC) if parsed.tzinfo is None else parsed.astimezone(dt.UTC)
    except OverflowError:  # year 1 or 9999 shifted out of range by its offset
        return None


def _ttl(value: object) -> float | None:
    try:
        minutes = float(str(value).strip())
    except ValueError:
        return None
    return minutes * 60 if 0 < minutes < 1e6 else None


_FEED_TYPES = {"application/rss+xml", "application/atom+xml", "application/feed+json", "application/json",
               "application/rdf+xml", "application/xml", "text/xml"}


def find_feed_links(content: bytes, base_url: str) -> list[str]:
    """Feed URLs an HTML page announces (``<link rel="alternate" type="application/rss+xml" href=...>``), absolute,
    in document order, without duplicates. Nothing is fetched; garbage gives an empty list."""
    try:
        document = lxml.html.document_fromstring(content)
    except (lxml.etree.LxmlError, ValueError, TypeError):
        return []
    base = _http_url(base_url, (document.xpath("string(//base/@href)") or "").strip()) or base_url
    found: list[str] = []
    for link in document.iter("link"):
        rel = {token.lower() for token in (link.get("rel") or "").split()}
        kind = (link.get("type") or "").split(";")[0].strip().lower()
        href = (link.get("href") or "").strip()
        url = _http_url(base, href) if "alternate" in rel and kind in _FEED_TYPES and href else None
        if url and url not in found:
            found.append(url)
    return found


def _http_url(base: str, href: str) -> str | None:
    """href made absolute against base, when that gives a well-formed http(s) URL."""
    try:
        url = urljoin(base, href)
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a port out of range or not a number
    except ValueError:
        return None
    return url if parts.scheme in ("http", "https") and parts.hostname else None


# -- fetching and parsing a feed -------------------------------------------------------------------------


@dataclass
class Fetched:
    """A feed as one poll got it."""

    response: FetchResult
    parsed: ParsedFeed | None  # None for a 304
    moved: dict[str, Any] | None = None  # a FeedMoved payload, when the feed's URL changed for good


def fetch_feed(get: Callable[..., FetchResult], url: str, headers: dict[str, str],
               parse: Callable[[bytes, str, Any], ParsedFeed] | None = None) -> Fetched:
    """GET the feed (with ``get``, the fetcher's) and parse it (with ``parse``, by default ``parse_feed``, here).
    An HTML page that links to a feed is followed once (autodiscovery). Raises FetchError or ParseError."""
    parse = parse or parse_feed
    response = get(url, headers)
    if response.status == 304:
        return Fetched(response, None)
    moved = None
    try:
        parsed = parse(response.content, response.url, response.headers)
    except ParseError as error:
        links = find_feed_links(response.content, response.url) if error.reason == "not_a_feed" else []
        if not links:
            raise
        page = response
        try:
            response = get(links[0])
            parsed = parse(response.content, response.url, response.headers)
        except FeedError as failure:
            raise type(failure)(failure.reason, f"{url} is an HTML page; the feed it links to failed: "
                                             f"{failure.message}", status=failure.status,
                             retry_after=failure.retry_after) from failure
        moved = {"from_url": url, "to_url": response.permanent_url or links[0],
                 "reason": "autodiscovery", "http_status": page.status}
    if moved is None and response.permanent_url:
        moved = {"from_url": url, "to_url": response.permanent_url, "reason": "permanent_redirect",
                 "http_status": next(status for status, _ in response.redirects)}
    return Fetched(response, parsed, moved)
