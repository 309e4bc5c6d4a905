"""Every customer gets exactly one Stripe customer, whatever Stripe does (SPEC §3.1, §5.6).

The outbox commits the task with the customer and retries it with one idempotency key;
these tests make Stripe fail in each way it can and count what Stripe ends up holding.
"""

from __future__ import annotations

import random
import uuid

import pytest

from app.billing.outbox import customer_idempotency_key
from tests.support.api import ADDRESS, Api
from tests.support.clock import MovableClock
from tests.support.fake_stripe import FakeStripe
from tests.support.stripe import (
    StripeCustomer,
    checkout,
    paying_customer,
    pending_tasks,
    settled,
    sync_tiers,
    synced_customer,
)

CUSTOMERS = "/v1/customers"


async def run_until_done(api: Api, clock: MovableClock, rounds: int = 20) -> None:
    """Run the outbox, moving the clock past each retry's back-off, until nothing is left."""
    for _ in range(rounds):
        if not await settled(api):
            return
        clock.advance(minutes=15)
    raise AssertionError(f"tasks left: {await pending_tasks(api)}")


async def test_a_new_customer_gets_its_stripe_customer(
    stripe_api: Api, fake_stripe: FakeStripe
) -> None:
    customer = await synced_customer(stripe_api)

    [stripe_customer] = fake_stripe.objects("customer")
    assert stripe_customer["id"] == customer.stripe_id
    assert stripe_customer["name"] == "Acme"
    assert stripe_customer["email"] == "billing@acme.example"
    assert stripe_customer["address"]["city"] == ADDRESS["city"]
    assert stripe_customer["address"]["postal_code"] == ADDRESS["postalCode"]
    assert stripe_customer["metadata"] == {"billing_customer_id": customer.id}
    [request] = fake_stripe.requests_to("POST", CUSTOMERS)
    assert request.idempotency_key == customer_idempotency_key(uuid.UUID(customer.id))
    assert await pending_tasks(stripe_api) == []


@pytest.mark.parametrize(
    "fault",
    [
        {"status": 500},
        {"status": 500, "after_effect": True},
        {"status": 409},
        {"status": 429, "after_effect": True},
        {"status": None, "delay": 3.0, "after_effect": True},  # the client times out at 2 s
    ],
    ids=["500", "500-after-effect", "409", "429-after-effect", "timeout-after-effect"],
)
async def test_a_failed_call_is_retried_with_the_same_key(
    stripe_api: Api, fake_stripe: FakeStripe, clock: MovableClock, fault: dict[str, object]
) -> None:
    fake_stripe.fail_next("POST", CUSTOMERS, **fault)  # type: ignore[arg-type]
    owner = stripe_api.user()
    created = await stripe_api.customer(owner)
    await settled(stripe_api)
    [task] = await pending_tasks(stripe_api)
    assert task.attempts == 1 and task.last_error

    await run_until_done(stripe_api, clock)

    [stripe_customer] = fake_stripe.objects("customer")
    customer = (await stripe_api.call("GET", "/customer", owner)).json()
    assert customer["gcid"] == stripe_customer["id"]
    keys = {request.idempotency_key for request in fake_stripe.requests_to("POST", CUSTOMERS)}
    assert keys == {f"billing-customer-{created['id']}"}


async def test_under_random_faults_every_customer_has_exactly_one(
    stripe_api: Api, fake_stripe: FakeStripe, clock: MovableClock
) -> None:
    chance = random.Random(7)
    owners = [stripe_api.user() for _ in range(12)]
    for owner in owners:
        if chance.random() < 0.6:
            fake_stripe.fail_next(
                "POST",
                CUSTOMERS,
                status=chance.choice([500, 409, 429]),
                after_effect=chance.random() < 0.5,
                times=chance.randint(1, 3),
            )
        await stripe_api.customer(owner)
        await settled(stripe_api)

    await run_until_done(stripe_api, clock)

    stripe_customers = fake_stripe.objects("customer")
    assert len(stripe_customers) == len(owners)
    ours = {c["metadata"]["billing_customer_id"]: c["id"] for c in stripe_customers}
    for owner in owners:
        customer = (await stripe_api.call("GET", "/customer", owner)).json()
        assert ours[customer["id"]] == customer["gcid"]


