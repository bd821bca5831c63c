"""The private-address guard judges the IPv4 address inside every IPv6 form that carries one.

Pure-function tests (no traffic), plus the guard itself on IP literals, which resolve without DNS.
"""

from __future__ import annotations

import pytest

from monitor.errors import FetchError
from monitor.ingest.guard import AddressGuard, is_public_address

# 93.184.216.34 = 0x5db8d822 is a public address; 127.0.0.1 = 0x7f000001; 169.254.169.254 = 0xa9fea9fe.
EMBEDDING_A_PRIVATE_ADDRESS = [
    "::127.0.0.1",                  # IPv4-compatible (deprecated) loopback
    "::a9fe:a9fe",                  # IPv4-compatible metadata address
    "::ffff:169.254.169.254",       # IPv4-mapped metadata address
    "64:ff9b::a9fe:a9fe",           # NAT64 well-known prefix, the metadata address
    "64:ff9b::7f00:1",              # NAT64 loopback
    "64:ff9b::a00:1",               # NAT64 10.0.0.1
    "2002:7f00:1::1",               # 6to4 of 127.0.0.1
    "2002:c0a8:101::1",             # 6to4 of 192.168.1.1
    "2001:0:5db8:d822::80ff:fefe",  # Teredo whose (obfuscated) client is 127.0.1.1
    "2001:0:a9fe:a9fe::a246:f7fe",  # Teredo whose server is the metadata address
]

NEVER_PUBLIC = [
    "64:ff9b:1::5db8:d822",  # NAT64 local-use prefix (RFC 8215), whatever it embeds
    "224.0.0.1", "239.255.255.250", "ff02::1", "ff0e::1",  # multicast, even global-scope multicast
    "240.0.0.1", "255.255.255.255",  # reserved, broadcast
    "0.0.0.0", "::",  # unspecified
]

EMBEDDING_A_PUBLIC_ADDRESS = [
    "::ffff:93.184.216.34", "64:ff9b::5db8:d822", "2002:5db8:d822::1", "2001:0:5db8:d822::a246:f7fe",
]


@pytest.mark.parametrize("address", EMBEDDING_A_PRIVATE_ADDRESS)
def test_an_ipv6_form_embedding_a_private_ipv4_address_is_not_public(address: str) -> None:
    assert is_public_address(address) is False


@pytest.mark.parametrize("address", NEVER_PUBLIC)
def test_multicast_reserved_unspecified_and_local_nat64_are_never_public(address: str) -> None:
    assert is_public_address(address) is False


@pytest.mark.parametrize("address", EMBEDDING_A_PUBLIC_ADDRESS)
def test_an_ipv6_form_embedding_a_public_address_is_judged_by_it(address: str) -> None:
    assert is_public_address(address) is True


@pytest.mark.parametrize("address", ["93.184.216.34", "2606:4700:4700::1111"])
def test_plain_public_addresses_stay_public(address: str) -> None:
    assert is_public_address(address) is True


@pytest.mark.parametrize("address", ["example.org", "", "1.2.3", "::g"])
def test_what_is_not_an_address_is_a_value_error(address: str) -> None:
    with pytest.raises(ValueError):
        is_public_address(address)


@pytest.mark.parametrize("literal", ["[::ffff:127.0.0.1]", "[::127.0.0.1]", "[64:ff9b::7f00:1]", "[2002:7f00:1::1]"])
def test_the_guard_refuses_a_url_whose_literal_embeds_loopback(literal: str) -> None:
    with pytest.raises(FetchError) as caught:
        AddressGuard(allow_private=False).check(f"http://{literal}:9/feed.xml")
    assert caught.value.reason == "private_address"
