"""``/metrics`` scraped and parsed with prometheus_client's text parser: Prometheus naming conventions, and
the counters folded from the log (polls, page failures, timings, tags, deliveries), view lag and review age."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from pytest_httpserver import HTTPServer

from monitor.config import load_config
from monitor.events import catalogue as ev
from monitor.pipeline import Monitor
from monitor.views.log import open_log
from monitor.web import create_app
from tests.builders import rss
from tests.daemon.test_daemon import closed_port

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "monitor" / "demo" / "data" / "articles"
GOOD = "jaishankar-lavrov-moscow-talks-annual-summit"
UNITS_WE_NEVER_USE = ("_milliseconds", "_ms", "_minutes", "_hours", "_kilobytes", "_megabytes", "_percent")


@pytest.fixture
def scrape(httpserver: HTTPServer, write_config: Callable[..., Path]) -> Iterator[Callable[[], dict]]:
    """A log with one poll of a feed (one page extracted, one 404), one failed feed and three delivery
    attempts; returns a function that scrapes /metrics and parses it into families by name."""
    base = httpserver.url_for("").rstrip("/")
    httpserver.expect_request("/feed.xml").respond_with_data(rss(base, [
        (GOOD, "Jaishankar and Lavrov hold talks in Moscow to prepare annual India-Russia summit", "2025-11-17"),
        ("gone", "Monsoon rains arrive early", "2025-06-01")]), content_type="application/rss+xml")
    httpserver.expect_request(f"/articles/{GOOD}.html").respond_with_data(
        (DEMO / f"{GOOD}.html").read_bytes(), content_type="text/html; charset=utf-8")
    httpserver.expect_request("/articles/gone.html").respond_with_data("", status=404)
    config = load_config(write_config([{"name": "local", "url": f"{base}/feed.xml"},
                                       {"name": "offline", "url": f"http://127.0.0.1:{closed_port()}/rss"}]))
    with Monitor(config) as monitor:
        monitor.poll()
    now = dt.datetime.now(dt.UTC)
    log = open_log(config)
    try:
        log.append([
            ev.digest_delivery_failed("d1", "team-mail", 1, now, {"channel_type": "email", "reason": "smtp_error",
                                                                  "message": "451", "final": False}),
            ev.digest_delivered("d1", "team-mail", now, {"channel_type": "email", "attempts": 2}),
            ev.digest_delivery_failed("d1", "hook", 3, now, {"channel_type": "webhook", "reason": "http_500",
                                                             "message": "500", "final": True}),
        ])
        with TestClient(create_app(config, log=log), base_url="http://127.0.0.1:8080") as client:
            def get() -> dict:
                response = client.get("/metrics")
                assert response.status_code == 200
                return {family.name: family for family in text_string_to_metric_families(response.text)}
            yield get
    finally:
        log.close()


def samples(family: object) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value for s in family.samples}  # type: ignore[attr-defined]


def test_metrics_follow_prometheus_conventions(scrape: Callable[[], dict]) -> None:
    families = scrape()
    assert families
    for name, family in families.items():
        assert name.startswith("news_monitor_"), name
        assert re.fullmatch(r"[a-z_][a-z0-9_]*", name), name
        assert family.documentation, name
        assert not name.endswith(UNITS_WE_NEVER_USE) and not any(unit + "_" in name for unit in UNITS_WE_NEVER_USE)
        for sample in family.samples:
            assert "url" not in {label.lower() for label in sample.labels}, (name, sample.labels)
            assert not any(re.match(r"[a-z]+://", value) for value in sample.labels.values()), (name, sample.labels)
        if family.type == "counter":
            assert {s.name for s in family.samples} == {f"{name}_total"}, name
            assert all(s.value >= 0 for s in family.samples)
        elif family.type == "histogram":
            assert name.endswith("_seconds"), name
            kinds = {s.name for s in family.samples}
            assert kinds == {f"{name}_bucket", f"{name}_sum", f"{name}_count"}, name
        else:
            assert family.type == "gauge", (name, family.type)
            assert not name.endswith("_total"), name
        if "seconds" in name:
            assert name.endswith(("_seconds", "_timestamp_seconds")), name
    for required in ("news_monitor_polls", "news_monitor_page_failures", "news_monitor_extraction_seconds",
                     "news_monitor_tagging_seconds", "news_monitor_mentions", "news_monitor_view_lag_events",
                     "news_monitor_oldest_unreviewed_mention_age_seconds", "news_monitor_digest_deliveries"):
        assert required in families, required


def test_metrics_count_what_the_log_recorded(scrape: Callable[[], dict]) -> None:
    families = scrape()
    polls = samples(families["news_monitor_polls"])
    assert polls[("news_monitor_polls_total", (("status", "ok"),))] == 1
    assert polls[("news_monitor_polls_total", (("status", "failed"),))] == 1
    failures = samples(families["news_monitor_poll_failures"])
    assert failures == {("news_monitor_poll_failures_total", (("reason", "connection_refused"),)): 1}
    pages = samples(families["news_monitor_page_failures"])
    assert pages == {("news_monitor_page_failures_total", (("reason", "http_404"), ("stage", "fetch"))): 1}
    # Both entries were tagged (one with its page's text, one with the feed's); only one page was extracted.
    extraction = samples(families["news_monitor_extraction_seconds"])
    tagging = samples(families["news_monitor_tagging_seconds"])
    assert extraction[("news_monitor_extraction_seconds_count", ())] == 1
    assert extraction[("news_monitor_extraction_seconds_bucket", (("le", "+Inf"),))] == 1
    assert extraction[("news_monitor_extraction_seconds_sum", ())] > 0
    assert tagging[("news_monitor_tagging_seconds_count", ())] == 2
    deliveries = samples(families["news_monitor_digest_deliveries"])
    assert deliveries == {
        ("news_monitor_digest_deliveries_total", (("channel", "team-mail"), ("outcome", "delivered"))): 1,
        ("news_monitor_digest_deliveries_total", (("channel", "team-mail"), ("outcome", "retried"))): 1,
        ("news_monitor_digest_deliveries_total", (("channel", "hook"), ("outcome", "failed"))): 1}
    tagged = samples(families["news_monitor_mentions_tagged"])
    mention = ("news_monitor_mentions_tagged_total", (("decision", "mention"), ("topic", "india-russia-summit")))
    assert tagged[mention] == 1
    age = samples(families["news_monitor_oldest_unreviewed_mention_age_seconds"])
    assert age[("news_monitor_oldest_unreviewed_mention_age_seconds", ())] >= 0
    lag = samples(families["news_monitor_view_lag_events"])
    assert {labels[0][1] for _, labels in lag} >= {"feed_state", "articles", "mentions"}
    # The deliveries were appended without a catch-up; the review views read none of them, so none lags.
    assert all(value == 0 for value in lag.values())

    # A second scrape folds only what is new: the same totals, nothing counted twice.
    again = scrape()
    for name in ("news_monitor_polls", "news_monitor_page_failures", "news_monitor_digest_deliveries",
                 "news_monitor_tagging_seconds"):
        assert samples(again[name]) == samples(families[name]), name
