"""Tests for monitor.ingest.fetch: real HTTP against servers on 127.0.0.1 only.

Two kinds of server are used: pytest-httpserver (a werkzeug server on loopback) for ordinary responses,
and a small raw TCP server (``RawServer``) where a test needs control of the socket itself: a slow drip,
silence, a connection dropped mid-body, an endless gzip stream.  An autouse fixture makes any attempt to
connect to, or resolve, anything but a loopback IP literal fail the test, so that no test can send
traffic elsewhere, even through a redirect.
"""

from __future__ import annotations

import datetime as dt
import gzip
import ipaddress
import socket
import struct
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from email.utils import format_datetime
from functools import cache
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Response

from monitor.config import NetworkSettings
from monitor.errors import FetchError
from monitor.ingest.fetch import Fetcher
from monitor.ingest.guard import AddressGuard, is_public_address

UA = "news-monitor-tests/1.0 (+http://127.0.0.1/)"


# -- safety net: loopback only -------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail any test that would connect to, or look up, anything but a loopback address."""
    real_connect = socket.create_connection
    real_getaddrinfo = socket.getaddrinfo

    def create_connection(address: tuple[str, int], *args: Any, **kwargs: Any) -> socket.socket:
        host = address[0]
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        assert loopback, f"a test tried to connect to {host!r}, which is not a loopback IP literal"
        return real_connect(address, *args, **kwargs)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host not in (None, "localhost"):  # localhost comes from /etc/hosts, not from DNS
            text = host.decode() if isinstance(host, bytes) else str(host)
            try:
                ipaddress.ip_address(text.split("%", 1)[0])
            except ValueError:
                pytest.fail(f"a test tried to resolve the host name {text!r}")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", create_connection)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


# -- helpers ---------------------------------------------------------------------------------------------


def settings(**overrides: Any) -> NetworkSettings:
    values: dict[str, Any] = {
        "allow_private_addresses": True, "connect_timeout": 1.0, "read_timeout": 0.5, "total_timeout": 3.0,
        "max_body_size": 1_000_000, "max_redirects": 5, "user_agent": UA,
    }
    values.update(overrides)
    return NetworkSettings(**values)


@pytest.fixture
def make_fetcher() -> Iterator[Callable[..., Fetcher]]:
    fetchers: list[Fetcher] = []

    def make(**overrides: Any) -> Fetcher:
        fetcher = Fetcher(settings(**overrides))
        fetchers.append(fetcher)
        return fetcher

    yield make
    for fetcher in fetchers:
        fetcher.close()


@pytest.fixture
def server(httpserver: HTTPServer) -> HTTPServer:
    host = httpserver.server.server_address[0] if httpserver.server else httpserver.host
    assert ipaddress.ip_address(host).is_loopback, f"pytest-httpserver listens on {host}, not loopback"
    return httpserver


def url(httpserver: HTTPServer, path: str) -> str:
    """A URL on the test server spelled with the IP literal, so that nothing is ever resolved."""
    return f"http://127.0.0.1:{httpserver.port}{path}"


def paths(httpserver: HTTPServer) -> list[str]:
    return [request.path for request, _ in httpserver.log]


def fetch_error(fetcher: Fetcher, target: str, **kwargs: Any) -> FetchError:
    with pytest.raises(FetchError) as info:
        fetcher.get(target, **kwargs)
    return info.value


class RawServer:
    """A TCP server on 127.0.0.1 whose every connection is handed to ``handle(conn, stop)`` in a thread."""

    def __init__(self, handle: Callable[[socket.socket, threading.Event], None]) -> None:
        self.handle = handle
        self.stop = threading.Event()
        self.connections = 0
        self.finished = threading.Event()  # set when a handler returns or its peer hangs up
        self.outcome = ""
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(8)
        self.listener.settimeout(0.05)
        self.port = self.listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/feed.xml"
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._run, args=(conn,), daemon=True).start()

    def _run(self, conn: socket.socket) -> None:
        try:
            self.handle(conn, self.stop)
            self.outcome = "handler returned"
        except TimeoutError:
            self.outcome = "timed out waiting for the peer"
        except OSError as exc:
            self.outcome = f"peer hung up ({type(exc).__name__})"
        finally:
            try:
                conn.close()
            except OSError:
                pass
            self.finished.set()

    def close(self) -> None:
        self.stop.set()
        self.listener.close()
        self.thread.join(2)


