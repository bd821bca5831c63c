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

# Prefixes whose addresses carry an IPv4 address inside them: a packet to one of them reaches that IPv4
# address (through a translator, a relay or an old stack), so the IPv4 address is the one judged. Python's
# ``is_global`` judges the IPv6 form alone and calls ``64:ff9b::a9fe:a9fe`` (the metadata address) global.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")            # RFC 6052 well-known prefix: IPv4 in the low 32 bits
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")    # RFC 8215 local-use prefix: never global
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")         # RFC 4291's deprecated ::a.b.c.d


def is_public_address(address: str) -> bool:
    """Whether an IP address (``"93.184.216.34"``, ``"fe80::1%eth0"``) is globally reachable, so may be
    contacted when private addresses are not allowed. ValueError when ``address`` is not an IP address.

    IPv6 forms that embed an IPv4 address are judged by the IPv4 address inside: IPv4-mapped
    (``::ffff:127.0.0.1``), IPv4-compatible (``::127.0.0.1``), NAT64 (``64:ff9b::/96``; the local-use
    ``64:ff9b:1::/48`` is refused outright), 6to4 (``2002::/16``) and Teredo (``2001::/32``, server and
    client). Multicast, reserved and unspecified addresses are refused whatever ``is_global`` says."""
    return _public(_ip(address))


def _public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.is_unspecified or ip.is_loopback or ip in _NAT64_LOCAL:
            return False
        inner = _embedded(ip)  # before the reserved test: ::/8, which holds ::a.b.c.d and 64:ff9b::, is reserved
        if inner is not None:
            return all(_public(v4) for v4 in inner)
    if ip.is_multicast or ip.is_reserved or ip.is_unspecified or ip.is_loopback or ip.is_link_local:
        return False
    return ip.is_global


def _embedded(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address] | None:
    """The IPv4 addresses an IPv6 address stands for, or None when it embeds none."""
    if ip.ipv4_mapped is not None:
        return [ip.ipv4_mapped]
    if ip.teredo is not None:
        return list(ip.teredo)
    if ip.sixtofour is not None:
        return [ip.sixtofour]
    if ip in _NAT64 or ip in _IPV4_COMPATIBLE:
        return [ipaddress.IPv4Address(int(ip) & 0xFFFF_FFFF)]
    return None


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
