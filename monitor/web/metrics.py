"""``/metrics``: the service's state in the Prometheus text format, computed when it is scraped.

A custom collector on a private registry (never the process-wide one, so that two apps in one process,
as in the tests, do not clash and no library's own metrics leak in). Each scrape takes one ``Snapshot``:
the read models (mentions, feeds, review, the views' lag) and the counters folded from the log
(monitor.web.counters). ``SECTIONS`` turn it into metric families, one function per subject: to add metrics,
add a field to the snapshot and a section (nothing else changes).

Conventions (https://prometheus.io/docs/practices/naming/): every name starts with ``news_monitor_``;
counters end in ``_total``; durations are in seconds and end in ``_seconds``, times are Unix seconds
(``_timestamp_seconds``); labels are bounded (a feed's or channel's configured name, a topic, a reason
code, a status), never a URL.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from monitor.web.counters import Histogram, LogCounters


@dataclass
class Snapshot:
    """What one scrape reads."""

    mentions: dict[tuple[str, str], int]  # (topic, review state) -> mentions in the view
    feeds: list[dict[str, Any]]  # monitor.views.status.feed_status rows
    position: int  # the log's newest position
    view_lag: dict[str, int] = field(default_factory=dict)  # view -> events it has still to apply
    oldest_unreviewed_at: dt.datetime | None = None  # when the oldest unreviewed mention was tagged
    counters: LogCounters = field(default_factory=LogCounters)
    fleet: dict[str, Any] | None = None  # monitor.views.fleet.fleet_status; None on SQLite (no workers)
    now: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))


Section = Callable[[Snapshot], Iterator[Metric]]


def review_metrics(snap: Snapshot) -> Iterator[Metric]:
    mentions = GaugeMetricFamily("news_monitor_mentions", "Mentions in the log, by topic and review state.",
                                 labels=["topic", "state"])
    for (topic, state), count in sorted(snap.mentions.items()):
        mentions.add_metric([topic, state], count)
    yield mentions
    age = GaugeMetricFamily("news_monitor_oldest_unreviewed_mention_age_seconds",
                            "How long ago the oldest mention nobody has reviewed was tagged (0 when none).")
    age.add_metric([], max((snap.now - snap.oldest_unreviewed_at).total_seconds(), 0.0)
                   if snap.oldest_unreviewed_at else 0.0)
    yield age
    tags = CounterMetricFamily("news_monitor_mentions_tagged", "MentionTagged events, by topic and decision.",
                               labels=["topic", "decision"])
    for (topic, decision), count in sorted(snap.counters.tags.items()):
        tags.add_metric([topic, decision], count)
    yield tags


def feed_metrics(snap: Snapshot) -> Iterator[Metric]:
    by_status = GaugeMetricFamily("news_monitor_feeds", "Feeds by health status.", labels=["status"])
    for status, count in sorted(Counter(row["status"] or "never_polled" for row in snap.feeds).items()):
        by_status.add_metric([status], count)
    yield by_status
    success = GaugeMetricFamily("news_monitor_feed_last_success_timestamp_seconds",
                                "When each feed was last polled successfully (Unix time).", labels=["feed"])
    failures = GaugeMetricFamily("news_monitor_feed_consecutive_failures",
                                 "Failed polls in a row, per feed.", labels=["feed"])
    for row in snap.feeds:
        if row["last_success_at"] is not None:
            success.add_metric([row["feed"]], row["last_success_at"].timestamp())
        failures.add_metric([row["feed"]], row["consecutive_failures"] or 0)
    yield success
    yield failures


def poll_metrics(snap: Snapshot) -> Iterator[Metric]:
    polls = CounterMetricFamily("news_monitor_polls", "Feed polls, by status (ok, not_modified, interrupted, "
                                "failed).", labels=["status"])
    for status, count in sorted(snap.counters.polls.items()):
        polls.add_metric([status], count)
    yield polls
    failed = CounterMetricFamily("news_monitor_poll_failures", "Failed feed polls, by reason code.",
                                 labels=["reason"])
    for reason, count in sorted(snap.counters.poll_failures.items()):
        failed.add_metric([reason], count)
    yield failed
    pages = CounterMetricFamily("news_monitor_page_failures", "Article pages that failed (ExtractionFailed), by "
                                "reason code and stage (fetch or extract).", labels=["reason", "stage"])
    for (reason, stage), count in sorted(snap.counters.page_failures.items()):
        pages.add_metric([reason, stage], count)
    yield pages


def _histogram(name: str, documentation: str, histogram: Histogram) -> Metric:
    family = HistogramMetricFamily(name, documentation)
    family.add_metric([], histogram.cumulative(), histogram.total)
    return family


def timing_metrics(snap: Snapshot) -> Iterator[Metric]:
    yield _histogram("news_monitor_extraction_seconds", "Time the extractor took on an article page.",
                     snap.counters.extraction)
    yield _histogram("news_monitor_tagging_seconds", "Time language detection and tagging took on an article.",
                     snap.counters.tagging)


def delivery_metrics(snap: Snapshot) -> Iterator[Metric]:
    deliveries = CounterMetricFamily("news_monitor_digest_deliveries", "Digest delivery attempts, by channel "
                                     "and outcome (delivered, retried, failed).", labels=["channel", "outcome"])
    for (channel, outcome), count in sorted(snap.counters.deliveries.items()):
        deliveries.add_metric([channel, outcome], count)
    yield deliveries


def log_metrics(snap: Snapshot) -> Iterator[Metric]:
    position = GaugeMetricFamily("news_monitor_log_position", "Position of the newest event in the log.")
    position.add_metric([], snap.position)
    yield position
    lag = GaugeMetricFamily("news_monitor_view_lag_events", "Events of the types a view reads that it has not "
                            "applied yet.", labels=["view"])
    for view, count in sorted(snap.view_lag.items()):
        lag.add_metric([view], count)
    yield lag


def fleet_metrics(snap: Snapshot) -> Iterator[Metric]:
    """The workers on PostgreSQL (``news-monitor workers status``): nothing on SQLite."""
    fleet = snap.fleet
    if fleet is None:
        return
    workers = GaugeMetricFamily("news_monitor_workers", "Live workers (heartbeat within half of takeover).")
    workers.add_metric([], len(fleet["workers"]))
    yield workers
    polling = GaugeMetricFamily("news_monitor_worker_polls_running", "Feeds each live worker is polling now.",
                                labels=["worker"])
    for worker in fleet["workers"]:
        polling.add_metric([str(worker["id"])], len(worker["polling"]))
    yield polling
    queue = GaugeMetricFamily("news_monitor_queue_jobs", "Jobs in the worker queue: waiting (due now or later), due "
                              "now, running.", labels=["state"])
    for state, count in fleet["queue"].items():
        queue.add_metric([state], count)
    yield queue
    overdue = GaugeMetricFamily("news_monitor_feeds_overdue", "Configured feeds overdue by more than one interval.")
    overdue.add_metric([], len(fleet["overdue"]))
    yield overdue
    takeovers = CounterMetricFamily("news_monitor_worker_takeovers", "Jobs of dead workers given to another.")
    takeovers.add_metric([], fleet["takeovers"])
    yield takeovers
    last = fleet["last_takeover"]
    when = GaugeMetricFamily("news_monitor_last_takeover_timestamp_seconds", "When a dead worker's job was last "
                             "taken over (0: never).")
    when.add_metric([], dt.datetime.fromisoformat(last["at"]).timestamp() if last else 0.0)
    yield when


SECTIONS: list[Section] = [review_metrics, feed_metrics, poll_metrics, timing_metrics, delivery_metrics,
                           log_metrics, fleet_metrics]


class MonitorCollector(Collector):
    """``snapshot`` returns what one scrape reads; ``sections`` turn it into families."""

    def __init__(self, snapshot: Callable[[], Snapshot], sections: list[Section] | None = None) -> None:
        self.snapshot = snapshot
        self.sections = SECTIONS if sections is None else sections

    def describe(self) -> list[Metric]:
        return []  # registering must not read the database

    def collect(self) -> Iterator[Metric]:
        snap = self.snapshot()
        for section in self.sections:
            yield from section(snap)


def metrics_registry(collector: MonitorCollector) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return registry


def exposition(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)