async def test_the_portal_creates_a_pending_stripe_customer_with_the_same_key(
    stripe_api: Api, fake_stripe: FakeStripe, clock: MovableClock
) -> None:
    fake_stripe.fail_next("POST", CUSTOMERS, status=500, after_effect=True)
    owner = stripe_api.user()
    await stripe_api.customer(owner)
    await settled(stripe_api)  # done at Stripe, answer lost

    portal = await stripe_api.call("GET", "/stripe/customer", owner)
    assert portal.status_code == 200, portal.text
    await run_until_done(stripe_api, clock)

    [stripe_customer] = fake_stripe.objects("customer")
    [session] = fake_stripe.objects("billing_portal.session")
    assert session["customer"] == stripe_customer["id"]
    assert portal.json()["url"] == session["url"]


async def test_deleting_a_customer_cancels_its_subscription(
    stripe_api: Api, fake_stripe: FakeStripe, clock: MovableClock
) -> None:
    await sync_tiers(stripe_api)
    customer, _ = await paying_customer(stripe_api, fake_stripe)
    fake_stripe.fail_next("DELETE", "/v1/subscriptions", status=500)

    deleted = await stripe_api.call("DELETE", "/customer", customer.owner)
    assert deleted.status_code == 204, deleted.text
    await run_until_done(stripe_api, clock)

    subscription = fake_stripe.get(customer.subscription_id)
    assert subscription is not None and subscription["status"] == "canceled"


async def test_a_customer_deleted_before_its_sync_gets_none(
    stripe_api: Api, fake_stripe: FakeStripe, clock: MovableClock
) -> None:
    fake_stripe.fail_next("POST", CUSTOMERS, status=500)
    owner = stripe_api.user()
    await stripe_api.customer(owner)
    await settled(stripe_api)
    assert (await stripe_api.call("DELETE", "/customer", owner)).status_code == 204

    await run_until_done(stripe_api, clock)

    assert fake_stripe.objects("customer") == []


async def test_checkout_needs_no_synced_customer_first(
    stripe_api: Api, fake_stripe: FakeStripe
) -> None:
    """A customer whose task has not run yet can still upgrade: the same key is used."""
    await sync_tiers(stripe_api)
    fake_stripe.fail_next("POST", CUSTOMERS, status=500)
    owner = stripe_api.user()
    await stripe_api.customer(owner)
    await settled(stripe_api)

    session_id = await checkout(stripe_api, StripeCustomer(owner, "", ""))
    await settled(stripe_api)

    [stripe_customer] = fake_stripe.objects("customer")
    assert fake_stripe.get(session_id)["customer"] == stripe_customer["id"]  # type: ignore[index]


async def test_after_a_day_the_retry_looks_for_the_customer_before_creating(
    stripe_api: Api, fake_stripe: FakeStripe, clock: MovableClock
) -> None:
    """Stripe forgets an idempotency key after 24 hours: a task that old must not rely on
    it, so it finds the customer its lost attempt made."""
    fake_stripe.fail_next("POST", CUSTOMERS, status=500, after_effect=True)
    owner = stripe_api.user()
    await stripe_api.customer(owner)
    await settled(stripe_api)
    clock.advance(hours=25)

    await run_until_done(stripe_api, clock)

    [stripe_customer] = fake_stripe.objects("customer")
    assert fake_stripe.count("POST", CUSTOMERS) == 1
    assert fake_stripe.count("GET", "/v1/customers/search") == 1
    customer = (await stripe_api.call("GET", "/customer", owner)).json()
    assert customer["gcid"] == stripe_customer["id"]
