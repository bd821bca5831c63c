"""How a digest item is shown on the review page: highlighted sentences, marked text, safe links.

Everything here returns ``markupsafe.Markup`` built from escaped pieces: a title, a sentence or an
article's text comes from a feed, so it is escaped before any ``<mark>`` of ours is put around it.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from markupsafe import Markup, escape

from monitor.digest.evidence import best_and_rest


def safe_link(url: str | None) -> str | None:
    """The URL when it is http(s); None otherwise (a ``javascript:`` or ``data:`` link is never a link)."""
    if not url:
        return None
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    return url.strip() if parts.scheme.lower() in ("http", "https") and parts.netloc else None


def _merge(spans: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(s for s in spans if s[1] > s[0]):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def mark_spans(text: str, spans: Iterable[tuple[int, int]], css_class: str) -> Markup:
    """``text`` escaped, with each span (character offsets, overlaps merged) wrapped in ``<mark>``."""
    out: list[str] = []
    cursor = 0
    for start, end in _merge(spans):
        start, end = max(start, cursor), min(end, len(text))
        if start >= end:
            continue
        out.append(str(escape(text[cursor:start])))
        out.append(f'<mark class="{css_class}">{escape(text[start:end])}</mark>')
        cursor = end
    out.append(str(escape(text[cursor:])))
    return Markup("".join(out))


def term_spans(text: str, terms: Iterable[str]) -> list[tuple[int, int]]:
    """Where the matched terms occur in ``text``: whole words, any case, longest term first."""
    words = sorted({t.strip() for t in terms if t and t.strip()}, key=len, reverse=True)
    if not words:
        return []
    pattern = re.compile(r"(?<!\w)(?:" + "|".join(re.escape(w) for w in words) + r")(?!\w)", re.IGNORECASE)
    return [m.span() for m in pattern.finditer(text)]


def highlight_terms(text: str, terms: Iterable[str]) -> Markup:
    return mark_spans(text, term_spans(text, terms), "term")


def evidence_spans(text: str, item: dict[str, Any]) -> list[tuple[int, int]]:
    """The spans of the item's mention sentences in its extracted text.

    The evidence offsets are used when they still point at the sentence (field "text"); otherwise the
    sentence is looked for in the text (an item recorded before offsets were, or a text revised since).
    """
    spans: list[tuple[int, int]] = []
    placed: set[str] = set()
    for evidence in item.get("evidence") or []:
        if evidence.get("field") != "text":
            continue
        sentence = evidence.get("text") or ""
        start, end = evidence.get("start"), evidence.get("end")
        if isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= len(text) and (
                not sentence or _same(text[start:end], sentence)):
            spans.append((start, end))
            placed.add(sentence)
    for sentence in item.get("sentences") or []:
        if sentence in placed or not sentence.strip():
            continue
        found = text.find(sentence)
        if found < 0:
            found, length = _find_loosely(text, sentence)
        else:
            length = len(sentence)
        if found >= 0:
            spans.append((found, found + length))
    return spans


def _same(a: str, b: str) -> bool:
    return " ".join(a.split()) == " ".join(b.split())


def _find_loosely(text: str, sentence: str) -> tuple[int, int]:
    """The sentence in the text with any run of whitespace matching any other (line breaks differ)."""
    words = sentence.split()
    if not words:
        return -1, 0
    match = re.search(r"\s+".join(re.escape(w) for w in words), text)
    return (match.start(), match.end() - match.start()) if match else (-1, 0)


def when(value: dt.datetime | str | None) -> str:
    """A timestamp as ``2025-09-01 09:00 UTC`` (or the date alone when it has no time)."""
    if value is None or value == "":
        return "—"
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            return value
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC)
    return value.strftime("%Y-%m-%d %H:%M UTC")


def short(value: dt.datetime | None) -> str:
    """A timestamp as ``12-02 09:00`` (UTC), for the narrow feeds panel; the full one goes in a title."""
    if value is None:
        return "—"
    return value.astimezone(dt.UTC).strftime("%m-%d %H:%M") if value.tzinfo else value.strftime("%m-%d %H:%M")


def iso(value: dt.datetime | str | None) -> str:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return value or ""


def present_item(item: dict[str, Any]) -> dict[str, Any]:
    """The fields the template shows for one digest item."""
    best, rest = best_and_rest(item)

    def shown(sentence: dict[str, Any]) -> dict[str, Any]:
        return {"html": highlight_terms(sentence["text"], sentence["terms"]), "label": sentence["label"]}

    text = item.get("text")
    return {
        **item,
        "key": f"{item['article_id']}|{item['topic']}|{item['position']}",
        "link": safe_link(item.get("url")),
        "shown_title": item.get("title") or item.get("url") or item["article_id"],
        "published": when(item.get("published_at")) if item.get("published_at") else "unknown",
        "highlighted": [shown(sentence) for sentence in best],  # the best one to three; the rest folded
        "folded": [shown(sentence) for sentence in rest],
        "marked_text": mark_spans(text, evidence_spans(text, item), "evidence") if text else None,
        "similarities": sorted((item.get("similarity") or {}).items(), key=lambda kv: (-kv[1], kv[0])),
    }
