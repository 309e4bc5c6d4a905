"""The Customer Portal and Checkout (SPEC §5.6): owner only, a trial only once."""

from __future__ import annotations

import pytest

from tests.rest.test_errors import assert_error
from tests.support.api import Api
from tests.support.fake_stripe import FakeStripe
from tests.support.stripe import (
    CANCEL_URL,
    SUCCESS_URL,
    checkout,
    deliver_all,
    paying_customer,
    sync_tiers,
    synced_customer,
)

PORTAL = "mutation { createPortalSession { url } }"
CHECKOUT = """mutation Checkout($tier: String) {
  createCheckoutSession(successUrl: "https://app.example/ok",
                        cancelUrl: "https://app.example/no", tierName: $tier) { url }
}"""


class TestPortal:
    async def test_the_owner_gets_a_portal_session(
        self, stripe_api: Api, fake_stripe: FakeStripe
    ) -> None:
        customer = await synced_customer(stripe_api)
        response = await stripe_api.call("GET", "/stripe/customer", customer.owner)
        assert response.status_code == 200, response.text
        [session] = fake_stripe.objects("billing_portal.session")
        assert response.json() == {"url": session["url"]}
        assert session["customer"] == customer.stripe_id
        assert session["return_url"] == stripe_api.container.settings.stripe_portal_return_url

    async def test_over_graphql(self, stripe_api: Api, fake_stripe: FakeStripe) -> None:
        customer = await synced_customer(stripe_api)
        body = await stripe_api.graphql(PORTAL, customer.owner)
        [session] = fake_stripe.objects("billing_portal.session")
        assert body["data"]["createPortalSession"]["url"] == session["url"]

    async def test_only_the_owner(self, stripe_api: Api, fake_stripe: FakeStripe) -> None:
        customer = await synced_customer(stripe_api)
        admin, outsider = stripe_api.user(), stripe_api.user()
        await stripe_api.add(customer.owner, admin, "admin")
        assert_error(await stripe_api.call("GET", "/stripe/customer", admin), 403, "FORBIDDEN")
        assert_error(await stripe_api.call("GET", "/stripe/customer", outsider), 404, "NO_CUSTOMER")
        assert_error(
            await stripe_api.call("GET", "/stripe/customer"), 401, "AUTHENTICATION_REQUIRED"
        )
        body = await stripe_api.graphql(PORTAL, admin)
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
        assert fake_stripe.objects("billing_portal.session") == []

    async def test_stripe_down_is_502(self, stripe_api: Api, fake_stripe: FakeStripe) -> None:
        customer = await synced_customer(stripe_api)
        stripe_api.expect_server_errors = True
        fake_stripe.fail_next("POST", "/v1/billing_portal", status=500)
        response = await stripe_api.call("GET", "/stripe/customer", customer.owner)
        assert_error(response, 502, "STRIPE_UNAVAILABLE")

    async def test_a_refusal_by_stripe_is_told_apart_from_an_outage(
        self, stripe_api: Api, fake_stripe: FakeStripe
    ) -> None:
        customer = await synced_customer(stripe_api)
        fake_stripe.call("DELETE", f"/v1/customers/{customer.stripe_id}")  # in the dashboard
        stripe_api.expect_server_errors = True
        response = await stripe_api.call("GET", "/stripe/customer", customer.owner)
        assert_error(response, 502, "STRIPE_REJECTED")


