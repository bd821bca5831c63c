"""Delivering scheduled digests: the Message, sending it over a channel, retries, records, redaction.

The channels themselves (email over SMTP, a signed webhook, any Apprise URL) are in monitor.digest.channels;
this module is what every channel shares.

``send(channel, message)`` delivers one digest over one channel and returns a short detail, or raises
``DeliveryError`` with a stable ``reason``. ``deliver(...)`` sends over every configured channel, each on its
own (one failing channel never stops the others), retries with exponential backoff and records the outcome
as events: ``DigestDeliveryFailed`` for each failed attempt, ``DigestDelivered`` once it went through.
Keys come from the digest id, the channel name and the attempt number, so a second run records nothing new.

Errors (``reason`` codes)::

    MonitorError
    └── DeliveryError   smtp_error, smtp_auth, smtp_refused, timeout, connection_refused, connection_error,
                        tls_error, http_<status>, apprise_failed, bad_config (not retried: a missing
                        environment variable or an unusable URL does not fix itself)

``deliver`` also records ``internal_error`` (not retried) when a channel raises something unexpected (a bug
in a library or here), so that one channel's crash never costs the others their digest.

Secrets (SMTP password, webhook secret, the parts of webhook and Apprise URLs that may hold tokens) are
redacted from every message this module raises, records or logs.

Webhook signatures
------------------
A webhook is ``POST <url>`` with the digest as a JSON body (``Content-Type: application/json``, UTF-8 as
RFC 8259 §8.1 requires) and these headers:

- ``X-News-Monitor-Event: digest``
- ``X-News-Monitor-Delivery: <digest id>`` (the same on every retry: receivers can drop duplicates)
- ``X-News-Monitor-Timestamp: <unix seconds>``
- ``X-News-Monitor-Signature: sha256=<hex>`` when a secret is configured, where ``<hex>`` is
  ``HMAC-SHA256(key=secret, msg=timestamp + "." + body)`` (RFC 2104) over the raw body bytes.

A receiver recomputes the HMAC over the bytes it received, compares in constant time, and rejects a
timestamp more than a few minutes from its own clock, so a captured request cannot be replayed later.
``verify(secret, headers, body)`` does all three. Redirects are not followed (a 3xx is a failure,
``http_301``...): the signed body is never sent to a URL nobody configured.

Threading is the caller's business: the daemon runs ``deliver`` in its own thread, so polling never waits
for a slow mail server.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import ipaddress
import logging
import os
import re
import time
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from monitor.config.model import AppriseChannel, Channel, EmailChannel, WebhookChannel
from monitor.errors import DeliveryError
from monitor.events import catalogue as events
from storage.eventlog import NewEvent, utcnow

log = logging.getLogger(__name__)

EVENT_HEADER = "X-News-Monitor-Event"
DELIVERY_HEADER = "X-News-Monitor-Delivery"
TIMESTAMP_HEADER = "X-News-Monitor-Timestamp"
SIGNATURE_HEADER = "X-News-Monitor-Signature"
_MESSAGE_CAP = 500  # characters of a recorded failure message
_NOT_RETRIED = frozenset({"bad_config"})


@dataclass(frozen=True)
class Message:
    """One digest, rendered: what every channel sends (each picks the parts it can show)."""

    digest_id: str
    subject: str
    text: str  # the plain-text digest
    html: str  # a standalone HTML page
    payload: dict[str, Any]  # the digest as `news-monitor digest --format json` prints it
    files: dict[str, str] = field(default_factory=dict)  # format -> path written


@dataclass(frozen=True)
class Delivery:
    """How one channel fared in ``deliver``."""

    channel: str
    channel_type: str
    delivered: bool
    attempts: int
    detail: str | None = None  # on success
    reason: str | None = None  # on failure: the last attempt's reason code
    message: str | None = None  # on failure: the last attempt's message (secrets redacted)


# -- sending ---------------------------------------------------------------------------------------------


def send(channel: Channel, message: Message, *, at: dt.datetime | None = None) -> str:
    """Deliver ``message`` over ``channel``; a short detail on success (``"HTTP 200"``), else DeliveryError.
    ``at`` is the time the Date header and the webhook timestamp carry (now by default)."""
    at = at or utcnow()
    secrets = _secrets(channel)
    # Imported here: the channels import this module's Message and signature.
    from monitor.digest import channels

    try:
        if isinstance(channel, EmailChannel):
            detail = channels.send_email(channel, message, at)
        elif isinstance(channel, WebhookChannel):
            detail = channels.send_webhook(channel, message, at)
        elif isinstance(channel, AppriseChannel):
            detail = channels.send_apprise(channel, message)
        else:
            raise DeliveryError("bad_config", f"unknown channel type {getattr(channel, 'type', channel)!r}")
    except DeliveryError as exc:
        # Redacted here, at the boundary, so that no caller (the daemon, a future "test channel" command) can
        # log a secret by printing the error.
        exc.message = _one_line(_redact(exc.message, secrets))
        exc.args = (exc.message,)
        raise
    return _redact(detail, secrets)


# -- webhook signatures ----------------------------------------------------------------------------------


def sign(secret: str | bytes, timestamp: int | str, body: bytes) -> str:
    """The signature header's value: ``sha256=`` and the hex HMAC-SHA256 of ``"<timestamp>." + body``."""
    key = secret.encode() if isinstance(secret, str) else secret
    return "sha256=" + hmac.new(key, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def verify(secret: str | bytes, headers: Mapping[str, str] | Iterable[tuple[str, str]], body: bytes, *,
           tolerance: float = 300, now: float | None = None) -> bool:
    """Whether a received webhook is authentic and fresh: its signature matches ``body`` (the raw bytes, before
    any JSON parsing) and its timestamp is within ``tolerance`` seconds of ``now`` (the current time)."""
    pairs = headers.items() if isinstance(headers, Mapping) or hasattr(headers, "items") else headers
    found = {name.lower(): value for name, value in pairs}  # header names are case-insensitive (RFC 9110 §5.1)
    stamp, signature = found.get(TIMESTAMP_HEADER.lower(), ""), found.get(SIGNATURE_HEADER.lower(), "")
    if not re.fullmatch(r"[0-9]{1,12}", stamp.strip()) or not signature:
        return False
    current = time.time() if now is None else now
    if abs(current - int(stamp)) > tolerance:  # too old (a replay) or too far ahead
        return False
    return hmac.compare_digest(sign(secret, stamp.strip(), body).encode(), signature.strip().encode())


# -- secrets ---------------------------------------------------------------------------------------------


def _secrets(channel: Channel) -> list[str]:
    """The strings to redact for this channel, longest first (so a secret's own parts never leave a piece)."""
    found: set[str] = set()
    for attr in ("password", "secret"):
        if value := getattr(channel, attr, None):
            found.add(value)
    for attr in ("password_env", "secret_env", "url_env"):
        if (name := getattr(channel, attr, None)) and (value := os.environ.get(name)):
            found |= _url_secrets(value) if attr == "url_env" else {value}
    if url := getattr(channel, "url", None):
        found |= _url_secrets(url)
    return sorted((s for s in found if len(s) >= 4), key=len, reverse=True)


def _url_secrets(url: str) -> set[str]:
    """A URL and every part of it that may be a token: user, password, host-like and path pieces (Apprise puts
    tokens in any of them: ``tgram://<bot token>/<chat>``), query values. IP addresses and lower-case DNS
    names are left readable: they say where a failure happened and are no secret. Pieces shorter than 8
    characters are no token either ("hook", a port), and redacting them would garble the messages."""
    parts = urlsplit(url)
    pieces = re.split(r"[/@:]+", parts.netloc + parts.path) + [v for _, v in parse_qsl(parts.query)]
    pieces.append(parts.fragment)
    pieces += [unquote(p) for p in pieces]
    return {url} | {p for p in pieces if len(p) >= 8 and not _public_name(p)}


def _public_name(piece: str) -> bool:
    try:
        ipaddress.ip_address(piece)
        return True
    except ValueError:
        return bool(re.fullmatch(r"[a-z0-9-]+(\.[a-z0-9-]+)+", piece)) or piece in ("localhost",)


def _redact(text: str, secrets: Sequence[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


def _one_line(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MESSAGE_CAP else text[:_MESSAGE_CAP - 1] + "…"


# -- delivering a digest ---------------------------------------------------------------------------------


def deliver(digest: str, channels: Sequence[Channel], names: Sequence[str], message: Message,
            record: Callable[[list[NewEvent]], object], *, retries: int, retry_delay: float,
            sleep: Callable[[float], None] = time.sleep,
            clock: Callable[[], dt.datetime] = utcnow) -> dict[str, Delivery]:
    """Send ``message`` (digest ``digest``, its id) over each channel, named by ``names`` (from
    ``DigestSettings.channel_names()``), one after the other and each on its own.

    A failed attempt ``n`` is recorded (``DigestDeliveryFailed``, ``final`` when no retry follows), then
    retried after ``retry_delay * 2**(n-1)`` seconds, up to ``retries`` times; ``bad_config`` is not retried.
    Success records ``DigestDelivered`` with the number of attempts. Events go through ``record`` as they
    happen, so the log shows a failing channel while its retries wait; an error of ``record`` itself
    (storage) propagates. Returns each channel's outcome by name.
    """
    if len(channels) != len(names):
        raise ValueError(f"{len(channels)} channel(s) but {len(names)} name(s)")
    outcome: dict[str, Delivery] = {}
    for channel, name in zip(channels, names, strict=True):
        outcome[name] = _deliver_one(digest, channel, name, message, record, retries=retries,
                                     retry_delay=retry_delay, sleep=sleep, clock=clock)
    return outcome


def _deliver_one(digest: str, channel: Channel, name: str, message: Message,
                 record: Callable[[list[NewEvent]], object], *, retries: int, retry_delay: float,
                 sleep: Callable[[float], None], clock: Callable[[], dt.datetime]) -> Delivery:
    attempt = 0
    while True:
        attempt += 1
        try:
            detail = send(channel, message, at=clock())
        except DeliveryError as exc:
            reason, text = exc.reason, exc.message
        except Exception as exc:  # a bug in one channel must not cost the others their digest
            secrets = _safe_secrets(channel)
            reason = "internal_error"
            text = _one_line(_redact(f"{type(exc).__name__}: {exc}", secrets))
            # The traceback is what fixes the bug, but its message may quote a secret: redacted like the rest.
            log.error("digest %s: channel %s crashed: %s", digest, name,
                      _redact("".join(traceback.format_exception(exc)), secrets))
        else:
            record([events.digest_delivered(digest, name, clock(), {
                "channel_type": channel.type, "attempts": attempt, "detail": detail})])
            log.info("digest %s delivered by %s (%s) after %d attempt(s): %s", digest, name, channel.type,
                     attempt, detail)
            return Delivery(name, channel.type, True, attempt, detail=detail)
        final = attempt > retries or reason in _NOT_RETRIED or reason == "internal_error"
        record([events.digest_delivery_failed(digest, name, attempt, clock(), {
            "channel_type": channel.type, "reason": reason, "message": text, "final": final})])
        if final:
            log.warning("digest %s not delivered by %s (%s) after %d attempt(s): %s: %s", digest, name,
                        channel.type, attempt, reason, text)
            return Delivery(name, channel.type, False, attempt, reason=reason, message=text)
        wait = retry_delay * 2 ** (attempt - 1)
        log.info("digest %s: %s (%s) failed (%s: %s); retry %d of %d in %gs", digest, name, channel.type, reason,
                 text, attempt, retries, wait)
        sleep(wait)


def _safe_secrets(channel: Channel) -> list[str]:
    try:
        return _secrets(channel)
    except Exception:  # redaction must never be what fails
        return []
