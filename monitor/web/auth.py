"""Who may write through the review page, and the headers that keep a feed's content from doing harm.

- Token: with ``[web] token`` (or the variable ``[web] token_env`` names) set, every write needs it, as
  ``Authorization: Bearer`` or the HttpOnly, SameSite=Strict cookie that ``/login`` sets. Reading never does.
- Cookie: it holds an HMAC of the token, not the token itself, so a leaked cookie does not reveal the secret
  that the API's Bearer header takes.
- Host: a request whose ``Host`` header names no host in ``[web] allowed_hosts`` is refused with 400, so a
  DNS-rebinding page (a name of its own that resolves to 127.0.0.1) can neither read the mentions nor write.
- CSRF: a POST whose ``Origin`` (or, without one, ``Referer``) names another host is refused, token or not.
- Security headers: a strict Content-Security-Policy that allows no script at all (everything from a feed is
  escaped besides), no MIME sniffing, no referrer to other sites, and no caching of HTML pages.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from urllib.parse import urlsplit

from fastapi import Request
from fastapi.responses import Response

from monitor.config import Config

CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; "
       "base-uri 'none'; frame-ancestors 'none'")
SECURITY_HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
                    "Referrer-Policy": "same-origin"}
COOKIE = "token"


class Unauthorized(Exception):
    """A write without the configured token: a 401, nothing appended."""


class Forbidden(Exception):
    """A write from another site (CSRF): a 403, nothing appended."""


def resolve_token(config: Config) -> str | None:
    """``[web] token``, or the environment variable ``[web] token_env`` names; None when neither is set."""
    if config.web.token:
        return config.web.token
    if config.web.token_env:
        return os.environ.get(config.web.token_env) or None
    return None


class Auth:
    """The configured token (None: anyone may write) and the checks every write passes."""

    def __init__(self, config: Config) -> None:
        self.base_url = config.web.base_url
        self.token = resolve_token(config)
        # The cookie holds a value derived from the token, not the token itself: a leaked cookie does not
        # reveal the secret that the API's Bearer header takes.
        self.cookie_value = (hmac.new(self.token.encode(), b"news-monitor web session", hashlib.sha256).hexdigest()
                             if self.token else None)

    def authorized(self, request: Request) -> bool:
        if self.token is None:
            return True
        header = request.headers.get("authorization", "")
        scheme, _, credentials = header.partition(" ")
        if scheme.lower() == "bearer" and credentials:
            return hmac.compare_digest(credentials.strip().encode(), self.token.encode())
        cookie = request.cookies.get(COOKIE)
        return bool(cookie) and hmac.compare_digest(cookie.encode(), self.cookie_value.encode())  # type: ignore[union-attr]

    def check_write(self, request: Request) -> None:
        check_same_origin(request, self.base_url)
        if not self.authorized(request):
            raise Unauthorized("a token is required to mark mentions reviewed")

    def check_token(self, given: str) -> None:
        """The token typed into the login form (a token must be configured)."""
        assert self.token is not None
        if not hmac.compare_digest(given.encode(), self.token.encode()):
            raise Unauthorized("wrong token")

    def set_cookie(self, request: Request, response: Response) -> None:
        """The session cookie, after a good login: Secure when the page is served (or published) over https."""
        response.set_cookie(COOKIE, self.cookie_value or "", httponly=True, samesite="strict",
                            secure=request.url.scheme == "https" or (self.base_url or "").startswith("https:"),
                            path="/")


def host_allowed(host_header: str, allowed: list[str]) -> bool:
    """Whether a ``Host`` header (``"127.0.0.1:8080"``, ``"[::1]:8080"``, ``"news.example.org"``) names one of
    ``allowed``: exact names (IPv6 in brackets), ``"*.example.org"`` for its subdomains, ``"*"`` for any."""
    value = host_header.strip().lower()
    if value.startswith("["):
        if "]" not in value:
            return False
        name, _, rest = value.partition("]")
        name += "]"
        if rest and not (rest.startswith(":") and rest[1:].isdigit()):
            return False
    else:
        name, _, port = value.partition(":")
        if port and not port.isdigit():
            return False
    name = name.rstrip(".")
    if not name:
        return False
    for pattern in allowed:
        if pattern == "*" or name == pattern or (pattern.startswith("*.") and name.endswith(pattern[1:])):
            return True
    return False


def check_same_origin(request: Request, base_url: str | None) -> None:
    """Refuse a POST that another site's page made: its Origin (or, without one, its Referer) must name this
    host. Requests without either (curl, scripts) are left to the token."""
    allowed = {request.headers.get("host", "").lower()}
    if base_url:
        allowed.add(urlsplit(base_url).netloc.lower())
    for header in ("origin", "referer"):
        value = request.headers.get(header)
        if value is None:
            continue
        if urlsplit(value).netloc.lower() not in allowed or value == "null":
            raise Forbidden(f"cross-site request refused ({header} {value!r} is not this site)")
        return


def add_security_headers(response: Response) -> None:
    """The headers every response carries (those a route set itself are kept)."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if response.headers.get("content-type", "").startswith("text/html"):
        response.headers.setdefault("Cache-Control", "no-store")
