"""JSON Feed 1.x edge cases, feed autodiscovery and entry hashes (the main JSON Feed cases are in test_feeds.py).

Every document here is invented and written inline; what a field should become is read from the JSON Feed
spec (https://www.jsonfeed.org/version/1.1/) and RFC 3339, not from our output.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import json
from typing import Any

import pytest

from monitor.errors import ParseError
from monitor.ingest.identity import entry_hash
from monitor.ingest.parse import FeedEntry, ParsedFeed, find_feed_links, parse_feed
from tests.builders import json_feed

UTC = dt.UTC
V1, V11 = "https://jsonfeed.org/version/1", "https://jsonfeed.org/version/1.1"
FEED_URL = "https://news.example.net/feeds/world.json"


def parse(content: bytes, content_type: str | None = "application/feed+json") -> ParsedFeed:
    return parse_feed(content, FEED_URL, {"content-type": content_type} if content_type else {})


def refused(content: bytes, content_type: str | None = "application/feed+json") -> str:
    with pytest.raises(ParseError) as caught:
        parse(content, content_type)
    assert caught.value.reason == "not_a_feed"
    assert "\n" not in caught.value.message and FEED_URL in caught.value.message
    return caught.value.message


# -- what is and is not a JSON Feed ------------------------------------------------------------------------


@pytest.mark.parametrize(("version", "name"), [(V1, "json1"), (V11, "json11"), (V11 + "/", "json11"),
                                               ("https://jsonfeed.org/version/1.2", "json12")])
def test_every_1_x_version_is_read(version: str, name: str) -> None:
    assert parse(json_feed([{"id": "a"}], version)).version == name


@pytest.mark.parametrize(("version", "named"), [
    ("https://jsonfeed.org/version/2", "'https://jsonfeed.org/version/2'"),
    ("https://jsonfeed.org/version/10", "'https://jsonfeed.org/version/10'"),
    ("jsonfeed 1", "'jsonfeed 1'"),
    ("2.0", "'2.0'"),
    ("", "''"),
])
def test_another_version_is_not_a_json_feed_1_x(version: str, named: str) -> None:
    message = refused(json_feed([], version))
    assert "not a JSON Feed 1.x" in message and named in message


@pytest.mark.parametrize(("version", "name"), [
    ("1.0", "json1"), ("1", "json1"), ("1.1", "json11"), ("v1.1", "json11"),
    ("http://jsonfeed.org/version/1", "json1"), ("https://jsonfeed.org/version/1.0", "json1"),
    ("HTTPS://JSONFEED.ORG/VERSION/1.1", "json11"),
])
def test_versions_seen_in_the_wild_are_read_and_flagged(version: str, name: str) -> None:
    """Publishers write "1.0" and the like (gofeed accepts them): the items are read, and the feed is bozo with
    the version it did not expect named."""
    parsed = parse(json_feed([{"id": "a", "title": "Kept"}], version))
    assert parsed.version == name and [e.title for e in parsed.entries] == ["Kept"]
    assert parsed.bozo and repr(version) in parsed.bozo_message


def test_an_item_with_no_title_no_link_and_no_text_is_skipped_not_an_article() -> None:
    items = [{"id": "a", "title": "Kept"}, {"id": "bare"}, {"id": "dated", "date_published": "2025-01-01T00:00:00Z"},
             {"id": "b", "url": "https://site.example/b"}, {"id": "c", "summary": "Only a summary"}]
    parsed = parse_feed(json.dumps({"version": V11, "items": items}).encode(), FEED_URL,
                        {"content-type": "application/feed+json"})
    assert [e.entry_id for e in parsed.entries] == ["a", "b", "c"]
    assert parsed.skipped == {"empty_entry": 2}


@pytest.mark.parametrize(("document", "named"), [
    (b"[]", "a JSON array, not an object"),
    (b'"https://jsonfeed.org/version/1"', "a JSON string, not an object"),
    (b"null", "a JSON null, not an object"),
    (b"{}", "version: Field required"),
    (json.dumps({"version": 1.1, "items": []}).encode(), "version: Input should be a valid string"),
    (json.dumps({"version": V11, "items": None}).encode(), "items: Input should be a valid list"),
    (json.dumps({"version": V11, "items": "none"}).encode(), "items: Input should be a valid list"),
    (b'{"version": "' + V11.encode() + b'", "items": [', "invalid JSON"),
    (b'{"version": "\xff\xfe", "items": []}', "invalid JSON"),
    (b"{" + b'"a":[' * 1500 + b"]" * 1500 + b"}", "invalid JSON"),  # nesting deeper than the parser's limit
])
def test_what_is_refused_names_what_is_wrong(document: bytes, named: str) -> None:
    assert named in refused(document, "application/json")


def test_a_byte_order_mark_is_allowed() -> None:
    assert [e.entry_id for e in parse(b"\xef\xbb\xbf" + json_feed([{"id": "a"}])).entries] == ["a"]


def test_the_body_decides_over_a_wrong_content_type() -> None:
    rss = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>
      <item><title>An RSS item</title><link>https://news.example.net/a</link></item></channel></rss>"""
    parsed = parse(rss, "application/json")  # a server that labels everything JSON
    assert parsed.version == "rss20" and [e.title for e in parsed.entries] == ["An RSS item"]
    assert parse(json_feed([{"id": "a"}]), "text/html").version == "json11"
    assert parse(b"  \r\n" + json_feed([{"id": "a"}]), None).version == "json11"


