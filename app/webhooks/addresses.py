"""Where a webhook may point: https:// URLs of public addresses, and the hosts an operator
allows besides (`BILLING_WEBHOOK_ALLOWED_HOSTS`).

A URL is checked when it is registered, by resolving its name, and again at every
delivery against the address actually connected to: a name that resolved to a public
address at registration may resolve to 127.0.0.1 or 169.254.169.254 by the time an event
is sent (DNS rebinding). `AddressGuard.resolve` is the one place both go through.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

from app.core.errors import WebhookUrlNotAllowed

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
DEFAULT_PORTS = {"https": 443, "http": 80}


class UnsafeAddress(Exception):
    """A host resolved to an address webhooks may not reach, or did not resolve."""


def is_public(address: IPAddress) -> bool:
    """Reachable on the public internet: not private, loopback, link-local, multicast,
    unspecified, reserved or shared (carrier-grade NAT), nor one of those written as an
    IPv4-mapped IPv6 address."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return is_public(address.ipv4_mapped)
    return address.is_global and not address.is_multicast


@dataclass(frozen=True, slots=True)
class AllowedHost:
    host: str
    port: int | None  # None: any port

    @classmethod
    def parse(cls, entry: str) -> AllowedHost:
        """`host` or `host:port` (`[v6]:port` for IPv6 literals)."""
        parts = urlsplit(f"//{entry.strip()}")
        if not parts.hostname:
            raise ValueError(f"{entry!r} is not a host or host:port")
        return cls(parts.hostname.lower(), parts.port)


def parse_allowed_hosts(entries: Iterable[str]) -> tuple[AllowedHost, ...]:
    return tuple(AllowedHost.parse(entry) for entry in entries if entry.strip())


class AddressGuard:
    def __init__(self, allowed: Iterable[AllowedHost] = ()) -> None:
        self._allowed = tuple(allowed)

    def allows_host(self, host: str, port: int) -> bool:
        host = host.lower().strip("[]")
        return any(a.host == host and a.port in (None, port) for a in self._allowed)

    def check_url(self, url: str) -> SplitResult:
        """The URL's parts, when its form may be registered: https (or http to an allowed
        host), a host, no credentials. `WEBHOOK_URL_NOT_ALLOWED` otherwise."""
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            raise WebhookUrlNotAllowed("{param} is not a URL.", param="url") from None
        if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
            raise WebhookUrlNotAllowed("{param} must be an https:// URL.", param="url")
        if parts.username is not None or parts.password is not None:
            raise WebhookUrlNotAllowed("{param} must not carry credentials.", param="url")
        port = port or DEFAULT_PORTS[parts.scheme]
        if parts.scheme != "https" and not self.allows_host(parts.hostname, port):
            raise WebhookUrlNotAllowed("{param} must be an https:// URL.", param="url")
        return parts

    async def check_registration(self, url: str) -> None:
        """`check_url`, then the addresses its host resolves to now (a host the operator
        allows is taken as it is)."""
        parts = self.check_url(url)
        assert parts.hostname is not None
        port = parts.port or DEFAULT_PORTS[parts.scheme]
        if self.allows_host(parts.hostname, port):
            return
        try:
            await self.resolve(parts.hostname, port)
        except UnsafeAddress as exc:
            raise WebhookUrlNotAllowed(f"{{param}}: {exc}", param="url") from None

    async def resolve(self, host: str, port: int) -> list[str]:
        """The addresses to connect to for `host`, each one checked: every address the
        name resolves to must be public, unless the operator allows the host."""
        try:
            found = await asyncio.get_running_loop().getaddrinfo(
                host, port, type=socket.SOCK_STREAM
            )
        except (OSError, UnicodeError) as exc:
            raise UnsafeAddress(f"{host} does not resolve ({exc})") from None
        addresses = list(dict.fromkeys(str(info[4][0]) for info in found))
        if not addresses:
            raise UnsafeAddress(f"{host} does not resolve")
        if self.allows_host(host, port):
            return addresses
        for address in addresses:
            parsed = ipaddress.ip_address(address.split("%", 1)[0])
            if not is_public(parsed):
                raise UnsafeAddress(f"{host} resolves to {parsed}, which is not a public address")
        return addresses
