"""Feeds over real HTTP: feedparser's own test corpus, a real JSON Feed and a real Reuters RSS, each served from
127.0.0.1 and fetched with the product's Fetcher, then parsed with parse_feed.

The feedparser corpus files start with a comment holding ``Header:`` lines (the HTTP headers to serve them
with: the ``http_*`` charset cases depend on them) and an ``Expect:`` line, a Python expression over
feedparser's result that feedparser's own suite evaluates. Files without Header lines are served without a
Content-Type, as a server that sends none; run_feedparser then assumes application/xml, which is what
feedparser's suite serves them as. We serve every file of the folder, and:
- parse_feed never raises anything but a ParseError, and every entry's link and date are feedparser's;
- where ``Expect`` speaks of entries, it holds for feedparser run on the bytes and headers our fetch
  delivered (the fetch neither alters the body nor loses a header that decides the charset or the base URL);
- and it holds for OUR entries, shown to the expression in feedparser's shape (see ``shaped``), wherever it
  reads only fields a FeedEntry carries. The few files where we differ on purpose are listed with why.
"""

from __future__ import annotations

import builtins
import calendar
import dataclasses
import datetime as dt
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import feedparser
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from monitor.config import NetworkSettings
from monitor.errors import ParseError
from monitor.ingest.fetch import Fetcher
from monitor.ingest.parse import (
    FeedEntry,
    ParsedFeed,
    is_article,
    parse_feed,
    plain_text,
    read_entries,
    run_feedparser,
)
from tests.conftest import SHARED

FEEDPARSER_HOST = "http://127.0.0.1:8097"  # where feedparser's suite serves the corpus; some Expect lines name it
_HEADER = re.compile(r"^\s*Header:\s*([^:]+):\s?(.*?)\s*$", re.MULTILINE)
_EXPECT = re.compile(r"^\s*Expect:\s*(.+?)\s*$", re.MULTILINE)


def comment(raw: bytes) -> str:
    """The leading comment of a corpus file, decoded leniently (some files are UTF-16 or UTF-32)."""
    for encoding in ("utf-8", "utf-16", "utf-32"):
        try:
            text = raw.decode(encoding)
        except UnicodeDecodeError:
            continue
        if "<!--" in text:
            return text[text.index("<!--"):text.find("-->")]
    return raw[:4000].decode("latin-1", errors="replace")


@pytest.fixture(scope="module")
def corpus() -> Iterator[tuple[str, list[tuple[Path, str]]]]:
    """Every corpus file served at its own path with its Header lines; yields (base URL, [(file, path)])."""
    root = SHARED / "data" / "feeds" / "feedparser"
    if not root.is_dir():
        pytest.skip(f"../shared test data not present at {SHARED}")
    files = sorted(p for p in root.rglob("*") if p.is_file())
    routes: dict[str, tuple[bytes, dict[str, str]]] = {}
    served: list[tuple[Path, str]] = []
    for path in files:
        raw = path.read_bytes()
        headers = {name.strip(): value for name, value in _HEADER.findall(comment(raw))}
        url_path = "/" + path.relative_to(root).as_posix()
        routes[url_path] = (raw, headers)
        served.append((path, url_path))
    server = HTTPServer(host="127.0.0.1", port=0)

    def handler(req: Request) -> Response:
        body, headers = routes[req.path]
        response = Response(body, status=200)
        response.headers.pop("Content-Type", None)  # only what the file's comment says
        for name, value in headers.items():
            response.headers[name] = value
        return response

    for url_path in routes:
        server.expect_request(url_path).respond_with_handler(handler)
    server.start()
    try:
        yield server.url_for("").rstrip("/"), served
    finally:
        server.clear()
        if server.is_running():
            server.stop()


@pytest.fixture(scope="module")
def fetcher() -> Iterator[Fetcher]:
    with Fetcher(NetworkSettings(allow_private_addresses=True, total_timeout=10)) as client:
        yield client


def fetch(fetcher: Fetcher, url: str) -> tuple[bytes, dict[str, str]]:
    result = fetcher.get(url)
    return result.content, result.headers


def expectation(path: Path) -> str | None:
    match = _EXPECT.search(comment(path.read_bytes()))
    return match.group(1) if match else None


def utc(struct: Any) -> dt.datetime | None:
    return dt.datetime.fromtimestamp(calendar.timegm(struct), dt.UTC) if struct else None


