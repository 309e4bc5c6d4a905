"""Queries: each authenticates, opens one read transaction and calls one service method."""

from __future__ import annotations

import strawberry

from app.admin.service import DEFAULT_SORT
from app.core.inputs import parse_uuid
from app.core.pagination import DEFAULT_PAGE_SIZE, PageRequest
from app.graphql import alerts, audit, billing, events, usage_resolvers, viewer, webhooks
from app.graphql.context import Info
from app.graphql.customer import Customer, customer_of, invitations_of, members_of
from app.graphql.enums import CustomerSort, SubscriptionStatus
from app.graphql.error_codes import ErrorCode, error_code
from app.graphql.error_codes import error_codes as all_error_codes
from app.graphql.types import ApiKey, CustomerSummary, Invitation, Member, Page, Tier


async def customer(info: Info) -> Customer:
    principal = await info.context.principal(info.context.services.customers.get)
    async with info.context.read() as session:
        details = await info.context.services.customers.get(session, principal)
    return customer_of(details)


async def members(info: Info, page: int = 1, page_size: int = DEFAULT_PAGE_SIZE) -> Page[Member]:
    return await members_of(info, None, page, page_size)


async def invitations(info: Info) -> list[Invitation]:
    return await invitations_of(info, None)


async def api_keys(info: Info) -> list[ApiKey]:
    principal = await info.context.principal(info.context.services.api_keys.list)
    async with info.context.read() as session:
        rows = await info.context.services.api_keys.list(session, principal)
    return [ApiKey.of(row) for row in rows]


async def admin_customers(
    info: Info,
    page: int = 1,
    page_size: int = DEFAULT_PAGE_SIZE,
    tier_name: str | None = None,
    status: SubscriptionStatus | None = None,
    search: str | None = None,
    sort: CustomerSort = DEFAULT_SORT,
) -> Page[CustomerSummary]:
    principal = await info.context.principal(info.context.services.admin.list_customers)
    request = PageRequest(page, page_size)
    async with info.context.read() as session:
        rows = await info.context.services.admin.list_customers(
            session,
            principal,
            page=request,
            tier_name=tier_name,
            status=status,
            search=search,
            sort=sort,
        )
    return Page.of(rows, CustomerSummary.of)


async def admin_customer(info: Info, customer_id: strawberry.ID) -> Customer:
    principal = await info.context.principal(info.context.services.admin.get_customer)
    customer_uuid = parse_uuid(customer_id, "customer_id")
    async with info.context.read() as session:
        details = await info.context.services.admin.get_customer(
            session, principal, customer_id=customer_uuid
        )
    return customer_of(details, admin_view=True)


async def admin_customer_members(
    info: Info, customer_id: strawberry.ID, page: int = 1, page_size: int = DEFAULT_PAGE_SIZE
) -> Page[Member]:
    principal = await info.context.principal(info.context.services.admin.list_members)
    customer_uuid, request = parse_uuid(customer_id, "customer_id"), PageRequest(page, page_size)
    async with info.context.read() as session:
        rows = await info.context.services.admin.list_members(
            session, principal, customer_id=customer_uuid, page=request
        )
    return Page.of(rows, Member.of)


async def tiers(info: Info, active: bool | None = None) -> list[Tier]:
    principal = await info.context.principal(info.context.services.tiers.list)
    async with info.context.read() as session:
        rows = await info.context.services.tiers.list(session, principal, active=active)
    return [Tier.of(row) for row in rows]


async def plans(info: Info) -> list[Tier]:
    principal = await info.context.principal(info.context.services.tiers.plans)
    async with info.context.read() as session:
        rows = await info.context.services.tiers.plans(session, principal)
    return [Tier.of(row) for row in rows]


def error_codes() -> list[ErrorCode]:
    return [error_code(code) for code in all_error_codes()]


