"""The counters and histograms of ``/metrics``, folded from the event log (an in-memory projection).

The daemon, its workers and the page are separate processes (separate containers in compose), so counters
kept in the daemon's memory would be invisible to the page that serves ``/metrics`` and lost at every
restart. The log already records each poll, page failure, extraction, tag and delivery, so these are folded
from it: the first scrape reads the log once, later ones only the events after the last position folded.
Counters therefore never reset (not even when the page restarts: it folds the same log to the same totals)
and every process that serves ``/metrics`` gives the same numbers.

Durations come from the events: ``ArticleExtracted.extract_seconds`` (time in the extractor, when a page was
read) and ``tag_seconds`` (language detection and tagging). Events older than those fields count in no
histogram.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field

from monitor.events import catalogue as ev
from storage.eventlog import EventLog

# Histogram buckets (seconds): extraction is bounded by [extract] timeout (10s by default), tagging is ms.
EXTRACT_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
TAG_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)

TYPES = (ev.FEED_POLLED, ev.FEED_FAILED, ev.EXTRACTION_FAILED, ev.ARTICLE_EXTRACTED, ev.MENTION_TAGGED,
         ev.DIGEST_DELIVERED, ev.DIGEST_DELIVERY_FAILED)


@dataclass
class Histogram:
    buckets: tuple[float, ...]
    counts: list[int] = field(default_factory=list)  # per bucket, not cumulative; the last is +Inf
    total: float = 0.0

    def __post_init__(self) -> None:
        self.counts = self.counts or [0] * (len(self.buckets) + 1)

    def observe(self, value: float) -> None:
        index = next((i for i, bound in enumerate(self.buckets) if value <= bound), len(self.buckets))
        self.counts[index] += 1
        self.total += value

    def cumulative(self) -> list[tuple[str, int]]:
        """``(le, count)`` pairs as Prometheus wants them, ending with ``+Inf``."""
        out, running = [], 0
        for bound, count in zip((*map(str, self.buckets), "+Inf"), self.counts, strict=True):
            running += count
            out.append((bound, running))
        return out


@dataclass
class LogCounters:
    """Totals over the whole log, up to ``position``."""

    position: int = 0
    polls: Counter[str] = field(default_factory=Counter)  # by status: ok, not_modified, interrupted, failed
    poll_failures: Counter[str] = field(default_factory=Counter)  # by reason
    page_failures: Counter[tuple[str, str]] = field(default_factory=Counter)  # by (reason, stage)
    tags: Counter[tuple[str, str]] = field(default_factory=Counter)  # by (topic, decision)
    deliveries: Counter[tuple[str, str]] = field(default_factory=Counter)  # by (channel, outcome)
    extraction: Histogram = field(default_factory=lambda: Histogram(EXTRACT_BUCKETS))
    tagging: Histogram = field(default_factory=lambda: Histogram(TAG_BUCKETS))

    def fold(self, event_type: str, data: dict[str, object]) -> None:
        if event_type == ev.FEED_POLLED:
            self.polls[str(data.get("status") or "ok")] += 1
        elif event_type == ev.FEED_FAILED:
            self.polls["failed"] += 1
            self.poll_failures[str(data.get("reason"))] += 1
        elif event_type == ev.EXTRACTION_FAILED:
            self.page_failures[str(data.get("reason")), str(data.get("stage") or "")] += 1
        elif event_type == ev.ARTICLE_EXTRACTED:
            for histogram, key in ((self.extraction, "extract_seconds"), (self.tagging, "tag_seconds")):
                value = data.get(key)
                if isinstance(value, int | float):
                    histogram.observe(float(value))
        elif event_type == ev.MENTION_TAGGED:
            self.tags[str(data.get("topic")), str(data.get("decision") or "mention")] += 1
        elif event_type == ev.DIGEST_DELIVERED:
            self.deliveries[str(data.get("channel")), "delivered"] += 1
        elif event_type == ev.DIGEST_DELIVERY_FAILED:
            # A failed attempt that is retried, or the last one (the digest was not delivered by that channel).
            self.deliveries[str(data.get("channel")), "failed" if data.get("final") else "retried"] += 1


class CountersFollower:
    """Keeps a LogCounters up to date with a log: ``current`` folds what was appended since the last call."""

    def __init__(self, log: EventLog) -> None:
        self.log = log
        self.counters = LogCounters()
        self._lock = threading.Lock()  # two scrapes at once fold each event once

    def current(self) -> LogCounters:
        with self._lock:
            counters = self.counters
            for event in self.log.read(after=counters.position, types=TYPES):
                counters.fold(event.type, event.data)
                counters.position = event.position
            return counters
