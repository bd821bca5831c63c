"""Re-running stored articles through the topics' rules as they are now (``retag``), and finding an article
with the reasoning recorded for it, which says why it is or is not tagged (``explain``).

Retag replays the stored ``ArticleExtracted`` events (with the new text of any ``ArticleRevised``) through
the current config and compares each result with the tag the mentions view holds:

- a tag where there was none (or a retracted one): ``MentionTagged`` ("added");
- no tag where there was one: ``MentionRetracted`` ("removed");
- a tag whose decision or sentences changed, or whose score moved by ``SCORE_CHANGE`` or more:
  ``MentionTagged`` ("changed").

Each event's key names the tag it supersedes (its position), so a retag is idempotent by data: running it
again, or in two processes at once, records nothing more; going back to an earlier config later is new.

Everything here returns data (changes, rows, explanations) and prints nothing: the command line
(``monitor.cli.tagging``) and the daemon's reload decide what to show.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from monitor.config import Config
from monitor.errors import MonitorError
from monitor.events import catalogue as ev
from monitor.events.keys import canonical_url
from monitor.tagging.rules import Tagger, TopicResult
from monitor.views import queries
from storage.engine import reading
from storage.eventlog import EventLog, NewEvent

TAGGED = ("mention", "possible")
# The similarity's word weights drift a little as articles arrive (its background): a score that moved less
# than this, with the same decision and sentences, is not a change worth an event.
SCORE_CHANGE = 0.05


@dataclass(frozen=True)
class StoredArticle:
    article_id: str
    title: str
    text: str
    url: str
    published_at: dt.datetime


@dataclass
class Change:
    article_id: str
    topic: str
    kind: str  # added | removed | changed
    title: str
    url: str
    before: str  # the stored decision: mention, possible or none
    after: str  # the decision now
    score_before: float | None
    score_after: float
    supersedes: int  # position of the stored tag (0: none)
    published_at: dt.datetime
    result: TopicResult = field(repr=False)

    def as_dict(self) -> dict[str, Any]:
        return {"article_id": self.article_id, "topic": self.topic, "change": self.kind, "title": self.title,
                "url": self.url, "before": self.before, "after": self.after, "score_before": self.score_before,
                "score_after": self.score_after, "topic_version": self.result.topic_version,
                "sentences": self.result.sentences if self.after != "none" else []}


def stored_articles(log: EventLog, since: dt.datetime | None = None) -> Iterable[StoredArticle]:
    """The newest text of every extracted article, from the log (published at or after ``since``)."""
    latest: dict[str, dict[str, Any]] = {}
    for event in log.read(types=[ev.ARTICLE_EXTRACTED, ev.ARTICLE_REVISED]):
        data = event.data
        if event.type == ev.ARTICLE_EXTRACTED:
            latest[data["article_id"]] = {"title": data.get("title") or "", "text": data.get("text") or "",
                                          "url": data.get("url") or "", "published_at": event.occurred_at}
        elif data["article_id"] in latest:  # a revision of an extracted article
            known = latest[data["article_id"]]
            if data.get("text") is not None:
                known["text"] = data["text"]
            if data.get("title"):
                known["title"] = data["title"]
            known["url"] = data.get("url") or known["url"]
    for article, data in latest.items():
        if since is None or data["published_at"] >= since:
            yield StoredArticle(article, data["title"], data["text"], data["url"], data["published_at"])


def current_tags(log: EventLog) -> dict[tuple[str, str], dict[str, Any]]:
    with reading(log.engine) as conn:
        return queries.mention_tags(conn)


def check_topic(config: Config, topic: str | None) -> None:
    """Refuse a topic the config does not have (None: every topic)."""
    if topic is not None and topic not in {t.id for t in config.topics}:
        known = ", ".join(t.id for t in config.topics) or "none"
        raise MonitorError(f"no topic {topic!r} in the config (topics: {known})")


def plan(config: Config, log: EventLog, tagger: Tagger, *, topic: str | None = None,
         since: dt.datetime | None = None, on_article: Callable[[], None] | None = None) -> list[Change]:
    """What a retag would record, in the order of the log; nothing is written. ``on_article`` is called after
    each article is tagged again (a progress bar)."""
    check_topic(config, topic)
    tags = current_tags(log)
    changes: list[Change] = []
    for article in stored_articles(log, since):
        if on_article is not None:
            on_article()
        results = tagger.tag(article.title, article.text, article.published_at)
        for topic_id, result in results.items():
            if topic is not None and topic_id != topic:
                continue
            stored = tags.get((article.article_id, topic_id))
            before = stored["decision"] if stored and stored["decision"] in TAGGED else "none"
            kind = _kind(before, stored, result)
            if kind:
                changes.append(Change(
                    article.article_id, topic_id, kind, article.title, article.url, before, result.decision,
                    stored["score"] if stored and before != "none" else None, result.score,
                    stored["position"] if stored else 0, article.published_at, result))
    return changes


def _kind(before: str, stored: dict[str, Any] | None, result: TopicResult) -> str | None:
    after = result.decision
    if after == "none":
        return "removed" if before != "none" else None
    if before == "none":
        return "added"
    assert stored is not None
    if after != before or abs(stored["score"] - result.score) >= SCORE_CHANGE \
            or list(stored["sentences"] or []) != result.sentences:
        return "changed"
    return None


def events_for(changes: list[Change], feeds: dict[str, str | None]) -> list[NewEvent]:
    out: list[NewEvent] = []
    for change in changes:
        result = change.result
        published = change.published_at.isoformat()
        if change.kind == "removed":
            out.append(ev.mention_retracted(
                change.article_id, change.topic, result.topic_version, change.published_at, {
                    "previous_decision": change.before, "decision": result.decision, "score": result.score,
                    "rule_score": result.rule_score, "title": change.title, "url": change.url,
                    "published_at": published,
                }, supersedes=change.supersedes))
        else:
            payload = {**result.as_dict(), "title": change.title, "url": change.url,
                       "feed": feeds.get(change.article_id), "published_at": published, "retag": True}
            out.append(ev.mention_tagged(change.article_id, change.topic, result.topic_version, change.published_at,
                                         payload, supersedes=change.supersedes))
    return out


def feeds_of(log: EventLog, article_ids: Iterable[str]) -> dict[str, str | None]:
    with reading(log.engine) as conn:
        return queries.article_feeds(conn, sorted(set(article_ids)))


def record(log: EventLog, changes: list[Change]) -> int:
    """Append the events of ``changes``, 500 at a time (each an atomic batch); return how many were recorded
    (a retag already recorded, by another worker or an earlier run, records nothing)."""
    if not changes:
        return 0
    feeds = feeds_of(log, (c.article_id for c in changes))
    return sum(len(log.append(events_for(changes[start:start + 500], feeds)).recorded)
               for start in range(0, len(changes), 500))


# -- explain -----------------------------------------------------------------------------------------------

class ArticleNotFound(MonitorError):
    """No stored article matches a reference; ``ref`` is the reference as looked up."""

    def __init__(self, ref: str) -> None:
        super().__init__(f"no stored article matches {ref!r} (give its id, an id prefix or its URL)")
        self.ref = ref


def find_article(log: EventLog, ref: str) -> dict[str, Any]:
    """An article of the articles view by id, unique id prefix (at least 6 characters) or URL;
    ArticleNotFound when none matches."""
    ref = ref.strip()
    with reading(log.engine) as conn:
        if ref.startswith(("http://", "https://")):
            try:
                canonical = canonical_url(ref)
            except ValueError:
                raise MonitorError(f"not a valid URL: {ref!r}") from None
            rows = queries.articles_with_id(conn, ev.article_id(canonical)) or queries.articles_with_url(conn, ref)
        else:
            rows = queries.articles_with_id(conn, ref)
            if not rows and len(ref) >= 6:
                rows = queries.articles_with_id_prefix(conn, ref, limit=5)
    if not rows:
        raise ArticleNotFound(ref)
    if len(rows) > 1:
        raise MonitorError(f"{ref!r} matches several articles ({', '.join(r['article_id'] for r in rows)}): "
                           "give more of the id")
    return dict(rows[0])


def stored_explanations(log: EventLog, article: str) -> dict[str, dict[str, Any]]:
    """The mentions view's rows for one article, by topic, with the stored reasoning."""
    with reading(log.engine) as conn:
        rows = queries.article_mentions(conn, article)
    return {row["topic"]: {**(row["explanation"] or {}), "decision": row["decision"], "score": row["score"],
                           "sentences": row["sentences"], "terms": row["terms"], "position": row["position"],
                           "topic_version": row["topic_version"], "verdict": row["verdict"],
                           "verdict_note": row["verdict_note"], "judged_at": row["judged_at"],
                           "judged": row["judged"]} for row in rows}
