"""Who may open the portal, start a checkout and read the billing status (SPEC §3.2, §5.6,
§5.7), over both transports, with the same outcome on each."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.api import Api, Caller
from tests.support.fake_stripe import FakeStripe
from tests.support.operations import ADMIN_ONLY, ROLES, World
from tests.support.stripe import CANCEL_URL, SUCCESS_URL, sync_tiers

pytestmark = pytest.mark.backends("sqlite")

# The outsider owns another customer: its own portal and checkout are allowed.
OWNER_ONLY = {
    "owner": 200,
    "admin": 403,
    "user": 403,
    "outsider": 200,
    "anonymous": 401,
    "billing_admin": 404,
}


async def rest_portal(api: Api, caller: Caller) -> tuple[int, Any]:
    response = await api.call("GET", "/stripe/customer", caller)
    return _rest(response)


async def graphql_portal(api: Api, caller: Caller) -> tuple[int, Any]:
    return _graphql(await api.graphql("mutation { createPortalSession { url } }", caller))


async def rest_checkout(api: Api, caller: Caller) -> tuple[int, Any]:
    body = {"successURL": SUCCESS_URL, "cancelURL": CANCEL_URL, "tierName": "pro"}
    return _rest(await api.call("POST", "/stripe/upgrade", caller, json=body))


async def graphql_checkout(api: Api, caller: Caller) -> tuple[int, Any]:
    query = """mutation($ok: String!, $no: String!) {
      createCheckoutSession(successUrl: $ok, cancelUrl: $no, tierName: "pro") { url } }"""
    return _graphql(await api.graphql(query, caller, ok=SUCCESS_URL, no=CANCEL_URL))


async def rest_status(api: Api, caller: Caller) -> tuple[int, Any]:
    status, data = _rest(await api.call("GET", "/admin/billing/status", caller))
    if status == 200:
        data = (data["customers"], data["subscriptionsByStatus"]["none"])
    return status, data


async def graphql_status(api: Api, caller: Caller) -> tuple[int, Any]:
    query = "{ billingStatus { customers subscriptionsByStatus { status customers } } }"
    status, data = _graphql(await api.graphql(query, caller))
    if status == 200:
        counts = {row["status"]: row["customers"] for row in data["subscriptionsByStatus"]}
        data = (data["customers"], counts["NONE"])
    return status, data


def _rest(response: Any) -> tuple[int, Any]:
    body = response.json()
    if response.status_code >= 400:
        return response.status_code, body["error"]["code"]
    return response.status_code, body


def _graphql(body: dict[str, Any]) -> tuple[int, Any]:
    if body.get("errors"):
        extensions = body["errors"][0]["extensions"]
        return extensions["status"], extensions["code"]
    (data,) = body["data"].values()
    return 200, data


OPERATIONS = {
    "portal": (rest_portal, graphql_portal, OWNER_ONLY),
    "checkout": (rest_checkout, graphql_checkout, OWNER_ONLY),
    "billing status": (rest_status, graphql_status, ADMIN_ONLY),
}


@pytest.mark.parametrize("operation", list(OPERATIONS))
async def test_who_may_and_the_same_answer_on_both_transports(
    stripe_api: Api, fake_stripe: FakeStripe, operation: str
) -> None:
    await sync_tiers(stripe_api)
    world = await World.build(stripe_api)
    over_rest, over_graphql, expected = OPERATIONS[operation]
    for role in ROLES:
        caller = world.callers[role]
        rest_status_code, rest_data = await over_rest(stripe_api, caller)
        graphql_status_code, graphql_data = await over_graphql(stripe_api, caller)
        assert rest_status_code == expected[role], (role, rest_data)
        assert graphql_status_code == rest_status_code, (role, graphql_data)
        if rest_status_code >= 400:
            assert graphql_data == rest_data, role  # the same error code
        elif operation == "billing status":
            assert graphql_data == rest_data, role
        else:  # a new Stripe session each time: the same kind of page
            rest_url = next(iter(rest_data.values()))
            graphql_url = graphql_data["url"]
            assert rest_url.rsplit("/", 1)[0] == graphql_url.rsplit("/", 1)[0], role
