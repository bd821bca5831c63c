"""Scheduled digests: issue one for a schedule slot, write it to ``[digest] output_dir``, send it to the channels.

The window of a digest is the mentions recorded after the previous digest's window ended, up to the log's
last position when this one is issued; so every mention is in exactly one issued digest, whatever the
review state (reviewing is separate: the page and ``review`` do that).

Idempotent by data: the ``DigestIssued`` key is the slot the cron schedule fired for, so several workers
(or a restart within the same minute) issue a slot once, and only the worker whose append recorded it
writes the files and sends it. Sending happens after the event is committed; a channel that fails is
retried with backoff and every attempt is recorded (monitor.digest.notify), in the digest job's own thread, so
polling never waits for an SMTP server. Deliveries that a crash interrupted are resumed at the next start
(``resume_deliveries``).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import tempfile
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from apscheduler.triggers.cron import CronTrigger

from monitor.config import Config
from monitor.digest.build import Digest, build_digest
from monitor.events import catalogue as ev
from monitor.views.log import projections
from storage.eventlog import EventLog, utcnow

log = logging.getLogger(__name__)

EXTENSIONS = {"html": "html", "markdown": "md", "json": "json", "atom": "atom", "text": "txt"}
# A slot is found by looking back this far at most (a yearly schedule still has a slot within it).
_LOOK_BACK = (dt.timedelta(minutes=2), dt.timedelta(hours=2), dt.timedelta(days=2), dt.timedelta(days=40),
              dt.timedelta(days=400))


def trigger(config: Config) -> CronTrigger | None:
    schedule = config.digest.schedule
    if not schedule:
        return None
    return CronTrigger.from_crontab(schedule, timezone=zoneinfo.ZoneInfo(config.digest.timezone))


def last_slot(cron: CronTrigger, now: dt.datetime) -> dt.datetime | None:
    """The latest time at or before ``now`` that the schedule fires at: the slot a job running now is for,
    even when it runs a little late (APScheduler 3 does not hand the scheduled time to the job)."""
    for back in _LOOK_BACK:
        fire = cron.get_next_fire_time(None, now - back)
        if fire is None or fire > now:
            continue
        while True:
            following = cron.get_next_fire_time(fire, fire + dt.timedelta(seconds=1))
            if following is None or following > now:
                return fire.astimezone(dt.UTC)
            fire = following
    return None


def digest_id(slot: dt.datetime) -> str:
    return slot.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Issued:
    digest_id: str
    recorded: bool  # False: another worker (or an earlier run) issued this slot already
    digest: Digest | None = None
    files: dict[str, str] | None = None
    deliveries: dict[str, Any] | None = None


def _previous_window_end(event_log: EventLog) -> int:
    end = 0
    for event in event_log.read(types=[ev.DIGEST_ISSUED]):
        end = max(end, event.data.get("up_to_position", 0))
    return end


def issue_digest(config: Config, event_log: EventLog, slot: dt.datetime, *,
                 clock: Callable[[], dt.datetime] = utcnow, send: bool = True,
                 sleep: Callable[[float], None] | None = None) -> Issued:
    """Issue the digest of ``slot``: record ``DigestIssued``, write its files, send it to the channels."""
    settings = config.digest
    identifier = digest_id(slot)
    projections(event_log).catch_up()
    after = _previous_window_end(event_log)
    digest = build_digest(event_log.engine, after_position=after,
                          up_to_position=event_log.last_position(), clock=clock)
    names = settings.channel_names()
    sending = names if (digest.items or settings.send_empty) else []
    files = {fmt: str(_path(settings.output_dir, identifier, fmt)) for fmt in settings.formats}
    event = ev.digest_issued(identifier, clock(), {
        "scheduled_for": slot.astimezone(dt.UTC).isoformat(), "after_position": digest.after_position,
        "up_to_position": digest.up_to_position, "mentions": len(digest.items), "stories": len(digest.stories),
        "feeds_polled": digest.feeds_polled, "feeds_failing": digest.feeds_failing,
        "items": [{"article_id": a, "topic": t, "position": p} for a, t, p in digest.refs()],
        "files": files, "channels": sending,
    })
    if not event_log.append([event]).recorded:
        log.info("digest %s was issued already (by another worker, or before a restart)", identifier)
        return Issued(identifier, recorded=False)
    written = write_files(digest, settings.formats, files, config)
    log.info("issued digest %s: %d mention(s) in %d stor%s; written to %s", identifier, len(digest.items),
             len(digest.stories), "y" if len(digest.stories) == 1 else "ies", settings.output_dir)
    deliveries = send_digest(config, event_log, identifier, digest, sending, clock=clock, sleep=sleep) \
        if send and sending else {}
    return Issued(identifier, recorded=True, digest=digest, files=written, deliveries=deliveries)


def _path(output_dir: str, identifier: str, fmt: str) -> Path:
    stamp = identifier.replace("-", "").replace(":", "")
    return Path(output_dir) / f"digest-{stamp}.{EXTENSIONS[fmt]}"


def write_files(digest: Digest, formats: list[str], files: dict[str, str], config: Config) -> dict[str, str]:
    """Write each format atomically (a temporary file renamed into place). A failure is logged, not raised:
    the digest is recorded and is still sent."""
    from monitor.digest.render import render_as

    written: dict[str, str] = {}
    for fmt in formats:
        path = Path(files[fmt])
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            content = render_as(digest, fmt, config)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(content)
            os.replace(tmp, path)
            written[fmt] = str(path)
        except OSError as exc:
            log.error("cannot write the digest to %s: %s", path, exc.strerror or exc)
    return written


def message_for(identifier: str, digest: Digest) -> Any:
    from monitor.digest import render as r
    from monitor.digest.notify import Message

    counts = digest.counts
    subject = f"news-monitor digest {identifier}: {counts['mentions']} new mention(s)"
    return Message(digest_id=identifier, subject=subject, text=r.to_text(digest), html=r.to_html(digest),
                   payload=digest.as_dict())


def send_digest(config: Config, event_log: EventLog, identifier: str, digest: Digest, names: list[str], *,
                clock: Callable[[], dt.datetime] = utcnow, sleep: Callable[[float], None] | None = None) -> Any:
    """Send to the named channels; every attempt is recorded. Never raises for a channel's failure."""
    from monitor.digest import notify

    settings = config.digest
    chosen = [(name, channel) for name, channel in zip(settings.channel_names(), settings.channels, strict=True)
              if name in names]
    if not chosen:
        return {}
    extra = {"sleep": sleep} if sleep is not None else {}
    return notify.deliver(identifier, [c for _, c in chosen], [n for n, _ in chosen], message_for(identifier, digest),
                          lambda events: event_log.append(events), retries=settings.retries,
                          retry_delay=settings.retry_delay, clock=clock, **extra)


