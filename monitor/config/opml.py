"""OPML subscription lists: import the feeds another reader follows, export ours.

OPML files come from users and other programs, so they are parsed with defusedxml: a document that
declares an entity (a billion-laughs bomb, or an external entity reading a local file or a URL: XXE) is
refused, never expanded or fetched. Any ``<outline>`` with an ``xmlUrl`` is a feed, at any depth; the
outlines it is nested in are its category (OPML 2.0, "subscription lists": http://opml.org/spec2.opml).
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from email.utils import format_datetime
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit
from xml.etree import ElementTree

from defusedxml import DefusedXmlException, EntitiesForbidden, ExternalReferenceForbidden
from defusedxml.ElementTree import fromstring

from monitor.config.edit import add_feeds
from monitor.config.load import load_config, resolve_config_path
from monitor.config.model import FeedSettings
from monitor.errors import ConfigError
from monitor.events.keys import canonical_url

MAX_OPML_SIZE = 16 * 1024 * 1024  # far above any real subscription list
# Characters XML 1.0 cannot carry at all, not even escaped (§2.2): dropped on export.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


@dataclass(frozen=True)
class Outline:
    """An outline with an ``xmlUrl``. ``problem`` says why it cannot be a feed (None when it can)."""

    title: str
    url: str
    html_url: str | None = None
    category: str | None = None  # the titles of the outlines it is nested in, joined by "/"
    problem: str | None = None


@dataclass(frozen=True)
class Subscriptions:
    title: str | None
    outlines: list[Outline]  # in document order, usable or not

    @property
    def feeds(self) -> list[Outline]:
        return [o for o in self.outlines if o.problem is None]

    @property
    def skipped(self) -> list[Outline]:
        return [o for o in self.outlines if o.problem is not None]


@dataclass(frozen=True)
class ImportOutcome:
    """What ``import_opml`` did with one outline: ``name`` is the feed added or the one already configured."""

    outline: Outline
    action: Literal["added", "skipped"]
    name: str | None
    reason: str | None = None

    def __str__(self) -> str:
        where = f" [{self.outline.category}]" if self.outline.category else ""
        if self.action == "added":
            return f"added {self.name}: {self.outline.url}{where}"
        return f"skipped {self.outline.title or self.outline.url!r}: {self.reason}"


def read_opml(path: str | os.PathLike[str]) -> Subscriptions:
    """Read and parse an OPML file; every problem is a ConfigError naming the file."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_OPML_SIZE + 1)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read OPML file: {exc.strerror or exc}") from exc
    if len(data) > MAX_OPML_SIZE:
        raise ConfigError(f"{path}: OPML file larger than {MAX_OPML_SIZE // 1024 // 1024} MiB")
    return parse_opml(data, str(path))


def parse_opml(data: bytes, source: str = "<opml>") -> Subscriptions:
    """The outlines with an ``xmlUrl`` of an OPML 1.0/2.0 document (its own encoding declaration decides)."""
    try:
        root = fromstring(data, forbid_dtd=False, forbid_entities=True, forbid_external=True)
    except EntitiesForbidden as exc:
        if exc.sysid or exc.pubid:
            raise ConfigError(f"{source}: refused: the document declares an external entity {exc.name!r} "
                              f"({exc.sysid or exc.pubid}); external entities are never fetched") from None
        raise ConfigError(f"{source}: refused: the document declares an XML entity {exc.name!r}; entities are "
                          "not expanded (they can be a billion-laughs bomb)") from None
    except ExternalReferenceForbidden as exc:
        raise ConfigError(f"{source}: refused: the document refers to an external resource "
                          f"({exc.sysid or exc.pubid}); it is never fetched") from None
    except DefusedXmlException as exc:
        raise ConfigError(f"{source}: refused: unsafe XML ({type(exc).__name__})") from None
    except ElementTree.ParseError as exc:
        raise ConfigError(f"{source}: not valid XML: {exc}") from None
    if _local(root.tag) != "opml":
        raise ConfigError(f"{source}: not an OPML document (the root element is <{_local(root.tag)}>, "
                          "expected <opml>)")
    body = next((child for child in root if _local(child.tag) == "body"), None)
    if body is None:
        raise ConfigError(f"{source}: not an OPML document (no <body>)")
    head = next((child for child in root if _local(child.tag) == "head"), None)
    title_element = next((c for c in head if _local(c.tag) == "title"), None) if head is not None else None
    title = _clean(title_element.text or "") if title_element is not None else ""

    outlines: list[Outline] = []
    # Depth-first in document order, without recursion: nesting depth is the file's to choose.
    stack: list[tuple[ElementTree.Element, tuple[str, ...]]] = [(e, ()) for e in reversed(body) if _is_outline(e)]
    while stack:
        element, path = stack.pop()
        attrs = {_local(k).lower(): v for k, v in element.attrib.items()}  # xmlUrl, xmlurl: both are seen
        text = _clean(attrs.get("text") or attrs.get("title") or "")
        if "xmlurl" in attrs:
            url = attrs["xmlurl"].strip()
            outlines.append(Outline(title=text, url=url, html_url=(attrs.get("htmlurl") or "").strip() or None,
                                    category="/".join(path) or None, problem=_url_problem(url)))
        inner = (*path, text) if text else path
        stack.extend((child, inner) for child in reversed(element) if _is_outline(child))
    if not outlines:
        raise ConfigError(f"{source}: no feeds in this OPML (no <outline> with an xmlUrl)")
    return Subscriptions(title=title or None, outlines=outlines)


