"""What a delivery attempt does on the wire: where it may connect, what it reads back."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from typing import Any

import pytest

from app.webhooks.addresses import AddressGuard, AllowedHost, is_public
from app.webhooks.sender import EXCERPT_BYTES, Sender
from tests.support.webhook_receiver import Answer, Receiver

BODY = b'{"type":"member.added"}'


def _allowing(receiver: Receiver) -> AddressGuard:
    return AddressGuard([AllowedHost.parse(receiver.host)])


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("8.8.8.8", True),
        ("2606:4700:4700::1111", True),
        ("127.0.0.1", False),
        ("10.0.0.1", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),
        ("0.0.0.0", False),
        ("224.0.0.251", False),
        ("240.0.0.1", False),
        ("::1", False),
        ("fe80::1", False),
        ("fc00::1", False),
        ("::ffff:127.0.0.1", False),
        ("::ffff:8.8.8.8", True),
    ],
)
def test_public_addresses(address: str, public: bool) -> None:
    assert is_public(ipaddress.ip_address(address)) is public


async def test_a_name_that_resolves_to_loopback_at_delivery_is_not_connected_to(
    receiver: Receiver,
) -> None:
    sender = Sender(AddressGuard())  # loopback not allowed
    try:
        outcome = await sender.post(f"http://localhost:{receiver.port}/hook", BODY, {})
    finally:
        await sender.aclose()
    assert not outcome.succeeded
    assert outcome.error is not None and "not a public address" in outcome.error
    assert receiver.requests == []


async def test_rebinding_the_name_after_registration_is_caught(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The name resolved to a public address when registered, and to loopback now: the
    connection is never opened."""
    guard = AddressGuard()
    answers = iter(["93.184.215.14", "127.0.0.1"])
    loop = asyncio.get_running_loop()

    async def rebinding(host: str, port: int, **_: Any) -> list[Any]:
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (next(answers), port))]

    monkeypatch.setattr(loop, "getaddrinfo", rebinding)
    await guard.check_registration(f"https://hooks.rebind.example:{receiver.port}/hook")
    sender = Sender(guard)
    try:
        outcome = await sender.post(f"http://hooks.rebind.example:{receiver.port}/", BODY, {})
    finally:
        await sender.aclose()
    assert outcome.error is not None and "127.0.0.1" in outcome.error
    assert receiver.requests == []


async def test_redirects_are_not_followed(receiver: Receiver) -> None:
    receiver.answer(Answer(302, b"", {"location": receiver.url("/elsewhere")}))
    sender = Sender(_allowing(receiver))
    try:
        outcome = await sender.post(receiver.url(), BODY, {"webhook-id": "msg_1"})
    finally:
        await sender.aclose()
    assert (outcome.succeeded, outcome.status) == (False, 302)
    assert [request.path for request in receiver.requests] == ["/hook"]


async def test_only_an_excerpt_of_the_answer_is_kept(receiver: Receiver) -> None:
    receiver.answer(Answer(200, b"x" * 1_000_000))
    sender = Sender(_allowing(receiver))
    try:
        outcome = await sender.post(receiver.url(), BODY, {})
    finally:
        await sender.aclose()
    assert outcome.succeeded
    assert outcome.excerpt == "x" * EXCERPT_BYTES


async def test_a_slow_receiver_times_out(receiver: Receiver) -> None:
    receiver.answer(Answer(200, b"late", delay_seconds=2))
    sender = Sender(_allowing(receiver), timeout_seconds=0.3)
    try:
        outcome = await sender.post(receiver.url(), BODY, {})
    finally:
        await sender.aclose()
    assert not outcome.succeeded
    assert outcome.error == "timed out after 0.3 s"
    assert outcome.latency_ms < 1500


async def test_a_refused_connection_is_a_failure(receiver: Receiver) -> None:
    sender = Sender(AddressGuard([AllowedHost.parse("127.0.0.1")]))
    try:
        outcome = await sender.post("http://127.0.0.1:9/hook", BODY, {})
    finally:
        await sender.aclose()
    assert not outcome.succeeded
    assert outcome.status is None
    assert outcome.error