def test_deep_but_legal_nesting_inside_an_item_is_ignored() -> None:
    nested: Any = "leaf"
    for _ in range(200):
        nested = {"x": [nested]}
    (entry,) = parse(json_feed([{"id": "a", "_extension": nested}])).entries
    assert entry.entry_id == "a"


# -- items -----------------------------------------------------------------------------------------------


def test_ids_are_text_and_numbers_are_coerced() -> None:
    # Spec: "If an id is presented as a number or other type, a JSON Feed reader must coerce it to a string."
    parsed = parse(json_feed([{"id": 42}, {"id": 4.5}, {"id": "  padded  "}]))
    assert [e.entry_id for e in parsed.entries] == ["42", "4.5", "padded"]
    assert not parsed.bozo


@pytest.mark.parametrize("bad_id", [None, True, "", "   ", [], {"a": 1}])
def test_an_item_without_a_usable_id_is_skipped_and_reported(bad_id: Any) -> None:
    items = [{"id": "first"}, {"title": "missing"} if bad_id is None else {"id": bad_id}, {"id": "third"}]
    parsed = parse(json_feed(items))
    assert [e.entry_id for e in parsed.entries] == ["first", "third"]
    assert parsed.bozo and parsed.bozo_message.startswith("items[1].id: ")


@pytest.mark.parametrize(("field", "value"), [("title", ["a"]), ("url", 7), ("summary", {"a": 1}),
                                              ("content_html", False), ("date_published", 1700000000)])
def test_an_item_with_a_field_of_the_wrong_type_is_skipped_and_the_others_kept(field: str, value: Any) -> None:
    parsed = parse(json_feed([{"id": "ok", "title": "Kept"}, {"id": "broken", field: value}]))
    assert [e.title for e in parsed.entries] == ["Kept"]
    assert parsed.bozo and parsed.bozo_message.startswith(f"items[1].{field}: ")


def test_an_item_that_is_not_an_object_is_skipped() -> None:
    parsed = parse(json_feed(["story", 3, None, {"id": "real"}]))
    assert [e.entry_id for e in parsed.entries] == ["real"]
    assert parsed.bozo_message.startswith("items[0]: a JSON string, not an object; items[1]: a JSON number")


def test_a_wrongly_typed_optional_top_level_field_costs_only_that_field() -> None:
    parsed = parse(json_feed([{"id": "a", "url": "story.html"}], title=["World"], home_page_url=12,
                        feed_url="https://news.example.net/other/feed.json"))
    assert parsed.title == ""
    assert parsed.entries[0].url == "https://news.example.net/other/story.html"  # feed_url stands in
    assert parsed.bozo and "title: " in parsed.bozo_message and "home_page_url: " in parsed.bozo_message


def test_authors_and_unknown_fields_are_accepted_in_any_shape() -> None:
    items = [{"id": "a", "author": {"name": "Ann"}, "authors": [{"name": "Ann", "url": "https://a.example"}]},
             {"id": "b", "authors": "not a list", "tags": 5, "_ext": {"k": [1, 2]}}]
    parsed = parse(json_feed(items, author={"name": "Desk"}, icon=3))
    assert [e.entry_id for e in parsed.entries] == ["a", "b"] and not parsed.bozo


def test_text_fields() -> None:
    (entry,) = parse(json_feed([{"id": "a", "title": "Talks &amp; trade <b>resume</b>\n today",
                            "summary": "<p>One.</p><p>Two &lt;3</p>", "content_text": "  Plain\n\n text  ",
                            "content_html": "<p>Para one.</p><script>x()</script><p>Para two.</p>"}])).entries
    assert entry.title == "Talks & trade resume today"  # one line, entities read, tags dropped
    assert entry.summary == "One.\nTwo <3"
    assert entry.content == "Para one.\nPara two."  # content_html is preferred; a script is never text
    (text_only,) = parse(json_feed([{"id": "b", "content_text": "  Plain\n\n text  "}])).entries
    assert text_only.content == "Plain text"