def test_every_corpus_file_is_fetched_and_parsed_or_refused_with_a_reason(corpus, fetcher) -> None:
    """Nothing escapes but a ParseError with a reason; and every entry's link and date are the ones feedparser
    finds with its default settings (parse_feed runs it without sanitising or resolving markup)."""
    base, served = corpus
    assert len(served) > 470  # every file of the corpus folder, the LICENSE too
    outcomes: dict[str, int] = {}
    compared = {"links": 0, "dates": 0}
    for path, url_path in served:
        url = base + url_path
        content, headers = fetch(fetcher, url)
        assert content == path.read_bytes(), url_path  # the fetch delivers the bytes as served
        try:
            parsed = parse_feed(content, url, headers)
        except ParseError as error:
            assert error.reason in ("not_a_feed", "empty_body"), (url_path, error.reason)
            outcomes[error.reason] = outcomes.get(error.reason, 0) + 1
            continue
        outcomes["parsed"] = outcomes.get("parsed", 0) + 1
        theirs = run_feedparser(content, url, headers, markup=True).entries
        # every entry feedparser finds is read, and kept as an article or skipped as empty (no title, link or text)
        read = read_entries(run_feedparser(content, url, headers), url)
        assert None not in read and len(read) == len(theirs), url_path
        assert [entry for entry in read if entry is not None and is_article(entry)] == parsed.entries, url_path
        empty = len(read) - len(parsed.entries)
        assert parsed.skipped == ({"empty_entry": empty} if empty else {}), url_path
        outcomes["entries_skipped"] = outcomes.get("entries_skipped", 0) + empty
        for mine, their in zip(read, theirs, strict=True):
            assert mine.entry_id and mine.canonical_url, url_path
            link = (their.get("link") or "").strip()
            if link.startswith(("http://", "https://")):
                assert mine.url == link, url_path
                compared["links"] += 1
            when = their.get("published_parsed") or their.get("updated_parsed") or their.get("created_parsed")
            assert mine.published_at == utc(when), url_path
            compared["dates"] += when is not None
    print(f"\ncorpus files served {len(served)}: {outcomes}; entries compared with feedparser's {compared}")
    assert outcomes["parsed"] > 0.9 * len(served), outcomes
    assert compared["links"] >= 30 and compared["dates"] >= 15, compared  # most files test feed-level elements


# Expect lines that fail with the installed feedparser (6.0.x) even on the file itself, served as its comment
# says: the corpus comes from feedparser's development branch, whose behaviour moved on in these cases.
NEWER_FEEDPARSER = {
    "/wellformed/atom10/entry_link_no_href_link_priority.xml",  # link priority among rel-less links
    "/wellformed/itunes/itunes_item_explicit_false.xml",  # itunes:explicit "false" read as False
    "/wellformed/node_precedence/atom10_id.xml",  # which of two ids wins
    "/wellformed/rss/item_description_not_a_doctype.xml",  # a "<!" that is not a doctype
}


def evaluate(expect: str, result: Any) -> Any:
    """An Expect line over feedparser's own result, as feedparser's suite evaluates it."""
    namespace = dict(result)
    namespace.setdefault("bozo_exception", None)
    try:
        return eval(expect, {"feedparser": feedparser}, namespace)  # noqa: S307 - the corpus's own test lines
    except Exception as exc:  # noqa: BLE001 - an expression that raises simply does not hold
        return f"{type(exc).__name__}: {exc}"


# -- our entries in feedparser's shape --------------------------------------------------------------------
#
# Each Expect line is evaluated once more, with ``entries`` and ``bozo`` taken from OUR ParsedFeed. Only the
# fields FeedEntry carries are exposed; an Expect line that reads anything else (enclosures, tags, authors,
# a second content block, feed-level keys...) is "not carried" and is not counted as checked.
#
# Where we differ from feedparser by design:
# - title, summary and content are plain text (HTML dropped, entities read), so a text field equals an
#   expected value when it equals the plain_text of it; titles are one line;
# - FeedEntry keeps one date, the first of published, updated, created: each *_parsed key gives that date;
# - content is every content block joined, so only content[0] is exposed.

_KIND = {"title": "title", "title_detail": "title", "link": "link", "summary": "summary", "description": "summary",
         "summary_detail": "summary", "content": "content", "id": "id", "guid": "id", "published_parsed": "date",
         "updated_parsed": "date", "created_parsed": "date"}


class NotCarried(Exception):
    """The Expect line reads something ParsedFeed does not carry."""


