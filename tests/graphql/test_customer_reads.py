"""A customer's team, limits and usage as fields of `Customer`: the caller's own through
`customer` and `viewer`, any customer's through `adminCustomer` (billing_admin)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from app.auth.principal import CredentialKind, PlatformRole, Principal
from app.core.errors import CustomerNotFound
from tests.graphql.conftest import GraphQL
from tests.support.api import Caller

READS = """
fragment Reads on Customer {
  id
  members(pageSize: 5) { totalCount items { userId role } }
  invitations { email status }
  limits(serviceName: "ai-api") { featureKey value }
  quotas { serviceName featureKey value }
  usage(serviceName: "ai-api") {
    identifier identifierType features { featureKey currentUsage }
  }
  quotaUsage { customerId features { featureKey currentUsage } }
  overrides { serviceName featureKey value tierValue tierUnlimited }
}
"""
ADMIN_READ = READS + "query ($id: ID!) { adminCustomer(customerId: $id) { ...Reads } }"
OWN_READ = READS + "{ customer { ...Reads } }"
CONSUME = """mutation ($customerId: ID!) { consume(serviceName: "ai-api",
  featureKey: "chat_completions_per_minute", customerId: $customerId, amount: 3) {
    currentUsage } }"""
OVERRIDE = """mutation ($customerId: ID!) { setFeatureOverride(customerId: $customerId,
  serviceName: "ai-api", featureKey: "chat_completions_per_minute", value: 7) { value } }"""
INVITE = 'mutation { addMember(email: "later@example.com") { __typename } }'


def feature(items: list[dict[str, Any]], key: str) -> dict[str, Any]:
    return next(item for item in items if item["featureKey"] == key)


async def customer_with_activity(gql: GraphQL) -> tuple[str, Caller, Caller]:
    """A customer with a member, an invitation, an override and three requests used."""
    owner, member = gql.user(), gql.user()
    customer_id = await gql.customer(owner)
    await gql.add(owner, member, "USER")
    await gql.data(INVITE, owner)
    await gql.data(OVERRIDE, gql.admin(), customerId=customer_id)
    await gql.data(CONSUME, gql.admin(), customerId=customer_id)
    return customer_id, owner, member


async def test_billing_admin_reads_any_customer_in_one_request(gql: GraphQL) -> None:
    customer_id, owner, member = await customer_with_activity(gql)
    read = (await gql.data(ADMIN_READ, gql.admin(), id=customer_id))["adminCustomer"]
    assert read["members"]["totalCount"] == 2
    assert {m["userId"] for m in read["members"]["items"]} == {owner.user_id, member.user_id}
    assert read["invitations"] == [{"email": "later@example.com", "status": "PENDING"}]
    assert feature(read["limits"], "chat_completions_per_minute")["value"] == 7
    assert read["usage"]["identifierType"] == "CUSTOMER"
    assert read["usage"]["identifier"] == customer_id
    assert feature(read["usage"]["features"], "chat_completions_per_minute")["currentUsage"] == 3
    assert read["quotaUsage"]["customerId"] == customer_id
    [override] = read["overrides"]
    assert (override["featureKey"], override["value"]) == ("chat_completions_per_minute", 7)
    assert override["tierUnlimited"] is (override["tierValue"] == -1)


async def test_the_owner_reads_the_same_of_its_own_customer(gql: GraphQL) -> None:
    customer_id, owner, _ = await customer_with_activity(gql)
    own = (await gql.data(OWN_READ, owner))["customer"]
    admin = (await gql.data(ADMIN_READ, gql.admin(), id=customer_id))["adminCustomer"]
    for field in ("members", "invitations", "limits", "quotas", "quotaUsage"):
        assert own[field] == admin[field], field
    assert own["usage"]["identifierType"] == "USER"
    assert own["usage"]["features"] == admin["usage"]["features"]
    assert own["overrides"] is None  # billing_admin's alone


@pytest.mark.parametrize("role", ["USER", "ADMIN"])
async def test_what_a_role_may_not_list_is_null_not_an_error(gql: GraphQL, role: str) -> None:
    owner, member = gql.user(), gql.user()
    await gql.customer(owner)
    await gql.add(owner, member, role)
    own = (await gql.data(OWN_READ, member))["customer"]
    listed = role == "ADMIN"
    assert (own["members"] is not None, own["invitations"] is not None) == (listed, listed)
    assert own["limits"] and own["quotas"]
    assert own["usage"]["identifier"] == member.user_id


async def test_a_member_naming_another_customer_reads_nothing_of_it(gql: GraphQL) -> None:
    """Over GraphQL a member's `Customer` is only ever its own; the services refuse
    another customer's id from any caller but billing_admin, as if it did not exist."""
    owner = gql.user()
    await gql.customer(owner)
    other = uuid.UUID(await gql.customer(gql.user(), name="Other"))
    principal = Principal("127.0.0.1", CredentialKind.BEARER, uuid.UUID(owner.user_id))
    services = gql.api.container.services
    with pytest.raises(CustomerNotFound):
        await services.reports.usage(principal, customer_id=other)
    with pytest.raises(CustomerNotFound):
        await services.reports.limits(principal, customer_id=other)
    async with gql.api.container.db.transaction(write=False) as session:
        with pytest.raises(CustomerNotFound):
            await services.members.invitations(session, principal, customer_id=other)
        with pytest.raises(CustomerNotFound):
            await services.reports.quota_usage(session, principal, customer_id=other)


async def test_an_unknown_customer_is_not_found(gql: GraphQL) -> None:
    error = await gql.error(ADMIN_READ, gql.admin(), id="00000000-0000-4000-8000-000000000000")
    assert error["extensions"]["code"] == "CUSTOMER_NOT_FOUND"


async def test_a_billing_admin_on_its_own_team_reads_it_as_its_role_allows(gql: GraphQL) -> None:
    """Through `customer` its role's view, like the root queries; through `adminCustomer`
    the admin's."""
    owner, operator = gql.user(), gql.user(PlatformRole.BILLING_ADMIN)
    customer_id = await gql.customer(owner)
    await gql.add(owner, operator, "USER")
    own = (await gql.data(OWN_READ, operator))["customer"]
    assert (own["members"], own["invitations"]) == (None, None)
    assert own["usage"]["identifierType"] == "USER"
    admin = (await gql.data(ADMIN_READ, operator, id=customer_id))["adminCustomer"]
    assert admin["members"]["totalCount"] == 2
    assert admin["usage"]["identifierType"] == "CUSTOMER"
