"""Client addresses behind trusted proxies, and the keys anonymous callers are counted by."""

from __future__ import annotations

import ipaddress

import pytest

from app.auth.client_ip import client_ip, rate_key

TRUSTED = [ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("::1/128")]


@pytest.mark.parametrize(
    ("peer", "forwarded", "expected"),
    [
        ("203.0.113.9", None, "203.0.113.9"),
        ("203.0.113.9", "198.51.100.1", "203.0.113.9"),  # untrusted peer: header ignored
        ("10.0.0.2", "198.51.100.1", "198.51.100.1"),
        ("10.0.0.2", "198.51.100.1, 10.0.0.5", "198.51.100.1"),
        ("10.0.0.2", "10.0.0.7, 198.51.100.1, 10.0.0.5", "198.51.100.1"),
        # What the caller wrote left of the address the proxy saw is never believed.
        ("10.0.0.2", "192.0.2.66, 198.51.100.1", "198.51.100.1"),
        ("10.0.0.2", "10.0.0.7, 198.51.100.1", "198.51.100.1"),
        ("10.0.0.2", "192.0.2.66, 198.51.100.1, 10.0.0.5", "198.51.100.1"),
        ("10.0.0.2", "garbage, 198.51.100.1", "198.51.100.1"),
        # An entry that is not an address stops the walk at the trusted hop that passed it.
        ("10.0.0.2", "198.51.100.1, garbage", "10.0.0.2"),
        ("10.0.0.2", "198.51.100.1, garbage, 10.0.0.5", "10.0.0.5"),
        ("10.0.0.2", "198.51.100.1, unknown", "10.0.0.2"),
        ("10.0.0.2", "198.51.100.1,  , 10.0.0.5,", "198.51.100.1"),  # empty elements
        # Only trusted hops: the left-most is the operator's own host that called.
        ("10.0.0.2", "10.0.0.9", "10.0.0.9"),
        ("10.0.0.2", "10.0.0.7, 10.0.0.9", "10.0.0.7"),
        ("::1", "2001:db8::1", "2001:db8::1"),
        ("::1", "2001:db8::1, [2001:db8::2]", "2001:db8::2"),
        (None, "198.51.100.1", "0.0.0.0"),
        ("::ffff:10.0.0.2", "198.51.100.1", "198.51.100.1"),  # a dual-stack socket's peer
        ("::ffff:203.0.113.9", "198.51.100.1", "203.0.113.9"),
    ],
)
def test_client_ip(peer: str | None, forwarded: str | None, expected: str) -> None:
    assert client_ip(peer, forwarded, TRUSTED) == expected


def test_ipv6_callers_share_their_64() -> None:
    assert rate_key("2001:db8:1:2:aaaa::1") == rate_key("2001:db8:1:2:bbbb::9")
    assert rate_key("2001:db8:1:2::1") != rate_key("2001:db8:1:3::1")
    assert rate_key("::ffff:198.51.100.7") == "198.51.100.7"
    assert rate_key("198.51.100.7") == "198.51.100.7"
