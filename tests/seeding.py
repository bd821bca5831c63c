"""Seeding a real event log with articles and their tags, through the event catalogue's own constructors
(the payloads are checked against their models exactly as the pipeline's are)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from monitor.config import Config
from monitor.events import catalogue as ev
from monitor.views.log import open_log, projections
from storage.eventlog import EventLog

T0 = dt.datetime(2025, 12, 4, 9, 0, tzinfo=dt.UTC)


@dataclass
class Story:
    """One article and its tag."""

    slug: str
    title: str
    text: str
    feed: str = "feed-a"
    published: dt.datetime = T0
    topic: str = "india-russia-summit"
    score: float = 0.9
    version: str = "v1"
    sentences: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"https://news.example.org/{self.slug}"

    @property
    def article_id(self) -> str:
        return ev.article_id(self.url)


def open_seeded(config: Config, stories: list[Story]) -> EventLog:
    log = open_log(config)
    add(log, stories)
    return log


def add(log: EventLog, stories: list[Story], *, tagged_at: dt.datetime | None = None) -> None:
    """Append each story's discovery, extraction and tag (one batch per article, as the pipeline does)."""
    for story in stories:
        sentences = story.sentences or [story.text.split(". ")[0]]
        evidence = []
        for sentence in sentences:
            start = story.text.find(sentence)
            evidence.append({"field": "text", "text": sentence, "start": start, "end": start + len(sentence),
                             "terms": ["Modi", "Putin"], "groups": ["india_leader", "russia_leader"],
                             "dates": [], "history": False, "context": False})
        article = story.article_id
        published = story.published
        batch = [
            ev.article_discovered(article, published, {
                "feed": story.feed, "url": story.url, "canonical_url": story.url, "entry_id": story.slug,
                "title": story.title, "published_at": published.isoformat()}),
            ev.article_extracted(article, published, {
                "url": story.url, "title": story.title, "text": story.text, "text_hash": f"h-{story.slug}",
                "text_source": "page", "word_count": len(story.text.split()), "published_at": published.isoformat()}),
            ev.mention_tagged(article, story.topic, story.version, published, {
                "mention": story.score >= 0.5, "decision": "mention" if story.score >= 0.5 else "possible",
                "score": story.score, "sentences": sentences, "terms": ["Modi", "Putin"], "evidence": evidence,
                "dates": [], "rule": "india_leader AND russia_leader", "similarity": {"ref.md": 0.2}}),
        ]
        log.append(batch)
    projections(log).catch_up()
