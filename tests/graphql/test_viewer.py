"""The `viewer` query: who the caller is, its customer and role, and what it may do."""

from __future__ import annotations

from typing import Any

import pytest

from app.auth.principal import PlatformRole
from tests.graphql.conftest import GraphQL
from tests.support.api import Api
from tests.support.stripe import synced_customer

VIEWER = """{ viewer { userId email platformRoles role customer { id name memberCount }
  canManageMembers canManageBilling canManageApiKeys paymentsConfigured } }"""


def permissions(viewer: dict[str, Any]) -> tuple[bool, bool, bool]:
    return (viewer["canManageMembers"], viewer["canManageBilling"], viewer["canManageApiKeys"])


async def test_a_user_without_a_customer_gets_null_and_no_error(gql: GraphQL) -> None:
    caller = gql.user(email="new@example.com")
    viewer = (await gql.data(VIEWER, caller))["viewer"]
    assert viewer["userId"] == caller.user_id
    assert viewer["email"] == "new@example.com"
    assert (viewer["customer"], viewer["role"], viewer["platformRoles"]) == (None, None, [])
    assert permissions(viewer) == (False, False, True)
    assert viewer["paymentsConfigured"] is False


@pytest.mark.parametrize(
    ("role", "expected"),
    [("OWNER", (True, True, True)), ("ADMIN", (True, False, True)), ("USER", (False, False, True))],
)
async def test_each_role_is_told_what_it_may_do(
    gql: GraphQL, role: str, expected: tuple[bool, bool, bool]
) -> None:
    owner = gql.user()
    customer_id = await gql.customer(owner)
    caller = owner
    if role != "OWNER":
        caller = gql.user()
        await gql.add(owner, caller, role)
    viewer = (await gql.data(VIEWER, caller))["viewer"]
    assert viewer["role"] == role
    assert viewer["customer"]["id"] == customer_id
    assert permissions(viewer) == expected


async def test_what_it_may_do_is_what_the_operations_allow(gql: GraphQL) -> None:
    """A plain user is told it may not manage members, and indeed may not."""
    owner, user = gql.user(), gql.user()
    await gql.customer(owner)
    await gql.add(owner, user, "USER")
    assert (await gql.data(VIEWER, user))["viewer"]["canManageMembers"] is False
    error = await gql.error("{ members { totalCount } }", user)
    assert error["extensions"]["code"] == "FORBIDDEN"


async def test_platform_roles(gql: GraphQL) -> None:
    viewer = (await gql.data(VIEWER, gql.user(PlatformRole.BILLING_ADMIN)))["viewer"]
    assert viewer["platformRoles"] == ["BILLING_ADMIN"]


async def test_anonymous_callers_must_authenticate(gql: GraphQL) -> None:
    error = await gql.error(VIEWER)
    assert error["extensions"]["code"] == "AUTHENTICATION_REQUIRED"


async def test_payments_configured_with_stripe(stripe_api: Api) -> None:
    customer = await synced_customer(stripe_api)
    body = await stripe_api.graphql(VIEWER, customer.owner)
    assert body["data"]["viewer"]["paymentsConfigured"] is True
    assert body["data"]["viewer"]["canManageBilling"] is True
