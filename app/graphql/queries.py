"""Queries: each authenticates, opens one read transaction and calls one service method."""

from __future__ import annotations

import strawberry

from app.core.pagination import DEFAULT_PAGE_SIZE
from app.customers.schemas import SubscriptionStatus as DomainStatus
from app.graphql.arguments import page_request, parse_id
from app.graphql.context import Info
from app.graphql.enums import SubscriptionStatus
from app.graphql.types import ApiKey, Customer, CustomerSummary, Invitation, Member, Page, Tier


@strawberry.type
class Query:
    @strawberry.field(description="The caller's customer (any member).")
    async def customer(self, info: Info) -> Customer | None:
        principal = await info.context.principal()
        async with info.context.read() as session:
            details = await info.context.services.customers.get(session, principal)
        return Customer.of(details)

    @strawberry.field(description="Members of the caller's team (owner, admin).")
    async def members(
        self, info: Info, page: int = 1, page_size: int = DEFAULT_PAGE_SIZE
    ) -> Page[Member] | None:
        principal = await info.context.principal()
        request = page_request(page, page_size)
        async with info.context.read() as session:
            members = await info.context.services.members.list(session, principal, page=request)
        return Page.of(members, Member.of)

    @strawberry.field(description="Pending invitations of the caller's team (owner, admin).")
    async def invitations(self, info: Info) -> list[Invitation] | None:
        principal = await info.context.principal()
        async with info.context.read() as session:
            rows = await info.context.services.members.invitations(session, principal)
        return [Invitation.of(row) for row in rows]

    @strawberry.field(description="The caller's API keys.")
    async def api_keys(self, info: Info) -> list[ApiKey] | None:
        principal = await info.context.principal()
        async with info.context.read() as session:
            rows = await info.context.services.api_keys.list(session, principal)
        return [ApiKey.of(row) for row in rows]

    @strawberry.field(description="Every customer (billing_admin).")
    async def admin_customers(
        self,
        info: Info,
        page: int = 1,
        page_size: int = DEFAULT_PAGE_SIZE,
        tier_name: str | None = None,
        status: SubscriptionStatus | None = None,
    ) -> Page[CustomerSummary] | None:
        principal = await info.context.principal()
        request = page_request(page, page_size)
        wanted = DomainStatus(status.value) if status is not None else None
        async with info.context.read() as session:
            customers = await info.context.services.admin.list_customers(
                session, principal, page=request, tier_name=tier_name, status=wanted
            )
        return Page.of(customers, CustomerSummary.of)

    @strawberry.field(description="Any customer's full record (billing_admin).")
    async def admin_customer(self, info: Info, customer_id: strawberry.ID) -> Customer | None:
        principal = await info.context.principal()
        customer = parse_id(customer_id, "customerId")
        async with info.context.read() as session:
            details = await info.context.services.admin.get_customer(
                session, principal, customer_id=customer
            )
        return Customer.of(details)

    @strawberry.field(description="Any customer's members (billing_admin).")
    async def admin_customer_members(
        self,
        info: Info,
        customer_id: strawberry.ID,
        page: int = 1,
        page_size: int = DEFAULT_PAGE_SIZE,
    ) -> Page[Member] | None:
        principal = await info.context.principal()
        customer, request = parse_id(customer_id, "customerId"), page_request(page, page_size)
        async with info.context.read() as session:
            members = await info.context.services.admin.list_members(
                session, principal, customer_id=customer, page=request
            )
        return Page.of(members, Member.of)

    @strawberry.field(description="Every tier, or only the active or inactive ones (billing_admin).")
    async def tiers(self, info: Info, active: bool | None = None) -> list[Tier] | None:
        principal = await info.context.principal()
        async with info.context.read() as session:
            rows = await info.context.services.tiers.list(session, principal, active=active)
        return [Tier.of(row) for row in rows]