class Plain(str):
    """Our plain-text field: equal to an expected value whose plain text it is."""

    one_line = False

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, str):
            return NotImplemented
        expected = plain_text(other)
        return str.__eq__(self, expected.replace("\n", " ") if self.one_line else expected)

    def __ne__(self, other: object) -> bool:
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    __hash__ = str.__hash__


class PlainLine(Plain):
    one_line = True


class Shaped(dict):
    """A feedparser-style mapping (items and attributes) over some of our fields; any other key is not carried."""

    def __init__(self, fields: dict[str, Any], seen: set[str]) -> None:
        super().__init__(fields)
        self._seen = seen

    def __missing__(self, key: str) -> Any:
        raise NotCarried(key)

    def __getitem__(self, key: str) -> Any:
        self._seen.add(_KIND.get(key, key))
        return super().__getitem__(key)

    def get(self, key: str, default: Any = None) -> Any:
        return self[key]

    def __contains__(self, key: object) -> bool:
        if key not in self.keys():
            raise NotCarried(str(key))
        return True

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return self[name]


class FirstOnly(list):
    def __getitem__(self, index: Any) -> Any:
        if index != 0:
            raise NotCarried(f"content[{index}]")
        return super().__getitem__(index)


def shaped(entry: FeedEntry, seen: set[str]) -> Shaped:
    date = entry.published_at.utctimetuple() if entry.published_at else None
    title, summary = PlainLine(entry.title), Plain(entry.summary)
    return Shaped({
        "title": title, "title_detail": Shaped({"value": title}, set()),
        "summary": summary, "description": summary, "summary_detail": Shaped({"value": summary}, set()),
        "content": FirstOnly([Shaped({"value": Plain(entry.content)}, set())]),
        "link": entry.url, "id": entry.entry_id, "guid": entry.entry_id,
        "published_parsed": date, "updated_parsed": date, "created_parsed": date,
    }, seen)


class _OursOnly(dict):
    """The names an Expect line may read: ours, Python's builtins; anything else feedparser has and we do not."""

    def __missing__(self, name: str) -> Any:
        if hasattr(builtins, name):
            raise KeyError(name)  # falls through to the builtins
        raise NotCarried(name)


def evaluate_ours(expect: str, parsed: ParsedFeed) -> tuple[bool | None, set[str]]:
    """(True/False, the kinds of field read), or (None, ...) when the line reads what we do not carry."""
    seen: set[str] = set()
    entries = [shaped(entry, seen) for entry in parsed.entries]
    scope = {"__builtins__": builtins, "entries": entries, "bozo": parsed.bozo}  # also seen by comprehensions
    try:
        holds = eval(expect, scope, _OursOnly(scope))  # noqa: S307 - the corpus's own test lines
    except (NotCarried, NameError):
        return None, seen
    except (IndexError, KeyError, TypeError):  # e.g. fewer entries than feedparser finds
        return False, seen
    return bool(holds), seen


# Files whose Expect line holds for feedparser but not for our entries, with why that is right for us.
OURS_DIFFER = {
    # "<>" in a CDATA description: feedparser's sanitiser drops it as an empty tag; a browser shows it as text
    # (an HTML "<" not followed by a letter is text), and so does plain_text.
    "/encoding/bozo_linenoise.xml": "bozo and entries[0].summary == '\\xe2\\u20ac\\u2122\\xe2\\u20ac\\x9d\\u0160'",
    # A title that declares itself text (Atom 0.3's default mode) but holds markup: we keep the declared text as
    # feedparser gives it, "<p>History of the &lt;blink&gt; tag</p>"; the comparison above expects its plain_text.
    "/wellformed/atom/entry_title_base64_2.xml":
        "not bozo and entries[0]['title'] == '<p>History of the &lt;blink&gt; tag</p>'",
}


