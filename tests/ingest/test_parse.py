"""Tests for monitor.ingest.parse: canonical URLs and parse_feed on inline documents and the shared feed corpus."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from monitor.errors import ParseError
from monitor.ingest.parse import (
    FeedEntry,
    ParsedFeed,
    canonical_url,
    find_feed_links,
    parse_feed,
    plain_text,
)
from tests.builders import json_feed

RSS_HEADERS = {"content-type": "application/rss+xml; charset=utf-8"}
ATOM_HEADERS = {"content-type": "application/atom+xml"}
UTC = dt.UTC


# -- canonical_url ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "expected"), [
    # tracking parameters and the fragment go, the other parameters stay in their order
    ("https://example.com/story?utm_source=rss&id=42&utm_medium=feed&page=2&fbclid=IwAR0xyz#comments",
     "https://example.com/story?id=42&page=2"),
    ("https://example.com/a?UTM_Campaign=x&Utm_Term=y&keep=1", "https://example.com/a?keep=1"),
    ("https://example.com/a?gclid=1&mc_cid=2&mc_eid=3&ocid=4&cmpid=5&ref_src=6&igshid=7&at_medium=8&x=9",
     "https://example.com/a?x=9"),
    ("https://example.com/a?z=3&a=1&m=2", "https://example.com/a?z=3&a=1&m=2"),
    ("https://example.com/a?tag=b&tag=a&tag=b", "https://example.com/a?tag=b&tag=a&tag=b"),
    ("https://example.com/a?utmost=1&ref=home&utm=2", "https://example.com/a?utmost=1&ref=home&utm=2"),
    ("https://example.com/a?a=&utm_source=x", "https://example.com/a?a="),
    ("https://example.com/a?utm_source=x&fbclid=y", "https://example.com/a"),
    ("https://example.com/a#section-2", "https://example.com/a"),
    # scheme and host lower-cased, the path left alone
    ("HTTPS://News.Example.COM/World/Story.HTML", "https://news.example.com/World/Story.HTML"),
    ("HtTp://EXAMPLE.com/", "http://example.com/"),
    # default ports dropped, others kept
    ("http://example.com:80/a", "http://example.com/a"),
    ("https://example.com:443/a", "https://example.com/a"),
    ("http://example.com:443/a", "http://example.com:443/a"),
    ("https://example.com:80/a", "https://example.com:80/a"),
    ("https://example.com:8443/a?b=1", "https://example.com:8443/a?b=1"),
    # an empty path becomes "/", surrounding whitespace goes
    ("https://example.com", "https://example.com/"),
    ("  https://example.com/a?b=1  ", "https://example.com/a?b=1"),
    # an IPv6 literal keeps its brackets
    ("http://[2001:DB8::1]:8080/a", "http://[2001:db8::1]:8080/a"),
    ("http://[2001:db8::1]:80/a", "http://[2001:db8::1]/a"),
])
def test_canonical_url(raw, expected):
    assert canonical_url(raw) == expected
    assert canonical_url(expected) == expected  # idempotent


def test_canonical_url_makes_tracking_variants_of_one_story_equal():
    variants = [
        "https://www.example.com/news/123?utm_source=twitter",
        "HTTPS://WWW.EXAMPLE.COM:443/news/123#top",
        "https://www.example.com/news/123?fbclid=abc&utm_medium=social",
    ]
    assert {canonical_url(v) for v in variants} == {"https://www.example.com/news/123"}
    assert canonical_url("https://www.example.com/news/123?id=1") != canonical_url("https://www.example.com/news/123")


# -- parse_feed: inline documents ------------------------------------------------------------------------

RSS = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0">
<channel>
  <title>Example &amp; Co News</title>
  <link>https://news.example.com/</link>
  <description>Test feed</description>
  <item>
    <title>First &lt;em&gt;story&lt;/em&gt;</title>
    <link>/world/first-story?utm_source=rss&amp;id=7</link>
    <guid isPermaLink="false">story-1</guid>
    <pubDate>Tue, 10 Jun 2003 04:00:00 +0200</pubDate>
    <description>&lt;p&gt;Hello &lt;b&gt;world&lt;/b&gt; &amp;amp; friends&lt;/p&gt;
      &lt;p&gt;Second paragraph&lt;/p&gt;</description>
  </item>
  <item>
    <title>Second story</title>
    <link>https://news.example.com/world/second</link>
    <guid>https://news.example.com/world/second</guid>
    <pubDate>Wed, 11 Jun 2003 23:30:00 -0500</pubDate>
    <description><![CDATA[Line one<br/>Line two &eacute;t&eacute;]]></description>
  </item>
  <item>
    <title>Relative to the feed's folder</title>
    <link>stories/third.html</link>
    <pubDate>Thu, 12 Jun 2003 09:15:00 GMT</pubDate>
    <description>plain text</description>
  </item>
</channel>
</rss>
"""

