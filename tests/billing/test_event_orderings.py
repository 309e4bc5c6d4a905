"""Generated subscription lifecycles, their webhooks delivered in generated orders — shuffled,
duplicated, retried, several in the same second — always end in the state that Stripe's
current subscription implies (SPEC §5.6: an older event never overwrites newer state)."""

from __future__ import annotations

import random
from typing import Any

from tests.support.api import Api
from tests.support.databases import Backend
from tests.support.fake_stripe import FakeStripe, Json
from tests.support.stripe import checkout, post_delivery, sync_tiers, synced_customer

ORDERINGS = {"sqlite": 200, "postgresql": 60}
LIVE = ("trialing", "active", "past_due", "unpaid", "incomplete", "paused")
# Moves a subscription can make after its checkout; canceling ends the lifecycle.
MOVES = ("active", "past_due", "active", "unpaid", "price", "cancel")


def lifecycle(
    fake: FakeStripe, subscription_id: str, prices: list[str], chance: random.Random
) -> list[Json]:
    """The events of up to four moves of one subscription."""
    events: list[Json] = []
    for _ in range(chance.randint(0, 4)):
        move = chance.choice(MOVES)
        if move == "cancel":
            return events + fake.cancel_subscription(subscription_id)
        if move == "price":
            events += fake.change_price(subscription_id, chance.choice(prices))
        else:
            events += fake.set_subscription_status(subscription_id, move)
        if chance.random() < 0.5:  # the next events share this second
            fake.clock = fake.now()
        else:
            fake.clock = None
            fake.advance(chance.randint(1, 5))
    return events


def expected_state(
    fake: FakeStripe, subscription_id: str, tier_of_price: dict[str, str]
) -> dict[str, Any]:
    """What Stripe's subscription says the customer is now, worked out independently."""
    subscription = fake.get(subscription_id)
    assert subscription is not None
    status = subscription["status"]
    price = subscription["items"]["data"][0]["price"]["id"]
    live = status in LIVE
    return {
        "tierName": tier_of_price[price] if live else "free",
        "subscriptionStatus": status,
        # past_due stays enabled: every lifecycle here is inside its grace period.
        "subscriptionEnabled": status in ("trialing", "active", "past_due"),
        "trialUsed": True,
    }


def deliveries(fake: FakeStripe, events: list[Json], chance: random.Random) -> list[Any]:
    """The events shuffled, some duplicated, some retried later with a new signature."""
    planned = fake.webhooks.shuffled(events, seed=chance.randrange(2**32))
    for delivery in list(planned):
        if chance.random() < 0.3:
            planned.insert(chance.randrange(len(planned) + 1), fake.webhooks.retry(delivery))
    return planned


async def test_any_delivery_order_ends_in_stripes_current_state(
    stripe_api: Api, fake_stripe: FakeStripe, database_backend: Backend
) -> None:
    prices = await sync_tiers(stripe_api)
    tier_of_price = {price: tier for tier, price in prices.items()}
    paid = [prices[name] for name in ("pro", "business", "enterprise")]
    for seed in range(ORDERINGS[database_backend]):
        chance = random.Random(seed)
        fake_stripe.clock = None
        customer = await synced_customer(stripe_api)
        session_id = await checkout(stripe_api, customer, chance.choice(["pro", "business"]))
        events = fake_stripe.complete_checkout(session_id)
        session = fake_stripe.get(session_id)
        assert session is not None
        subscription_id = str(session["subscription"])
        events += lifecycle(fake_stripe, subscription_id, paid, chance)

        for delivery in deliveries(fake_stripe, events, chance):
            response = await post_delivery(stripe_api.client, delivery)
            assert response.status_code == 200, (seed, response.text)

        body = (await stripe_api.call("GET", "/customer", customer.owner)).json()
        state = {
            key: body[key] for key in expected_state(fake_stripe, subscription_id, tier_of_price)
        }
        expected = expected_state(fake_stripe, subscription_id, tier_of_price)
        assert state == expected, f"seed {seed}: events {[e['type'] for e in events]}"