@pytest.fixture
def raw_server() -> Iterator[Callable[[Callable[[socket.socket, threading.Event], None]], RawServer]]:
    servers: list[RawServer] = []

    def start(handle: Callable[[socket.socket, threading.Event], None]) -> RawServer:
        servers.append(RawServer(handle))
        return servers[-1]

    yield start
    for raw in servers:
        raw.close()


def read_request(conn: socket.socket) -> bytes:
    conn.settimeout(5)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


@cache
def gzip_bomb(inflated: int) -> bytes:
    """A gzip member of ``inflated`` zero bytes: some 50 KB for 50 MB."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = bytes(1 << 20)
    parts = [compressor.compress(block) for _ in range(inflated // len(block))]
    return b"".join(parts) + compressor.flush()


# -- success ---------------------------------------------------------------------------------------------


def test_200_returns_content_headers_and_sends_the_configured_user_agent(server, make_fetcher):
    body = b"<rss version='2.0'><channel><title>t</title></channel></rss>"
    server.expect_request("/feed.xml").respond_with_data(
        body, content_type="application/rss+xml; charset=utf-8", headers={"ETag": '"v1"'})
    result = make_fetcher().get(url(server, "/feed.xml"), headers={"If-None-Match": '"v0"'})

    assert result.status == 200
    assert result.content == body
    assert result.url == url(server, "/feed.xml")
    assert result.redirects == []
    assert result.headers["etag"] == '"v1"'  # header names are lower-cased
    assert result.content_type == "application/rss+xml"
    assert 0 <= result.elapsed < 3
    (request, _), = server.log
    assert request.headers["User-Agent"] == UA
    assert request.headers["If-None-Match"] == '"v0"'
    assert "gzip" in request.headers["Accept-Encoding"]


def test_304_is_returned_not_raised(server, make_fetcher):
    server.expect_request("/feed.xml").respond_with_data(b"", status=304)
    result = make_fetcher().get(url(server, "/feed.xml"))
    assert (result.status, result.content) == (304, b"")


def test_gzip_encoded_body_is_decoded(server, make_fetcher):
    body = b"<rss version='2.0'>" + b"x" * 5000 + b"</rss>"
    server.expect_request("/feed.xml").respond_with_data(gzip.compress(body), headers={"Content-Encoding": "gzip"})
    assert make_fetcher().get(url(server, "/feed.xml")).content == body


def test_body_exactly_at_the_limit_is_accepted(server, make_fetcher):
    server.expect_request("/feed.xml").respond_with_data(b"a" * 1000)
    assert make_fetcher(max_body_size=1000).get(url(server, "/feed.xml")).content == b"a" * 1000


# -- HTTP errors -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [400, 403, 404, 410, 500, 502, 503])
def test_http_error_status_becomes_reason_code(server, make_fetcher, status):
    server.expect_request("/feed.xml").respond_with_data(b"nope", status=status)
    error = fetch_error(make_fetcher(), url(server, "/feed.xml"))
    assert error.reason == f"http_{status}"
    assert error.status == status
    assert error.retry_after is None


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_seconds_is_carried(server, make_fetcher, status):
    server.expect_request("/feed.xml").respond_with_data(b"slow down", status=status, headers={"Retry-After": "120"})
    error = fetch_error(make_fetcher(), url(server, "/feed.xml"))
    assert (error.reason, error.status, error.retry_after) == (f"http_{status}", status, 120)


def test_retry_after_http_date_is_turned_into_seconds(server, make_fetcher):
    when = format_datetime(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=600), usegmt=True)
    server.expect_request("/feed.xml").respond_with_data(b"", status=429, headers={"Retry-After": when})
    error = fetch_error(make_fetcher(), url(server, "/feed.xml"))
    assert error.reason == "http_429"
    assert 590 <= error.retry_after <= 600


def test_unparseable_retry_after_is_ignored(server, make_fetcher):
    server.expect_request("/feed.xml").respond_with_data(b"", status=503, headers={"Retry-After": "soon"})
    error = fetch_error(make_fetcher(), url(server, "/feed.xml"))
    assert (error.reason, error.retry_after) == ("http_503", None)


# -- size cap --------------------------------------------------------------------------------------------


def test_declared_content_length_over_the_limit_is_too_large(server, make_fetcher):
    server.expect_request("/big").respond_with_data(b"a" * 5000)
    error = fetch_error(make_fetcher(max_body_size=1000), url(server, "/big"))
    assert error.reason == "too_large"
    assert "5000" in error.message


def test_streamed_body_without_content_length_over_the_limit_is_too_large(server, make_fetcher):
    server.expect_request("/stream").respond_with_handler(
        lambda request: Response((b"a" * 500 for _ in range(10)), content_type="application/xml"))
    # The server really streams it without declaring a length...
    sanity = make_fetcher(max_body_size=100_000).get(url(server, "/stream"))
    assert "content-length" not in sanity.headers
    assert sanity.content == b"a" * 5000
    # ...and with a 1000-byte cap the fetch is cut off.
    error = fetch_error(make_fetcher(max_body_size=1000), url(server, "/stream"))
    assert error.reason == "too_large"
    assert "aborted" in error.message


def test_gzip_bomb_is_cut_off_on_the_decoded_size(server, make_fetcher):
    bomb = gzip_bomb(50 * 1024 * 1024)
    assert len(bomb) < 100_000  # small on the wire, so the declared length passes the cap
    server.expect_request("/bomb").respond_with_data(bomb, content_type="application/xml",
                                                      headers={"Content-Encoding": "gzip"})
    started = time.monotonic()
    error = fetch_error(make_fetcher(max_decompressed_size=1024 * 1024), url(server, "/bomb"))
    assert error.reason == "too_large"
    assert "decompresses to more than 1048576 bytes" in error.message
    assert time.monotonic() - started < 2


def test_streamed_gzip_bomb_stops_at_the_first_decoded_chunk_and_hangs_up(raw_server, make_fetcher):
    """A close-delimited gzip stream of over 100 MB of zeros (a few hundred KB on the wire), with no length:
    the fetch must fail at the first decoded chunk past the cap and close the connection."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = bytes(256 * 1024)
    first = compressor.compress(block) + compressor.flush(zlib.Z_FULL_FLUSH)
    repeat = compressor.compress(block) + compressor.flush(zlib.Z_FULL_FLUSH)  # identical after a full flush

    def bomb(conn: socket.socket, stop: threading.Event) -> None:
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\nContent-Encoding: gzip\r\n"
                     b"Connection: close\r\n\r\n" + first)
        for _ in range(511 // 64):
            conn.sendall(repeat * 64)
        # Keep the connection open (the stream never ends) and wait for the client to hang up.
        conn.settimeout(5)
        if conn.recv(1) == b"":
            raise ConnectionResetError("client closed the connection")

    raw = raw_server(bomb)
    started = time.monotonic()
    error = fetch_error(make_fetcher(max_decompressed_size=1024 * 1024, read_timeout=1), raw.url)
    assert error.reason == "too_large"
    assert time.monotonic() - started < 2
    assert raw.finished.wait(5)
    assert raw.outcome.startswith("peer hung up")


# -- redirects -------------------------------------------------------------------------------------------


def test_redirects_are_followed_to_the_final_url_and_recorded(server, make_fetcher):
    server.expect_request("/old").respond_with_data("", status=301, headers={"Location": url(server, "/moved")})
    server.expect_request("/moved").respond_with_data("", status=302, headers={"Location": "/relative?x=1"})
    server.expect_request("/relative").respond_with_data("", status=307, headers={"Location": "final.xml"})
    server.expect_request("/final.xml").respond_with_data(b"<rss/>")
    result = make_fetcher(max_redirects=3).get(url(server, "/old"))

    assert result.status == 200
    assert result.content == b"<rss/>"
    assert result.url == url(server, "/final.xml")
    assert result.redirects == [
        (301, url(server, "/moved")), (302, url(server, "/relative?x=1")), (307, url(server, "/final.xml")),
    ]
    assert paths(server) == ["/old", "/moved", "/relative", "/final.xml"]
    assert all(request.headers["User-Agent"] == UA for request, _ in server.log)


def test_redirect_chain_longer_than_the_cap_is_refused(server, make_fetcher):
    for hop in range(3):
        server.expect_request(f"/r{hop}").respond_with_data("", status=302, headers={"Location": f"/r{hop + 1}"})
    server.expect_request("/r3").respond_with_data(b"never fetched")
    error = fetch_error(make_fetcher(max_redirects=2), url(server, "/r0"))
    assert error.reason == "too_many_redirects"
    assert error.status == 302
    assert paths(server) == ["/r0", "/r1", "/r2"]  # the last hop is never requested


def test_zero_redirects_allowed_refuses_the_first(server, make_fetcher):
    server.expect_request("/r0").respond_with_data("", status=308, headers={"Location": "/r1"})
    error = fetch_error(make_fetcher(max_redirects=0), url(server, "/r0"))
    assert (error.reason, error.status) == ("too_many_redirects", 308)
    assert paths(server) == ["/r0"]


def test_redirect_loop_is_refused(server, make_fetcher):
    server.expect_request("/a").respond_with_data("", status=302, headers={"Location": "/b"})
    server.expect_request("/b").respond_with_data("", status=302, headers={"Location": "/a"})
    error = fetch_error(make_fetcher(max_redirects=5), url(server, "/a"))
    assert error.reason == "too_many_redirects"
    assert paths(server) == ["/a", "/b", "/a", "/b", "/a", "/b"]  # max_redirects + 1 requests, then stop


@pytest.mark.parametrize("location", ["http://[bad/x", "http://127.0.0.1:99999/feed.xml", "http://h:port/"])
def test_redirect_to_a_malformed_url_is_bad_url_not_a_crash(raw_server, make_fetcher, location):
    def handle(conn: socket.socket, stop: threading.Event) -> None:  # werkzeug would refuse to send these
        read_request(conn)
        conn.sendall(f"HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\n\r\n".encode())

    error = fetch_error(make_fetcher(), raw_server(handle).url)
    assert error.reason == "bad_url"
    assert "malformed URL" in str(error), error


@pytest.mark.parametrize("location", ["ftp://127.0.0.1/feed.xml", "file:///etc/passwd"])
def test_redirect_to_a_non_http_scheme_is_bad_url(server, make_fetcher, location):
    server.expect_request("/start").respond_with_data("", status=302, headers={"Location": location})
    error = fetch_error(make_fetcher(), url(server, "/start"))
    assert error.reason == "bad_url"
    assert paths(server) == ["/start"]


# -- private-address guard -------------------------------------------------------------------------------


def test_guard_on_refuses_loopback_before_sending_anything(server, make_fetcher):
    server.expect_request("/feed.xml").respond_with_data(b"<rss/>")
    error = fetch_error(make_fetcher(allow_private_addresses=False), url(server, "/feed.xml"))
    assert error.reason == "private_address"
    assert "127.0.0.1" in error.message
    assert server.log == []


def test_guard_on_refuses_ipv6_loopback(make_fetcher):
    error = fetch_error(make_fetcher(allow_private_addresses=False), "http://[::1]:1/feed.xml")
    assert error.reason == "private_address"


def test_guard_is_applied_on_every_redirect_hop(server, make_fetcher):
    """The first hop (127.0.0.1) is let through; the redirect to another host (localhost) needs a new
    connection, which the guard judges like any other and refuses."""
    server.expect_request("/start").respond_with_data(
        "", status=302, headers={"Location": f"http://localhost:{server.port}/internal"})
    server.expect_request("/internal").respond_with_data(b"secret")
    strict = AddressGuard(allow_private=False)
    judged: list[str] = []

    class FirstHostAllowed(AddressGuard):
        def addresses(self, host: str, port: int) -> list[str]:
            judged.append(host)
            return [host] if host == "127.0.0.1" else strict.addresses(host, port)

    fetcher = make_fetcher(allow_private_addresses=False)
    fetcher.guard = FirstHostAllowed(allow_private=False)
    error = fetch_error(fetcher, url(server, "/start"))
    assert error.reason == "private_address"
    assert judged == ["127.0.0.1", "localhost"]
    assert paths(server) == ["/start"]


def test_guard_connects_only_to_the_address_it_checked(make_fetcher, monkeypatch):
    """DNS rebinding: a name answers a public address first and loopback a moment later. The fetch
    resolves once and connects only to the address it checked. Nothing is sent anywhere: the resolver
    and the connection are both fakes that record what they were asked."""
    lookups: list[str] = []
    attempts: list[str] = []

    def rebinding_getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        lookups.append(host)
        # A global address (TEST-NET ranges are not global, so the guard would refuse them); it is never
        # contacted: create_connection below is a fake.
        address = "9.9.9.9" if len(lookups) == 1 else "127.0.0.1"
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port))]

    def refusing_connection(address: tuple[str, int], *args: Any, **kwargs: Any) -> socket.socket:
        attempts.append(address[0])
        raise ConnectionRefusedError(111, "Connection refused")

    monkeypatch.setattr(socket, "getaddrinfo", rebinding_getaddrinfo)
    monkeypatch.setattr(socket, "create_connection", refusing_connection)
    error = fetch_error(make_fetcher(allow_private_addresses=False), "http://rebind.example/feed.xml")
    assert error.reason == "connection_refused"
    assert lookups == ["rebind.example"]
    assert attempts == ["9.9.9.9"]


