"""Fetch feeds and pages over HTTP with httpx: timeouts, a size cap, a redirect cap, an address guard.

Libraries downstream (feedparser, trafilatura) only ever get the bytes fetched here, so this module
controls every limit:
- connect, read and total timeouts;
- a maximum body size, counted on the *decoded* stream while it arrives, so a gzip or brotli bomb is
  cut off as soon as it inflates past the cap;
- redirects followed by hand, each hop counted and checked;
- the private-address guard: a host is refused when any address it resolves to is private, loopback,
  link-local or otherwise not global, unless ``allow_private_addresses`` is set. It is applied inside the
  HTTP stack (``_GuardedBackend``) on every new connection, so on every redirect hop to another host,
  and it connects only to the very addresses it checked: a name cannot resolve to a public address for
  the check and to a private one a moment later (DNS rebinding);
- the total timeout covers the whole fetch, redirects and slow headers included: every socket read and
  write is clamped to the time left.
Every failure is a ``FetchError`` with a stable reason code (``http_404``, ``timeout``, ``too_large``...).
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpcore
import httpx

from monitor.config import NetworkSettings
from monitor.errors import FetchError

_REDIRECTS = {301, 302, 303, 307, 308}


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


class AddressGuard:
    """Refuses hosts that resolve to non-public addresses (RFC 1918, loopback, link-local, ...)."""

    def __init__(self, allow_private: bool) -> None:
        self.allow_private = allow_private

    def check(self, url: str) -> None:
        """Raise FetchError unless ``url``'s host may be contacted."""
        parts = urlsplit(url)
        self.addresses(parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80))

    def addresses(self, host: str, port: int) -> list[str]:
        """The addresses to connect to for ``host``, all of them allowed; raises FetchError otherwise."""
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            raise FetchError("dns_error", f"cannot resolve host {host!r}: {exc}") from exc
        found = list(dict.fromkeys(str(info[4][0]) for info in infos))
        if not self.allow_private:
            for text in found:
                address = ipaddress.ip_address(text.split("%", 1)[0])
                if not address.is_global:
                    raise FetchError("private_address",
                                     f"{host} resolves to the non-public address {address}; refused "
                                     "(set [network] allow_private_addresses = true to allow it)")
        return found


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

    def __init__(self, settings: NetworkSettings, *, transport: httpx.BaseTransport | None = None) -> None:
        self.settings = settings
        self.guard = AddressGuard(settings.allow_private_addresses)
        timeout = httpx.Timeout(settings.read_timeout, connect=settings.connect_timeout)
        self.client = httpx.Client(
            timeout=timeout, follow_redirects=False, transport=transport or _GuardedTransport(self),
            trust_env=False,
            headers={"User-Agent": settings.user_agent,
                     "Accept-Encoding": "gzip, deflate" + (", br" if _has_brotli() else "")},
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
            parts = urlsplit(current)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise FetchError("bad_url", f"not an http(s) URL: {current!r}")
            status, response_headers, body = self._get_once(current, headers, deadline)
            if status in _REDIRECTS and "location" in response_headers:
                if len(redirects) >= self.settings.max_redirects:
                    raise FetchError("too_many_redirects",
                                     f"more than {self.settings.max_redirects} redirects from {url}", status=status)
                current = urljoin(current, response_headers["location"])
                redirects.append((status, current))
                continue
            result = FetchResult(current, status, response_headers, body, time.monotonic() - started, redirects)
            if status >= 400:
                raise FetchError(f"http_{status}", f"HTTP {status} from {current}", status=status,
                                 retry_after=_retry_after(response_headers.get("retry-after")))
            return result

    def _get_once(self, url: str, headers: dict[str, str], deadline: float) -> tuple[int, dict[str, str], bytes]:
        limit = self.settings.max_body_size
        try:
            with self.client.stream("GET", url, headers=headers) as response:
                response_headers = {k.lower(): v for k, v in response.headers.items()}
                declared = response_headers.get("content-length", "")
                if declared.isdigit() and int(declared) > limit and response.status_code < 300:
                    raise FetchError("too_large", f"{url} declares {declared} bytes, over the {limit}-byte limit")
                chunks: list[bytes] = []
                size = 0
                if response.status_code < 300:
                    for chunk in response.iter_bytes():
                        size += len(chunk)
                        if size > limit:
                            raise FetchError("too_large", f"{url} sent more than {limit} bytes (decoded); aborted")
                        if time.monotonic() > deadline:
                            raise FetchError("timeout", f"{url} took longer than {self.settings.total_timeout:g}s")
                        chunks.append(chunk)
                return response.status_code, response_headers, b"".join(chunks)
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
        except (httpx.RemoteProtocolError, httpx.ReadError) as exc:
            raise FetchError("connection_error", f"connection broke while fetching {url}: {_short(exc)}") from exc
        except httpx.HTTPError as exc:
            raise FetchError("http_error", f"cannot fetch {url}: {_short(exc)}") from exc


def _short(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:200] or type(exc).__name__


def _has_brotli() -> bool:
    try:
        import brotli  # noqa: F401
    except ImportError:
        try:
            import brotlicffi  # noqa: F401
        except ImportError:
            return False
    return True
