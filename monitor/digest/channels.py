"""The digest channels: email (SMTP), a signed webhook, any Apprise URL. Each sender sends one Message
and returns a short detail, or raises DeliveryError with a stable ``reason`` (the codes are listed in
monitor.digest.notify). Call ``notify.send``, not these: it picks the sender and redacts the channel's
secrets from whatever comes back; the webhook's signature (``sign``, ``verify``) is defined there too.

Email is multipart/alternative (the text part, then the HTML one) with the same Message-ID on every retry.
A webhook is one POST of the digest as JSON, signed, and never redirected.

Apprise
-------
Apprise plugins carry their own socket timeouts (4 s to connect, 4 s to read by default; ``?cto=``/``?rto=``
in the URL change them). With Apprise 2 the whole call is also capped at ``APPRISE_TIMEOUT``. The body sent
is the plain-text digest: every service shows text well, while the standalone HTML page (head, styles)
turns into noise in chat services. Long digests follow the service's ``overflow=`` URL option
(``overflow=split`` sends several messages where the service limits the length).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import inspect
import json
import logging
import os
import smtplib
import ssl
from collections.abc import Mapping
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses, parseaddr
from typing import Any
from urllib.parse import urlsplit

import httpx

from monitor.config.model import AppriseChannel, EmailChannel, WebhookChannel
from monitor.digest.notify import DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, Message, sign
from monitor.errors import DeliveryError

USER_AGENT = "news-monitor/0.1 (digest delivery)"
APPRISE_TIMEOUT = 60.0  # seconds for one whole Apprise call (Apprise 2; older versions rely on cto/rto alone)
_RESPONSE_CAP = 2048  # bytes of a webhook's response read, for the error message; the rest is never read


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


def send_email(channel: EmailChannel, message: Message, at: dt.datetime) -> str:
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


def send_webhook(channel: WebhookChannel, message: Message, at: dt.datetime) -> str:
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


def send_apprise(channel: AppriseChannel, message: Message) -> str:
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
