"""The caller's address, believing `X-Forwarded-For` only from trusted proxies."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from functools import lru_cache

from app.settings import IPNetwork

UNKNOWN_IP = "0.0.0.0"
# Every request asks; the same few peers and proxy chains come back again and again.
ANSWERS_KEPT = 4096


def client_ip(peer: str | None, forwarded_for: str | None, trusted: Sequence[IPNetwork]) -> str:
    """The socket peer, or the left-most untrusted `X-Forwarded-For` address behind a
    trusted peer (SPEC §2). Unparseable entries are skipped, never believed."""
    return _client_ip(peer, forwarded_for, tuple(trusted))


@lru_cache(maxsize=ANSWERS_KEPT)
def _client_ip(peer: str | None, forwarded_for: str | None, trusted: tuple[IPNetwork, ...]) -> str:
    peer_ip = _parse(peer)
    if peer_ip is None:
        return UNKNOWN_IP
    if not forwarded_for or not _is_trusted(peer_ip, trusted):
        return str(peer_ip)
    for entry in forwarded_for.split(","):
        address = _parse(entry.strip())
        if address is not None and not _is_trusted(address, trusted):
            return str(address)
    return str(peer_ip)


@lru_cache(maxsize=ANSWERS_KEPT)
def rate_key(ip: str) -> str:
    """IPv4 callers are keyed by address, IPv6 callers by their /64."""
    address = _parse(ip)
    if isinstance(address, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address) if address is not None else ip


def _parse(value: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """An address, IPv4-mapped IPv6 (a dual-stack socket's IPv4 peer) as the IPv4 it is."""
    if not value:
        return None
    try:
        address = ipaddress.ip_address(value.strip("[]"))
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _is_trusted(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address, trusted: Sequence[IPNetwork]
) -> bool:
    return any(address in network for network in trusted)
