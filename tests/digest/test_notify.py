"""Digest delivery: a real SMTP server (aiosmtpd), a real HTTP receiver and Apprise's json:// service, all on
127.0.0.1; retries with a fake sleep; events appended to a real event log (SQLite, and PostgreSQL when set)."""

from __future__ import annotations

import datetime as dt
import email
import hashlib
import hmac
import html
import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from email.message import EmailMessage
from email.policy import default as default_policy
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from monitor.config.model import (
    AppriseChannel,
    Config,
    DigestSettings,
    EmailChannel,
    StorageSettings,
    WebhookChannel,
)
from monitor.digest import channels, notify
from monitor.digest.notify import DeliveryError, Message, deliver, send, sign, verify
from monitor.events.catalogue import DIGEST_DELIVERED, DIGEST_DELIVERY_FAILED
from monitor.views.log import open_log
from storage.eventlog import NewEvent

AT = dt.datetime(2026, 12, 2, 8, 0, tzinfo=dt.UTC)
DIGEST_ID = AT.isoformat()
HOSTILE_TITLE = 'Modi & Putin meet <script>alert("x")</script> in Moscow'
SMTP_USER, SMTP_PASSWORD = "digest-bot", "correct-horse-battery-staple"
WEBHOOK_SECRET = "whsec-9f8e7d6c5b4a39281706"


