"""Without Stripe settings the service runs normally and the Stripe endpoints answer 503
`STRIPE_NOT_CONFIGURED` (SPEC §5.6)."""

from __future__ import annotations

from tests.rest.test_errors import assert_error
from tests.support.api import Api


async def test_stripe_endpoints_answer_503(api: Api) -> None:
    api.expect_server_errors = True
    owner = api.user()
    customer = await api.customer(owner)
    assert customer["gcid"] is None
    upgrade = {"successURL": "https://app.example/ok", "cancelURL": "https://app.example/no"}
    responses = [
        await api.call("GET", "/stripe/customer", owner),
        await api.call("POST", "/stripe/upgrade", owner, json=upgrade),
        await api.call(
            "POST", "/stripe/webhook", content=b"{}", headers={"Stripe-Signature": "t=1,v1=x"}
        ),
    ]
    for response in responses:
        assert_error(response, 503, "STRIPE_NOT_CONFIGURED")


async def test_graphql_sessions_answer_the_same_code(api: Api) -> None:
    owner = api.user()
    await api.customer(owner)
    for mutation in (
        "mutation { createPortalSession { url } }",
        'mutation { createCheckoutSession(successUrl: "https://a.example/", '
        'cancelUrl: "https://a.example/") { url } }',
    ):
        body = await api.graphql(mutation, owner)
        extensions = body["errors"][0]["extensions"]
        assert (extensions["code"], extensions["status"]) == ("STRIPE_NOT_CONFIGURED", 503)


async def test_the_billing_status_says_so(api: Api) -> None:
    await api.customer(api.user())
    response = await api.call("GET", "/admin/billing/status", api.admin())
    assert response.status_code == 200, response.text
    status = response.json()
    assert status["stripeConfigured"] is False
    assert status["webhookLastReceivedAt"] is None
    assert status["customers"] == 1
    assert status["subscriptionsByStatus"] == {
        "none": 1,
        "trialing": 0,
        "active": 0,
        "past_due": 0,
        "canceled": 0,
        "unpaid": 0,
        "incomplete": 0,
    }
    assert status["tiers"]["free"] == 1
    forbidden = await api.call("GET", "/admin/billing/status", api.user())
    assert_error(forbidden, 403, forbidden.json()["error"]["code"])
