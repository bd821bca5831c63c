"""Digest renderers: the same structure in every format (header counts, days, stories, items), escaping of
feed text, and Atom 1.0 checked against a RELAX NG schema, RFC 4287's other rules and feedparser."""

from __future__ import annotations

import datetime as dt
import io
import json
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import feedparser
import lxml.html
import pytest
from lxml import etree
from rich.console import Console

from monitor.digest.render import (
    ATOM_TITLE,
    highlight,
    mention_urn,
    print_text,
    safe_url,
    to_atom,
    to_html,
    to_json,
    to_markdown,
    to_text,
)

ATOM_NS = "{http://www.w3.org/2005/Atom}"
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
GENERATED = dt.datetime(2025, 12, 6, 7, 30, tzinfo=dt.UTC)
SUMMIT_TERMS = ["Modi", "Putin", "summit", "meet*", "Hyderabad House"]


def _item(n: int, *, url: str, outlet: str, feed: str, title: str, published: str | None, story: str,
          sentences: list[str], terms: list[str], dates: list[dict[str, Any]] | None = None,
          score: float = 0.9) -> dict[str, Any]:
    return {
        "article_id": f"0000000{n}-0000-5000-8000-00000000000{n}", "url": url, "title": title, "feed": feed,
        "published_at": published, "topic": "india-russia-summit", "score": score, "sentences": sentences,
        "decision": "mention", "terms": terms, "dates": dates or [], "similarity": {"summit.md": 0.3},
        "rule": "india_leader AND russia_side AND meeting", "topic_version": "v1",
        "tagged_at": f"2025-12-0{min(n + 4, 6)}T0{n}:00:00+00:00", "position": 10 + n, "reviewed": False,
        "evidence": [{"field": "text", "text": s, "start": 0, "end": len(s), "terms": terms} for s in sentences],
        "outlet": outlet, "story": story,
    }


def _dates(text: str, start: str, end: str | None = None) -> dict[str, Any]:
    return {"text": text, "date": start, "end_date": end or start, "precision": "day", "relative": False}


def make_digest(items: list[dict[str, Any]], stories: list[dict[str, Any]], **counts: int) -> SimpleNamespace:
    """A digest with the attributes monitor.digest.build.Digest has (built here so renderers are tested alone)."""
    window = {"since": None, "after_position": 10, "up_to_position": 20}
    all_counts = {"mentions": len(items), "stories": len(stories), "feeds": 6, "feeds_polled": 5, "feeds_failing": 1,
                  "unreviewed": len(items), **counts}
    digest = SimpleNamespace(items=items, stories=stories, counts=all_counts, window=window, generated_at=GENERATED)
    digest.as_dict = lambda: {"items": items, "stories": stories, "window": window, "counts": all_counts,
                              "generated_at": GENERATED.isoformat()}
    return digest


@pytest.fixture
def digest() -> SimpleNamespace:
    """Two stories on two days: one item about Russian oil, and a summit told by three outlets."""
    items = [
        _item(1, url="https://economictimes.example/oil-imports", outlet="economictimes.example", feed="et-economy",
              title="India's Russian oil imports slip as sanctions bite", published="2025-12-04T09:00:00+00:00",
              story="s-oil", sentences=["Putin said supplies to India would continue ahead of his meeting with Modi."],
              terms=["Modi", "Putin", "meet*"], score=0.62),
        _item(2, url="https://tass.example/politics/1", outlet="tass.example", feed="tass",
              title="Putin, Modi hold talks at Hyderabad House", published="2025-12-05T08:00:00+00:00",
              story="s-summit", sentences=["Putin and Modi met at Hyderabad House on December 5."],
              terms=SUMMIT_TERMS, dates=[_dates("December 5", "2025-12-05")]),
        _item(3, url="https://thehindu.example/news/summit?id=2&x=(1)", outlet="thehindu.example", feed="the-hindu",
              title="India, Russia set $100 billion trade target at annual summit",
              published="2025-12-05T11:30:00+05:30", story="s-summit",
              sentences=["The annual SUMMIT between PM MODI and President Putin ended with 16 agreements.",
                         "The leaders will meet again next year."],
              terms=SUMMIT_TERMS, dates=[_dates("4-5 December", "2025-12-04", "2025-12-05")]),
        _item(4, url="https://reuters.example/world/india-russia", outlet="reuters.example", feed="reuters-world",
              title="Modi hosts Putin, signs labour and trade pacts", published=None, story="s-summit",
              sentences=["Modi hosted Putin for the summit in New Delhi."], terms=SUMMIT_TERMS),
    ]
    stories = [
        {"id": "s-oil", "title": items[0]["title"], "day": "2025-12-04", "items": [0],
         "outlets": ["economictimes.example"], "feeds": ["et-economy"], "first_published": items[0]["published_at"],
         "score": 0.62},
        {"id": "s-summit", "title": "Putin, Modi hold talks at Hyderabad House", "day": "2025-12-05",
         "items": [1, 2, 3],
         "outlets": ["tass.example", "thehindu.example", "reuters.example"],
         "feeds": ["tass", "the-hindu", "reuters-world"], "first_published": items[1]["published_at"], "score": 0.9},
    ]
    return make_digest(items, stories)