def test_slow_headers_hit_the_total_timeout(raw_server, make_fetcher):
    """A server that drips its status line and headers, each byte inside the read timeout."""

    def slow_headers(conn: socket.socket, stop: threading.Event) -> None:
        read_request(conn)
        for byte in b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Padding: " + b"p" * 100:
            if stop.wait(0.2):
                return
            conn.sendall(bytes([byte]))

    raw = raw_server(slow_headers)
    started = time.monotonic()
    error = fetch_error(make_fetcher(read_timeout=0.5, total_timeout=1.5), raw.url)
    assert error.reason == "timeout"
    assert "longer than 1.5s" in error.message
    assert time.monotonic() - started < 2.5


def test_total_timeout_spans_redirect_hops(raw_server, make_fetcher):
    """Each hop is quick on its own, but the chain as a whole must fit in the total timeout."""

    def slow_redirect(conn: socket.socket, stop: threading.Event) -> None:
        while not stop.is_set():
            if not read_request(conn):
                return
            stop.wait(0.4)
            conn.sendall(b"HTTP/1.1 302 Found\r\nLocation: /feed.xml\r\nContent-Length: 0\r\n\r\n")

    raw = raw_server(slow_redirect)
    started = time.monotonic()
    error = fetch_error(make_fetcher(read_timeout=1.0, total_timeout=1.5, max_redirects=20), raw.url)
    assert error.reason == "timeout"
    assert time.monotonic() - started < 2.5


