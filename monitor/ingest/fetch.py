"""Fetch feeds and pages over HTTP with httpx: timeouts, a size cap, a redirect cap, an address guard.

Libraries downstream (feedparser, trafilatura) only ever get the bytes fetched here, so this module
controls every limit:
- connect, read and total timeouts;
- a maximum body size, counted on the bytes received, and a maximum decompressed size: we decode gzip,
  deflate and brotli ourselves, a bounded piece at a time, so a decompression bomb is cut off as soon as
  it inflates past the cap, never held in memory whole (httpx's own decoders inflate a whole received
  chunk at once: one 64 KiB brotli chunk can expand to gigabytes);
- at most ``max_per_host`` requests at once to one host (host and port), whichever feed or page asks;
- redirects followed by hand, each hop counted and checked;
- the private-address guard (``monitor.ingest.guard``): a host is refused when any address it resolves to
  is private, loopback, link-local or otherwise not global, unless ``allow_private_addresses`` is set. It
  is applied inside the HTTP stack (``_GuardedBackend``) on every new connection, so on every redirect hop
  to another host, and it connects only to the very addresses it checked: a name cannot resolve to a
  public address for the check and to a private one a moment later (DNS rebinding);
- the total timeout covers the whole fetch, redirects and slow headers included: every socket read and
  write is clamped to the time left.
Every failure is a ``FetchError`` with a stable reason code (``http_404``, ``timeout``, ``too_large``...).
The module is a little over 400 lines for that reason: every limit, the bounded decoder included, is
enforced in this one place, where a review can see that none is bypassed.
"""

from __future__ import annotations

import functools
import threading
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import SplitResult, urljoin, urlsplit

import httpcore
import httpx

from monitor.config import NetworkSettings
from monitor.errors import FetchError
from monitor.ingest.guard import AddressGuard

_REDIRECTS = {301, 302, 303, 307, 308}
_PERMANENT = {301, 308}  # RFC 9110 §15.4.2 and §15.4.9: the resource has a new URL for good


@dataclass
class FetchResult:
    url: str  # the final URL, after redirects
    status: int
    headers: dict[str, str]
    content: bytes
    elapsed: float
    redirects: list[tuple[int, str]] = field(default_factory=list)

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()

    @property
    def permanent_url(self) -> str | None:
        """Where the requested URL now lives for good: the target of the permanent redirects (301, 308) that
        the chain starts with. None when the first hop is temporary or there was none."""
        target = None
        for status, location in self.redirects:
            if status not in _PERMANENT:
                break
            target = location
        return target


def _host_slot_key(url: str) -> str:
    """The host a URL's request takes a slot of (``_checked_url``'s netloc, lower-cased). A daemon fetches the same
    feed URLs every cycle, and the check (two URL parses, httpx's with IDNA) was a tenth of a steady poll's CPU: a
    URL that passed is remembered (short ones only, so that the cache stays small whatever the URLs)."""
    if len(url) > _CACHED_URL_CHARS:
        return _checked_url(url).netloc.lower()
    return _checked_netloc(url)


_CACHED_URL_CHARS = 2048


@functools.lru_cache(maxsize=4096)
def _checked_netloc(url: str) -> str:
    return _checked_url(url).netloc.lower()  # a FetchError is raised, not cached: the URL is checked again