HOSTILE_TITLE = '<script>alert(1)</script> [bold red]markup[/] **not bold** " onerror="x'


@pytest.fixture
def hostile() -> SimpleNamespace:
    """Feed text that tries to become markup in every format, and a javascript: URL."""
    item = _item(5, url="javascript:alert(document.cookie)", outlet='evil.example" onerror="x',
                 feed='feed"><script>x</script>',
                 title=HOSTILE_TITLE, published="2025-12-05T08:00:00Z", story="s-evil",
                 sentences=['Modi met Putin <img src=x onerror="alert(1)"> [link](javascript:alert(1)) [/bold]'],
                 terms=["Modi", "Putin"], dates=[_dates("<b>today</b>", "2025-12-05")])
    item["url_attr"] = '" onerror="x'
    story = {"id": "s-evil", "title": HOSTILE_TITLE, "day": "2025-12-05", "items": [0],
             "outlets": ['evil.example" onerror="x'], "feeds": ["evil"], "first_published": None, "score": 0.9}
    second = dict(_item(6, url='https://ok.example/a" onerror="x', outlet="ok.example", feed="ok", title="Second",
                        published=None, story="s-ok", sentences=["Modi met Putin."], terms=["Modi"]))
    story2 = {"id": "s-ok", "title": "Second", "day": "2025-12-05", "items": [1], "outlets": ["ok.example"],
              "feeds": ["ok"], "first_published": None, "score": 0.5}
    return make_digest([item, second], [story, story2])


# --- shared helpers -----------------------------------------------------------------------------------

def test_highlight_marks_terms_ignoring_case_and_diacritics() -> None:
    sentence = "PM MODI met Lavróv, and Putin's aides were meeting in Hyderabad   House."
    segments = highlight(sentence, ["Modi", "Lavrov", "Putin", "meet*", "Hyderabad House"])
    assert "".join(text for text, _ in segments) == sentence
    assert [text for text, is_term in segments if is_term] == ["MODI", "Lavróv", "Putin", "meeting",
                                                               "Hyderabad   House"]


def test_highlight_without_terms_or_text() -> None:
    assert highlight("Nothing here.", []) == [("Nothing here.", False)]
    assert highlight("Nothing here.", ["Modi"]) == [("Nothing here.", False)]
    assert highlight("", ["Modi"]) == [("", False)]
    assert highlight("Modi", ["Modi", "modi"]) == [("Modi", True)]


def test_highlight_merges_overlapping_terms_and_knows_gaps() -> None:
    segments = highlight("Narendra Modi flew in.", ["Modi", "Narendra Modi"])
    assert segments == [("Narendra Modi", True), (" flew in.", False)]
    segments = highlight("A meeting of the two leaders.", ["meeting ... leaders"])
    assert segments == [("A ", False), ("meeting of the two leaders", True), (".", False)]


@pytest.mark.parametrize("url,ok", [
    ("https://tass.com/politics/1", True), ("http://example.org/a?b=(1)", True), ("HTTPS://EXAMPLE.ORG/", True),
    ("javascript:alert(1)", False), (" javascript:alert(1)", False), ("JaVaScRiPt:alert(1)", False),
    ("data:text/html,<script>", False), ("/relative/path", False), ("https:///no-host", False),
    ('https://a.example/" onerror="x', False), ("https://a.example/a b", False), ("", False), (None, False),
])
def test_safe_url_allows_only_http_links(url: str | None, ok: bool) -> None:
    assert safe_url(url) == (url if ok else None)


