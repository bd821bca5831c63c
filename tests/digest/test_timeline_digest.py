"""A digest opens with the timeline's events that its mentions report: in JSON as ``timeline``, and at the top of
the text (within 100 columns), Markdown and HTML digests; Atom still renders."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import feedparser
import lxml.html
import pytest

from monitor.config import load_config
from monitor.digest.build import Filters, build_digest
from monitor.digest.render import render_as
from monitor.events import catalogue as ev
from storage.eventlog import EventLog
from tests.builders import SHIPPED_CONFIG
from tests.timelines import Report, append_report, seed_reports
from tests.views.test_timeline import TIANJIN_REWRITES, at

ELSEWHERE = Report("https://herald.example/modi-trade", "Modi on trade",
                   "Prime Minister Narendra Modi held talks with Russian President Vladimir Putin on trade and energy, "
                   "officials said, without saying when.",
                   at("2025-10-02"), feed="herald")


@pytest.fixture
def event_log(database_url: str, shared_dir: Path) -> Iterator[EventLog]:
    log = EventLog.open(database_url, migrate=True, upcasters=ev.UPCASTERS)
    for report in [*seed_reports(shared_dir), *TIANJIN_REWRITES]:
        append_report(log, report)
    yield log
    log.close()


def test_the_json_digest_lists_the_events_its_mentions_report(event_log: EventLog) -> None:
    digest = build_digest(event_log.engine, filters=Filters(status="all"))
    document = json.loads(render_as(digest, "json", load_config(SHIPPED_CONFIG)))
    assert [(e["start"], e["articles"]) for e in document["timeline"]] == [
        ("2025-12-05", 1), ("2025-11-18", 1), ("2025-09-01", 4), ("2025-08-22", 1)]
    # Narrowed to one feed, the digest lists only the events that feed's articles report.
    narrowed = build_digest(event_log.engine, filters=Filters(status="all", feed="courier"))
    assert [e["start"] for e in narrowed.as_dict()["timeline"]] == ["2025-09-01"]


@pytest.mark.parametrize("fmt", ["text", "markdown", "html", "json", "atom"])
def test_every_format_renders_with_the_timeline_first(event_log: EventLog, fmt: str) -> None:
    digest = build_digest(event_log.engine, filters=Filters(status="all"))
    assert digest.timeline
    out = render_as(digest, fmt, load_config(SHIPPED_CONFIG))
    headline = "1 Sep 2025 · bilateral meeting · Narendra Modi, Vladimir Putin · Tianjin, China"
    if fmt == "text":
        lines = out.splitlines()
        assert max(len(line) for line in lines) <= 100
        rule = next(i for i, line in enumerate(lines) if " Timeline " in line)
        first_day = next(i for i, line in enumerate(lines) if i > rule and line.startswith("───"))
        assert rule < lines.index(f"■ {headline}") < first_day
        # Each event's lines hang under its headline.
        assert all(line == "" or line.startswith(("■ ", "  ")) for line in lines[rule + 1:first_day])
        assert any(line.startswith("    ") for line in lines[rule + 1:first_day])
    elif fmt == "markdown":
        assert out.index("## Timeline") < out.index("## 2025-")
        assert "Tianjin, China" in out.split("## 2025-")[0]
        assert out.index("## 2025-11-18") < out.index("## 2025-09-01")  # newest first
    elif fmt == "html":
        page = lxml.html.fromstring(out)
        events = page.xpath("//details[contains(@class, 'tl-event')]")
        assert len(events) == 4
        assert events[2].xpath("string(.//span[@class='tl-head'])") == headline
        assert "today,1 September" in events[2].xpath("string(.//ul)")
        assert "<script" not in out
    elif fmt == "json":
        assert json.loads(out)["timeline"][2]["place"] == "Tianjin, China"
    else:
        parsed = feedparser.parse(out)
        assert not parsed.bozo and len(parsed.entries) == len(digest.items)


def test_a_digest_whose_mentions_report_no_meeting_has_no_timeline(event_log: EventLog) -> None:
    append_report(event_log, ELSEWHERE)
    digest = build_digest(event_log.engine, filters=Filters(status="all", date_from=at("2025-10-01").date(),
                                                            date_to=at("2025-10-03").date()))
    assert [i["title"] for i in digest.items] == ["Modi on trade"] and digest.timeline == []
    assert "Timeline" not in render_as(digest, "text", load_config(SHIPPED_CONFIG))
