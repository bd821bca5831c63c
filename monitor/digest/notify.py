"""Delivery channels of scheduled digests: email (SMTP), a signed webhook, and any Apprise URL.

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

Apprise
-------
Apprise plugins carry their own socket timeouts (4 s to connect, 4 s to read by default; ``?cto=``/``?rto=``
in the URL change them). With Apprise 2 the whole call is also capped at ``APPRISE_TIMEOUT``. The body sent
is the plain-text digest: every service shows text well, while the standalone HTML page (head, styles)
turns into noise in chat services. Long digests follow the service's ``overflow=`` URL option
(``overflow=split`` sends several messages where the service limits the length).

Threading is the caller's business: the daemon runs ``deliver`` in its own thread, so polling never waits
for a slow mail server.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import inspect
import ipaddress
import json
import logging
import os
import re
import smtplib
import ssl
import time
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses, parseaddr
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import httpx

from monitor.config.model import AppriseChannel, Channel, EmailChannel, WebhookChannel
from monitor.errors import DeliveryError
from monitor.events import catalogue as events
from storage.eventlog import NewEvent, utcnow

log = logging.getLogger(__name__)

EVENT_HEADER = "X-News-Monitor-Event"
DELIVERY_HEADER = "X-News-Monitor-Delivery"
TIMESTAMP_HEADER = "X-News-Monitor-Timestamp"
SIGNATURE_HEADER = "X-News-Monitor-Signature"
USER_AGENT = "news-monitor/0.1 (digest delivery)"
APPRISE_TIMEOUT = 60.0  # seconds for one whole Apprise call (Apprise 2; older versions rely on cto/rto alone)
_RESPONSE_CAP = 2048  # bytes of a webhook's response read, for the error message; the rest is never read
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
    try:
        if isinstance(channel, EmailChannel):
            detail = _send_email(channel, message, at)
        elif isinstance(channel, WebhookChannel):
            detail = _send_webhook(channel, message, at)
        elif isinstance(channel, AppriseChannel):
            detail = _send_apprise(channel, message)
        else:
            raise DeliveryError("bad_config", f"unknown channel type {getattr(channel, 'type', channel)!r}")
    except DeliveryError as exc:
        # Redacted here, at the boundary, so that no caller (the daemon, a future "test channel" command) can
        # log a secret by printing the error.
        exc.message = _one_line(_redact(exc.message, secrets))
        exc.args = (exc.message,)
        raise
    return _redact(detail, secrets)


def _secret_from(value: str | None, env_name: str | None, what: str) -> str | None:
    """The configured value, or the environment variable named instead (which then wins: it is the point of
    naming it). A named variable that is unset is a config error, never a silent unsigned or anonymous send."""
    if env_name:
        found = os.environ.get(env_name)
        if not found:
            raise DeliveryError("bad_config", f"{what}: environment variable {env_name} is not set")
        return found
    return value


# -- email -----------------------------------------------------------------------------------------------


def _send_email(channel: EmailChannel, message: Message, at: dt.datetime) -> str:
    password = _secret_from(channel.password, channel.password_env, "password")
    if channel.username and not password:
        raise DeliveryError("bad_config", f"smtp user {channel.username!r} has no password (set password or "
                                          "password_env)")
    mail = _email(channel, message, at)
    where = f"smtp {channel.smtp_host}:{channel.smtp_port}"
    context = ssl.create_default_context()
    stage = "connect"
    try:
        if channel.security == "ssl":
            client: smtplib.SMTP = smtplib.SMTP_SSL(channel.smtp_host, channel.smtp_port, timeout=channel.timeout,
                                                    context=context)
        else:
            client = smtplib.SMTP(channel.smtp_host, channel.smtp_port, timeout=channel.timeout)
        with client:
            if channel.security == "starttls":
                stage = "starttls"
                client.starttls(context=context)
            if channel.username:
                stage = "login"
                client.login(channel.username, password or "")
            stage = "send"
            refused = client.send_message(mail)
    except smtplib.SMTPAuthenticationError as exc:
        raise DeliveryError("smtp_auth", f"{where} refused the login of {channel.username!r}: "
                                         f"{_smtp_reply(exc.smtp_code, exc.smtp_error)}") from exc
    except smtplib.SMTPNotSupportedError as exc:
        # Raised by starttls() and login() when the server does not offer the extension (RFC 3207, RFC 4954).
        reason = "tls_error" if stage == "starttls" else "smtp_auth" if stage == "login" else "smtp_error"
        raise DeliveryError(reason, f"{where}: {exc}") from exc
    except smtplib.SMTPRecipientsRefused as exc:
        refusals = "; ".join(f"{rcpt}: {_smtp_reply(code, text)}" for rcpt, (code, text) in exc.recipients.items())
        raise DeliveryError("smtp_refused", f"{where} refused every recipient ({refusals})") from exc
    except smtplib.SMTPSenderRefused as exc:
        raise DeliveryError("smtp_refused", f"{where} refused the sender {exc.sender!r}: "
                                            f"{_smtp_reply(exc.smtp_code, exc.smtp_error)}") from exc
    except smtplib.SMTPResponseException as exc:
        raise DeliveryError("smtp_error", f"{where} ({stage}): {_smtp_reply(exc.smtp_code, exc.smtp_error)}") from exc
    except smtplib.SMTPException as exc:  # before OSError: SMTPException is one (disconnects and the like)
        raise DeliveryError("smtp_error", f"{where} ({stage}): {exc or type(exc).__name__}") from exc
    except ssl.SSLError as exc:  # before OSError, of which it is a subclass
        raise DeliveryError("tls_error", f"{where}: TLS failed: {exc}") from exc
    except TimeoutError as exc:
        raise DeliveryError("timeout", f"{where} ({stage}) timed out after {channel.timeout:g}s") from exc
    except ConnectionRefusedError as exc:
        raise DeliveryError("connection_refused", f"{where}: connection refused") from exc
    except OSError as exc:
        raise DeliveryError("connection_error", f"{where} ({stage}): {exc.strerror or exc}") from exc
    recipients = len(getaddresses(channel.to))
    detail = f"250 accepted by {where} for {recipients - len(refused)} recipient(s)"
    if refused:
        # Some recipients were accepted: retrying would send them the digest twice, so this counts as
        # delivered, and the detail names who did not get it.
        detail += "; refused: " + ", ".join(f"{rcpt} ({code})" for rcpt, (code, _) in refused.items())
    return detail


def _email(channel: EmailChannel, message: Message, at: dt.datetime) -> EmailMessage:
    """A multipart/alternative mail: the text part first, the HTML part last, as the preferred one
    (RFC 2046 §5.1.4)."""
    mail = EmailMessage()
    mail["Subject"] = _subject(channel.subject, message)
    mail["From"] = channel.sender
    mail["To"] = ", ".join(channel.to)
    mail["Date"] = format_datetime(at if at.tzinfo else at.replace(tzinfo=dt.UTC))  # RFC 5322 §3.3
    # The same Message-ID on every retry of one digest (RFC 5322 §3.6.4: it identifies the message, not the
    # attempt): when a server accepted a mail but the reply was lost, clients can drop the second copy.
    domain = parseaddr(channel.sender)[1].rpartition("@")[2] or "news-monitor.invalid"
    token = hashlib.sha256(message.digest_id.encode()).hexdigest()[:24]
    mail["Message-ID"] = f"<digest.{token}@{domain}>"
    mail.set_content(message.text)
    mail.add_alternative(message.html, subtype="html")
    return mail


def _subject(template: str, message: Message) -> str:
    counts = _counts(message.payload)
    try:
        subject = template.format_map({**counts, "digest_id": message.digest_id})
    except (KeyError, IndexError, ValueError, AttributeError) as exc:
        raise DeliveryError("bad_config", f"subject {template!r} cannot be filled in ({type(exc).__name__}: "
                                          f"{exc}; use {{mentions}}, {{stories}} or {{digest_id}})") from exc
    return " ".join(subject.split())  # header fields are one line: no injected headers (RFC 5322 §2.2)


def _counts(payload: Mapping[str, Any]) -> dict[str, int]:
    """Mentions and stories of a digest payload: from its ``counts``, else counted from its items."""
    counts = payload.get("counts") if isinstance(payload.get("counts"), Mapping) else {}
    items = payload.get("items") if isinstance(payload.get("items"), list) else []
    mentions = counts.get("mentions", payload.get("mentions"))
    stories = counts.get("stories", payload.get("stories"))
    if not isinstance(mentions, int):
        mentions = len(items)
    if not isinstance(stories, int):
        stories = len({item.get("article_id") or item.get("url") for item in items if isinstance(item, Mapping)})
    return {"mentions": mentions, "stories": stories}


def _smtp_reply(code: int, text: bytes | str) -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return f"{code} {' '.join(str(text).split())}"


# -- webhook ---------------------------------------------------------------------------------------------


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


def _send_webhook(channel: WebhookChannel, message: Message, at: dt.datetime) -> str:
    secret = _secret_from(channel.secret, channel.secret_env, "secret")
    body = json.dumps(message.payload, ensure_ascii=False).encode()
    timestamp = str(int(at.timestamp()))
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT, EVENT_HEADER: "digest",
               DELIVERY_HEADER: message.digest_id, TIMESTAMP_HEADER: timestamp}
    if secret:
        headers[SIGNATURE_HEADER] = sign(secret, timestamp, body)
    where = _origin(channel.url)
    try:
        request = httpx.Request("POST", channel.url, content=body, headers=headers,
                                extensions={"timeout": httpx.Timeout(channel.timeout).as_dict()})
        # The transport rather than a Client: a Client logs every request's full URL at INFO, and webhook URLs
        # often hold tokens. It follows no redirect either. trust_env off, as in fetch: no proxy or
        # certificate settings picked up from the environment.
        with httpx.HTTPTransport(trust_env=False) as transport:
            response = transport.handle_request(request)
            try:
                status, location, snippet = response.status_code, response.headers.get("location"), b""
                if not 200 <= status < 300:
                    for chunk in response.iter_raw():
                        snippet += chunk
                        if len(snippet) >= _RESPONSE_CAP:
                            break
            finally:
                response.close()
    except httpx.TimeoutException as exc:
        raise DeliveryError("timeout", f"POST to {where} timed out after {channel.timeout:g}s") from exc
    except httpx.ConnectError as exc:
        reason = _connect_reason(exc)
        raise DeliveryError(reason, f"POST to {where}: {reason.replace('_', ' ')}: {_cause(exc)}") from exc
    except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
        raise DeliveryError("bad_config", f"webhook url cannot be used: {exc}") from exc
    except httpx.HTTPError as exc:
        reason = "tls_error" if _caused_by(exc, ssl.SSLError) else "connection_error"
        raise DeliveryError(reason, f"POST to {where}: {type(exc).__name__}: {_cause(exc)}") from exc
    if 300 <= status < 400:
        raise DeliveryError(f"http_{status}", f"POST to {where}: HTTP {status}, redirect to "
                                              f"{_origin(location or '')} not followed (update the url)")
    if not 200 <= status < 300:
        text = " ".join(snippet[:200].decode("utf-8", "replace").split())
        raise DeliveryError(f"http_{status}", f"POST to {where}: HTTP {status}" + (f": {text}" if text else ""))
    return f"HTTP {status}"


def _connect_reason(exc: BaseException) -> str:
    if _caused_by(exc, ssl.SSLError):
        return "tls_error"
    if _caused_by(exc, ConnectionRefusedError):
        return "connection_refused"
    return "connection_error"


def _caused_by(exc: BaseException, kind: type[BaseException]) -> bool:
    """Whether ``kind`` is in the chain: httpx wraps httpcore's error, which wraps the socket's."""
    seen: BaseException | None = exc
    for _ in range(10):
        if seen is None:
            return False
        if isinstance(seen, kind):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _cause(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


def _origin(url: str) -> str:
    """Scheme, host and port only: paths and queries of webhook URLs often hold tokens."""
    parts = urlsplit(url)
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    return f"{parts.scheme}://{parts.hostname or '?'}{port}" if parts.scheme else "(no url)"


# -- apprise ---------------------------------------------------------------------------------------------


def _send_apprise(channel: AppriseChannel, message: Message) -> str:
    import apprise  # imported when used: it is large, and only the digest job needs it

    url = _secret_from(channel.url, channel.url_env, "url") or ""
    scheme = url.partition("://")[0] or "?"
    service = apprise.Apprise()
    with apprise.LogCapture(level=logging.WARNING, fmt="%(message)s") as captured:
        if not service.add(url):
            raise DeliveryError("bad_config", f"apprise cannot use the {scheme}:// URL: "
                                              f"{_log_lines(captured.getvalue()) or 'unknown service'}")
        extra: dict[str, Any] = {}
        if "timeout" in inspect.signature(service.notify).parameters:
            extra["timeout"] = APPRISE_TIMEOUT
        try:
            result = service.notify(body=message.text, title=message.subject,
                                    body_format=apprise.NotifyFormat.TEXT, **extra)
        except Exception as exc:  # a plugin's bug is this channel's failure, not the digest job's
            raise DeliveryError("apprise_failed", f"apprise {scheme}://: {type(exc).__name__}: {exc}") from exc
        logged = _log_lines(captured.getvalue())
    if not result:
        # Apprise 2 returns a result whose status tells a timeout apart; Apprise 1 returns False.
        status = getattr(getattr(result, "status", None), "name", "")
        reason = "timeout" if status == "TIMEOUT" else "apprise_failed"
        raise DeliveryError(reason, f"apprise {scheme}:// failed: {logged or 'no reason given'}")
    return f"apprise {scheme}:// accepted"


def _log_lines(text: str) -> str:
    lines = [" ".join(line.split()) for line in text.splitlines() if line.strip()]
    return "; ".join(dict.fromkeys(lines))  # the same warning once


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