# --- text ---------------------------------------------------------------------------------------------

def test_text_groups_by_day_then_story_with_header_counts(digest: SimpleNamespace) -> None:
    out = to_text(digest)
    lines = out.splitlines()
    flat = " ".join(out.split())  # long lines wrap (with a hanging indent)
    assert flat.startswith("news-monitor digest — 4 new mentions in 2 stories since the last review"
                           " · 5/6 feeds polled · 1 failing ─")
    assert "\x1b" not in out
    order = [out.index(s) for s in (
        "2025-12-04", "■ India's Russian oil imports slip", "economictimes.example · feed et-economy",
        "2025-12-05", "■ Putin, Modi hold talks at Hyderabad House",
        "3 outlets: tass.example, thehindu.example, reuters.example",
        "• Putin, Modi hold talks", "• India, Russia set $100 billion", "• Modi hosts Putin")]
    assert order == sorted(order)
    assert "tass.example · feed tass · published 5 Dec 2025, 08:00 UTC · topic india-russia-summit · score 0.90" \
        in flat
    assert "published unknown" in out
    # A story of one article: its title heads it, and neither the title nor "1 outlet" is repeated under it.
    assert flat.count("India's Russian oil imports slip") == 1 and "1 outlet" not in out
    assert "› The annual SUMMIT between PM MODI and President Putin ended with 16 agreements." in flat
    assert "date: 4-5 December → 2025-12-04…2025-12-05" in out
    assert "date: December 5 → 2025-12-05" in out
    assert sum(1 for line in lines if set(line.strip()) <= set("─ 0123456789-") and "─" in line) == 2  # day rules


def test_rich_output_styles_the_matched_terms(digest: SimpleNamespace) -> None:
    buffer = io.StringIO()
    print_text(digest, Console(file=buffer, force_terminal=True, color_system="standard", width=120))
    out = buffer.getvalue()
    assert re.search(r"\x1b\[[0-9;]*mHyderabad House\x1b\[0m", out)
    assert re.search(r"\x1b\[[0-9;]*mSUMMIT\x1b\[0m", out)
    assert not re.search(r"\x1b\[[0-9;]*mended\x1b\[0m", out)


def test_text_shows_feed_markup_as_text(hostile: SimpleNamespace) -> None:
    out = to_text(hostile)
    assert "[bold red]markup[/]" in out
    assert "[/bold]" in out
    assert "javascript:alert(document.cookie)" in out  # shown, as text


def test_empty_digest_in_every_format() -> None:
    empty = make_digest([], [], feeds_failing=0)
    assert "No new mentions." in to_text(empty)
    assert to_text(empty).startswith("news-monitor digest — 0 new mentions in 0 stories")
    assert "No new mentions." in to_markdown(empty)
    page = lxml.html.document_fromstring(to_html(empty))
    assert "No new mentions." in page.text_content()
    assert json.loads(to_json(empty))["items"] == []
    parsed = feedparser.parse(to_atom(empty, feed_id="urn:x:digest", self_url="https://m.example/digest.atom"))
    assert not parsed.bozo and parsed.entries == []


# --- Markdown -----------------------------------------------------------------------------------------

def test_markdown_structure(digest: SimpleNamespace) -> None:
    md = to_markdown(digest)
    assert md.startswith("# news-monitor digest\n\n_4 new mentions in 2 stories since the last review · 5/6 feeds"
                         " polled · 1 failing_\n")
    headings = [line for line in md.splitlines() if line.startswith("#")]
    assert headings == ["# news-monitor digest", "## 2025-12-04", "### [India's Russian oil imports slip as sanctions"
                        " bite](<https://economictimes.example/oil-imports>)", "## 2025-12-05",
                        "### Putin, Modi hold talks at Hyderabad House"]
    assert md.count("India's Russian oil imports slip") == 1 and "1 outlet" not in md
    assert "3 outlets: tass.example, thehindu.example, reuters.example" in md
    assert "- **[Putin, Modi hold talks at Hyderabad House](<https://tass.example/politics/1>)**" in md
    assert "(<https://thehindu.example/news/summit?id=2&x=(1)>)" in md
    assert "> The annual **SUMMIT** between PM **MODI** and President **Putin** ended with 16 agreements." in md
    assert "> **Putin** and **Modi** met at **Hyderabad House** on December 5." in md
    assert "Dates: 4-5 December → 2025-12-04…2025-12-05" in md


