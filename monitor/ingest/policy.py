"""When to poll a feed next: the policy, as pure functions of what a poll saw.

The pipeline asks this module after every poll and records the answer in the poll's event
(``interval``, ``next_poll_at``, ``schedule``), so the feed-state projection, and through it a restarted
daemon, knows each feed's next poll without recomputing anything (jitter included).

- **After a success**, the interval is the feed's fixed ``interval``, or, when it is ``"adaptive"`` (the
  default), half the mean gap between its recent entries: a feed that publishes hourly is polled every
  half hour. A quiet feed counts its silence as a gap too, so it slows down. Too few dated entries: the
  scheduler's ``default_interval``. A 304 keeps the interval the last full response gave.
  Server hints then lengthen it, never shorten it: RSS ``<ttl>`` (minutes) and ``Cache-Control: max-age``
  (RFC 9111 §5.2.2.1). An adaptive interval and the hints stay within ``[min_interval, max_interval]``; a
  fixed interval is the user's choice and is kept as given, hints only lengthening it up to max_interval.
- **After a failure**, exponential backoff from the feed's normal interval: 1×, 2×, 4×... capped at
  ``max_backoff``, so a failing feed is retried forever and never stuck; a success resets it. A
  ``Retry-After`` (429, 503; RFC 9110 §10.2.3) is honoured up to ``max_backoff``. A gone feed (410) is
  checked again once per ``max_backoff``.
- **Jitter**: a random delay of up to ``jitter`` seconds, and at most 10% of the wait, so that feeds
  configured alike do not poll in lockstep.
"""

from __future__ import annotations

import datetime as dt
import random
import re
from collections.abc import Iterable
from dataclasses import dataclass

from monitor.config import FeedSettings, SchedulerSettings

RECENT_ENTRIES = 20  # the newest entries whose gaps make the adaptive interval
_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*\"?(\d+)\"?\s*(?:,|$)", re.IGNORECASE)


@dataclass(frozen=True)
class Decision:
    interval: float  # seconds, before jitter
    jitter: float
    next_poll_at: dt.datetime
    reason: str  # fixed | adaptive | default | ttl | max-age | backoff | retry-after | gone

    def as_payload(self) -> dict[str, object]:
        return {"interval": round(self.interval, 3), "next_poll_at": self.next_poll_at.isoformat(),
                "schedule": self.reason}


def max_age(cache_control: str | None) -> float | None:
    """``max-age`` of a Cache-Control header, in seconds; None when absent or when caching is refused."""
    if not cache_control:
        return None
    lowered = cache_control.lower()
    if "no-store" in lowered or "no-cache" in lowered:
        return None
    match = _MAX_AGE.search(cache_control)
    return float(match.group(1)) if match else None


def entry_gap(dates: Iterable[dt.datetime | None], now: dt.datetime) -> float | None:
    """The mean gap, in seconds, between the newest entries' dates, counting the silence since the newest
    one as a gap too when it is longer; None with fewer than two usable dates."""
    usable = sorted((d for d in dates if d is not None and d <= now + dt.timedelta(hours=1)), reverse=True)
    usable = usable[:RECENT_ENTRIES]
    if len(usable) < 2:
        return None
    mean = (usable[0] - usable[-1]).total_seconds() / (len(usable) - 1)
    silence = (now - usable[0]).total_seconds()
    return max(mean, silence, 1.0)


class Policy:
    def __init__(self, settings: SchedulerSettings, rng: random.Random | None = None) -> None:
        self.settings = settings
        self.rng = rng or random.Random()

    def _clamp(self, seconds: float) -> float:
        return min(max(seconds, self.settings.min_interval), self.settings.max_interval)

    def normal_interval(self, feed: FeedSettings, previous: float | None) -> float:
        """The feed's interval when nothing new is known: fixed, or the last one recorded, or the default."""
        if feed.interval != "adaptive":
            return float(feed.interval)
        return previous or self._clamp(self.settings.default_interval)

    def after_success(self, feed: FeedSettings, now: dt.datetime, *, entry_dates: Iterable[dt.datetime | None]
                      | None = None, previous: float | None = None, ttl: float | None = None,
                      cache_control: str | None = None) -> Decision:
        """``entry_dates`` None means a 304: nothing new was seen, the previous interval stands."""
        if feed.interval != "adaptive":
            interval, reason = float(feed.interval), "fixed"
        elif entry_dates is None:
            interval, reason = self.normal_interval(feed, previous), "adaptive"
        else:
            gap = entry_gap(entry_dates, now)
            interval, reason = ((self._clamp(gap / 2), "adaptive") if gap is not None
                                else (self._clamp(self.settings.default_interval), "default"))
        for hint, name in ((ttl, "ttl"), (max_age(cache_control), "max-age")):
            if hint is not None and hint > interval:
                interval, reason = min(hint, max(self.settings.max_interval, interval)), name
        return self._decide(now, interval, reason)

    def after_failure(self, feed: FeedSettings, now: dt.datetime, *, failures: int, previous: float | None = None,
                      retry_after: float | None = None, gone: bool = False) -> Decision:
        """``failures`` counts this one: 1 after the first failure in a row."""
        cap = self.settings.max_backoff
        if gone:
            return self._decide(now, cap, "gone")
        base = self.normal_interval(feed, previous)
        wait = min(cap, base * 2 ** min(max(failures, 1) - 1, 30))
        reason = "backoff"
        if retry_after is not None and retry_after > wait:
            wait, reason = min(retry_after, cap), "retry-after"
        return self._decide(now, wait, reason)

    def _decide(self, now: dt.datetime, interval: float, reason: str) -> Decision:
        jitter = self.rng.uniform(0, min(self.settings.jitter, 0.1 * interval))
        return Decision(interval, jitter, now + dt.timedelta(seconds=interval + jitter), reason)
