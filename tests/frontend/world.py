"""One customer with a member of every dashboard role, the callers around it, and the
operations of the documents sent as the dashboard sends them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from app.auth.principal import PlatformRole
from tests.frontend.documents import documents
from tests.graphql.conftest import GraphQL
from tests.support.api import Caller

# The callers a dashboard meets: the three team roles, a signed-in user with no customer,
# and billing_admin with no customer and as a plain member of a team.
ROLES = ("owner", "admin", "user", "no_customer", "billing_admin", "billing_admin_member")
TEAM_ROLES = {"owner": "OWNER", "admin": "ADMIN", "user": "USER", "billing_admin_member": "USER"}
INVITED = "invited@acme.example"
USED_CHATS = 3  # chat completions the owner used, in the current minute
HELD_INSTANCES = 2  # compute instances the customer holds

CONSUME = """mutation ($userId: ID!, $amount: Int!) { consume(serviceName: "ai-api",
  featureKey: "chat_completions_per_minute", userId: $userId, amount: $amount) {
    currentUsage } }"""
ALLOCATE = """mutation ($customerId: ID!, $amount: Int!) { allocateQuota(
  serviceName: "compute-api", featureKey: "max_instances", customerId: $customerId,
  amount: $amount) { currentUsage } }"""
SET_TIER = """mutation ($customerId: ID!) {
  setCustomerTier(customerId: $customerId, tierName: "enterprise") { id } }"""
INVITE = "mutation ($email: String!) { addMember(email: $email) { ... on Invitation { id } } }"


@dataclass
class World:
    """Acme, on the enterprise tier (room for everyone): its owner, an admin, a user and
    billing_admin as a user; a pending invitation; chat completions used by the owner and
    instances held. Globex, another customer. A signed-in user with no customer, and
    billing_admin with none."""

    gql: GraphQL
    callers: dict[str, Caller]
    customer_id: str
    invitation_id: str
    other_customer_id: str
    other_owner: Caller
    state: dict[str, Any] = field(default_factory=dict)  # what a table's steps hand on

    @classmethod
    async def build(cls, gql: GraphQL) -> World:
        callers = {
            "owner": gql.user(email="owner@acme.example"),
            "admin": gql.user(email="admin@acme.example"),
            "user": gql.user(email="user@acme.example"),
            "no_customer": gql.user(email="newcomer@example.com"),
            "billing_admin": gql.user(PlatformRole.BILLING_ADMIN, email="ops@example.com"),
            "billing_admin_member": gql.user(
                PlatformRole.BILLING_ADMIN, email="ops-member@acme.example"
            ),
        }
        owner, operator = callers["owner"], gql.admin()
        customer_id = await gql.customer(owner, name="Acme")
        await gql.data(SET_TIER, operator, customerId=customer_id)
        for role, team_role in TEAM_ROLES.items():
            if team_role != "OWNER":
                await gql.add(owner, callers[role], team_role)
        invited = await gql.data(INVITE, owner, email=INVITED)
        other_owner = gql.user(email="owner@globex.example")
        other_customer_id = await gql.customer(other_owner, name="Globex")
        service = gql.api.service()
        await gql.data(CONSUME, service, userId=owner.user_id, amount=USED_CHATS)
        await gql.data(ALLOCATE, service, customerId=customer_id, amount=HELD_INSTANCES)
        return cls(
            gql, callers, customer_id, invited["addMember"]["id"], other_customer_id, other_owner
        )

    def id_of(self, role: str) -> str:
        return self.callers[role].user_id

    async def run(
        self, operation: str, role: str, variables: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """One operation of the documents, sent as the client sends it, by `role`."""
        request = documents().request(operation)
        body: dict[str, Any] = await self.gql.execute(
            request, self.callers[role], **(variables or {})
        )
        return body

    async def data(
        self, operation: str, role: str, variables: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        body = await self.run(operation, role, variables)
        assert "errors" not in body, body
        data: dict[str, Any] = body["data"]
        return data
