"""Stripe's webhooks (SPEC §5.6): signed, applied once per event id, and never trusting
the order events arrive in — the customer's state is Stripe's current subscription."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest

from app.billing.gateway import Subscription
from app.billing.service import current_subscription
from tests.rest.test_errors import assert_error
from tests.support.api import Api
from tests.support.clock import MovableClock
from tests.support.deep_json import PAST_THE_PARSERS, assert_no_failure_logged, nested, too_deep
from tests.support.fake_stripe import Delivery, FakeStripe, sign
from tests.support.logs import Records
from tests.support.stripe import (
    StripeCustomer,
    checkout,
    claimed_events,
    deliver_all,
    paying_customer,
    post_delivery,
    settled,
    sync_tiers,
    synced_customer,
)

SUBSCRIPTIONS = "/v1/subscriptions"


async def customer_state(api: Api, customer: StripeCustomer) -> dict[str, Any]:
    body = (await api.call("GET", "/customer", customer.owner)).json()
    return {
        key: body[key]
        for key in ("tierName", "subscriptionStatus", "subscriptionEnabled", "trialUsed")
    }


def reads_of_subscriptions(fake: FakeStripe) -> int:
    return len([r for r in fake.requests if r.method == "GET" and r.path == SUBSCRIPTIONS])


class TestAuthenticity:
    @pytest.fixture
    async def event(self, stripe_api: Api, fake_stripe: FakeStripe) -> dict[str, Any]:
        await sync_tiers(stripe_api)
        _, events = await paying_customer(stripe_api, fake_stripe)
        return events[0]

    async def test_a_valid_signature_is_accepted(
        self, stripe_api: Api, fake_stripe: FakeStripe, event: dict[str, Any]
    ) -> None:
        response = await post_delivery(stripe_api.client, fake_stripe.webhooks.deliver(event))
        assert response.status_code == 200, response.text
        assert response.json() == {"received": True}

    async def test_every_forgery_is_400(
        self, stripe_api: Api, fake_stripe: FakeStripe, event: dict[str, Any]
    ) -> None:
        secret = fake_stripe.webhook_secret
        good = fake_stripe.webhooks.deliver(event)
        signature = good.headers["Stripe-Signature"]
        reserialised = json.dumps(event).encode()  # same event, other bytes
        tampered = good.body.replace(b'"trialing"', b'"active"')
        assert tampered != good.body
        cases: list[tuple[bytes, dict[str, str]]] = [
            (tampered, {"Stripe-Signature": signature}),
            (reserialised, {"Stripe-Signature": signature}),
            (good.body, {"Stripe-Signature": sign(good.body, "whsec_not_the_secret")}),
            (good.body, {"Stripe-Signature": sign(good.body, secret, int(time.time()) - 301)}),
            (good.body, {}),
            (good.body, {"Stripe-Signature": "garbage"}),
            (
                b"\xff\xfe\x00 not utf-8",
                {"Stripe-Signature": sign(b"\xff\xfe\x00 not utf-8", secret)},
            ),
            (b"[]", {"Stripe-Signature": sign(b"[]", secret)}),
            (b"null", {"Stripe-Signature": sign(b"null", secret)}),
            (b'{"id": "evt_1"}', {"Stripe-Signature": sign(b'{"id": "evt_1"}', secret)}),
        ]
        for body, headers in cases:
            response = await post_delivery(
                stripe_api.client, Delivery(event["id"], event["type"], body, headers)
            )
            assert_error(response, 400, "INVALID_WEBHOOK")
        assert await claimed_events(stripe_api) == 0

    async def test_a_signed_body_that_is_not_json_is_malformed(
        self,
        stripe_api: Api,
        fake_stripe: FakeStripe,
        event: dict[str, Any],
        error_log: Records,
    ) -> None:
        """Read by the service's one JSON reader, as every request body is."""
        obj = {**event["data"]["object"], "metadata": "nested"}
        in_the_event = json.dumps({**event, "data": {"object": obj}}).encode()
        in_the_event = in_the_event.replace(b'"nested"', nested(PAST_THE_PARSERS))
        for body in [*too_deep('"id"'), in_the_event, b"", b"not json"]:
            headers = {"Stripe-Signature": sign(body, fake_stripe.webhook_secret)}
            response = await post_delivery(
                stripe_api.client, Delivery(event["id"], event["type"], body, headers)
            )
            assert_error(response, 400, "MALFORMED_JSON")
        assert_no_failure_logged(error_log)
        assert await claimed_events(stripe_api) == 0


