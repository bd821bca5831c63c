"""Render a digest: rich text for the terminal, plain text, Markdown, a standalone HTML page, JSON and Atom 1.0.

Every renderer reads only the digest's ``items``, ``stories``, ``timeline``, ``counts``, ``window``, ``generated_at``
and ``as_dict()``, and shows the same structure: a header with the counts, the timeline's events that the items
report (``timeline_render``), then day by day, story by story
(its title and the outlets that covered it), each item with its title, outlet and feed, publication date,
score, the sentences that mention the topic with the matched terms highlighted, and the dates they refer to.

Everything that comes from a feed is untrusted: rich output uses ``Text`` objects (never markup strings),
Markdown escapes its specials, HTML is autoescaped by Jinja2, and only http(s) URLs become links.

``render_as(digest, format, config)`` picks a renderer by the format's name, as ``[digest] formats`` and
``digest --format`` name them.
"""

from __future__ import annotations

import copy
import datetime as dt
import io
import json
import re
import urllib.parse
from collections.abc import Callable, Iterable
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from rich.console import Console
from rich.text import Text

from monitor import __version__
from monitor.digest import timeline_render
from monitor.digest.evidence import best_and_rest
from monitor.language.text import Term, TermIndex, cleaned, tokens, without_surrogates, xml_finalize, xml_safe

if TYPE_CHECKING:
    from monitor.config import Config

TEMPLATES = Path(__file__).with_name("templates")
TERM_STYLE = "bold black on yellow"
ATOM_TITLE = "news-monitor mentions"  # the same title in a digest's file and on /feed.atom
_UNSAFE_URL = re.compile(r"[\x00-\x20\x7f<>\"'\\]")

Segments = list[tuple[str, bool]]


# --- shared helpers ---------------------------------------------------------------------------------------