def test_markdown_escapes_feed_text_and_links_only_http(hostile: SimpleNamespace) -> None:
    md = to_markdown(hostile)
    assert "](javascript" not in md and "(<javascript" not in md
    assert "\\<script\\>alert\\(1\\)\\</script\\> \\[bold red\\]markup\\[/\\] \\*\\*not bold\\*\\*" in md
    assert "\\[link\\]\\(javascript:alert\\(1\\)\\)" in md
    assert not re.search(r"(?<!\\)<(img|script)", md)
    assert "(<https://ok.example" not in md  # a URL that breaks out of its attribute is no link either


# --- HTML ---------------------------------------------------------------------------------------------

def test_html_is_a_standalone_page_grouped_by_day_and_story(digest: SimpleNamespace) -> None:
    html = to_html(digest, title="India–Russia digest")
    assert html.startswith("<!DOCTYPE html>")
    page = lxml.html.document_fromstring(html)
    assert page.findtext(".//title") == "India–Russia digest"
    assert "4 new mentions in 2 stories" in page.find_class("counts")[0].text_content()
    assert [h.text_content() for h in page.find_class("day")] == ["2025-12-04", "2025-12-05"]
    stories = page.find_class("story")
    assert [s.find_class("story-title")[0].text_content() for s in stories] == [
        "India's Russian oil imports slip as sanctions bite", "Putin, Modi hold talks at Hyderabad House"]
    assert stories[1].find_class("outlets")[0].text_content() == \
        "3 outlets: tass.example, thehindu.example, reuters.example"
    assert len(stories[1].find_class("item")) == 3
    assert [a.get("href") for a in page.iter("a")] == [
        "https://economictimes.example/oil-imports", "https://tass.example/politics/1",
        "https://thehindu.example/news/summit?id=2&x=(1)", "https://reuters.example/world/india-russia"]
    marks = [m.text for m in stories[1].find_class("item")[1].iter("mark")]
    assert marks == ["SUMMIT", "MODI", "Putin", "meet"]
    assert "4-5 December → 2025-12-04…2025-12-05" in stories[1].text_content()
    # Standalone: inline CSS, no script, nothing fetched from elsewhere.
    assert page.find(".//style") is not None
    assert not page.xpath("//script | //link | //img | //iframe | //@src")


def test_html_escapes_every_feed_value(hostile: SimpleNamespace) -> None:
    html = to_html(hostile)
    page = lxml.html.document_fromstring(html)
    assert not page.xpath("//script | //img")
    assert not page.xpath("//@onerror")
    assert [a.get("href") for a in page.iter("a")] == []  # javascript: and attribute-breaking URLs: no links
    text = page.text_content()
    assert HOSTILE_TITLE in text
    assert '<img src=x onerror="alert(1)">' in text
    assert 'evil.example" onerror="x' in text
    assert "javascript:alert(document.cookie)" in text  # shown as text
    assert "<b>today</b>" in text


# --- JSON ---------------------------------------------------------------------------------------------

def test_json_is_as_dict(digest: SimpleNamespace) -> None:
    out = to_json(digest)
    assert json.loads(out) == json.loads(json.dumps(digest.as_dict()))
    assert out.startswith("{\n  ")


def test_json_keeps_non_ascii_and_serialises_datetimes() -> None:
    empty = make_digest([], [])
    empty.as_dict = lambda: {"items": [], "generated_at": GENERATED, "title": "Лавров"}
    assert json.loads(to_json(empty)) == {"items": [], "generated_at": GENERATED.isoformat(), "title": "Лавров"}
    assert "Лавров" in to_json(empty)


# --- Atom ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def atom_schema() -> etree.RelaxNG:
    return etree.RelaxNG.from_rnc_string((Path(__file__).with_name("atom.rnc")).read_text(encoding="utf-8"))


