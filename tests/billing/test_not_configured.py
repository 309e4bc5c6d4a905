"""Without Stripe settings the service runs normally and the Stripe endpoints answer 501
`STRIPE_NOT_CONFIGURED` (SPEC §5.6), after who the caller is (SPEC §7)."""

from __future__ import annotations

from tests.rest.test_errors import assert_error
from tests.support.api import Api

UPGRADE = {"successURL": "https://app.example/ok", "cancelURL": "https://app.example/no"}
PORTAL = "mutation { createPortalSession { url } }"
CHECKOUT = (
    'mutation { createCheckoutSession(successUrl: "https://a.example/", '
    'cancelUrl: "https://a.example/") { url } }'
)


async def test_stripe_endpoints_answer_501(api: Api) -> None:
    api.expect_server_errors = True
    owner = api.user()
    customer = await api.customer(owner)
    assert customer["gcid"] is None
    responses = [
        await api.call("GET", "/stripe/customer", owner),
        await api.call("POST", "/stripe/upgrade", owner, json=UPGRADE),
        await api.call(
            "POST", "/stripe/webhook", content=b"{}", headers={"Stripe-Signature": "t=1,v1=x"}
        ),
    ]
    for response in responses:
        assert_error(response, 501, "STRIPE_NOT_CONFIGURED")


async def test_graphql_sessions_answer_the_same_code(api: Api) -> None:
    owner = api.user()
    await api.customer(owner)
    for mutation in (PORTAL, CHECKOUT):
        body = await api.graphql(mutation, owner)
        extensions = body["errors"][0]["extensions"]
        assert (extensions["code"], extensions["status"]) == ("STRIPE_NOT_CONFIGURED", 501)


async def test_who_the_caller_is_comes_first_on_rest(api: Api) -> None:
    team = await api.team("user")
    member, stranger = team.members[0], api.user()
    for caller, status in ((member, 403), (stranger, 404)):
        responses = [
            await api.call("GET", "/stripe/customer", caller),
            await api.call("POST", "/stripe/upgrade", caller, json=UPGRADE),
        ]
        for response in responses:
            assert response.status_code == status, response.text
            assert response.json()["error"]["code"] != "STRIPE_NOT_CONFIGURED"
    not_a_customer = await api.call("GET", "/stripe/customer", stranger)
    assert_error(not_a_customer, 404, "NO_CUSTOMER")


async def test_who_the_caller_is_comes_first_on_graphql(api: Api) -> None:
    team = await api.team("user")
    member, stranger = team.members[0], api.user()
    for caller, status in ((member, 403), (stranger, 404)):
        for mutation in (PORTAL, CHECKOUT):
            body = await api.graphql(mutation, caller)
            extensions = body["errors"][0]["extensions"]
            assert extensions["status"] == status, body
            assert extensions["code"] != "STRIPE_NOT_CONFIGURED"


async def test_input_comes_before_availability(api: Api) -> None:
    owner = api.user()
    await api.customer(owner)
    unknown = {**UPGRADE, "tierName": "no-such-tier"}
    response = await api.call("POST", "/stripe/upgrade", owner, json=unknown)
    assert response.status_code == 404, response.text
    assert response.json()["error"]["code"] != "STRIPE_NOT_CONFIGURED"


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
