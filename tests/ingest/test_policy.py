"""The polling policy (monitor.ingest.policy): adaptive intervals, server hints, backoff, jitter; a frozen clock."""

from __future__ import annotations

import datetime as dt
import random

import pytest

from monitor.config import FeedSettings, SchedulerSettings
from monitor.ingest.policy import Policy, entry_gap, max_age

NOW = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
HOUR = 3600.0


def policy(**settings: object) -> Policy:
    base = {"jitter": 0, "min_interval": "5m", "max_interval": "4h", "default_interval": "15m", "max_backoff": "6h"}
    return Policy(SchedulerSettings.model_validate({**base, **settings}), random.Random(7))


def feed(interval: object = "adaptive") -> FeedSettings:
    return FeedSettings(name="f", url="https://example.org/rss", interval=interval)


def hourly(count: int, newest_age: float = 0.0) -> list[dt.datetime]:
    newest = NOW - dt.timedelta(seconds=newest_age)
    return [newest - dt.timedelta(hours=i) for i in range(count)]


def test_adaptive_interval_is_half_the_gap_between_entries() -> None:
    decision = policy().after_success(feed(), NOW, entry_dates=hourly(10))
    assert decision.reason == "adaptive"
    assert decision.interval == pytest.approx(HOUR / 2)
    assert decision.next_poll_at == NOW + dt.timedelta(seconds=HOUR / 2)


def test_a_busy_feed_is_polled_no_more_often_than_min_interval() -> None:
    every_minute = [NOW - dt.timedelta(minutes=i) for i in range(20)]
    assert policy().after_success(feed(), NOW, entry_dates=every_minute).interval == 300


def test_a_quiet_feed_slows_down_to_max_interval() -> None:
    # Entries were hourly, but the newest is three days old: the silence counts as the gap.
    decision = policy().after_success(feed(), NOW, entry_dates=hourly(10, newest_age=3 * 86400))
    assert decision.interval == 4 * HOUR


def test_too_few_dated_entries_use_the_default_interval() -> None:
    decision = policy().after_success(feed(), NOW, entry_dates=[NOW, None, None])
    assert (decision.interval, decision.reason) == (900, "default")


def test_future_dates_are_ignored_and_only_the_newest_entries_count() -> None:
    dates = [NOW + dt.timedelta(days=30)] + hourly(20) + [NOW - dt.timedelta(days=400)]
    assert entry_gap(dates, NOW) == pytest.approx(HOUR)


def test_a_304_keeps_the_previous_interval() -> None:
    decision = policy().after_success(feed(), NOW, entry_dates=None, previous=2 * HOUR)
    assert (decision.interval, decision.reason) == (2 * HOUR, "adaptive")


def test_a_fixed_interval_is_kept_as_given_even_below_min_interval() -> None:
    decision = policy().after_success(feed("30s"), NOW, entry_dates=hourly(10))
    assert (decision.interval, decision.reason) == (30, "fixed")


@pytest.mark.parametrize(("ttl", "cache_control", "expected", "reason"), [
    (3600.0, None, 3600.0, "ttl"),  # RSS <ttl>60</ttl>: longer than the adaptive half hour
    (None, "public, max-age=7200", 7200.0, "max-age"),
    (None, "max-age=60", 1800.0, "adaptive"),  # a shorter hint does not make us poll more often
    (None, "no-cache, max-age=7200", 1800.0, "adaptive"),  # no-cache: the max-age is no promise
    (None, "max-age=999999", 4 * HOUR, "max-age"),  # bounded by max_interval
    (86400.0, None, 4 * HOUR, "ttl"),
])
def test_server_hints_lengthen_the_interval_within_bounds(ttl: float | None, cache_control: str | None,
                                                          expected: float, reason: str) -> None:
    decision = policy().after_success(feed(), NOW, entry_dates=hourly(10), ttl=ttl, cache_control=cache_control)
    assert (decision.interval, decision.reason) == (expected, reason)


def test_max_age_parsing() -> None:
    assert max_age('private, max-age="120"') == 120
    assert max_age("s-maxage=60") is None
    assert max_age("no-store, max-age=60") is None
    assert max_age(None) is None


def test_failures_back_off_exponentially_up_to_the_cap() -> None:
    waits = [policy().after_failure(feed("15m"), NOW, failures=n).interval for n in range(1, 8)]
    assert waits == [900, 1800, 3600, 7200, 14400, 21600, 21600]
    assert policy().after_failure(feed("15m"), NOW, failures=10_000).interval == 21600  # no overflow


def test_backoff_of_an_adaptive_feed_starts_from_its_last_interval() -> None:
    decision = policy().after_failure(feed(), NOW, failures=2, previous=HOUR)
    assert (decision.interval, decision.reason) == (2 * HOUR, "backoff")


def test_retry_after_is_honoured_up_to_max_backoff() -> None:
    honoured = policy().after_failure(feed("1m"), NOW, failures=1, retry_after=600)
    assert (honoured.interval, honoured.reason) == (600, "retry-after")
    capped = policy().after_failure(feed("1m"), NOW, failures=1, retry_after=10 * 86400)
    assert (capped.interval, capped.reason) == (21600, "retry-after")
    shorter = policy().after_failure(feed("1h"), NOW, failures=1, retry_after=5)
    assert (shorter.interval, shorter.reason) == (3600, "backoff")


def test_a_gone_feed_is_checked_once_per_max_backoff() -> None:
    decision = policy().after_failure(feed("1m"), NOW, failures=1, gone=True)
    assert (decision.interval, decision.reason) == (21600, "gone")


def test_jitter_is_bounded_by_the_setting_and_by_a_tenth_of_the_wait() -> None:
    jittery = policy(jitter="30s")
    short = [jittery.after_success(feed("1m"), NOW).jitter for _ in range(200)]
    assert max(short) <= 6 and min(short) >= 0 and len(set(short)) > 100  # a tenth of 60s
    long = [jittery.after_success(feed("1h"), NOW).jitter for _ in range(200)]
    assert max(long) <= 30 and max(long) > 20
    decision = jittery.after_success(feed("1h"), NOW)
    assert decision.next_poll_at == NOW + dt.timedelta(seconds=decision.interval + decision.jitter)


def test_min_interval_above_max_interval_is_a_config_error() -> None:
    with pytest.raises(ValueError, match="min_interval"):
        SchedulerSettings.model_validate({"min_interval": "5h", "max_interval": "1h"})