class TestCheckout:
    async def test_a_first_checkout_has_a_30_day_trial(
        self, stripe_api: Api, fake_stripe: FakeStripe
    ) -> None:
        prices = await sync_tiers(stripe_api)
        customer = await synced_customer(stripe_api)
        session = fake_stripe.get(await checkout(stripe_api, customer))
        assert session is not None
        assert session["mode"] == "subscription"
        assert session["customer"] == customer.stripe_id
        assert session["success_url"] == SUCCESS_URL and session["cancel_url"] == CANCEL_URL
        assert session["client_reference_id"] == customer.id
        [request] = fake_stripe.requests_to("POST", "/v1/checkout/sessions")
        assert request.params["line_items"] == [{"price": prices["pro"], "quantity": "1"}]
        assert request.params["subscription_data"]["trial_period_days"] == "30"

    async def test_a_subscribed_customer_changes_plans_in_the_portal(
        self, stripe_api: Api, fake_stripe: FakeStripe
    ) -> None:
        await sync_tiers(stripe_api)
        customer, events = await paying_customer(stripe_api, fake_stripe)
        await deliver_all(stripe_api, fake_stripe, events)
        request = {"successURL": SUCCESS_URL, "cancelURL": CANCEL_URL, "tierName": "business"}
        response = await stripe_api.call("POST", "/stripe/upgrade", customer.owner, json=request)
        assert_error(response, 409, "ALREADY_SUBSCRIBED")
        assert len(fake_stripe.objects("checkout.session")) == 1

    async def test_no_second_trial(self, stripe_api: Api, fake_stripe: FakeStripe) -> None:
        await sync_tiers(stripe_api)
        customer, events = await paying_customer(stripe_api, fake_stripe)
        events += fake_stripe.cancel_subscription(customer.subscription_id)
        await deliver_all(stripe_api, fake_stripe, events)
        state = (await stripe_api.call("GET", "/customer", customer.owner)).json()
        assert (state["trialUsed"], state["subscriptionStatus"]) == (True, "canceled")

        await checkout(stripe_api, customer, "business")

        later = fake_stripe.requests_to("POST", "/v1/checkout/sessions")[-1]
        assert "trial_period_days" not in later.params.get("subscription_data", {})

    async def test_over_graphql_with_a_chosen_tier(
        self, stripe_api: Api, fake_stripe: FakeStripe
    ) -> None:
        prices = await sync_tiers(stripe_api)
        customer = await synced_customer(stripe_api)
        body = await stripe_api.graphql(CHECKOUT, customer.owner, tier="Business Plus")
        url = body["data"]["createCheckoutSession"]["url"]
        [session] = fake_stripe.objects("checkout.session")
        assert url == session["url"]
        [request] = fake_stripe.requests_to("POST", "/v1/checkout/sessions")
        assert request.params["line_items"][0]["price"] == prices["business_plus"]

    @pytest.mark.parametrize(
        ("body", "status", "code", "param"),
        [
            ({"tierName": "free"}, 400, "TIER_NOT_PURCHASABLE", "tierName"),
            ({"tierName": "no-such-tier"}, 404, "TIER_NOT_FOUND", "tierName"),
            ({"successURL": "not a url"}, 400, "INVALID_INPUT", "successURL"),
            ({"cancelURL": None}, 400, "INVALID_INPUT", "cancelURL"),
        ],
    )
    async def test_bad_requests(
        self,
        stripe_api: Api,
        fake_stripe: FakeStripe,
        body: dict[str, object],
        status: int,
        code: str,
        param: str,
    ) -> None:
        await sync_tiers(stripe_api)
        customer = await synced_customer(stripe_api)
        request = {"successURL": SUCCESS_URL, "cancelURL": CANCEL_URL, **body}
        response = await stripe_api.call("POST", "/stripe/upgrade", customer.owner, json=request)
        assert assert_error(response, status, code)["param"] == param
        assert fake_stripe.objects("checkout.session") == []

    async def test_a_tier_without_a_price_cannot_be_bought(
        self, stripe_api: Api, fake_stripe: FakeStripe
    ) -> None:
        customer = await synced_customer(stripe_api)  # no catalog sync: no prices
        response = await stripe_api.call(
            "POST",
            "/stripe/upgrade",
            customer.owner,
            json={"successURL": SUCCESS_URL, "cancelURL": CANCEL_URL},
        )
        assert_error(response, 400, "TIER_NOT_PURCHASABLE")

    async def test_only_the_owner(self, stripe_api: Api, fake_stripe: FakeStripe) -> None:
        await sync_tiers(stripe_api)
        customer = await synced_customer(stripe_api)
        member = stripe_api.user()
        await stripe_api.add(customer.owner, member, "user")
        request = {"successURL": SUCCESS_URL, "cancelURL": CANCEL_URL}
        response = await stripe_api.call("POST", "/stripe/upgrade", member, json=request)
        assert_error(response, 403, "FORBIDDEN")
        assert fake_stripe.objects("checkout.session") == []