def highlight(sentence: str, terms: Iterable[str]) -> Segments:
    """``sentence`` cut into (text, is_term) segments, the matched ``terms`` marked. Terms are the topic's
    keyword labels ("Modi", "meet*", "meeting ... demand*") and match as the tagger matches them: ignoring
    case and diacritics, a ``*`` as any ending. Joining the texts gives back the sentence."""
    index = _term_index(tuple(sorted(set(terms))))
    spans = sorted((hit.start, hit.end) for hit in index.find(tokens(sentence)))
    merged: list[list[int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    out: Segments = []
    at = 0
    for start, end in merged:  # offsets of the folded text are those of the sentence: fold keeps lengths
        if start > at:
            out.append((sentence[at:start], False))
        out.append((sentence[start:end], True))
        at = end
    if at < len(sentence) or not out:
        out.append((sentence[at:], False))
    return out


@lru_cache(maxsize=64)
def _term_index(terms: tuple[str, ...]) -> TermIndex:
    compiled = [Term.compile("", label) for label in terms]
    return TermIndex([term for term in compiled if term is not None])


def safe_url(url: str | None) -> str | None:
    """``url`` when it is an absolute http(s) URL fit for a link, else None (``javascript:``, ``data:`` ...)."""
    if not url or _UNSAFE_URL.search(url):
        return None
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return None
    return url if parts.scheme.lower() in ("http", "https") and parts.netloc else None


def printable(digest: Any, clean: Callable[[str], str] = xml_safe) -> Any:
    """The digest with ``clean`` applied to every string of its items and stories: what comes from a feed
    may hold characters that a format cannot carry (XML's forbidden ones, a terminal's controls)."""
    safe = copy.copy(digest)
    safe.items, safe.stories = cleaned(digest.items, clean), cleaned(digest.stories, clean)
    safe.timeline = cleaned(_timeline(digest), clean)
    return safe


def _folded(rest: list[dict[str, Any]]) -> str:
    """The line that stands for the sentences not shown: how many, and how many of them do not count."""
    if not rest:
        return ""
    uncounted = sum(1 for sentence in rest if sentence["label"])
    return (f"… and {_plural(len(rest), 'more sentence')}"
            + (f" ({uncounted} history or context, which do not count)" if uncounted else ""))


def _timeline(digest: Any) -> list[dict[str, Any]]:
    """The digest's timeline events (a digest made before the timeline existed has none)."""
    return getattr(digest, "timeline", None) or []


def header(digest: Any) -> str:
    counts = digest.counts
    window = digest.window or {}
    mentions = counts.get("mentions", len(digest.items))
    stories = counts.get("stories", len(digest.stories))
    since = f"since {window['since']}" if window.get("since") else "since the last review"
    return (f"{_plural(mentions, 'new mention')} in {_plural(stories, 'story', 'stories')} {since}"
            f" · {counts.get('feeds_polled', 0)}/{counts.get('feeds', 0)} feeds polled"
            f" · {counts.get('feeds_failing', 0)} failing"
            + (f" · {_plural(counts['pages_failed'], 'page')} failed" if counts.get("pages_failed") else ""))


def _plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


def outlet(item: dict[str, Any]) -> str:
    if item.get("outlet"):
        return str(item["outlet"])
    host = urllib.parse.urlsplit(item.get("url") or "").hostname or ""
    return host.removeprefix("www.") or str(item.get("feed") or "")


def solo(items: list[dict[str, Any]]) -> bool:
    """A story of one article (tagged for one topic or several): its title is the article's, so the article's
    own title and the outlets line are not repeated under it."""
    return len({item.get("article_id") for item in items}) == 1


def outlets_line(story: dict[str, Any]) -> str:
    names = story.get("outlets") or []
    return f"{_plural(len(names), 'outlet')}: {', '.join(names)}"


def date_label(ref: dict[str, Any]) -> str:
    """ "4-5 December → 2025-12-04…2025-12-05" """
    start, end = ref.get("date"), ref.get("end_date")
    span = start if not end or end == start else f"{start}…{end}"
    return f"{ref.get('text', '')} → {span}"


def _day_of(value: str | None) -> str:
    return value[:10] if value else "undated"


def grouped(digest: Any) -> list[tuple[str, list[tuple[dict[str, Any], list[dict[str, Any]]]]]]:
    """[(day, [(story, [item, ...]), ...]), ...] in the digest's order. Items no story lists (a digest
    built without grouping) become stories of their own."""
    stories = list(digest.stories)
    listed = {i for story in stories for i in story.get("items", [])}
    for i, item in enumerate(digest.items):
        if i not in listed:
            stories.append({"id": item.get("story") or str(i), "title": item.get("title") or item.get("url") or "",
                            "day": _day_of(item.get("published_at") or item.get("tagged_at")), "items": [i],
                            "outlets": [outlet(item)], "feeds": [item.get("feed")],
                            "first_published": item.get("published_at"), "score": item.get("score")})
    days: list[tuple[str, list[tuple[dict[str, Any], list[dict[str, Any]]]]]] = []
    for story in stories:
        day = story.get("day") or "undated"
        if not days or days[-1][0] != day:
            days.append((day, []))
        days[-1][1].append((story, [digest.items[i] for i in story.get("items", [])]))
    return days


def _score(item: dict[str, Any]) -> str:
    score = item.get("score")
    return f"{score:.2f}" if isinstance(score, (int, float)) else "–"


def human_time(value: str | None) -> str:
    """ "5 Dec 2025, 08:00 UTC" for a reader (text, Markdown, HTML); JSON keeps ISO 8601."""
    if not value:
        return "unknown"
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        return value
    moment = moment.astimezone(dt.UTC) if moment.tzinfo else moment
    return f"{moment.day} {moment:%b %Y, %H:%M} UTC"


def _meta(item: dict[str, Any]) -> list[str]:
    parts = [outlet(item)]
    if item.get("feed") and item["feed"] != parts[0]:
        parts.append(f"feed {item['feed']}")
    parts += [f"published {human_time(item.get('published_at'))}", f"topic {item.get('topic')}",
              f"score {_score(item)}"]
    if item.get("reviewed"):
        parts.append("reviewed")
    return parts


# --- rich and plain text --------------------------------------------------------------------------------

def _indent(text: Text, width: int) -> Text:
    """Indented, and wrapped lines hang under the first: each line after a wrap starts ``width`` spaces in.
    (Spaces rather than rich's Padding, which crops what a soft-wrapping console would keep.) A line too long
    for the console is wrapped here, at word boundaries, so the terminal never breaks it at column 0."""
    return Text.assemble(" " * width, text)


def _hanging(console: Console, text: Text, width: int, hang: int = 2) -> None:
    """Print ``text`` indented by ``width`` within the console's width, its wrapped lines hanging ``hang``
    further in (under the text after "› "); a word longer than a line is folded."""
    room = max(20, console.width - width - hang)
    for index, line in enumerate(text.wrap(console, room, overflow="fold")):
        line.rstrip()
        console.print(Text.assemble(" " * (width + (hang if index else 0)), line), highlight=False, soft_wrap=True)


def print_text(digest: Any, console: Console) -> None:
    """The digest on a rich console. Feed text goes in ``Text`` objects: "[bold]" in a title stays text, and
    control characters (an ESC sequence in a title) are replaced, so feed text never drives the terminal."""
    digest = printable(digest)
    _hanging(console, Text.assemble(("news-monitor digest", "bold"), " — ", header(digest)), 0)
    if _timeline(digest):
        console.print()
        console.rule(Text("Timeline", style="bold"))
        for line in timeline_render.text_lines(digest.timeline, width=max(40, console.width)):
            console.print(Text(line, style="bold" if line.startswith("■") else ""), highlight=False)
    if not digest.items:
        console.print("No new mentions.", highlight=False)
        return
    for day, stories in grouped(digest):
        console.print()
        console.rule(Text(day, style="bold"))
        for story, items in stories:
            console.print()
            alone = solo(items)
            heading = (items[0].get("title") or items[0].get("url") or "") if alone else story.get("title") or ""
            _hanging(console, Text.assemble(("■ ", "cyan"), (heading, "bold cyan")), 0)
            if not alone:
                _hanging(console, Text(outlets_line(story), style="cyan"), 2)
            for item in items:
                if not alone:
                    _hanging(console, Text.assemble("• ", (item.get("title") or item.get("url") or "", "bold")), 2)
                _hanging(console, Text(" · ".join(_meta(item)), style="dim"), 4)
                console.print(_indent(Text(item.get("url") or "", style="blue"), 4), highlight=False)
                best, rest = best_and_rest(item)
                for sentence in best:
                    line = Text.assemble(("› ", "cyan"), *(((f"({sentence['label']}) ", "italic"),) * bool(
                        sentence["label"])), *((s, TERM_STYLE if term else "")
                                              for s, term in highlight(sentence["text"], sentence["terms"])))
                    _hanging(console, line, 4)
                if rest:
                    console.print(_indent(Text(_folded(rest), style="dim"), 4), highlight=False)
                for ref in item.get("dates", []):
                    console.print(_indent(Text(f"date: {date_label(ref)}", style="dim"), 6),
                                  highlight=False)


def to_text(digest: Any, *, width: int = 100) -> str:
    """Plain text, no styles (an email's text part)."""
    buffer = io.StringIO()
    console = Console(file=buffer, width=width, color_system=None, force_terminal=False, no_color=True,
                      emoji=False, highlight=False)
    print_text(digest, console)
    return "\n".join(line.rstrip() for line in buffer.getvalue().splitlines()) + "\n"


# --- Markdown -------------------------------------------------------------------------------------------

_MD_SPECIALS = re.compile(r"([\\`*_\[\]{}<>()#!|~])")


def md_escape(text: str, *, collapse: bool = True) -> str:
    """Feed text as Markdown text: specials escaped, whitespace (line breaks too) collapsed."""
    return _MD_SPECIALS.sub(r"\\\1", " ".join(str(text).split()) if collapse else str(text))


def _md_link(label: str, url: str | None) -> str:
    link = safe_url(url)
    if link is None:
        return md_escape(label)
    return f"[{md_escape(label)}](<{link}>)"  # <...>: a destination with parentheses needs no escaping


def to_markdown(digest: Any) -> str:
    digest = printable(digest)
    lines = ["# news-monitor digest", "", f"_{md_escape(header(digest))}_", ""]
    if _timeline(digest):
        lines += ["## Timeline", "", *timeline_render.markdown_lines(digest.timeline, md_escape)]
    if not digest.items:
        lines.append("No new mentions.")
    for day, stories in grouped(digest):
        lines += [f"## {md_escape(day)}", ""]
        for story, items in stories:
            if solo(items):  # one article: the heading is its title and link, each item its details
                url = items[0].get("url")
                lines += [f"### {_md_link(items[0].get('title') or url or '', url)}", ""]
            else:
                lines += [f"### {md_escape(story.get('title') or '')}", "", md_escape(outlets_line(story)), ""]
            for item in items:
                if solo(items):
                    lines.append(f"- {md_escape(' · '.join(_meta(item)))}")
                else:
                    lines += [f"- **{_md_link(item.get('title') or item.get('url') or '', item.get('url'))}**",
                              f"  {md_escape(' · '.join(_meta(item)))}"]
                best, rest = best_and_rest(item)
                for sentence in best:
                    text = " ".join(sentence["text"].split())  # one line: a line break would end the quote
                    quoted = "".join(f"**{md_escape(s)}**" if term else md_escape(s, collapse=False)
                                     for s, term in highlight(text, sentence["terms"]))
                    lines += ["", f"  > {'_(' + sentence['label'] + ')_ ' if sentence['label'] else ''}{quoted}"]
                if rest:
                    lines += ["", f"  {md_escape(_folded(rest))}"]
                if item.get("dates"):
                    lines += ["", "  Dates: " + md_escape("; ".join(date_label(d) for d in item["dates"]))]
                lines.append("")
    return "\n".join(lines).rstrip() + "\n"


# --- HTML -----------------------------------------------------------------------------------------------

@lru_cache(maxsize=1)
def _environment() -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(default=True,
                      default_for_string=True), trim_blocks=True, lstrip_blocks=True, finalize=xml_finalize)
    env.filters["safe_url"] = safe_url
    return env


def _item_view(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "title": item.get("title") or item.get("url") or "(untitled)",
        "url": item.get("url") or "", "link": safe_url(item.get("url")), "outlet": outlet(item),
        "feed": item.get("feed") if item.get("feed") != outlet(item) else None,
        "published": human_time(item.get("published_at")), "topic": item.get("topic"), "score": _score(item),
        "reviewed": bool(item.get("reviewed")),
        "sentences": [(sentence["label"], highlight(sentence["text"], sentence["terms"]))
                      for sentence in best_and_rest(item)[0]],
        "folded": _folded(best_and_rest(item)[1]), "rule": item.get("rule"),
        "dates": [date_label(d) for d in item.get("dates", [])],
    }


def _view(digest: Any) -> list[dict[str, Any]]:
    return [{"day": day, "stories": [_story_view(story, items) for story, items in stories]}
            for day, stories in grouped(digest)]


def _story_view(story: dict[str, Any], items: list[dict[str, Any]]) -> dict[str, Any]:
    views = [_item_view(item) for item in items]
    if solo(items):  # one article: its title (linked) heads the story, and is not repeated under it
        return {"title": views[0]["title"], "solo": True, "link": views[0]["link"], "items": views}
    return {"title": story.get("title") or "", "outlets": outlets_line(story), "solo": False, "items": views}


def to_html(digest: Any, *, title: str = "news-monitor digest") -> str:
    """A standalone HTML5 page: inline CSS, no script, no external resource (it reads in a mail client).
    Every value goes out escaped and XML-safe (the environment's ``finalize``)."""
    generated = digest.generated_at.isoformat() if digest.generated_at else ""
    return _environment().get_template("digest.html").render(
        title=title, header=header(digest), days=_view(digest), empty=not digest.items, generated_at=generated,
        version=__version__, events=timeline_render.view(_timeline(digest)))


# --- JSON -----------------------------------------------------------------------------------------------

def to_json(digest: Any) -> str:
    """JSON carries control characters (escaped); only lone surrogates, which no UTF-8 writer can encode,
    are replaced."""
    return json.dumps(cleaned(digest.as_dict(), without_surrogates), ensure_ascii=False, indent=2,
                      default=_json_default)


def _json_default(value: Any) -> Any:
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


# --- Atom 1.0 (RFC 4287) --------------------------------------------------------------------------------

def mention_urn(article_id: str, topic: str) -> str:
    """A stable entry id (RFC 4287 §4.2.6: an IRI that never changes): one per article and topic."""
    return "urn:news-monitor:mention:{}:{}".format(*(urllib.parse.quote(str(v), safe="-._~") for v in
                                                     (article_id, topic)))


def _when(value: str | dt.datetime | None) -> dt.datetime | None:
    """An RFC 3339 date-time needs a zone: a naive value is taken as UTC, as the store keeps them."""
    if value is None or value == "":
        return None
    when = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def to_atom(digest: Any, *, feed_id: str, self_url: str, site_url: str | None = None,
            title: str = ATOM_TITLE) -> str:
    """Atom 1.0: one entry per item, ids stable across digests, the story's other outlets in the content.
    Characters XML forbids are replaced, so one odd title cannot break the whole feed. The feed says its
    language (``xml:lang``: the text it adds is English) and every entry has its own ``updated``, so a reader
    that sorts or dedupes by it sees each entry once and in order."""
    from feedgen.feed import FeedGenerator  # imported here: only the atom format needs it

    digest = printable(digest)
    feed_id, self_url, title = xml_safe(feed_id), xml_safe(self_url), xml_safe(title)
    site_url = xml_safe(site_url) if site_url else site_url

    generated = _when(digest.generated_at) or dt.datetime.now(dt.UTC)
    feed = FeedGenerator()
    feed.id(feed_id)
    feed.title(title)
    feed.language("en")
    feed.subtitle(header(digest))
    feed.updated(generated)
    feed.link(href=self_url, rel="self", type="application/atom+xml")
    if safe_url(site_url):
        feed.link(href=site_url, rel="alternate", type="text/html")
    feed.author({"name": "news-monitor"})
    feed.generator("news-monitor", version=__version__)
    stories = {story.get("id"): story for story in digest.stories}
    template = _environment().get_template("atom_entry.html")
    updated = _distinct_updated(digest.items, generated)
    for _, day_stories in grouped(digest):
        for story, items in day_stories:
            for item in items:
                entry = feed.add_entry(order="append")
                entry.id(mention_urn(item["article_id"], item.get("topic") or ""))
                entry.title(" ".join((item.get("title") or item.get("url") or "(untitled)").split()))
                if safe_url(item.get("url")):
                    entry.link(href=item["url"], rel="alternate", type="text/html")
                entry.updated(updated[(item["article_id"], item.get("topic"))])
                published = _when(item.get("published_at"))
                if published:
                    entry.published(published)
                entry.author({"name": outlet(item) or "unknown"})
                own_story = stories.get(item.get("story"), story)
                entry.summary(f"{outlets_line(own_story)} · score {_score(item)}")
                entry.content(template.render(item=_item_view(item), outlets=outlets_line(own_story),
                                              story=own_story.get("title") or "", solo=solo(items)), type="html")
                if item.get("topic"):
                    entry.category(term=item["topic"])
    return feed.atom_str(pretty=True).decode("utf-8")


def _distinct_updated(items: list[dict[str, Any]], generated: dt.datetime) -> dict[tuple[str, Any], dt.datetime]:
    """Each item's Atom ``updated``: when it was tagged, one second later per item tagged at the same time
    before it (in log order), so no two entries share one (an article tagged for two topics in one batch)."""
    taken: set[dt.datetime] = set()
    out: dict[tuple[str, Any], dt.datetime] = {}
    for item in sorted(items, key=lambda i: (i.get("position") or 0, i.get("article_id") or "", i.get("topic") or "")):
        when = _when(item.get("tagged_at")) or generated
        while when in taken:
            when += dt.timedelta(seconds=1)
        taken.add(when)
        out[(item["article_id"], item.get("topic"))] = when
    return out


# --- any format, by name --------------------------------------------------------------------------------

def render_as(digest: Any, fmt: str, config: Config) -> str:
    """The digest in the format named as ``[digest] formats`` and ``digest --format`` name them; the Atom
    feed's links point at the review page (``[web] base_url``, else its host and port)."""
    if fmt == "html":
        return to_html(digest)
    if fmt == "markdown":
        return to_markdown(digest)
    if fmt == "json":
        return to_json(digest) + "\n"
    if fmt == "text":
        return to_text(digest)
    if fmt == "atom":
        base = (config.web.base_url or f"http://{config.web.host}:{config.web.port}").rstrip("/")
        return to_atom(digest, feed_id=f"urn:news-monitor:digest:{digest.window['up_to_position']}",
                       self_url=f"{base}/feed.atom", site_url=f"{base}/")
    raise ValueError(f"unknown digest format {fmt!r}")


__all__ = [
    "highlight", "safe_url", "header", "grouped", "solo", "print_text", "to_text", "to_markdown", "to_html", "to_json",
    "to_atom", "mention_urn", "render_as", "ATOM_TITLE",
]