class TestEffects:
    async def test_a_completed_checkout_puts_the_customer_on_its_tier_in_trial(
        self, stripe_api: Api, fake_stripe: FakeStripe
    ) -> None:
        await sync_tiers(stripe_api)
        customer, events = await paying_customer(stripe_api, fake_stripe, "business")
        await deliver_all(stripe_api, fake_stripe, events)
        assert await customer_state(stripe_api, customer) == {
            "tierName": "business",
            "subscriptionStatus": "trialing",
            "subscriptionEnabled": True,
            "trialUsed": True,
        }

    async def test_past_due_keeps_the_subscription_enabled_for_the_grace_period(
        self, stripe_api: Api, fake_stripe: FakeStripe, clock: MovableClock
    ) -> None:
        prices = await sync_tiers(stripe_api)
        customer, events = await paying_customer(stripe_api, fake_stripe)
        events += fake_stripe.set_subscription_status(customer.subscription_id, "active")
        events += fake_stripe.set_subscription_status(customer.subscription_id, "past_due")
        await deliver_all(stripe_api, fake_stripe, events)
        state = await customer_state(stripe_api, customer)
        assert (state["subscriptionStatus"], state["subscriptionEnabled"]) == ("past_due", True)
        assert state["tierName"] == "pro"

        grace = stripe_api.container.settings.stripe_past_due_grace_days
        clock.advance(days=grace - 1)
        # A later event of the same past_due spell does not extend the grace period.
        await deliver_all(
            stripe_api,
            fake_stripe,
            fake_stripe.change_price(customer.subscription_id, prices["business"]),
        )
        state = await customer_state(stripe_api, customer)
        assert (state["tierName"], state["subscriptionEnabled"]) == ("business", True)
        clock.advance(days=1, hours=1)
        await settled(stripe_api)
        state = await customer_state(stripe_api, customer)
        assert (state["subscriptionStatus"], state["subscriptionEnabled"]) == ("past_due", False)

        await deliver_all(
            stripe_api,
            fake_stripe,
            fake_stripe.set_subscription_status(customer.subscription_id, "active"),
        )
        state = await customer_state(stripe_api, customer)
        assert (state["subscriptionStatus"], state["subscriptionEnabled"]) == ("active", True)

    async def test_a_deleted_subscription_returns_the_customer_to_the_default_tier(
        self, stripe_api: Api, fake_stripe: FakeStripe
    ) -> None:
        await sync_tiers(stripe_api)
        customer, events = await paying_customer(stripe_api, fake_stripe)
        events += fake_stripe.cancel_subscription(customer.subscription_id)
        await deliver_all(stripe_api, fake_stripe, events)
        assert await customer_state(stripe_api, customer) == {
            "tierName": "free",
            "subscriptionStatus": "canceled",
            "subscriptionEnabled": False,
            "trialUsed": True,
        }

    async def test_stacks_follow_the_quantity_of_the_live_subscription(
        self, stripe_api: Api, fake_stripe: FakeStripe
    ) -> None:
        await sync_tiers(stripe_api)
        customer, events = await paying_customer(stripe_api, fake_stripe)

        async def stacks() -> int:
            response = await stripe_api.call("GET", "/customer/tier", customer.owner)
            return int(response.json()["stacks"])

        assert await stacks() == 0
        await deliver_all(stripe_api, fake_stripe, events)
        assert await stacks() == 1
        subscription = fake_stripe.get(customer.subscription_id)
        assert subscription is not None
        item = subscription["items"]["data"][0]["id"]
        seen = len(fake_stripe.events)
        fake_stripe.call(
            "POST",
            f"{SUBSCRIPTIONS}/{customer.subscription_id}",
            {"items": [{"id": item, "quantity": 3}]},
        )
        await deliver_all(stripe_api, fake_stripe, fake_stripe.events[seen:])
        assert await stacks() == 3
        await deliver_all(
            stripe_api, fake_stripe, fake_stripe.cancel_subscription(customer.subscription_id)
        )
        assert await stacks() == 0

    async def test_a_price_change_moves_the_customer_to_that_tier(
        self, stripe_api: Api, fake_stripe: FakeStripe
    ) -> None:
        prices = await sync_tiers(stripe_api)
        customer, events = await paying_customer(stripe_api, fake_stripe)
        events += fake_stripe.change_price(customer.subscription_id, prices["enterprise"])
        await deliver_all(stripe_api, fake_stripe, events)
        assert (await customer_state(stripe_api, customer))["tierName"] == "enterprise"

    async def test_a_checkout_completed_after_the_account_was_deleted_is_cancelled(
        self, stripe_api: Api, fake_stripe: FakeStripe
    ) -> None:
        await sync_tiers(stripe_api)
        customer = await synced_customer(stripe_api)
        session_id = await checkout(stripe_api, customer)
        assert (await stripe_api.call("DELETE", "/customer", customer.owner)).status_code == 204
        await settled(stripe_api)  # nothing to cancel yet

        await deliver_all(stripe_api, fake_stripe, fake_stripe.complete_checkout(session_id))
        await settled(stripe_api)

        session = fake_stripe.get(session_id)
        assert session is not None
        subscription = fake_stripe.get(str(session["subscription"]))
        assert subscription is not None and subscription["status"] == "canceled"

    async def test_unknown_event_types_are_acknowledged_and_ignored(
        self, stripe_api: Api, fake_stripe: FakeStripe
    ) -> None:
        event = {
            "id": "evt_unknown_1",
            "object": "event",
            "type": "radar.early_fraud_warning.created",
            "created": int(time.time()),
            "data": {"object": {"id": "issfr_1", "object": "radar.early_fraud_warning"}},
        }
        response = await post_delivery(stripe_api.client, fake_stripe.webhooks.deliver(event))
        assert response.status_code == 200, response.text
        assert reads_of_subscriptions(fake_stripe) == 0
        status = (await stripe_api.call("GET", "/admin/billing/status", stripe_api.admin())).json()
        assert status["webhookLastReceivedAt"] is not None
        assert status["stripeConfigured"] is True


