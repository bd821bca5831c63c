"""What the tests build, in one place: feed documents (RSS, Atom, JSON Feed), article pages, config files,
and the command line run in-process with its one-line errors.

Builders return text (or bytes for JSON Feed) and touch nothing; the fixtures that serve or write them live
beside the tests (tests/conftest.py, the test files)."""

from __future__ import annotations

import datetime as dt
import html
import json
from collections.abc import Callable, Iterable
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
import tomlkit

from monitor.cli import main
from monitor.config import Config, config_from_dict

REPO = Path(__file__).resolve().parents[1]
SHIPPED_CONFIG = REPO / "config" / "monitor.toml"

XML_DECLARATION = '<?xml version="1.0" encoding="utf-8"?>'
JSON_FEED_1_1 = "https://jsonfeed.org/version/1.1"


# -- the command line -------------------------------------------------------------------------------------


def cli(capsys: pytest.CaptureFixture[str], *args: str, config: Path | None = None) -> tuple[int, str, str]:
    """Run ``monitor.cli.main`` in-process (``--config config`` first when given) and return its exit code and
    what this call alone wrote to stdout and stderr."""
    capsys.readouterr()
    code = main([*(["--config", str(config)] if config is not None else []), *args])
    out, err = capsys.readouterr()
    return code, out, err


def one_line(err: str, *, prefix: str = "news-monitor: error: ", message_only: bool = False) -> str:
    """The command's one-line error (starting with ``prefix``, no traceback); with ``message_only``, without
    its ``prefix``."""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(prefix) and "Traceback" not in err
    return lines[0].removeprefix(prefix) if message_only else lines[0]


# -- RSS and Atom ---------------------------------------------------------------------------------------------


def rss_item(title: str, link: str, guid: str, published: dt.datetime, description: str, *,
             permalink: bool | None = None) -> str:
    """One ``<item>``; its values are written as given (escape them first where they need it)."""
    guid_attribute = "" if permalink is None else f' isPermaLink="{str(permalink).lower()}"'
    return (f"<item><title>{title}</title><link>{link}</link><guid{guid_attribute}>{guid}</guid>"
            f"<pubDate>{format_datetime(published)}</pubDate><description>{description}</description></item>")


def rss_document(items: Iterable[str], *, title: str, link: str, description: str = "d",
                 declaration: str = XML_DECLARATION) -> str:
    """An RSS 2.0 channel holding the given ``<item>`` elements."""
    return (f'{declaration}<rss version="2.0"><channel><title>{title}</title><link>{link}</link>'
            f"<description>{description}</description>{''.join(items)}</channel></rss>")


def atom_entry(entry_id: str, title: str, link: str, published: str, updated: str, summary: str) -> str:
    return (f"<entry><id>{entry_id}</id><title>{title}</title><link rel=\"alternate\" href=\"{link}\"/>"
            f"<published>{published}</published><updated>{updated}</updated><summary>{summary}</summary></entry>")


def atom_document(entries: Iterable[str], *, feed_id: str, title: str, updated: str = "2025-12-10T00:00:00Z",
                  declaration: str = XML_DECLARATION) -> str:
    return (f'{declaration}<feed xmlns="http://www.w3.org/2005/Atom"><id>{feed_id}</id><title>{title}</title>'
            f"<updated>{updated}</updated>{''.join(entries)}</feed>")


def published_at(day: str) -> dt.datetime:
    """An ISO timestamp as written, or a bare ISO date as 09:00 UTC that day."""
    if "T" in day:
        return dt.datetime.fromisoformat(day)
    return dt.datetime.fromisoformat(day).replace(hour=9, tzinfo=dt.UTC)


def rss(base: str, items: Iterable[tuple[str, str, str]], *, title: str = "Test RSS",
        escape: Callable[[str], str] = html.escape, query: str = "?utm_source=rss", guid_prefix: str = "rss-",
        summary_end: str = ".") -> str:
    """An RSS feed of articles given as (slug, title, ISO date or timestamp); each links to
    ``base/articles/<slug>.html`` plus ``query``. ``escape`` writes the entry titles (``title`` is written as given);
    the description is the escaped title and ``summary_end``."""
    entries = (rss_item(escape(headline), f"{base}/articles/{slug}.html{query}", f"{guid_prefix}{slug}",
                        published_at(day), f"{html.escape(headline)}{summary_end}", permalink=False)
               for slug, headline, day in items)
    return rss_document(entries, title=title, link=f"{base}/", description="test")