@pytest.mark.parametrize("target", [
    "http://127.0.0.1:1/", "http://127.8.9.10/", "http://[::1]/", "http://[::1]:8080/feed", "http://0.0.0.0/",
    "http://10.1.2.3/", "http://172.16.0.1/", "http://172.31.255.254/", "http://192.168.1.1/",
    "http://169.254.169.254/latest/meta-data/", "http://100.64.0.1/", "http://[fe80::1]/", "http://[fc00::1]/",
    "http://[::ffff:127.0.0.1]/",
])
def test_address_guard_refuses_non_public_addresses(target):
    # Only IP literals: check() resolves them locally, so nothing is looked up or contacted.
    with pytest.raises(FetchError) as info:
        AddressGuard(allow_private=False).check(target)
    assert info.value.reason == "private_address"
    AddressGuard(allow_private=True).check(target)  # allowed when private addresses are


def test_address_guard_lets_a_public_literal_through():
    AddressGuard(allow_private=False).check("http://8.8.8.8/feed.xml")  # checked only; never contacted


@pytest.mark.parametrize(("address", "public"), [
    ("8.8.8.8", True), ("2606:4700:4700::1111", True), ("127.0.0.1", False), ("10.1.2.3", False),
    ("169.254.169.254", False), ("100.64.0.1", False), ("0.0.0.0", False), ("::1", False),
    ("fe80::1%eth0", False), ("fc00::1", False), ("::ffff:127.0.0.1", False),
])
def test_is_public_address_decides_one_address(address, public):
    assert is_public_address(address) is public