def resume_deliveries(config: Config, event_log: EventLog, *, clock: Callable[[], dt.datetime] = utcnow) -> int:
    """Send the digests whose sending a stop interrupted: channels named in a ``DigestIssued`` with neither a
    ``DigestDelivered`` nor a final ``DigestDeliveryFailed``. Returns how many channels were resumed."""
    issued: dict[str, dict[str, Any]] = {}
    done: set[tuple[str, str]] = set()
    for event in event_log.read(types=[ev.DIGEST_ISSUED, ev.DIGEST_DELIVERED, ev.DIGEST_DELIVERY_FAILED]):
        data = event.data
        if event.type == ev.DIGEST_ISSUED:
            issued[data["digest_id"]] = data
        elif event.type == ev.DIGEST_DELIVERED or data.get("final"):
            done.add((data["digest_id"], data["channel"]))
    configured = set(config.digest.channel_names())
    resumed = 0
    for identifier, data in issued.items():
        pending = [n for n in data.get("channels", []) if (identifier, n) not in done and n in configured]
        if not pending:
            continue
        digest = build_digest(event_log.engine, after_position=data["after_position"],
                              up_to_position=data["up_to_position"], clock=clock)
        log.info("resuming the delivery of digest %s to %s", identifier, ", ".join(pending))
        send_digest(config, event_log, identifier, digest, pending, clock=clock)
        resumed += len(pending)
    return resumed