ATOM = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <title type="html">Atom &lt;b&gt;Example&lt;/b&gt;</title>
  <id>urn:uuid:60a76c80-d399-11d9-b93c-0003939e0af6</id>
  <updated>2024-05-02T08:00:00Z</updated>
  <entry>
    <title>Published entry</title>
    <link rel="alternate" href="2024/05/first.html?fbclid=abc"/>
    <id>tag:example.org,2024:1</id>
    <published>2024-05-01T12:00:00+02:00</published>
    <updated>2024-05-01T18:00:00+02:00</updated>
    <summary type="html">&lt;p&gt;An &lt;a href="/x"&gt;HTML&lt;/a&gt; summary&lt;/p&gt;</summary>
    <content type="html">&lt;p&gt;Body one.&lt;/p&gt;&lt;ul&gt;&lt;li&gt;point&lt;/li&gt;&lt;/ul&gt;</content>
  </entry>
  <entry>
    <title>Updated only</title>
    <link href="https://other.example.net/Post"/>
    <id>tag:example.org,2024:2</id>
    <updated>2024-05-02T07:30:00-04:00</updated>
    <summary>Plain summary</summary>
  </entry>
  <entry>
    <title>No link at all</title>
    <id>tag:example.org,2024:3</id>
    <updated>2024-05-02T00:00:00Z</updated>
  </entry>