class TestOnce:
    async def test_a_repeated_event_is_applied_once(
        self, stripe_api: Api, fake_stripe: FakeStripe
    ) -> None:
        await sync_tiers(stripe_api)
        _, events = await paying_customer(stripe_api, fake_stripe)
        reads = reads_of_subscriptions(fake_stripe)
        for delivery in fake_stripe.webhooks.duplicated(events[:1], times=3):
            assert (await post_delivery(stripe_api.client, delivery)).status_code == 200
        assert reads_of_subscriptions(fake_stripe) == reads + 1
        assert await claimed_events(stripe_api) == 1

    async def test_a_failure_midway_is_not_acknowledged_and_the_retry_applies_it(
        self, stripe_api: Api, fake_stripe: FakeStripe
    ) -> None:
        await sync_tiers(stripe_api)
        customer, events = await paying_customer(stripe_api, fake_stripe)
        stripe_api.expect_server_errors = True
        fake_stripe.fail_next("GET", SUBSCRIPTIONS, status=500)
        first = fake_stripe.webhooks.deliver(events[0])

        failed = await post_delivery(stripe_api.client, first)
        assert_error(failed, 502, "STRIPE_UNAVAILABLE")
        assert await claimed_events(stripe_api) == 0
        assert (await customer_state(stripe_api, customer))["tierName"] == "free"

        retried = await post_delivery(stripe_api.client, fake_stripe.webhooks.retry(first))
        assert retried.status_code == 200, retried.text
        assert (await customer_state(stripe_api, customer))["tierName"] == "pro"
        assert await claimed_events(stripe_api) == 1

    async def test_concurrent_deliveries_of_one_event_apply_it_once(
        self, stripe_api: Api, fake_stripe: FakeStripe
    ) -> None:
        await sync_tiers(stripe_api)
        customer, events = await paying_customer(stripe_api, fake_stripe)
        reads = reads_of_subscriptions(fake_stripe)
        delivery = fake_stripe.webhooks.deliver(events[0])

        responses = await asyncio.gather(
            *(post_delivery(stripe_api.client, delivery) for _ in range(40))
        )

        assert [r.status_code for r in responses] == [200] * 40
        assert reads_of_subscriptions(fake_stripe) == reads + 1
        assert await claimed_events(stripe_api) == 1
        assert (await customer_state(stripe_api, customer))["tierName"] == "pro"


def subscription(status: str, created: int, name: str) -> Subscription:
    return Subscription(name, "cus_1", status, "price_1", None, created, had_trial=False)


def test_the_current_subscription_is_the_one_in_good_standing() -> None:
    paid = subscription("active", 100, "sub_paid")
    newer_unpaid = subscription("past_due", 200, "sub_unpaid")
    ended = subscription("canceled", 300, "sub_ended")
    assert current_subscription([paid, newer_unpaid, ended]) == paid
    assert current_subscription([newer_unpaid, ended]) == newer_unpaid
    assert current_subscription([ended, subscription("canceled", 50, "sub_old")]) == ended
    assert current_subscription([]) is None