def check_rfc4287(xml: bytes) -> list[str]:
    """RFC 4287's rules that a schema cannot state. Returns the problems found."""
    problems = []
    feed = etree.fromstring(xml)
    entries = feed.findall(f"{ATOM_NS}entry")
    if feed.find(f"{ATOM_NS}author") is None and any(e.find(f"{ATOM_NS}author") is None for e in entries):
        problems.append("4.1.1: no feed author, and an entry without one")
    ids = [e.findtext(f"{ATOM_NS}id") for e in entries]
    if len(ids) != len(set(ids)):
        problems.append("4.1.1: entry ids not unique")
    for element in [feed, *entries]:
        ident = (element.findtext(f"{ATOM_NS}id") or "").strip()
        if not re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:\S+$", ident):
            problems.append(f"4.2.6: id {ident!r} is not an absolute IRI")
        alternates = [(ln.get("type"), ln.get("hreflang")) for ln in element.findall(f"{ATOM_NS}link")
                      if ln.get("rel", "alternate") == "alternate"]
        if len(alternates) != len(set(alternates)):
            problems.append("4.1.1/4.1.2: two alternate links with the same type and hreflang")
    if not any(ln.get("rel") == "self" for ln in feed.findall(f"{ATOM_NS}link")):
        problems.append("4.1.1: a feed SHOULD have a self link")
    for entry in entries:
        content = entry.find(f"{ATOM_NS}content")
        if content is None and not any(ln.get("rel", "alternate") == "alternate"
                                       for ln in entry.findall(f"{ATOM_NS}link")):
            problems.append("4.1.2: entry without content and without an alternate link")
        if content is not None and (content.get("src") or content.get("type") not in (None, "text", "html", "xhtml")) \
                and entry.find(f"{ATOM_NS}summary") is None:
            problems.append("4.1.2: out-of-line or non-text content without a summary")
    for date in feed.iter(f"{ATOM_NS}updated", f"{ATOM_NS}published"):
        if not RFC3339.match((date.text or "").strip()):
            problems.append(f"3.3: {date.text!r} is not an RFC 3339 date-time")
    return problems


def _atom(digest: SimpleNamespace) -> str:
    return to_atom(digest, feed_id="urn:news-monitor:digest:test", self_url="https://monitor.example/digest.atom",
                   site_url="https://monitor.example/", title="India–Russia digest")


def test_atom_validates_and_parses_back(digest: SimpleNamespace, atom_schema: etree.RelaxNG) -> None:
    xml = _atom(digest).encode("utf-8")
    document = etree.fromstring(xml)
    assert atom_schema.validate(document), atom_schema.error_log
    assert check_rfc4287(xml) == []
    parsed = feedparser.parse(xml)
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert parsed.version == "atom10"
    assert parsed.feed.title == "India–Russia digest"
    assert parsed.feed.generator == "news-monitor"
    assert {ln.rel: ln.href for ln in parsed.feed.links} == {"self": "https://monitor.example/digest.atom",
                                                            "alternate": "https://monitor.example/"}
    assert len(parsed.entries) == len(digest.items) == 4
    assert [e.link for e in parsed.entries] == [item["url"] for item in digest.items]
    assert [e.id for e in parsed.entries] == [mention_urn(i["article_id"], i["topic"]) for i in digest.items]
    summit = parsed.entries[2]
    assert summit.title == "India, Russia set $100 billion trade target at annual summit"
    assert summit.author == "thehindu.example"
    assert summit.published_parsed[:5] == (2025, 12, 5, 6, 0)  # 11:30+05:30
    assert summit.tags[0].term == "india-russia-summit"
    content = lxml.html.fragment_fromstring(summit.content[0].value, create_parent="div")
    assert [m.text for m in content.iter("strong")] == ["SUMMIT", "MODI", "Putin", "meet"]  # readers drop <mark>
    assert "3 outlets: tass.example, thehindu.example, reuters.example" in content.text_content()
    assert "4-5 December → 2025-12-04…2025-12-05" in content.text_content()
    assert "score 0.90" in content.text_content()
    assert "published" not in parsed.entries[3]  # unknown: left out, not invented


