"""Render the timeline: plain text (for the terminal and a digest's opening), Markdown, HTML, JSON and iCalendar.

Each event reads as one line of when, what, who and where, then its status and coverage, then its evidence
(the sentence and the words that dated it). Dates are human-readable ("1 Sep 2025", "4–5 Dec 2025") in text,
Markdown and HTML; ISO stays in JSON and iCalendar. Feed text is escaped as in the digests (``render``).

``to_ics`` is an iCalendar file (RFC 5545) made by the ``icalendar`` package: one all-day VEVENT per event,
upcoming ones included (an analyst puts the next summit in a calendar), its UID stable across runs
(``<id>@news-monitor``) so that a calendar re-importing the file updates the event rather than adding another.
"""

from __future__ import annotations

import datetime as dt
import json
import textwrap
from collections.abc import Iterable
from typing import Any

from monitor import __version__
from monitor.language.text import cleaned, without_surrogates

_EVIDENCE_SHOWN = 3


def day_span(start: str, end: str) -> str:
    """ "1 Sep 2025", "4–5 Dec 2025", "30 Nov – 1 Dec 2025", "28 Dec 2025 – 2 Jan 2026" """
    a, b = dt.date.fromisoformat(start), dt.date.fromisoformat(end)
    if a == b:
        return f"{a.day} {a:%b %Y}"
    if (a.year, a.month) == (b.year, b.month):
        return f"{a.day}–{b.day} {b:%b %Y}"
    if a.year == b.year:
        return f"{a.day} {a:%b} – {b.day} {b:%b %Y}"
    return f"{a.day} {a:%b %Y} – {b.day} {b:%b %Y}"


def headline(event: dict[str, Any]) -> str:
    """ "1 Sep 2025 · bilateral meeting · Narendra Modi, Vladimir Putin · Tianjin, China" """
    parts = [day_span(event["start"], event["end"]), event["kind"], ", ".join(event["participants"])]
    return " · ".join([*parts, event["place"]] if event.get("place") else parts)


def coverage(event: dict[str, Any]) -> str:
    articles = event["articles"]
    outlets = event.get("outlets") or []
    return (f"{event['status']} · {articles} article{'s' if articles != 1 else ''}"
            + (f" from {', '.join(outlets)}" if outlets else ""))


def evidence_line(item: dict[str, Any]) -> str:
    outlet = item.get("outlet") or ""
    return f"“{' '.join(str(item['sentence']).split())}” ({item['date_text']}{'; ' + outlet if outlet else ''})"


def text_lines(events: list[dict[str, Any]], *, width: int = 100, evidence: int = _EVIDENCE_SHOWN) -> list[str]:
    """The timeline as plain lines of at most ``width`` columns, wrapped with a hanging indent."""
    if not events:
        return ["No meetings on the timeline."]
    lines: list[str] = []
    for event in events:
        if lines:
            lines.append("")
        lines += textwrap.wrap(headline(event), width, initial_indent="■ ", subsequent_indent="  ")
        lines += textwrap.wrap(coverage(event), width, initial_indent="  ", subsequent_indent="    ")
        shown = event["evidence"][:evidence]
        for item in shown:
            lines += textwrap.wrap(evidence_line(item), width, initial_indent="  › ", subsequent_indent="    ",
                                   break_long_words=True)
        if len(event["evidence"]) > len(shown):
            lines.append(f"    … and {len(event['evidence']) - len(shown)} more sentence(s)")
    return lines


def to_text(events: list[dict[str, Any]], *, width: int = 100) -> str:
    return "\n".join(["news-monitor timeline", "", *text_lines(events, width=width)]) + "\n"


def markdown_lines(events: list[dict[str, Any]], escape: Any) -> list[str]:
    """The timeline as Markdown list items; ``escape`` is the digest's Markdown escaper."""
    if not events:
        return ["No meetings on the timeline."]
    lines = []
    for event in events:
        lines += [f"- **{escape(headline(event))}**", f"  {escape(coverage(event))}"]
        for item in event["evidence"][:_EVIDENCE_SHOWN]:
            lines.append(f"  > {escape(evidence_line(item))}")
        lines.append("")
    return lines


def view(events: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """What the HTML templates show of each event (they escape it)."""
    return [{"id": e["id"], "headline": headline(e), "coverage": coverage(e), "status": e["status"],
             "evidence": [{"line": evidence_line(item), "sentence": " ".join(str(item["sentence"]).split()),
                           "date_text": item["date_text"], "outlet": item.get("outlet"), "url": item.get("url"),
                           "title": item.get("title")} for item in e["evidence"]]}
            for e in events]


def to_html(events: list[dict[str, Any]], *, title: str = "news-monitor timeline") -> str:
    """A standalone page (inline CSS, no script), like the HTML digest."""
    from monitor.digest.render import _environment

    return _environment().get_template("timeline.html").render(title=title, events=view(events),
                                                               version=__version__)


def to_json(events: list[dict[str, Any]]) -> str:
    return json.dumps(cleaned({"events": events}, without_surrogates), ensure_ascii=False, indent=2)


def to_ics(events: list[dict[str, Any]], *, now: dt.datetime | None = None) -> str:
    """An iCalendar file of the events, held and upcoming."""
    from icalendar import Calendar, Event

    stamp = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).replace(microsecond=0)
    calendar = Calendar()
    calendar.add("prodid", f"-//news-monitor {__version__}//timeline//EN")
    calendar.add("version", "2.0")
    calendar.add("x-wr-calname", "news-monitor timeline")
    for event in events:
        item = Event()
        item.add("uid", f"{event['id']}@news-monitor")
        item.add("dtstamp", stamp)
        item.add("summary", f"{event['kind'].capitalize()}: {' and '.join(event['participants'])}")
        item.add("dtstart", dt.date.fromisoformat(event["start"]))
        # All-day events end on the day after the last (RFC 5545 §3.6.1: DTEND is exclusive).
        item.add("dtend", dt.date.fromisoformat(event["end"]) + dt.timedelta(days=1))
        if event.get("place"):
            item.add("location", event["place"])
        item.add("status", "CONFIRMED" if event["status"] == "held" else "TENTATIVE")
        item.add("categories", [event["topic"]])
        item.add("description", "\n".join([coverage(event), *(evidence_line(e) for e in event["evidence"])]))
        urls = [e["url"] for e in event["evidence"] if str(e.get("url") or "").startswith(("http://", "https://"))]
        if urls:
            item.add("url", urls[0])
        calendar.add_component(item)
    return calendar.to_ical().decode("utf-8")


FORMATS = ("text", "json", "html", "ics")


def render_timeline(events: list[dict[str, Any]], fmt: str) -> str:
    """The timeline in the format ``timeline --format`` names."""
    if fmt == "text":
        return to_text(events)
    if fmt == "json":
        return to_json(events) + "\n"
    if fmt == "html":
        return to_html(events)
    if fmt == "ics":
        return to_ics(events)
    raise ValueError(f"unknown timeline format {fmt!r}")


__all__ = ["FORMATS", "day_span", "headline", "render_timeline", "text_lines", "to_html", "to_ics", "to_json",
           "to_text", "view"]