</feed>
"""


def test_rss_20():
    parsed = parse_feed(RSS, "https://news.example.com/feeds/world.xml", RSS_HEADERS)
    assert isinstance(parsed, ParsedFeed)
    assert parsed.version == "rss20"
    assert parsed.title == "Example & Co News"
    assert parsed.bozo is False
    assert len(parsed.entries) == 3
    first, second, third = parsed.entries

    assert first == FeedEntry(
        entry_id="story-1",
        url="https://news.example.com/world/first-story?utm_source=rss&id=7",  # resolved against the site root
        canonical_url="https://news.example.com/world/first-story?id=7",
        title="First story",  # markup in a title becomes text
        published_at=dt.datetime(2003, 6, 10, 2, 0, tzinfo=UTC),
        summary="Hello world & friends\nSecond paragraph",
        content="",
    )
    assert second.entry_id == "https://news.example.com/world/second"
    assert second.url == second.canonical_url == "https://news.example.com/world/second"
    assert second.published_at == dt.datetime(2003, 6, 12, 4, 30, tzinfo=UTC)
    assert second.summary == "Line one\nLine two \u00e9t\u00e9"

    assert third.url == "https://news.example.com/feeds/stories/third.html"  # relative to the feed's folder
    assert third.entry_id == third.url  # no guid: the link is the identity
    assert third.published_at == dt.datetime(2003, 6, 12, 9, 15, tzinfo=UTC)
    for entry in parsed.entries:
        assert entry.published_at.utcoffset() == dt.timedelta(0)


def test_atom_10():
    parsed = parse_feed(ATOM, "https://example.org/blog/feed.atom", ATOM_HEADERS)
    assert parsed.version == "atom10"
    assert parsed.title == "Atom Example"
    assert parsed.bozo is False
    first, second, third = parsed.entries

    assert first.entry_id == "tag:example.org,2024:1"
    assert first.title == "Published entry"
    assert first.url == "https://example.org/blog/2024/05/first.html?fbclid=abc"
    assert first.canonical_url == "https://example.org/blog/2024/05/first.html"
    assert first.published_at == dt.datetime(2024, 5, 1, 10, 0, tzinfo=UTC)  # published wins over updated
    assert first.summary == "An HTML summary"
    assert first.content == "Body one.\npoint"

    assert second.url == "https://other.example.net/Post"
    assert second.canonical_url == "https://other.example.net/Post"
    assert second.published_at == dt.datetime(2024, 5, 2, 11, 30, tzinfo=UTC)  # falls back to updated
    assert second.summary == "Plain summary"
    assert second.content == ""

    # Without a link, the entry gets a stable URN from the feed and its id, and no URL.
    assert third.url == ""
    assert third.canonical_url.startswith("urn:news-monitor:")
    assert third.entry_id == "tag:example.org,2024:3"
    again = parse_feed(ATOM, "https://example.org/blog/feed.atom", ATOM_HEADERS).entries[2]
    assert again.canonical_url == third.canonical_url
    other_feed = parse_feed(ATOM, "https://example.org/other/feed.atom", ATOM_HEADERS).entries[2]
    assert other_feed.canonical_url != third.canonical_url


def test_entry_without_link_or_id_gets_an_identity_from_title_and_date():
    rss = b"""<rss version="2.0"><channel><title>t</title>
      <item><title>A</title><pubDate>Mon, 01 Jan 2024 00:00:00 GMT</pubDate></item>
      <item><title>A</title><pubDate>Tue, 02 Jan 2024 00:00:00 GMT</pubDate></item>
      <item><title>Mail</title><link>mailto:editor@example.com</link></item>
    </channel></rss>"""
    entries = parse_feed(rss, "https://example.com/feed", RSS_HEADERS).entries
    assert [e.url for e in entries] == ["", "", ""]  # a mailto: link is not an article URL
    assert all(e.canonical_url.startswith("urn:news-monitor:") for e in entries)
    assert len({e.canonical_url for e in entries}) == 3


@pytest.mark.filterwarnings("ignore:To avoid breaking existing software:DeprecationWarning")  # feedparser's own
def test_undated_entry_has_no_date():
    rss = b"""<rss version="2.0"><channel><title>t</title>
      <item><title>A</title><link>https://example.com/a</link><pubDate>not a date</pubDate></item>
    </channel></rss>"""
    (entry,) = parse_feed(rss, "https://example.com/feed", RSS_HEADERS).entries
    assert entry.published_at is None


@pytest.mark.parametrize("link", ["http://example.com:99999/story", "http://example.com:abc/story"])
def test_a_malformed_link_does_not_sink_the_feed(link):
    rss = f"""<rss version="2.0"><channel><title>t</title>
      <item><title>Good</title><link>https://example.com/good</link></item>
      <item><title>Bad</title><guid>bad-1</guid><link>{link}</link></item>
    </channel></rss>""".encode()
    good, bad = parse_feed(rss, "https://example.com/feed", RSS_HEADERS).entries
    assert good.url == "https://example.com/good"
    assert bad.title == "Bad"
    assert bad.url == ""
    assert bad.canonical_url.startswith("urn:news-monitor:")


def test_unicode_without_encoding_declaration_is_read_as_utf8():
    rss = """<rss version="2.0"><channel><title>Café Zürich</title>
      <item><title>Привет — naïve</title><link>https://example.com/a</link></item>
    </channel></rss>""".encode()
    for headers in (None, RSS_HEADERS):
        parsed = parse_feed(rss, "https://example.com/feed", headers)
        assert parsed.title == "Café Zürich"
        assert parsed.entries[0].title == "Привет — naïve"


@pytest.mark.parametrize("body", [b"", b"   \n\t  "])
def test_empty_body(body):
    with pytest.raises(ParseError) as info:
        parse_feed(body, "https://example.com/feed")
    assert info.value.reason == "empty_body"


def test_html_page_is_not_a_feed():
    page = b"""<!DOCTYPE html><html><head><title>Welcome</title></head>
      <body><h1>Our news</h1><p>Read <a href="/a">this</a>.</p></body></html>"""
    with pytest.raises(ParseError) as info:
        parse_feed(page, "https://example.com/", {"content-type": "text/html; charset=utf-8"})
    assert info.value.reason == "not_a_feed"
    assert "https://example.com/" in info.value.message


@pytest.mark.parametrize("garbage", [
    bytes(range(256)) * 8,
    b"\x89PNG\r\n\x1a\n" + bytes(range(1, 200)) * 5,
    b"\x1f\x8b\x08\x00" + b"\xff\xfe\x00\x01" * 300,
])
def test_binary_garbage_is_not_a_feed(garbage):
    with pytest.raises(ParseError) as info:
        parse_feed(garbage, "https://example.com/feed")
    assert info.value.reason == "not_a_feed"


def test_truncated_xml_still_yields_its_entries_and_is_bozo():
    cut = RSS[:RSS.index(b"<title>Relative to")]  # stops inside the third item
    parsed = parse_feed(cut, "https://news.example.com/feeds/world.xml", RSS_HEADERS)
    assert parsed.bozo is True
    assert parsed.bozo_message
    assert [e.title for e in parsed.entries[:2]] == ["First story", "Second story"]
    assert parsed.entries[0].canonical_url == "https://news.example.com/world/first-story?id=7"


# -- parse_feed: the shared corpus -----------------------------------------------------------------------


def check_entry(entry: FeedEntry) -> None:
    assert isinstance(entry.title, str) and isinstance(entry.summary, str) and isinstance(entry.content, str)
    assert entry.entry_id
    assert entry.canonical_url.startswith(("http://", "https://", "urn:news-monitor:"))
    assert entry.url == "" or entry.url.startswith(("http://", "https://"))
    assert entry.published_at is None or entry.published_at.utcoffset() == dt.timedelta(0)


def test_reuters_world_news(shared_dir: Path):
    path = shared_dir / "data/feeds/real_world/reuters_worldNews_2018-01-30.xml"
    parsed = parse_feed(path.read_bytes(), "http://feeds.reuters.com/Reuters/worldNews", RSS_HEADERS)
    assert parsed.version == "rss20"
    assert parsed.title == "Reuters: World News"
    assert len(parsed.entries) == 10
    for entry in parsed.entries:
        check_entry(entry)
        assert entry.title
        assert entry.url.startswith("http://feeds.reuters.com/")
        assert entry.published_at is not None
        assert entry.published_at.date() in (dt.date(2018, 1, 30), dt.date(2018, 1, 31))
    assert len({e.canonical_url for e in parsed.entries}) == 10
    assert parsed.entries[0].title == "U.S. general says North Korea not demonstrated all components of ICBM"


def test_small_atom_and_rss(shared_dir: Path):
    folder = shared_dir / "data/feeds/jsonfeed-and-small"
    atom = parse_feed((folder / "feed1.atom").read_bytes(), "http://example.org/feed.atom", ATOM_HEADERS)
    assert atom.version == "atom10"
    assert [e.title for e in atom.entries] == ["Atom-Powered Robots Run Amok", "Self-referenced link"]
    assert atom.entries[0].url == "http://example.org/2003/12/13/atom03"
    assert atom.entries[0].published_at == dt.datetime(2003, 12, 13, 18, 30, 2, tzinfo=UTC)

    rss = parse_feed((folder / "feed2.rss").read_bytes(), "http://www.example.com/feed.rss", RSS_HEADERS)
    assert rss.version == "rss20"
    assert len(rss.entries) == 1
    assert rss.entries[0].title == "Example entry"
    assert rss.entries[0].url == "http://www.example.com/blog/post/1"
    assert rss.entries[0].published_at == dt.datetime(2009, 9, 6, 16, 20, tzinfo=UTC)
    for entry in atom.entries + rss.entries:
        check_entry(entry)


def test_feedparser_corpus_raises_nothing_but_fetch_error(shared_dir: Path):
    files = sorted(p for p in (shared_dir / "data/feeds/feedparser").rglob("*") if p.is_file())
    assert len(files) > 400
    parsed = 0
    unexpected: list[str] = []
    for path in files:
        try:
            result = parse_feed(path.read_bytes(), "http://example.com/feeds/" + path.name)
        except ParseError:
            continue
        except Exception as exc:  # noqa: BLE001 - the point is that nothing else escapes
            unexpected.append(f"{path.relative_to(shared_dir)}: {type(exc).__name__}: {exc}")
            continue
        parsed += 1
        for entry in result.entries:
            try:
                check_entry(entry)
            except AssertionError:
                unexpected.append(f"{path.relative_to(shared_dir)}: bad entry {entry!r}")
    assert unexpected == []
    assert parsed > 0.9 * len(files)


# -- JSON Feed ------------------------------------------------------------------------------------------


JSON_FEED_TOP = {"title": "Example &amp; Co", "home_page_url": "https://example.org/news/"}
JSON_FEED_ITEMS = [
    {"id": "1", "url": "https://example.org/news/a?utm_source=feed", "title": "Modi meets Putin",
     "content_html": "<p>Talks <b>began</b>.</p><p>More.</p>", "summary": "Talks began.",
     "date_published": "2025-12-04T09:30:00+05:30"},
    {"id": 2, "url": "b.html", "title": "Second", "content_text": "Plain  text",
     "date_modified": "2025-12-05T00:00:00Z"},
    {"id": "3", "title": "No link, no date"},
]


@pytest.mark.parametrize(("version", "name"), [("https://jsonfeed.org/version/1", "json1"),
                                               ("https://jsonfeed.org/version/1.1", "json11")])
def test_json_feed_1_0_and_1_1(version: str, name: str) -> None:
    document = json_feed(JSON_FEED_ITEMS, version, **JSON_FEED_TOP)
    parsed = parse_feed(document, "https://example.org/feed.json", {"content-type": "application/feed+json"})
    assert (parsed.version, parsed.title, parsed.bozo) == (name, "Example & Co", False)
    first, second, third = parsed.entries
    assert (first.entry_id, first.title, first.summary) == ("1", "Modi meets Putin", "Talks began.")
    assert first.content == plain_text("<p>Talks <b>began</b>.</p><p>More.</p>")  # HTML read as text
    assert "<" not in first.content and first.content.splitlines()[-1] == "More."
    assert first.canonical_url == "https://example.org/news/a"
    assert first.published_at == dt.datetime(2025, 12, 4, 4, 0, tzinfo=UTC)
    # A numeric id is read as text; a relative URL resolves against the home page; date_modified stands in.
    assert (second.entry_id, second.url) == ("2", "https://example.org/news/b.html")
    assert second.content == "Plain text" and second.published_at == dt.datetime(2025, 12, 5, tzinfo=UTC)
    assert third.url == "" and third.canonical_url.startswith("urn:news-monitor:") and third.published_at is None


def test_json_feed_is_recognised_without_its_content_type() -> None:
    document = b"\n " + json_feed(JSON_FEED_ITEMS, **JSON_FEED_TOP)
    assert parse_feed(document, "https://example.org/f", {"content-type": "text/plain"}).version == "json11"


def test_a_broken_json_feed_item_is_skipped_and_the_feed_marked_bozo() -> None:
    import json

    document = json.loads(json_feed(JSON_FEED_ITEMS, **JSON_FEED_TOP))
    document["items"].insert(1, {"title": "no id"})
    document["items"].append({"id": "x", "title": ["not", "text"]})
    parsed = parse_feed(json.dumps(document).encode(), "https://example.org/f.json")
    assert [e.entry_id for e in parsed.entries] == ["1", "2", "3"]
    assert parsed.bozo and "items[1].id" in parsed.bozo_message and "items[4].title" in parsed.bozo_message


@pytest.mark.parametrize(("body", "message"), [
    (b"{not json", "invalid JSON"),
    (b'{"version": "https://jsonfeed.org/version/1.1"}', "items: Field required"),
    (b'{"version": "https://jsonfeed.org/version/2", "items": []}', "not a JSON Feed 1.x"),
    (b'{"version": "https://jsonfeed.org/version/1", "items": {"a": 1}}', "items: Input should be a valid list"),
    (b"[" * 5000 + b"]" * 5000, "depth limit exceeded"),
    (b'{"a":' * 2000 + b"1" + b"}" * 2000, "invalid JSON"),
])
def test_what_is_not_a_json_feed_is_refused_with_its_reason(body: bytes, message: str) -> None:
    with pytest.raises(ParseError) as caught:
        parse_feed(body, "https://example.org/f.json", {"content-type": "application/json"})
    assert caught.value.reason == "not_a_feed"
    assert message in caught.value.message


# -- autodiscovery and entry hashes ----------------------------------------------------------------------


def test_find_feed_links_reads_alternate_feed_links_in_order() -> None:
    page = b"""<!doctype html><html><head><base href="https://example.org/news/">
    <link rel="stylesheet" href="/s.css"><link rel="alternate" type="text/html" href="/en/">
    <link rel="Alternate" type="application/atom+xml" href="atom.xml">
    <link rel="alternate feed" type="application/rss+xml; charset=utf-8" href="https://cdn.example.org/rss">
    <link rel="alternate" type="application/feed+json" href="feed.json">
    <link rel="alternate" type="application/rss+xml" href="atom.xml">
    <link rel="alternate" type="application/rss+xml" href="javascript:alert(1)">
    </head><body></body></html>"""
    assert find_feed_links(page, "https://example.org/") == [
        "https://example.org/news/atom.xml", "https://cdn.example.org/rss", "https://example.org/news/feed.json"]


@pytest.mark.parametrize("garbage", [b"", b"\x00\xff\xfe binary", b"<html><head><link rel=alternate></head>",
                                     b"{}"])
def test_find_feed_links_in_garbage_is_empty(garbage: bytes) -> None:
    assert find_feed_links(garbage, "https://example.org/") == []