def import_opml(config_path: str | os.PathLike[str] | None, opml_path: str | os.PathLike[str], *,
                interval: str | None = None, dry_run: bool = False) -> list[ImportOutcome]:
    """Add the OPML's feeds the config lacks (by canonical URL) as new ``[[feeds]]`` at the end of the file.

    The file's own text stays as it was; nothing is written if the result is not a valid config, or with
    ``dry_run``. Returns one outcome per outline with an ``xmlUrl``, in document order.
    """
    path = resolve_config_path(config_path)
    subscriptions = read_opml(opml_path)
    configured = {canonical_url(feed.url): feed.name for feed in load_config(path).feeds}
    outcomes: list[ImportOutcome] = []
    new: list[dict[str, str]] = []
    first_seen: dict[str, int] = {}  # canonical URL → index in ``new``, for outlines listed twice
    pending: list[tuple[int, Outline, int]] = []  # (outcome index, outline, index in new) to name afterwards
    for outline in subscriptions.outlines:
        if outline.problem:
            outcomes.append(ImportOutcome(outline, "skipped", None, f"bad URL {outline.url!r}: {outline.problem}"))
            continue
        key = canonical_url(outline.url)
        if key in configured:
            outcomes.append(ImportOutcome(outline, "skipped", configured[key],
                                          f"already configured as {configured[key]}"))
        elif key in first_seen:
            pending.append((len(outcomes), outline, first_seen[key]))
            outcomes.append(ImportOutcome(outline, "skipped", None))
        else:
            first_seen[key] = len(new)
            pending.append((len(outcomes), outline, len(new)))
            outcomes.append(ImportOutcome(outline, "added", None))
            new.append({"title": outline.title, "url": outline.url, **({"interval": interval} if interval else {})})
    names = add_feeds(path, new, dry_run=dry_run)
    for position, outline, index in pending:
        if outcomes[position].action == "added":
            outcomes[position] = ImportOutcome(outline, "added", names[index])
        else:
            outcomes[position] = ImportOutcome(outline, "skipped", names[index],
                                               f"listed twice in the OPML (added once, as {names[index]})")
    return outcomes


def export_opml(feeds: Iterable[FeedSettings], *, title: str = "news-monitor feeds",
                now: dt.datetime | None = None) -> str:
    """An OPML 2.0 subscription list of the feeds, UTF-8, every value escaped by ElementTree."""
    moment = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    root = ElementTree.Element("opml", version="2.0")
    head = ElementTree.SubElement(root, "head")
    ElementTree.SubElement(head, "title").text = _NOT_XML.sub("", title)
    ElementTree.SubElement(head, "dateCreated").text = format_datetime(moment, usegmt=True)  # RFC 822 form
    ElementTree.SubElement(head, "docs").text = "http://opml.org/spec2.opml"
    body = ElementTree.SubElement(root, "body")
    for feed in feeds:
        name, url = _NOT_XML.sub("", feed.name), _NOT_XML.sub("", feed.url)
        ElementTree.SubElement(body, "outline", {"type": "rss", "text": name, "title": name, "xmlUrl": url})
    ElementTree.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ElementTree.tostring(root, encoding="unicode") + "\n"


def write_opml(feeds: Iterable[FeedSettings], output: str | os.PathLike[str]) -> int:
    """Write ``export_opml(feeds)`` to a file; return the number of feeds."""
    feeds = list(feeds)
    try:
        Path(output).write_text(export_opml(feeds), encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{output}: cannot write OPML file: {exc.strerror or exc}") from exc
    return len(feeds)


def _local(tag: str) -> str:
    """A tag or attribute name without its namespace: ``{http://…}opml`` → ``opml``."""
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _is_outline(element: ElementTree.Element) -> bool:
    return _local(element.tag) == "outline"


def _clean(text: str) -> str:
    return " ".join(text.split())


def _url_problem(url: str) -> str | None:
    if not url:
        return "empty xmlUrl"
    try:
        parts = urlsplit(url)
        if parts.scheme.lower() not in ("http", "https"):
            return "not an http(s) URL"
        if not parts.hostname:
            return "no host"
        canonical_url(url)
    except ValueError as exc:
        return f"malformed URL ({exc})"
    return None
