"""Articles tagged by the real tagger with the shipped topic, appended as the pipeline appends them: the timeline
tests' builder (the sentences, dates and participants come from the tagger, never written by hand)."""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass
from pathlib import Path

from monitor.config import load_config
from monitor.events import catalogue as ev
from monitor.tagging.rules import Tagger
from monitor.views.projections import Projections
from storage.eventlog import EventLog
from tests.builders import SHIPPED_CONFIG

TOPIC = "india-russia-summit"
SEED_FILES = {"000_032e6bdd50b22086.txt": dt.datetime(2025, 9, 1, 6, 0, tzinfo=dt.UTC),
              "003_20ce1cfc9bc07189.txt": dt.datetime(2025, 11, 18, 15, 0, tzinfo=dt.UTC)}


@functools.cache
def tagger() -> Tagger:
    return Tagger(load_config(SHIPPED_CONFIG))


@dataclass(frozen=True)
class Report:
    url: str
    title: str
    text: str
    published: dt.datetime
    feed: str = "feed-a"

    @property
    def article_id(self) -> str:
        return ev.article_id(self.url)


def append_report(log: EventLog, report: Report, *, version: str = "v1") -> bool:
    """Tag the report and append its discovery, extraction and tag; True when the tagger called it a mention."""
    result = tagger().tag(report.title, report.text, report.published)[TOPIC]
    article, at = report.article_id, report.published
    batch = [
        ev.article_discovered(article, at, {"feed": report.feed, "url": report.url, "canonical_url": report.url,
                                            "entry_id": report.url, "title": report.title,
                                            "published_at": at.isoformat()}),
        ev.article_extracted(article, at, {"url": report.url, "title": report.title, "text": report.text,
                                           "text_hash": f"h-{article}", "text_source": "page",
                                           "word_count": len(report.text.split())}),
    ]
    if result.decision != "none":
        batch.append(ev.mention_tagged(article, TOPIC, version, at, {
            **result.as_dict(), "title": report.title, "url": report.url, "feed": report.feed,
            "published_at": at.isoformat()}))
    log.append(batch)
    Projections(log.engine, upcasters=ev.UPCASTERS).catch_up()
    return bool(result.mention)


def seed_reports(shared_dir: Path) -> list[Report]:
    """The two seed articles of ../shared/seeds, read at test time, as two outlets' pages."""
    reports = []
    for index, (name, published) in enumerate(SEED_FILES.items()):
        text = (shared_dir / "seeds" / name).read_text(encoding="utf-8")
        reports.append(Report(f"https://outlet{index}.example/{name}", text.strip().splitlines()[0][:80], text,
                              published, feed=f"seed-{index}"))
    return reports