# -- links and identity ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("top", "url", "expected"), [
    ({"home_page_url": "https://site.example/news/"}, "a/b.html", "https://site.example/news/a/b.html"),
    ({"home_page_url": "/news/"}, "b.html", "https://news.example.net/news/b.html"),  # itself relative
    ({"feed_url": "https://cdn.example/feeds/f.json"}, "/b", "https://cdn.example/b"),
    ({}, "../b.html", "https://news.example.net/b.html"),  # against the URL fetched
    ({"home_page_url": "http://[broken/", "feed_url": "mailto:x@y"}, "b", "https://news.example.net/feeds/b"),
    ({}, "https://other.example/abs?utm_source=x", "https://other.example/abs?utm_source=x"),
])
def test_relative_item_urls(top: dict[str, str], url: str, expected: str) -> None:
    (entry,) = parse(json_feed([{"id": "a", "url": url}], **top)).entries
    assert entry.url == expected


def test_url_then_external_url_then_no_link() -> None:
    items = [{"id": "1", "url": "https://site.example/post", "external_url": "https://elsewhere.example/x"},
             {"id": "2", "external_url": "https://elsewhere.example/y"},
             {"id": "3", "url": "javascript:alert(1)"},
             {"id": "4", "url": "http://site.example:99999/bad-port"}]
    first, second, script, bad_port = parse(json_feed(items)).entries
    assert first.url == "https://site.example/post"
    assert second.url == "https://elsewhere.example/y"
    for entry in (script, bad_port):  # no usable link: identity from the feed and the id
        assert entry.url == "" and entry.canonical_url.startswith("urn:news-monitor:")


def test_identity_without_a_link_comes_from_the_id_and_the_feed() -> None:
    one = parse(json_feed([{"id": "x-1", "title": "T"}, {"id": "x-2", "title": "T"}])).entries
    again = parse(json_feed([{"id": "x-1", "title": "Retitled", "date_modified": "2025-01-01T00:00:00Z"}])).entries
    elsewhere = parse_feed(json_feed([{"id": "x-1", "title": "T"}]), "https://other.example/f.json").entries
    assert one[0].entry_id == "x-1" and one[0].canonical_url != one[1].canonical_url
    assert again[0].canonical_url == one[0].canonical_url  # a new title or date is the same entry
    assert elsewhere[0].canonical_url != one[0].canonical_url


# -- dates -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "expected"), [
    ("2025-12-04T09:30:00+05:30", dt.datetime(2025, 12, 4, 4, 0, tzinfo=UTC)),
    ("2025-12-04T09:30:00Z", dt.datetime(2025, 12, 4, 9, 30, tzinfo=UTC)),
    ("2025-12-04t09:30:00z", dt.datetime(2025, 12, 4, 9, 30, tzinfo=UTC)),  # RFC 3339 §5.6: case-insensitive
    ("2025-12-04T09:30:00.123456-08:00", dt.datetime(2025, 12, 4, 17, 30, 0, 123456, tzinfo=UTC)),
    ("2025-12-04 09:30:00Z", dt.datetime(2025, 12, 4, 9, 30, tzinfo=UTC)),  # RFC 3339 §5.6 NOTE: a space
    ("2025-12-04T09:30:00", dt.datetime(2025, 12, 4, 9, 30, tzinfo=UTC)),  # no offset: read as UTC
    ("Thu, 04 Dec 2025 09:30:00 +0100", dt.datetime(2025, 12, 4, 8, 30, tzinfo=UTC)),  # an RSS date copied over
    ("yesterday", None),
    ("2025-13-45T00:00:00Z", None),
    ("0001-01-01T00:00:00+05:00", None),  # before year 1 once in UTC
    ("9999-12-31T23:00:00-05:00", None),  # after year 9999 once in UTC
])
def test_dates(value: str, expected: dt.datetime | None) -> None:
    (entry,) = parse(json_feed([{"id": "a", "date_published": value}])).entries
    assert entry.published_at == expected
    assert expected is None or entry.published_at.utcoffset() == dt.timedelta(0)


def test_date_modified_stands_in_only_when_date_published_is_missing_or_unreadable() -> None:
    items = [{"id": "a", "date_published": "2025-01-01T00:00:00Z", "date_modified": "2025-02-01T00:00:00Z"},
             {"id": "b", "date_published": "soon", "date_modified": "2025-02-01T00:00:00Z"}]
    first, second = parse(json_feed(items)).entries
    assert first.published_at == dt.datetime(2025, 1, 1, tzinfo=UTC)
    assert second.published_at == dt.datetime(2025, 2, 1, tzinfo=UTC)


# -- nothing but a ParseError ------------------------------------------------------------------------------

ODD_VALUES = [None, True, 0, -1.5, 2**63 - 1, "", " ", "x" * 5000, "\u0000", "\ud7ff\uffff", [], [None], {}, {"a": []},
              "http://[::1", "https://", "//host/path", "2025-02-30T00:00:00Z"]