def _checked_url(url: str) -> SplitResult:
    """The parts of an http(s) URL, or FetchError("bad_url"): no scheme, no host, a bad port or bracket, and
    whatever httpx would refuse (before any lookup): an octal IP, a bad IDNA label, a control character, a
    URL over 65,536 characters."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError when the port is not a number in 0-65535
        httpx.URL(url).host  # noqa: B018 - decodes an IDNA "xn--" label, which may be invalid
    except (ValueError, UnicodeError, httpx.InvalidURL) as exc:  # idna's errors are UnicodeErrors
        raise FetchError("bad_url", f"malformed URL {url[:200]!r}: {_short(exc)}"[:400]) from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise FetchError("bad_url", f"not an http(s) URL: {url[:200]!r}")
    return parts


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        from email.utils import parsedate_to_datetime  # RFC 9110 §10.2.3: an HTTP-date is allowed too

        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


_deadline = threading.local()


def _clamp(timeout: float | None, expired: type[Exception]) -> float | None:
    """The socket timeout for this operation: at most the time left before the fetch's deadline."""
    deadline = getattr(_deadline, "value", None)
    if deadline is None:
        return timeout
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise expired("the total timeout of the fetch ran out")
    return remaining if timeout is None else min(timeout, remaining)


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _clamp(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _clamp(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context: Any, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:
        return _DeadlineStream(self._inner.start_tls(ssl_context, server_hostname,
                                                     _clamp(timeout, httpcore.ConnectTimeout)))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _GuardedBackend(httpcore.SyncBackend):
    """Resolves, checks and connects in one step, to the checked addresses only."""

    def __init__(self, fetcher: Fetcher) -> None:
        self._fetcher = fetcher

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options: Any = None) -> httpcore.NetworkStream:
        last: Exception | None = None
        for address in self._fetcher.guard.addresses(host, port):
            try:
                stream = super().connect_tcp(address, port, _clamp(timeout, httpcore.ConnectTimeout),
                                             local_address, socket_options)
                return _DeadlineStream(stream)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        raise last or httpcore.ConnectError(f"no address to connect to for {host}")


class _GuardedTransport(httpx.HTTPTransport):
    def __init__(self, fetcher: Fetcher) -> None:
        super().__init__(trust_env=False)
        # httpx builds its own pool; ours differs only in the network backend. If a future httpx stops
        # using ``_pool``, the connect-time guard tests fail rather than the guard silently vanishing.
        self._pool = httpcore.ConnectionPool(ssl_context=httpx.create_ssl_context(trust_env=False),
                                             network_backend=_GuardedBackend(fetcher), max_connections=20,
                                             keepalive_expiry=5.0)


class Fetcher:
    """One httpx client, shared by every fetch of a process."""

    def __init__(self, settings: NetworkSettings, *, transport: httpx.BaseTransport | None = None,
                 max_per_host: int = 2) -> None:
        self.settings = settings
        self.guard = AddressGuard(settings.allow_private_addresses)
        self.hosts = HostSlots(max_per_host)
        timeout = httpx.Timeout(settings.read_timeout, connect=settings.connect_timeout)
        self.client = httpx.Client(
            timeout=timeout, follow_redirects=False, transport=transport or _GuardedTransport(self),
            trust_env=False,
            headers={"User-Agent": settings.user_agent,
                     "Accept-Encoding": ", ".join(("gzip", "deflate", *(["br"] if _brotli else [])))},
        )

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get(self, url: str, headers: dict[str, str] | None = None) -> FetchResult:
        started = time.monotonic()
        deadline = started + self.settings.total_timeout
        _deadline.value = deadline
        try:
            return self._follow(url, headers or {}, started, deadline)
        finally:
            _deadline.value = None

    def _follow(self, url: str, headers: dict[str, str], started: float, deadline: float) -> FetchResult:
        redirects: list[tuple[int, str]] = []
        current = url
        while True:
            with self.hosts.slot(_host_slot_key(current), deadline):
                status, response_headers, body = self._get_once(current, headers, deadline)
            if status in _REDIRECTS and "location" in response_headers:
                if len(redirects) >= self.settings.max_redirects:
                    raise FetchError("too_many_redirects",
                                     f"more than {self.settings.max_redirects} redirects from {url}", status=status)
                try:
                    current = urljoin(current, response_headers["location"])
                except ValueError as exc:
                    raise FetchError("bad_url", f"{current} redirects to a malformed URL "
                                     f"{response_headers['location'][:200]!r}: {exc}", status=status) from exc
                redirects.append((status, current))
                continue
            result = FetchResult(current, status, response_headers, body, time.monotonic() - started, redirects)
            if status >= 400:
                raise FetchError(f"http_{status}", f"HTTP {status} from {current}", status=status,
                                 retry_after=_retry_after(response_headers.get("retry-after")))
            return result

    def _get_once(self, url: str, headers: dict[str, str], deadline: float) -> tuple[int, dict[str, str], bytes]:
        try:
            with self.client.stream("GET", url, headers=headers) as response:
                response_headers = {k.lower(): v for k, v in response.headers.items()}
                body = b""
                if response.status_code < 300:
                    body = self._read_body(url, response, response_headers, deadline)
                else:
                    _drain(response)
                return response.status_code, response_headers, body
        except FetchError:
            raise
        except httpx.TimeoutException as exc:
            if time.monotonic() >= deadline:
                raise FetchError("timeout", f"{url} took longer than {self.settings.total_timeout:g}s") from exc
            raise FetchError("timeout", f"timed out fetching {url} ({type(exc).__name__})") from exc
        except httpx.DecodingError as exc:
            raise FetchError("bad_encoding", f"cannot decode the body of {url}: {exc}") from exc
        except httpx.ConnectError as exc:
            text = str(exc).lower()
            reason = ("connection_refused" if "refused" in text
                      else "tls_error" if "ssl" in text or "certificate" in text else "connect_error")
            raise FetchError(reason, f"cannot connect to {urlsplit(url).netloc}: {_short(exc)}") from exc
        except httpx.RemoteProtocolError as exc:
            if "location header" in str(exc).lower():  # httpx checks a redirect's target before we see it
                raise FetchError("bad_url", f"{url} redirects to a malformed URL: {_short(exc)}") from exc
            raise FetchError("connection_error", f"connection broke while fetching {url}: {_short(exc)}") from exc
        except httpx.ReadError as exc:
            raise FetchError("connection_error", f"connection broke while fetching {url}: {_short(exc)}") from exc
        except httpx.HTTPError as exc:
            raise FetchError("http_error", f"cannot fetch {url}: {_short(exc)}") from exc

    def _read_body(self, url: str, response: httpx.Response, headers: dict[str, str], deadline: float) -> bytes:
        """The decoded body, within both size limits and the deadline."""
        limit, decoded_limit = self.settings.max_body_size, self.settings.max_decompressed_size
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise FetchError("too_large", f"{url} declares {declared} bytes, over the {limit}-byte limit")
        decoder = _Decoder(headers.get("content-encoding", ""), decoded_limit, url)
        chunks: list[bytes] = []
        received = size = 0
        for raw in response.iter_raw():
            received += len(raw)
            if received > limit:
                raise FetchError("too_large", f"{url} sent more than {limit} bytes; aborted")
            if time.monotonic() > deadline:
                raise FetchError("timeout", f"{url} took longer than {self.settings.total_timeout:g}s")
            for piece in decoder.feed(raw):
                size += len(piece)
                if size > decoded_limit:
                    raise FetchError("too_large", f"{url} decompresses to more than {decoded_limit} bytes; aborted "
                                                  "(a decompression bomb?)")
                chunks.append(piece)
        for piece in decoder.flush():
            size += len(piece)
            if size > decoded_limit:
                raise FetchError("too_large", f"{url} decompresses to more than {decoded_limit} bytes; aborted")
            chunks.append(piece)
        return b"".join(chunks)


_DRAIN_LIMIT = 64 * 1024


def _drain(response: httpx.Response) -> None:
    """Read the small body of a 304, a redirect or an error, so that its connection goes back to the pool
    (an unread response closes it, and the next request to the host pays a new TCP connection). A larger
    body is not worth reading: the connection is dropped instead."""
    received = 0
    try:
        for chunk in response.iter_raw():
            received += len(chunk)
            if received > _DRAIN_LIMIT:
                return
    except httpx.HTTPError:  # a body that fails to arrive changes nothing about the status we got
        return


class HostSlots:
    """At most ``per_host`` requests at once to each host: whatever feeds and pages a worker fetches, one
    publisher never sees more than that many connections from us (the commonest reason feed readers get
    rate-limited or blocked)."""

    def __init__(self, per_host: int) -> None:
        self.per_host = per_host
        self._lock = threading.Lock()
        self._slots: dict[str, threading.BoundedSemaphore] = {}

    def _semaphore(self, host: str) -> threading.BoundedSemaphore:
        with self._lock:
            slot = self._slots.get(host)
            if slot is None:
                slot = self._slots[host] = threading.BoundedSemaphore(self.per_host)
            return slot

    def slot(self, host: str, deadline: float) -> _HostSlot:
        return _HostSlot(self._semaphore(host), host, deadline)


class _HostSlot:
    def __init__(self, semaphore: threading.BoundedSemaphore, host: str, deadline: float) -> None:
        self.semaphore, self.host, self.deadline = semaphore, host, deadline

    def __enter__(self) -> None:
        if not self.semaphore.acquire(timeout=max(0.0, self.deadline - time.monotonic())):
            raise FetchError("timeout", f"no free connection to {self.host} before the total timeout ran out "
                                        "(other fetches from that host took every slot)")

    def __exit__(self, *exc: object) -> None:
        self.semaphore.release()


_CHUNK = 64 * 1024  # what a decoder may produce in one step


MAX_CODINGS = 4  # content encodings applied one over another: servers send one, rarely two


class _Decoder:
    """Content-Encoding decoding (RFC 9110 §8.4) in bounded steps: each step inflates at most _CHUNK bytes, so
    memory stays small and the caller can stop as soon as its limit is passed."""

    def __init__(self, header: str, limit: int, url: str) -> None:
        codings = [c.strip().lower() for c in header.split(",") if c.strip() and c.strip().lower() != "identity"]
        if len(codings) > MAX_CODINGS:  # each layer is a generator frame: 2,000 of them was a RecursionError
            raise FetchError("bad_encoding", f"{url} stacks {len(codings)} content encodings; at most "
                             f"{MAX_CODINGS} are read")
        self.url = url
        self.steps: list[Any] = []
        for coding in reversed(codings):  # applied in the order listed, so undone in reverse
            if coding in ("gzip", "x-gzip"):
                self.steps.append(("zlib", zlib.decompressobj(zlib.MAX_WBITS | 32)))  # gzip or zlib header
            elif coding == "deflate":
                self.steps.append(("deflate", None))  # zlib-wrapped or raw: decided by the first bytes
            elif coding == "br" and _brotli is not None:
                self.steps.append(("br", _brotli.Decompressor()))
            else:
                raise FetchError("bad_encoding", f"{url} uses the content encoding {coding!r}, which we do not read")

    def feed(self, data: bytes) -> Iterator[bytes]:
        return self._run(0, data)

    def flush(self) -> Iterator[bytes]:
        return self._run(0, b"", final=True)

    def _run(self, index: int, data: bytes, final: bool = False) -> Iterator[bytes]:
        if index == len(self.steps):
            if data:
                yield data
            return
        for piece in self._step(index, data, final):
            yield from self._run(index + 1, piece)
        if final:
            yield from self._run(index + 1, b"", final=True)

    def _step(self, index: int, data: bytes, final: bool) -> Iterator[bytes]:
        kind, state = self.steps[index]
        try:
            if kind == "deflate" and state is None:
                if not data:
                    return
                # RFC 9110 says zlib format, but servers send raw deflate too (as browsers accept).
                state = zlib.decompressobj() if (data[0] & 0x0F) == 8 and len(data) > 1 and \
                    (data[0] << 8 | data[1]) % 31 == 0 else zlib.decompressobj(-zlib.MAX_WBITS)
                self.steps[index] = (kind, state)
            if kind == "br":
                out = state.process(data, output_buffer_limit=_CHUNK)
                while True:
                    if out:
                        yield out
                    if state.can_accept_more_data():
                        return
                    out = state.process(b"", output_buffer_limit=_CHUNK)
            else:
                pending = data
                while True:
                    out = state.decompress(pending, _CHUNK)
                    if out:
                        yield out
                    pending = state.unconsumed_tail
                    if not pending:
                        break
                if final:
                    rest = state.flush()
                    if rest:
                        yield rest
        except (zlib.error, *_BROTLI_ERRORS) as exc:
            raise FetchError("bad_encoding", f"cannot decode the body of {self.url}: {exc}") from exc


def _short(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:200] or type(exc).__name__


try:
    import brotli as _brotli  # the Google binding: its Decompressor can bound each step's output
    _BROTLI_ERRORS: tuple[type[Exception], ...] = (_brotli.error,)
except ImportError:  # without it, brotli is simply not offered in Accept-Encoding
    _brotli = None
    _BROTLI_ERRORS = ()
