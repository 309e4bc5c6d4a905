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
    """The caller's address (SPEC §2): the socket peer, or, when the peer is a trusted
    proxy, the right-most `X-Forwarded-For` address that is not itself a trusted proxy.

    Each proxy appends the address it was called from, so the list is read from the
    right, one entry at a time, for as long as the hop that wrote the entry is trusted.
    The first untrusted address is the caller; everything to its left was written by the
    caller and is never believed. An entry that is not an address was not written by a
    proxy (a proxy writes the address it was called from): the walk stops there, nothing
    at or to the left of it is believed, and the caller is the trusted hop that passed it
    on. When every entry is a trusted address, the caller is the left-most of them, a
    host of the operator's own network. Empty list elements are ignored, as HTTP asks.
    """
    return _client_ip(peer, forwarded_for, tuple(trusted))


@lru_cache(maxsize=ANSWERS_KEPT)
def _client_ip(peer: str | None, forwarded_for: str | None, trusted: tuple[IPNetwork, ...]) -> str:
    caller = _parse(peer)
    if caller is None:
        return UNKNOWN_IP
    entries = [entry.strip() for entry in (forwarded_for or "").split(",")]
    for entry in reversed([entry for entry in entries if entry]):
        if not _is_trusted(caller, trusted):
            break
        address = _parse(entry)
        if address is None:
            break
        caller = address
    return str(caller)


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