# -- connection failures ---------------------------------------------------------------------------------


def test_closed_port_is_connection_refused(make_fetcher):
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    started = time.monotonic()
    error = fetch_error(make_fetcher(), f"http://127.0.0.1:{port}/feed.xml")
    assert error.reason == "connection_refused"
    assert time.monotonic() - started < 1


def test_slow_drip_hits_the_total_timeout(raw_server, make_fetcher):
    sent = [0]

    def drip(conn: socket.socket, stop: threading.Event) -> None:
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1000\r\n\r\n")
        deadline = time.monotonic() + 4
        while time.monotonic() < deadline and not stop.wait(0.3):  # a byte well inside the read timeout
            conn.sendall(b"x")
            sent[0] += 1

    raw = raw_server(drip)
    started = time.monotonic()
    error = fetch_error(make_fetcher(read_timeout=0.5, total_timeout=1.5), raw.url)
    elapsed = time.monotonic() - started
    assert error.reason == "timeout"
    assert "longer than 1.5s" in error.message  # the total timeout, not the read timeout
    assert 1.5 <= elapsed < 3
    assert 3 <= sent[0] < 1000


@pytest.mark.parametrize("send_headers", [False, True], ids=["silent", "headers-then-silent"])
def test_silent_server_hits_the_read_timeout(raw_server, make_fetcher, send_headers):
    def silent(conn: socket.socket, stop: threading.Event) -> None:
        read_request(conn)
        if send_headers:
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n")
        stop.wait(10)

    raw = raw_server(silent)
    started = time.monotonic()
    error = fetch_error(make_fetcher(read_timeout=0.5, total_timeout=3), raw.url)
    elapsed = time.monotonic() - started
    assert error.reason == "timeout"
    assert "ReadTimeout" in error.message
    assert 0.4 <= elapsed < 2  # the read timeout, well before the total timeout