def test_atom_for_readers_has_one_title_a_language_and_distinct_updated(digest: SimpleNamespace) -> None:
    # Two topics of one article (and a second article) tagged in one batch: the same tagged_at three times.
    same = "2025-12-05T03:00:00+00:00"
    items = [{**digest.items[1], "tagged_at": same, "position": 30},
             {**digest.items[1], "topic": "brics", "tagged_at": same, "position": 31},
             {**digest.items[2], "tagged_at": same, "position": 32}]
    stories = [{**digest.stories[1], "items": [0, 1, 2]}]
    xml = to_atom(make_digest(items, stories), feed_id="urn:x", self_url="https://m.example/feed.atom").encode()
    root = etree.fromstring(xml)
    assert root.get("{http://www.w3.org/XML/1998/namespace}lang") == "en"
    assert [t.text for t in root.findall(f"{ATOM_NS}title")] == [ATOM_TITLE]
    entries = root.findall(f"{ATOM_NS}entry")
    updated = {e.findtext(f"{ATOM_NS}id"): e.findtext(f"{ATOM_NS}updated") for e in entries}
    assert len(entries) == 3 and len(set(updated.values())) == 3
    # The first in log order keeps its tag's time; readers see the others after it, one second apart.
    assert updated[mention_urn(items[0]["article_id"], items[0]["topic"])] == same
    assert sorted(updated.values()) == [same, "2025-12-05T03:00:01+00:00", "2025-12-05T03:00:02+00:00"]
    assert "0 more sentences" not in xml.decode()  # nothing folded: no line saying so


def test_atom_entry_ids_are_stable(digest: SimpleNamespace) -> None:
    first = feedparser.parse(_atom(digest))
    later = make_digest(digest.items[2:], [{**digest.stories[1], "items": [0, 1]}])
    second = feedparser.parse(_atom(later))
    assert {e.id for e in second.entries} <= {e.id for e in first.entries}
    assert mention_urn("a b/c", "topic:x") == "urn:news-monitor:mention:a%20b%2Fc:topic%3Ax"


def test_atom_escapes_feed_text_and_links_only_http(hostile: SimpleNamespace, atom_schema: etree.RelaxNG) -> None:
    xml = _atom(hostile).encode("utf-8")
    assert atom_schema.validate(etree.fromstring(xml)), atom_schema.error_log
    assert check_rfc4287(xml) == []
    parsed = feedparser.parse(xml)
    assert not parsed.bozo
    assert len(parsed.entries) == 2
    root = etree.fromstring(xml)
    assert root.findall(f"{ATOM_NS}entry/{ATOM_NS}link") == []  # javascript: and a broken URL: no link
    assert all(not e.get("links") for e in parsed.entries)
    assert root.find(f"{ATOM_NS}entry/{ATOM_NS}title").text == HOSTILE_TITLE
    content = lxml.html.fragment_fromstring(parsed.entries[0].content[0].value, create_parent="div")
    assert not content.xpath("//script | //img | //@onerror")
    assert '<img src=x onerror="alert(1)">' in content.text_content()


def test_the_schema_catches_what_it_should(atom_schema: etree.RelaxNG) -> None:
    """The schema is no rubber stamp: a feed without id, or an entry with two titles, fails."""
    good = (b'<feed xmlns="http://www.w3.org/2005/Atom"><id>urn:x</id><title>t</title>'
            b'<updated>2025-12-05T08:00:00Z</updated><author><name>n</name></author>'
            b'<entry><id>urn:y</id><title>e</title><updated>2025-12-05T08:00:00Z</updated>'
            b'<link href="https://a.example/"/></entry></feed>')
    assert atom_schema.validate(etree.fromstring(good))
    assert check_rfc4287(good) == ["4.1.1: a feed SHOULD have a self link"]
    assert not atom_schema.validate(etree.fromstring(good.replace(b"<id>urn:x</id>", b"")))
    assert not atom_schema.validate(etree.fromstring(good.replace(b"<title>e</title>", b"<title>e</title>" * 2)))
    assert not atom_schema.validate(etree.fromstring(good.replace(b"<author><name>n</name></author>",
                                                                  b"<author/>")))
    no_author = good.replace(b"<author><name>n</name></author>", b"").replace(b' href="https://a.example/"', b'x="y"')
    bad_date = good.replace(b"2025-12-05T08:00:00Z", b"5 Dec 2025")
    assert "4.1.1: no feed author, and an entry without one" in check_rfc4287(no_author.replace(b'x="y"', b""))
    assert any(p.startswith("3.3") for p in check_rfc4287(bad_date))