def test_expect_lines_about_entries_hold_for_our_entries(corpus, fetcher) -> None:
    base, served = corpus
    checked: dict[str, int] = {}
    not_carried = feedparser_fails = 0
    not_holding: set[str] = set()
    ours_fail: dict[str, str] = {}
    for path, url_path in served:
        expect = expectation(path)
        if not expect or "entries[" not in expect:
            continue
        raw = path.read_bytes()
        declared = {name.strip().lower(): value for name, value in _HEADER.findall(comment(raw))}
        # feedparser's suite serves .xml files as application/xml unless the comment says otherwise.
        direct = feedparser.parse(raw, response_headers={"content-location": FEEDPARSER_HOST + url_path,
                                                         "content-type": "application/xml", **declared})
        url = base + url_path
        content, headers = fetch(fetcher, url)
        expect_here = expect.replace(FEEDPARSER_HOST, base)
        fetched = run_feedparser(content, url, headers, markup=True)  # feedparser's defaults, as its suite
        holds = evaluate(expect_here, fetched)
        # What we fetched reads exactly as the file served as its comment says: the fetch is transparent.
        assert holds == evaluate(expect, direct), (url_path, expect, holds)
        if holds is not True:
            not_holding.add(url_path)
            feedparser_fails += 1
            continue
        parsed = parse_feed(content, url, headers)
        assert len(parsed.entries) + sum(parsed.skipped.values()) == len(fetched.entries), url_path
        # Expect lines name entries by position: read them on every entry, articles or not
        parsed = dataclasses.replace(parsed, entries=read_entries(run_feedparser(content, url, headers), url))
        ours, kinds = evaluate_ours(expect_here, parsed)
        if ours is None:
            not_carried += 1
        elif ours:
            for kind in kinds or {"entries"}:
                checked[kind] = checked.get(kind, 0) + 1
        else:
            ours_fail[url_path] = expect
    print(f"\nExpect lines about entries: checked on our entries {checked}, reading fields we do not carry "
          f"{not_carried}, failing for feedparser 6 itself {feedparser_fails}, differing {len(ours_fail)}")
    assert not_holding == NEWER_FEEDPARSER
    assert ours_fail == OURS_DIFFER
    assert sum(checked.values()) >= 100, checked
    for kind, least in {"title": 30, "link": 6, "summary": 50, "content": 8, "id": 4, "date": 3}.items():
        assert checked.get(kind, 0) >= least, (kind, checked)


def test_http_charset_headers_decide_the_encoding(corpus, fetcher) -> None:
    """The http_* encoding cases: served with their Content-Type, their Expect lines hold."""
    base, served = corpus
    cases = [(p, u) for p, u in served if p.parent.name == "encoding" and p.name.startswith("http_")]
    assert len(cases) >= 40
    for path, url_path in cases:
        url = base + url_path
        content, headers = fetch(fetcher, url)
        assert "content-type" in headers, url_path
        expect = expectation(path)
        assert expect, url_path
        assert evaluate(expect, run_feedparser(content, url, headers, markup=True)) is True, (url_path, expect)


# -- real feeds -------------------------------------------------------------------------------------------


@pytest.fixture
def serve(httpserver: HTTPServer):
    def add(path: str, body: bytes, content_type: str) -> str:
        httpserver.expect_request(path).respond_with_data(body, content_type=content_type)
        return httpserver.url_for(path)

    return add


def test_real_json_feed_over_http(shared_dir: Path, serve, fetcher) -> None:
    raw = (shared_dir / "data/feeds/jsonfeed-and-small/feed.json").read_bytes()
    document = json.loads(raw)
    url = serve("/npr/feed.json", raw, "application/json")
    content, headers = fetch(fetcher, url)
    parsed = parse_feed(content, url, headers)
    assert parsed.version == "json1" and not parsed.bozo
    assert parsed.title == document["title"]
    assert len(parsed.entries) == len(document["items"]) > 0
    first, expected = parsed.entries[0], document["items"][0]
    assert first.entry_id == str(expected["id"])
    assert first.url == expected["url"]
    assert first.title == expected["title"]
    assert first.published_at == dt.datetime.fromisoformat(expected["date_published"]).astimezone(dt.UTC)
    assert first.summary == expected["summary"]
    # Tracking parameters are not part of the article's identity.
    assert "utm_" in first.url and "utm_" not in first.canonical_url
    # Sniffed without the JSON content type too.
    assert parse_feed(content, url, {"content-type": "text/plain"}).entries == parsed.entries


def test_real_reuters_rss_over_http(shared_dir: Path, serve, fetcher) -> None:
    raw = (shared_dir / "data/feeds/real_world/reuters_worldNews_2018-01-30.xml").read_bytes()
    items = ElementTree.fromstring(raw).findall("./channel/item")
    url = serve("/reuters/worldNews", raw, "text/xml; charset=UTF-8")
    content, headers = fetch(fetcher, url)
    parsed = parse_feed(content, url, headers)
    assert parsed.version == "rss20"
    assert len(parsed.entries) == len(items) == 10
    for entry, item in zip(parsed.entries, items, strict=True):
        assert entry.title == item.findtext("title").strip()
        assert entry.url == item.findtext("link").strip()
        published = dt.datetime.strptime(item.findtext("pubDate").strip(), "%a, %d %b %Y %H:%M:%S %z")
        assert entry.published_at == published.astimezone(dt.UTC)