@pytest.mark.parametrize("abort", [False, True], ids=["close", "reset"])
def test_connection_dropped_mid_body_is_connection_error(raw_server, make_fetcher, abort):
    def drop(conn: socket.socket, stop: threading.Event) -> None:
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\nContent-Length: 10000\r\n\r\n"
                     + b"y" * 100)
        time.sleep(0.05)
        if abort:  # SO_LINGER 0: close with a RST instead of a FIN
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.close()

    raw = raw_server(drop)
    error = fetch_error(make_fetcher(), raw.url)
    assert error.reason == "connection_error"
    assert raw.connections == 1


# -- bad URLs --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("target", [
    "ftp://127.0.0.1/feed.xml", "file:///etc/passwd", "gopher://127.0.0.1/", "javascript:alert(1)",
    "http:///no-host", "127.0.0.1/feed.xml", "", "http://[bad/x", "http://127.0.0.1:99999/feed.xml",
    "http://127.0.0.1:port/feed.xml",
])
def test_non_http_url_is_bad_url(make_fetcher, target):
    error = fetch_error(make_fetcher(allow_private_addresses=False), target)
    assert error.reason == "bad_url"


def test_a_bad_url_is_refused_every_time_and_a_good_one_checked_once(server, make_fetcher):
    """The URL check is remembered for URLs that pass it (a daemon fetches the same feeds every cycle), never for
    one that fails: a bad URL is refused again on every fetch, a long one is checked anew each time."""
    from monitor.ingest import fetch

    fetcher = make_fetcher()
    for _ in range(3):
        assert fetch_error(fetcher, "http://127.0.0.1:99999/feed.xml").reason == "bad_url"
    server.expect_request("/feed.xml").respond_with_data(b"<rss/>")
    fetch._checked_netloc.cache_clear()
    good = url(server, "/feed.xml")
    for _ in range(3):
        assert fetcher.get(good).content == b"<rss/>"
    info = fetch._checked_netloc.cache_info()
    assert (info.misses, info.hits) == (1, 2)
    long = good + "?" + "x" * fetch._CACHED_URL_CHARS
    server.expect_request("/feed.xml").respond_with_data(b"<rss/>")
    assert fetcher.get(long).content == b"<rss/>"
    assert fetch._checked_netloc.cache_info().currsize == 1  # the long URL was checked, not remembered