FIELDS = ["version", "title", "home_page_url", "feed_url", "items"]
ITEM_FIELDS = ["id", "url", "external_url", "title", "content_html", "content_text", "summary", "date_published",
               "date_modified", "authors", "author"]


def outcome(content: bytes) -> ParsedFeed | str:
    try:
        return parse(content)
    except ParseError as error:
        return error.reason


def test_any_value_in_any_field_gives_a_feed_or_not_a_feed() -> None:
    seen: set[str] = set()
    good = {"id": "a", "url": "https://site.example/a", "title": "T", "date_published": "2025-01-01T00:00:00Z"}
    for field, value in itertools.product(FIELDS, ODD_VALUES):
        result = outcome(json.dumps({"version": V11, "items": [good], field: value}).encode())
        seen.add(result if isinstance(result, str) else "parsed")
    for field, value in itertools.product(ITEM_FIELDS, ODD_VALUES):
        result = outcome(json_feed([good, {**good, "id": "b", field: value}]))
        assert isinstance(result, ParsedFeed), (field, value, result)  # one odd item never sinks the feed
        assert [e.entry_id for e in result.entries][:1] == ["a"]
        for entry in result.entries:
            assert entry.url == "" or entry.url.startswith(("http://", "https://"))
            assert entry.published_at is None or entry.published_at.tzinfo is UTC
    assert seen == {"parsed", "not_a_feed"}


# -- autodiscovery ---------------------------------------------------------------------------------------


def test_find_feed_links_without_a_base_element_resolves_against_the_page() -> None:
    page = b"""<html><head>
      <LINK REL="ALTERNATE" TYPE="APPLICATION/RSS+XML" HREF="rss.xml">
      <link rel="alternate" type="application/json" href="//cdn.example.org/feed.json">
      <link rel="alternate" type="application/atom+xml" href="ftp://example.org/atom.xml">
      <link rel="alternate" type="application/atom+xml" href="http://[broken/atom">
      <link rel="alternate" type="application/atom+xml" href="   ">
      <link rel="alternates" type="application/atom+xml" href="not-a-token-match.xml">
      </head><body><p>x</p></body></html>"""
    assert find_feed_links(page, "https://example.org/section/page.html") == [
        "https://example.org/section/rss.xml", "https://cdn.example.org/feed.json"]


def test_find_feed_links_ignores_an_unusable_base_element() -> None:
    page = b"""<html><head><base href="http://[broken/"><base href="https://second.example/">
      <link rel="alternate" type="application/feed+json" href="feed.json"></head></html>"""
    # Only the first <base> counts (HTML: "the first base element with an href attribute"); it is unusable.
    assert find_feed_links(page, "https://example.org/a/") == ["https://example.org/a/feed.json"]


def test_find_feed_links_reads_the_page_charset() -> None:
    page = ('<html><head><meta charset="windows-1251">'
            '<link rel="alternate" type="application/rss+xml" href="/лента.xml"></head></html>').encode("cp1251")
    assert find_feed_links(page, "https://example.org/") == ["https://example.org/лента.xml"]


@pytest.mark.parametrize("garbage", [b"\xff" * 100, b"<" * 10000, b"<html>" + b"<div>" * 3000, "é".encode("utf-16"),
                                     b"<?xml version='1.0'?><rss/>", b"<link rel=alternate type=application/rss+xml>"])
def test_find_feed_links_in_anything_else_is_empty(garbage: bytes) -> None:
    assert find_feed_links(garbage, "https://example.org/") == []


# -- entry hashes ----------------------------------------------------------------------------------------


def entry(title: str, summary: str, content: str, **identity: Any) -> FeedEntry:
    fields = {"entry_id": "id", "url": "https://a.example/1", "canonical_url": "https://a.example/1",
              "published_at": None, **identity}
    return FeedEntry(title=title, summary=summary, content=content, **fields)


def test_entry_hash_is_the_documented_formula() -> None:
    expected = hashlib.sha256("Modi meets Путин\x1fTalks began.\x1fPara one. Para two.".encode()).hexdigest()
    assert entry_hash(entry(" Modi  meets\tПутин ", "Talks began.", "Para one.\nPara two.")) == expected


def test_entry_hash_sees_only_what_a_reader_sees() -> None:
    base = entry("Title", "Summary", "Body")
    moved = entry("Title", "Summary", "Body", entry_id="other", url="https://b.example/2",
                  canonical_url="https://b.example/2", published_at=dt.datetime(2025, 1, 1, tzinfo=UTC))
    assert entry_hash(base) == entry_hash(moved)
    assert len({entry_hash(e) for e in (base, entry("Title!", "Summary", "Body"), entry("Title", "Summary.", "Body"),
                                        entry("Title", "Summary", "Body."), entry("Summary", "Title", "Body"),
                                        entry("Title Summary", "", "Body"))}) == 6