@strawberry.type
class Query:
    error_codes = strawberry.field(
        resolver=error_codes,
        description="Every code an error's `extensions.code` may hold (anyone).",
    )
    viewer = strawberry.field(
        resolver=viewer.viewer,
        description="Who the caller is, its customer and role, and what it may do.",
    )
    customer = strawberry.field(resolver=customer, description="The caller's customer.")
    members = strawberry.field(
        resolver=members, description="Members of the caller's team (owner, admin)."
    )
    invitations = strawberry.field(
        resolver=invitations, description="Pending invitations of the caller's team (owner, admin)."
    )
    api_keys = strawberry.field(resolver=api_keys, description="The caller's API keys.")
    admin_customers = strawberry.field(
        resolver=admin_customers,
        description=(
            "Every customer (billing_admin); `search` finds part of a name or e-mail, or an id."
        ),
    )
    admin_customer = strawberry.field(
        resolver=admin_customer, description="Any customer's full record (billing_admin)."
    )
    admin_customer_members = strawberry.field(
        resolver=admin_customer_members, description="Any customer's members (billing_admin)."
    )
    tiers = strawberry.field(
        resolver=tiers,
        description="Every tier, or only the active or inactive ones (billing_admin).",
    )
    plans = strawberry.field(
        resolver=plans,
        description="The active tiers a customer can be on, the default one included, in "
        "their order (any signed-in user).",
    )
    billing_status = strawberry.field(
        resolver=billing.billing_status,
        description="Stripe configuration, webhooks and subscriptions (billing_admin).",
    )
    limits = strawberry.field(
        resolver=usage_resolvers.limits,
        description="The customer's rate limits, of one service or all.",
    )
    limit = strawberry.field(
        resolver=usage_resolvers.limit, description="The customer's rate limit of one feature."
    )
    ip_limits = strawberry.field(
        resolver=usage_resolvers.ip_limits, description="Rate limits of the public tier (anyone)."
    )
    usage = strawberry.field(
        resolver=usage_resolvers.usage, description="The team's usage of its rate limits."
    )
    ip_usage = strawberry.field(
        resolver=usage_resolvers.ip_usage,
        description="The caller's address's usage of rate limits (anyone).",
    )
    quotas = strawberry.field(
        resolver=usage_resolvers.quotas, description="The customer's quotas, of one service or all."
    )
    quota = strawberry.field(
        resolver=usage_resolvers.quota, description="The customer's quota of one feature."
    )
    quota_usage = strawberry.field(
        resolver=usage_resolvers.quota_usage, description="The team's usage of its quotas."
    )
    usage_events = strawberry.field(
        resolver=events.usage_events,
        description="The team's granular usage events, newest first (owner, admin; "
        "billing_admin for any customer).",
    )
    audit_trail = strawberry.field(
        resolver=audit.audit_trail,
        description="The audit trail of the caller's customer, newest first (owner, admin).",
    )
    admin_audit_trail = strawberry.field(
        resolver=audit.admin_audit_trail,
        description="Any customer's audit trail, newest first, also once the customer is "
        "deleted (billing_admin).",
    )
    platform_audit_trail = strawberry.field(
        resolver=audit.platform_audit_trail,
        description="The platform's audit trail: catalog and tier changes, API keys of users "
        "with no customer; newest first (billing_admin).",
    )
    webhook_endpoints = strawberry.field(
        resolver=webhooks.webhook_endpoints,
        description="The team's webhook endpoints (owner, admin; billing_admin for any customer).",
    )
    webhook_endpoint = strawberry.field(
        resolver=webhooks.webhook_endpoint,
        description="One webhook endpoint of the team (owner, admin; billing_admin).",
    )
    webhook_delivery_attempts = strawberry.field(
        resolver=webhooks.webhook_delivery_attempts,
        description="A webhook endpoint's delivery log, newest first (owner, admin; "
        "billing_admin).",
    )
    alert_thresholds = strawberry.field(
        resolver=alerts.alert_thresholds,
        description="The customer's usage alert thresholds (owner, admin; billing_admin for "
        "any customer).",
    )
    alerts = strawberry.field(
        resolver=alerts.alerts,
        description="The customer's usage alerts, newest first (owner, admin; billing_admin "
        "for any customer).",
    )
