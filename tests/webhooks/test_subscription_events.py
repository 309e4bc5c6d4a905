"""Stripe's subscription changes reach the customer's webhooks as our own events."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support.api import Api, running_api
from tests.support.clock import MovableClock
from tests.support.fake_stripe import FakeStripe
from tests.support.stripe import deliver_all, paying_customer, stripe_settings, sync_tiers
from tests.support.webhook_receiver import Receiver
from tests.webhooks.conftest import run_worker

pytestmark = pytest.mark.backends("sqlite")


@pytest.fixture
async def paid_hooks(
    database_url: str,
    tmp_path: Path,
    fake_stripe: FakeStripe,
    clock: MovableClock,
    receiver: Receiver,
) -> AsyncIterator[Api]:
    settings = stripe_settings(
        database_url, tmp_path, fake_stripe, webhook_allowed_hosts=[receiver.host]
    )
    async with running_api(settings, clock) as api:
        yield api


async def test_a_checkout_sends_the_new_status_and_tier(
    paid_hooks: Api, fake_stripe: FakeStripe, receiver: Receiver
) -> None:
    await sync_tiers(paid_hooks)
    customer, events = await paying_customer(paid_hooks, fake_stripe)
    created = await paid_hooks.call(
        "POST",
        "/customer/webhooks",
        customer.owner,
        json={
            "url": receiver.url(),
            "eventTypes": ["subscription.status_changed", "tier.changed"],
        },
    )
    secret = created.json()["secret"]

    await deliver_all(paid_hooks, fake_stripe, events)
    await run_worker(paid_hooks)

    payloads = [request.verified(secret) for request in receiver.wait_for(2)]
    by_type = {payload["type"]: payload["data"] for payload in payloads}
    assert by_type["subscription.status_changed"]["status"] == "trialing"
    assert by_type["subscription.status_changed"]["previousStatus"] == "none"
    assert by_type["tier.changed"]["tierName"] == "pro"
    assert by_type["tier.changed"]["source"] == "subscription"
    await deliver_all(paid_hooks, fake_stripe, events)  # redelivered: nothing changes
    await run_worker(paid_hooks)
    assert len(receiver.requests) == 2