def free_port() -> int:
    """A port nothing listens on (bound and released: good enough for one test's lifetime)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def message() -> Message:
    """A digest as the digest job would hand it over: two mentions of one story, one with a hostile title."""
    items = [
        {"article_id": "a1", "url": "https://news.example/modi-putin", "title": HOSTILE_TITLE,
         "feed": "Example News", "topic": "india-russia", "score": 0.91,
         "sentences": ["Prime Minister Modi arrived in Moscow on Monday for the annual summit."]},
        {"article_id": "a1", "url": "https://news.example/modi-putin", "title": HOSTILE_TITLE,
         "feed": "Example News", "topic": "summits", "score": 0.64,
         "sentences": ["The 22nd India–Russia Annual Summit is held on July 8-9, 2024."]},
    ]
    payload = {"digest_id": DIGEST_ID, "items": items,
               "window": {"since": None, "after_position": 12},
               "counts": {"mentions": 2, "stories": 1, "feeds": 3, "feeds_polled": 3, "feeds_failing": 0}}
    text = (f"news-monitor digest — 2 new mention(s)\n\n{HOSTILE_TITLE}\n  https://news.example/modi-putin\n"
            f"  › Prime Minister Modi arrived in Moscow on Monday for the annual summit.\n")
    page = (f"<!doctype html><html><head><meta charset=\"utf-8\"><title>news-monitor digest</title></head>"
            f"<body><h1>news-monitor digest</h1><h2><a href=\"https://news.example/modi-putin\">"
            f"{html.escape(HOSTILE_TITLE)}</a></h2><p>India–Russia summit</p></body></html>")
    return Message(DIGEST_ID, "news-monitor digest: 2 new mention(s)", text, page, payload,
                   {"html": "/tmp/digest.html"})


class Events:
    """A ``record`` callable that keeps what it is given, checking every event is one deliver may make."""

    def __init__(self) -> None:
        self.events: list[NewEvent] = []

    def __call__(self, new: list[NewEvent]) -> None:
        assert all(e.type in (DIGEST_DELIVERED, DIGEST_DELIVERY_FAILED) for e in new)
        self.events.extend(new)

    def summary(self) -> list[tuple[Any, ...]]:
        return [(e.type, e.data["channel"], e.data.get("attempt", e.data.get("attempts")),
                 e.data.get("reason"), e.data.get("final")) for e in self.events]


class NoSleep:
    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


# -- email -----------------------------------------------------------------------------------------------


class Mailbox:
    """An aiosmtpd handler that keeps each message and refuses recipients at refused.example."""

    def __init__(self) -> None:
        self.received: list[tuple[str, list[str], bytes]] = []
        self.logins: list[tuple[str, str]] = []

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:  # noqa: N802
        if address.endswith("@refused.example"):
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.received.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 Message accepted for delivery"

    def authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        if isinstance(data, LoginPassword):
            self.logins.append((data.login.decode(), data.password.decode()))
            if (data.login.decode(), data.password.decode()) == (SMTP_USER, SMTP_PASSWORD):
                return AuthResult(success=True)
        return AuthResult(success=False, handled=False)


@pytest.fixture
def smtp_server() -> Iterator[tuple[Mailbox, int]]:
    mailbox = Mailbox()
    port = free_port()
    # AUTH without TLS is allowed only because this server is on loopback, for the test.
    controller = Controller(mailbox, hostname="127.0.0.1", port=port, server_hostname="mail.test",
                            authenticator=mailbox.authenticate, auth_require_tls=False)
    controller.start()
    try:
        yield mailbox, port
    finally:
        controller.stop()


def email_channel(port: int, **overrides: Any) -> EmailChannel:
    settings = {"type": "email", "smtp_host": "127.0.0.1", "smtp_port": port, "security": "none",
                "from": "News Monitor <monitor@example.org>", "to": ["ana@example.org", "Raj <raj@example.org>"],
                "subject": "Digest {digest_id}: {mentions} mention(s), {stories} story", "timeout": "5s"}
    return EmailChannel.model_validate({**settings, **overrides})


def test_email_is_a_text_and_html_mail_with_login(smtp_server: tuple[Mailbox, int], message: Message,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    mailbox, port = smtp_server
    monkeypatch.setenv("NM_TEST_SMTP_PASSWORD", SMTP_PASSWORD)
    channel = email_channel(port, username=SMTP_USER, password_env="NM_TEST_SMTP_PASSWORD")

    detail = send(channel, message, at=AT)

    assert detail == f"250 accepted by smtp 127.0.0.1:{port} for 2 recipient(s)"
    assert mailbox.logins == [(SMTP_USER, SMTP_PASSWORD)]
    [(mail_from, rcpt_tos, raw)] = mailbox.received
    assert (mail_from, rcpt_tos) == ("monitor@example.org", ["ana@example.org", "raj@example.org"])
    mail = email.message_from_bytes(raw, policy=default_policy)
    assert isinstance(mail, EmailMessage)
    assert mail["Subject"] == f"Digest {DIGEST_ID}: 2 mention(s), 1 story"
    assert mail["From"] == "News Monitor <monitor@example.org>"
    assert [a.addr_spec for a in mail["To"].addresses] == ["ana@example.org", "raj@example.org"]
    assert mail["Date"].datetime == AT
    assert mail["Message-ID"].startswith("<digest.") and mail["Message-ID"].endswith("@example.org>")
    assert mail.get_content_type() == "multipart/alternative"
    parts = [(p.get_content_type(), p.get_content()) for p in mail.iter_parts()]
    assert [kind for kind, _ in parts] == ["text/plain", "text/html"]
    text, page = parts[0][1], parts[1][1]
    assert HOSTILE_TITLE in text  # the plain text is the title as it is, markup and all
    assert "India–Russia" in page and html.escape(HOSTILE_TITLE) in page
    assert "<script>" not in page  # the escaped title the HTML was given, unaltered
    assert page.replace("\r\n", "\n").rstrip("\n") == message.html


def test_email_retry_keeps_the_message_id(smtp_server: tuple[Mailbox, int], message: Message) -> None:
    mailbox, port = smtp_server
    send(email_channel(port), message, at=AT)
    send(email_channel(port), message, at=AT + dt.timedelta(minutes=1))
    ids = {email.message_from_bytes(raw, policy=default_policy)["Message-ID"] for _, _, raw in mailbox.received}
    assert len(ids) == 1


def test_email_some_recipients_refused_counts_as_delivered(smtp_server: tuple[Mailbox, int],
                                                           message: Message) -> None:
    mailbox, port = smtp_server
    detail = send(email_channel(port, to=["ana@example.org", "ghost@refused.example"]), message, at=AT)
    assert detail.startswith(f"250 accepted by smtp 127.0.0.1:{port} for 1 recipient(s)")
    assert "ghost@refused.example (550)" in detail
    assert mailbox.received[0][1] == ["ana@example.org"]


@pytest.mark.parametrize(("overrides", "reason", "words"), [
    ({"to": ["ghost@refused.example"]}, "smtp_refused", "550 5.1.1 no such mailbox"),
    ({"username": SMTP_USER, "password": "wrong-password-123"}, "smtp_auth", "refused the login"),
    ({"security": "starttls"}, "tls_error", "STARTTLS"),
    ({"username": SMTP_USER, "password_env": "NM_TEST_UNSET_VARIABLE"}, "bad_config", "NM_TEST_UNSET_VARIABLE"),
    ({"subject": "{mentions} for {reader}"}, "bad_config", "{stories}"),
])
def test_email_failures_have_reasons(smtp_server: tuple[Mailbox, int], message: Message, overrides: dict[str, Any],
                                     reason: str, words: str) -> None:
    mailbox, port = smtp_server
    with pytest.raises(DeliveryError) as caught:
        send(email_channel(port, **overrides), message, at=AT)
    assert caught.value.reason == reason
    assert words in str(caught.value) and "\n" not in str(caught.value)
    assert "wrong-password-123" not in str(caught.value)
    assert not mailbox.received


def test_email_server_down_is_connection_refused(message: Message) -> None:
    with pytest.raises(DeliveryError) as caught:
        send(email_channel(free_port()), message, at=AT)
    assert caught.value.reason == "connection_refused"


# -- webhook ---------------------------------------------------------------------------------------------


def webhook_channel(server: HTTPServer, path: str = "/hooks/digest", **overrides: Any) -> WebhookChannel:
    return WebhookChannel.model_validate({"type": "webhook", "url": server.url_for(path), "secret": WEBHOOK_SECRET,
                                          "timeout": "2s", **overrides})


def test_webhook_posts_the_payload_signed(httpserver_ipv4: HTTPServer, message: Message) -> None:
    httpserver_ipv4.expect_request("/hooks/digest", method="POST").respond_with_data("ok")

    detail = send(webhook_channel(httpserver_ipv4), message)  # now: verify checks the timestamp's freshness

    assert detail == "HTTP 200"
    [(request, _)] = httpserver_ipv4.log
    body = request.get_data()
    assert json.loads(body) == message.payload
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["X-News-Monitor-Event"] == "digest"
    assert request.headers["X-News-Monitor-Delivery"] == DIGEST_ID
    timestamp = request.headers["X-News-Monitor-Timestamp"]
    assert abs(int(timestamp) - time.time()) < 60
    assert verify(WEBHOOK_SECRET, request.headers, body)
    expected = hmac.new(WEBHOOK_SECRET.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    assert request.headers["X-News-Monitor-Signature"] == f"sha256={expected}"


def test_verify_rejects_a_wrong_secret_a_changed_body_and_old_or_bad_timestamps() -> None:
    body, now = b'{"counts": {"mentions": 2}}', 1_800_000_000
    good = {"X-News-Monitor-Timestamp": str(now), "X-News-Monitor-Signature": sign(WEBHOOK_SECRET, now, body)}
    assert verify(WEBHOOK_SECRET, good, body, now=now + 10)
    assert verify(WEBHOOK_SECRET, {k.lower(): v for k, v in good.items()}, body, now=now)  # names: any case
    assert not verify("another-secret", good, body, now=now)
    assert not verify(WEBHOOK_SECRET, good, body + b" ", now=now)
    assert not verify(WEBHOOK_SECRET, good, body, now=now + 301)  # a replay, five minutes later
    assert verify(WEBHOOK_SECRET, good, body, now=now + 3000, tolerance=3600)
    old = {"X-News-Monitor-Timestamp": str(now - 3600),
           "X-News-Monitor-Signature": sign(WEBHOOK_SECRET, now - 3600, body)}
    assert not verify(WEBHOOK_SECRET, old, body, now=now)  # correctly signed, but an hour old
    assert not verify(WEBHOOK_SECRET, {**good, "X-News-Monitor-Timestamp": "soon"}, body, now=now)
    assert not verify(WEBHOOK_SECRET, {"X-News-Monitor-Timestamp": str(now)}, body, now=now)


def test_webhook_500_then_200_is_retried(httpserver_ipv4: HTTPServer, message: Message) -> None:
    httpserver_ipv4.expect_ordered_request("/hooks/digest").respond_with_data("busy", status=500)
    httpserver_ipv4.expect_ordered_request("/hooks/digest").respond_with_data("ok", status=200)
    record, sleep = Events(), NoSleep()

    outcome = deliver(DIGEST_ID, [webhook_channel(httpserver_ipv4)], ["hook"], message, record,
                      retries=3, retry_delay=30, sleep=sleep, clock=lambda: AT)

    assert record.summary() == [(DIGEST_DELIVERY_FAILED, "hook", 1, "http_500", False),
                                (DIGEST_DELIVERED, "hook", 2, None, None)]
    assert record.events[0].data["message"] == f"POST to http://127.0.0.1:{httpserver_ipv4.port}: HTTP 500: busy"
    assert record.events[1].data == {"digest_id": DIGEST_ID, "channel": "hook", "channel_type": "webhook",
                                     "attempts": 2, "detail": "HTTP 200"}
    assert sleep.waits == [30]
    assert outcome["hook"] == notify.Delivery("hook", "webhook", True, 2, detail="HTTP 200")
    # Both tries carry the same delivery id, so a receiver can tell a retry from a new digest.
    assert {r.headers["X-News-Monitor-Delivery"] for r, _ in httpserver_ipv4.log} == {DIGEST_ID}


def test_webhook_retries_exhausted_end_final(httpserver_ipv4: HTTPServer, message: Message) -> None:
    httpserver_ipv4.expect_request("/hooks/digest").respond_with_data("down", status=503)
    record, sleep = Events(), NoSleep()

    outcome = deliver(DIGEST_ID, [webhook_channel(httpserver_ipv4)], ["hook"], message, record,
                      retries=2, retry_delay=10, sleep=sleep, clock=lambda: AT)

    assert record.summary() == [(DIGEST_DELIVERY_FAILED, "hook", n, "http_503", n == 3) for n in (1, 2, 3)]
    assert sleep.waits == [10, 20]  # retry_delay, doubled for each further retry
    assert not outcome["hook"].delivered and outcome["hook"].reason == "http_503"
    assert len(httpserver_ipv4.log) == 3


def test_webhook_redirect_is_not_followed(httpserver_ipv4: HTTPServer, message: Message) -> None:
    httpserver_ipv4.expect_request("/hooks/digest").respond_with_data(
        "", status=302, headers={"Location": httpserver_ipv4.url_for("/elsewhere")})
    with pytest.raises(DeliveryError) as caught:
        send(webhook_channel(httpserver_ipv4), message, at=AT)
    assert caught.value.reason == "http_302"
    assert "not followed" in caught.value.message
    assert [r.path for r, _ in httpserver_ipv4.log] == ["/hooks/digest"]


def test_webhook_timeout_and_refused(httpserver_ipv4: HTTPServer, message: Message) -> None:
    answered = threading.Event()

    def slow(request: Request) -> Response:
        time.sleep(0.6)
        answered.set()
        return Response("late")

    httpserver_ipv4.expect_request("/hooks/digest").respond_with_handler(slow)
    with pytest.raises(DeliveryError) as caught:
        send(webhook_channel(httpserver_ipv4, timeout="200ms"), message, at=AT)
    assert caught.value.reason == "timeout"
    assert answered.wait(5)  # the server is done with it before the next test shares the server

    dead = WebhookChannel(type="webhook", url=f"http://127.0.0.1:{free_port()}/hook")
    with pytest.raises(DeliveryError) as caught:
        send(dead, message, at=AT)
    assert caught.value.reason == "connection_refused"


def test_webhook_without_secret_is_unsigned_and_a_missing_secret_env_is_bad_config(
        httpserver_ipv4: HTTPServer, message: Message) -> None:
    httpserver_ipv4.expect_request("/hooks/digest").respond_with_data("ok")
    send(webhook_channel(httpserver_ipv4, secret=None), message, at=AT)
    assert "X-News-Monitor-Signature" not in httpserver_ipv4.log[0][0].headers

    record = Events()
    outcome = deliver(DIGEST_ID, [webhook_channel(httpserver_ipv4, secret_env="NM_TEST_UNSET_SECRET")], ["hook"],
                      message, record, retries=3, retry_delay=1, sleep=NoSleep(), clock=lambda: AT)
    assert record.summary() == [(DIGEST_DELIVERY_FAILED, "hook", 1, "bad_config", True)]  # no retry: it won't help
    assert outcome["hook"].attempts == 1 and len(httpserver_ipv4.log) == 1


# -- apprise ---------------------------------------------------------------------------------------------


def test_apprise_json_service_receives_title_and_body(httpserver_ipv4: HTTPServer, message: Message) -> None:
    httpserver_ipv4.expect_request("/apprise/notify", method="POST").respond_with_data("ok")
    channel = AppriseChannel(type="apprise", url=f"json://127.0.0.1:{httpserver_ipv4.port}/apprise/notify")

    detail = send(channel, message, at=AT)

    assert detail == "apprise json:// accepted"
    [(request, _)] = httpserver_ipv4.log
    received = json.loads(request.get_data())
    assert received["title"] == message.subject
    assert HOSTILE_TITLE in received["message"] and "Prime Minister Modi" in received["message"]


def test_apprise_failure_is_recorded_and_other_channels_still_deliver(httpserver_ipv4: HTTPServer,
                                                                      message: Message) -> None:
    httpserver_ipv4.expect_request("/hooks/digest").respond_with_data("ok")
    dead = AppriseChannel(type="apprise", url=f"json://127.0.0.1:{free_port()}/notify")
    digest = DigestSettings(channels=[dead, webhook_channel(httpserver_ipv4)])
    record, sleep = Events(), NoSleep()

    started = time.monotonic()
    outcome = deliver(DIGEST_ID, digest.channels, digest.channel_names(), message, record,
                      retries=1, retry_delay=5, sleep=sleep, clock=lambda: AT)

    assert time.monotonic() - started < 5
    assert record.summary() == [(DIGEST_DELIVERY_FAILED, "apprise-1", 1, "apprise_failed", False),
                                (DIGEST_DELIVERY_FAILED, "apprise-1", 2, "apprise_failed", True),
                                (DIGEST_DELIVERED, "webhook-2", 1, None, None)]
    assert "connection error" in record.events[0].data["message"].lower()  # apprise's own logged reason
    assert [o.delivered for o in outcome.values()] == [False, True]


def test_apprise_url_it_does_not_know_is_bad_config(message: Message) -> None:
    with pytest.raises(DeliveryError) as caught:
        send(AppriseChannel(type="apprise", url="nosuchservice://token-abcdef123456"), message, at=AT)
    assert caught.value.reason == "bad_config"
    assert "token-abcdef123456" not in caught.value.message


# -- events and secrets ----------------------------------------------------------------------------------


def test_recorded_events_have_stable_keys_in_the_event_log(database_url: str, httpserver_ipv4: HTTPServer,
                                                           message: Message) -> None:
    httpserver_ipv4.expect_request("/hooks/digest").respond_with_data("ok")
    channels = [webhook_channel(httpserver_ipv4),
                WebhookChannel(type="webhook", name="dead", url=f"http://127.0.0.1:{free_port()}/hook")]
    names = DigestSettings(channels=channels).channel_names()
    log = open_log(Config(storage=StorageSettings(url=database_url, auto_migrate=True)))
    try:
        appended: list[Any] = []

        def record(new: list[NewEvent]) -> None:
            appended.append(log.append(new))

        for _ in range(2):
            deliver(DIGEST_ID, channels, names, message, record, retries=1, retry_delay=1, sleep=NoSleep(),
                    clock=lambda: AT)
        first, second = appended[:3], appended[3:]
        assert [key for result in first for key in result.recorded] == [
            f"DigestDelivered:{DIGEST_ID}:webhook-1",
            f"DigestDeliveryFailed:{DIGEST_ID}:dead:1",
            f"DigestDeliveryFailed:{DIGEST_ID}:dead:2"]
        assert [key for result in second for key in result.recorded] == []
        assert [key for result in second for key in result.duplicates] == [
            key for result in first for key in result.recorded]
        stored = list(log.read(stream=f"digest:{DIGEST_ID}"))
        assert [(e.type, e.data.get("reason"), e.data.get("final")) for e in stored] == [
            (DIGEST_DELIVERED, None, None),
            (DIGEST_DELIVERY_FAILED, "connection_refused", False),
            (DIGEST_DELIVERY_FAILED, "connection_refused", True)]
    finally:
        log.close()


def test_secrets_never_appear_in_events_or_logs(httpserver_ipv4: HTTPServer, message: Message,
                                                monkeypatch: pytest.MonkeyPatch,
                                                caplog: pytest.LogCaptureFixture) -> None:
    token = "T0KEN-in-the-path-8c1f2e"
    apprise_token = "apprise-secret-token-77aa55"
    monkeypatch.setenv("NM_TEST_APPRISE_URL", f"json://user:{apprise_token}@127.0.0.1:{free_port()}/x")

    def echo(request: Request) -> Response:
        # A careless receiver that echoes what it got, secrets included.
        return Response(f"rejected {request.path} {request.headers.get('X-News-Monitor-Signature')} "
                        f"{WEBHOOK_SECRET}", status=401)

    httpserver_ipv4.expect_request(f"/hooks/{token}").respond_with_handler(echo)
    channels = [webhook_channel(httpserver_ipv4, path=f"/hooks/{token}"),
                AppriseChannel(type="apprise", url_env="NM_TEST_APPRISE_URL"),
                EmailChannel.model_validate({"type": "email", "smtp_host": "127.0.0.1", "smtp_port": free_port(),
                                             "security": "none", "username": SMTP_USER, "password": SMTP_PASSWORD,
                                             "from": "monitor@example.org", "to": ["ana@example.org"]})]
    record = Events()
    with caplog.at_level(logging.DEBUG):
        deliver(DIGEST_ID, channels, ["hook", "chat", "mail"], message, record, retries=0, retry_delay=1,
                sleep=NoSleep(), clock=lambda: AT)

    assert [e.data["reason"] for e in record.events] == ["http_401", "apprise_failed", "connection_refused"]
    assert "***" in record.events[0].data["message"]
    recorded = json.dumps([e.data for e in record.events])
    for secret in (token, WEBHOOK_SECRET, apprise_token, SMTP_PASSWORD):
        assert secret not in recorded
        # Every log record, DEBUG included, but the test server's own access log (it is the receiver's).
        assert not [r.getMessage() for r in caplog.records if r.name != "werkzeug" and secret in r.getMessage()]


def test_a_crashing_channel_is_recorded_and_the_others_still_deliver(httpserver_ipv4: HTTPServer, message: Message,
                                                                     monkeypatch: pytest.MonkeyPatch,
                                                                     caplog: pytest.LogCaptureFixture) -> None:
    def broken(channel: AppriseChannel, message: Message) -> str:
        raise RuntimeError(f"plugin bug while using {channel.url}")

    monkeypatch.setattr(channels, "send_apprise", broken)
    httpserver_ipv4.expect_request("/hooks/digest").respond_with_data("ok")
    secret_url = "tgram://123456789:AAH-bot-token-abcdefgh/-100200300"
    record = Events()
    outcome = deliver(DIGEST_ID, [AppriseChannel(type="apprise", url=secret_url), webhook_channel(httpserver_ipv4)],
                      ["chat", "hook"], message, record, retries=3, retry_delay=1, sleep=NoSleep(), clock=lambda: AT)

    assert record.summary() == [(DIGEST_DELIVERY_FAILED, "chat", 1, "internal_error", True),
                                (DIGEST_DELIVERED, "hook", 1, None, None)]
    assert record.events[0].data["message"].startswith("RuntimeError: plugin bug while using ")
    assert outcome["hook"].delivered
    assert "AAH-bot-token-abcdefgh" not in record.events[0].data["message"]
    assert "AAH-bot-token-abcdefgh" not in caplog.text and "Traceback" in caplog.text