def atom(base: str, items: Iterable[tuple[str, str, str]], *, title: str = "Test Atom",
         feed_id: str = "tag:test,2025:feed", escape: Callable[[str], str] = html.escape,
         summary_end: str = ".") -> str:
    """An Atom feed of articles given as (slug, title, ISO date or timestamp), as :func:`rss` writes them."""
    entries = []
    for slug, headline, day in items:
        stamp = day if "T" in day else f"{day}T09:00:00Z"
        entries.append(atom_entry(f"tag:test,2025:{slug}", escape(headline), f"{base}/articles/{slug}.html",
                                  stamp, stamp, f"{html.escape(headline)}{summary_end}"))
    return atom_document(entries, feed_id=feed_id, title=title)


def recent_rss(base: str, items: Iterable[tuple[str, ...]], newest: dt.datetime, *, title: str,
               declaration: str = XML_DECLARATION) -> str:
    """A feed of items given as (guid, title) or (guid, title, description), the first published at ``newest``
    and each next one an hour earlier; links are ``base/<guid>.html``, the description ``About <title>.``
    unless given."""
    entries = (rss_item(item[1], f"{base}/{item[0]}.html", item[0], newest - dt.timedelta(hours=i),
                        item[2] if len(item) > 2 else f"About {item[1]}.")
               for i, item in enumerate(items))
    return rss_document(entries, title=title, link=f"{base}/", declaration=declaration)


def hourly_rss(base: str, count: int, newest: dt.datetime, prefix: str = "item") -> str:
    """``count`` items an hour apart from ``newest``: ``<prefix> <i>`` at ``base/<prefix>/<i>.html``."""
    entries = (rss_item(f"{prefix} {i}", f"{base}/{prefix}/{i}.html", f"{prefix}-{i}",
                        newest - dt.timedelta(hours=i), f"Text {i}.") for i in range(count))
    return rss_document(entries, title="T", link=f"{base}/")


# -- JSON Feed ----------------------------------------------------------------------------------------------

_JSON_TEXT_FIELDS = ("title", "content_html", "content_text", "summary")


def json_feed(items: list[Any], version: Any = JSON_FEED_1_1, **top: Any) -> bytes:
    """A JSON Feed of ``items`` (``top`` adds or replaces top-level members, the title "World" by default). An
    item object with no title and no text gets a line of text, so that it is an article (an item with no title,
    no link and no text is skipped as ``empty_entry``, tested on its own)."""
    items = [{**item, "content_text": "A line of text."}
             if isinstance(item, dict) and not any(key in item for key in _JSON_TEXT_FIELDS) else item
             for item in items]
    return json.dumps({"version": version, "title": "World", **top, "items": items}).encode()


# -- article pages ------------------------------------------------------------------------------------------


def article_page(title: str, text: str) -> str:
    """A text wrapped in a realistic page: navigation, the article (a paragraph a line), related links, a footer."""
    paragraphs = "\n".join(f"<p>{html.escape(p.strip())}</p>" for p in text.splitlines() if p.strip())
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)} | Test Times</title>
</head><body><header><nav><a href="/">Home</a> <a href="/world">World</a> <a href="/business">Business</a>
<a href="/sport">Sport</a> <a href="/opinion">Opinion</a></nav></header>
<main><article><h1>{html.escape(title)}</h1><p class="byline">By Staff Reporter</p>{paragraphs}</article>
<aside><h2>Related</h2><ul><li><a href="/a">Markets close higher</a></li><li><a href="/b">Weather</a></li></ul></aside>
</main><footer><p>© Test Times. All rights reserved.</p><a href="/contact">Contact</a> <a href="/privacy">Privacy</a>
</footer></body></html>"""


# -- config files -------------------------------------------------------------------------------------------


def config_text(database_url: str, feeds: list[dict[str, Any]], *, scheduler: dict[str, Any] | None = None,
                **network: Any) -> str:
    """The shipped config with the given feeds, loopback allowed, short timeouts and the given database."""
    document = tomlkit.parse(SHIPPED_CONFIG.read_text(encoding="utf-8"))
    document["storage"]["url"] = database_url
    document["storage"]["auto_migrate"] = True
    document["network"]["allow_private_addresses"] = True
    document["network"]["connect_timeout"] = "2s"
    document["network"]["read_timeout"] = "2s"
    document["network"]["total_timeout"] = "5s"
    for key, value in network.items():
        document["network"][key] = value
    document["scheduler"]["jitter"] = "1s"
    for key, value in (scheduler or {}).items():
        document["scheduler"][key] = value
    feed_array = tomlkit.aot()
    for feed in feeds:
        table = tomlkit.table()
        table.update(feed)
        feed_array.append(table)
    document["feeds"] = feed_array
    for topic in document["topics"]:
        topic["reference_documents"] = [str(REPO / "config" / "reference" / "*.md")]
    return tomlkit.dumps(document)


def config_for(url: str, tmp_path: Path, **sections: dict) -> Config:
    """A config (not written) with the given storage URL and sections, as if read from ``tmp_path/monitor.toml``."""
    return config_from_dict({"storage": {"url": url, "auto_migrate": True}, **sections},
                            source=tmp_path / "monitor.toml")
