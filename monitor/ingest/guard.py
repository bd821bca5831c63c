"""The private-address guard: which addresses a fetch may connect to.

A host is refused when any address it resolves to is not public: private (RFC 1918, fc00::/7), loopback,
link-local (169.254.169.254, the cloud metadata service), shared (100.64.0.0/10), unspecified, reserved...,
unless ``[network] allow_private_addresses`` is set. The decision about one address is the pure function
``is_public_address``; ``AddressGuard`` resolves a host and applies it to every address found.

The fetcher calls ``AddressGuard.addresses`` inside its HTTP stack on every new connection, so on every
redirect hop to another host, after DNS, and connects only to the addresses returned: a name cannot resolve
to a public address for the check and to a private one a moment later (DNS rebinding).
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from monitor.errors import FetchError


def is_public_address(address: str) -> bool:
    """Whether an IP address (``"93.184.216.34"``, ``"fe80::1%eth0"``) is globally reachable, so may be
    contacted when private addresses are not allowed. ValueError when ``address`` is not an IP address."""
    return _ip(address).is_global


def _ip(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    return ipaddress.ip_address(address.split("%", 1)[0])  # without an IPv6 zone ("%eth0")


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
                if not is_public_address(text):
                    raise FetchError("private_address",
                                     f"{host} resolves to the non-public address {_ip(text)}; refused "
                                     "(set [network] allow_private_addresses = true to allow it)")
        return found
