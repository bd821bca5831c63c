"""``/metrics``: the log's state in the Prometheus text format, computed when it is scraped.

A custom collector on a private registry (never the process-wide one, so that two apps in one process,
as in the tests, do not clash and no library's own metrics leak in). Each scrape reads the read models.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector


class MonitorCollector(Collector):
    """``snapshot`` returns (mention states by topic, feed status rows, last log position)."""

    def __init__(self, snapshot: Callable[[], tuple[dict[tuple[str, str], int], list[dict[str, Any]], int]]) -> None:
        self.snapshot = snapshot

    def describe(self) -> list[Metric]:
        return []  # registering must not read the database

    def collect(self) -> Iterator[Metric]:
        mention_counts, feeds, position = self.snapshot()
        mentions = GaugeMetricFamily("news_monitor_mentions", "Mentions in the log, by topic and review state.",
                                     labels=["topic", "state"])
        for (topic, state), count in sorted(mention_counts.items()):
            mentions.add_metric([topic, state], count)
        yield mentions

        by_status = GaugeMetricFamily("news_monitor_feeds", "Feeds by health status.", labels=["status"])
        for status, count in sorted(Counter(row["status"] or "never_polled" for row in feeds).items()):
            by_status.add_metric([status], count)
        yield by_status

        success = GaugeMetricFamily("news_monitor_feed_last_success_timestamp_seconds",
                                    "When each feed was last polled successfully (Unix time).", labels=["feed"])
        failures = GaugeMetricFamily("news_monitor_feed_consecutive_failures",
                                     "Failed polls in a row, per feed.", labels=["feed"])
        for row in feeds:
            if row["last_success_at"] is not None:
                success.add_metric([row["feed"]], row["last_success_at"].timestamp())
            failures.add_metric([row["feed"]], row["consecutive_failures"] or 0)
        yield success
        yield failures

        log_position = GaugeMetricFamily("news_monitor_log_position", "Position of the newest event in the log.")
        log_position.add_metric([], position)
        yield log_position


def metrics_registry(collector: MonitorCollector) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return registry


def exposition(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)
