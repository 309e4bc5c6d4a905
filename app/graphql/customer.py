"""The `Customer` type, with its team, limits and usage, and the results that return it.

Wherever a customer is reached — the caller's own (`customer`, `viewer.customer`, a
mutation's result) or any customer for billing_admin (`adminCustomer` and the admin
mutations) — its team data is one selection away, read with the same services and rules
as the root queries: the caller's own as its role allows (a billing_admin on its own team
included), any customer's as billing_admin. A dashboard's home is one request, and an
admin console's customer page another. What a role may not read is null rather than an
error (`viewer` says in advance which).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable
from datetime import datetime
from typing import TypeVar

import strawberry

from app.core.errors import Forbidden
from app.core.pagination import DEFAULT_PAGE_SIZE, PageRequest
from app.customers.schemas import CustomerDetails, CustomerProfile
from app.customers.schemas import OwnershipTransfer as OwnershipTransferResult
from app.graphql import alerts, usage_resolvers
from app.graphql.alerts import Alert, AlertThresholds, Kind
from app.graphql.audit import Action, AuditRecord, Since, Until, trail_of
from app.graphql.catalog import FeatureOverride
from app.graphql.context import Info
from app.graphql.domain_types import fields_of
from app.graphql.enums import SubscriptionStatus
from app.graphql.types import Invitation, Member, Page, Tier
from app.graphql.usage_types import Limit, Quota, QuotaUsage, Usage
from app.graphql.webhooks import WebhookEndpoint, endpoints_page

ROLE_MAY_NOT = "Null when the caller's role may not list them (`viewer.canManageMembers`)."


def _id(value: object) -> strawberry.ID:
    return strawberry.ID(str(value))


def _uuid(root: Customer) -> uuid.UUID:
    return uuid.UUID(str(root.id))


def _named(root: Customer) -> uuid.UUID | None:
    """The customer to name to the services: none for the caller's own (its role's rules),
    this one when billing_admin reached it as an admin."""
    return _uuid(root) if root.admin_view else None


T = TypeVar("T")


async def _unless_forbidden(read: Awaitable[T]) -> T | None:
    """What the caller's role may not read is null rather than an error, as `viewer` says
    beforehand."""
    try:
        return await read
    except Forbidden:
        return None


async def members_of(
    info: Info, customer_id: uuid.UUID | None, page: int, page_size: int
) -> Page[Member]:
    """The caller's team's members (`customer_id` None), or the team billing_admin names."""
    members = info.context.services.members
    principal = await info.context.principal(members.list)
    request = PageRequest(page, page_size)
    async with info.context.read() as session:
        rows = await members.list(session, principal, page=request, customer_id=customer_id)
    return Page.of(rows, Member.of)


async def invitations_of(info: Info, customer_id: uuid.UUID | None) -> list[Invitation]:
    members = info.context.services.members
    principal = await info.context.principal(members.invitations)
    async with info.context.read() as session:
        rows = await members.invitations(session, principal, customer_id=customer_id)
    return [Invitation.of(row) for row in rows]


async def _members(
    root: strawberry.Parent[Customer],
    info: Info,
    page: int = 1,
    page_size: int = DEFAULT_PAGE_SIZE,
) -> Page[Member] | None:
    return await _unless_forbidden(members_of(info, _named(root), page, page_size))


async def _invitations(root: strawberry.Parent[Customer], info: Info) -> list[Invitation] | None:
    return await _unless_forbidden(invitations_of(info, _named(root)))


async def _audit_trail(
    root: strawberry.Parent[Customer],
    info: Info,
    action: Action = None,
    actor_user_id: strawberry.ID | None = None,
    since: Since = None,
    until: Until = None,
    page: int = 1,
    page_size: int = DEFAULT_PAGE_SIZE,
) -> Page[AuditRecord] | None:
    wanted = (action, actor_user_id, since, until)
    return await _unless_forbidden(trail_of(info, _named(root), *wanted, page, page_size))


async def _webhook_endpoints(
    root: strawberry.Parent[Customer],
    info: Info,
    page: int = 1,
    page_size: int = DEFAULT_PAGE_SIZE,
) -> Page[WebhookEndpoint] | None:
    return await _unless_forbidden(endpoints_page(info, _named(root), page, page_size))


async def _alert_thresholds(
    root: strawberry.Parent[Customer], info: Info
) -> AlertThresholds | None:
    return await _unless_forbidden(alerts.thresholds_of(info, _named(root)))


async def _alerts(
    root: strawberry.Parent[Customer],
    info: Info,
    kind: Kind = None,
    service_name: str | None = None,
    feature_key: str | None = None,
    since: Since = None,
    until: Until = None,
    page: int = 1,
    page_size: int = DEFAULT_PAGE_SIZE,
) -> Page[Alert] | None:
    wanted = (kind, service_name, feature_key, since, until)
    return await _unless_forbidden(alerts.alerts_of(info, _named(root), *wanted, page, page_size))


async def _limits(
    root: strawberry.Parent[Customer], info: Info, service_name: str | None = None
) -> list[Limit]:
    return await usage_resolvers.limits_of(info, service_name, _named(root))


async def _quotas(
    root: strawberry.Parent[Customer], info: Info, service_name: str | None = None
) -> list[Quota]:
    return await usage_resolvers.quotas_of(info, service_name, _named(root))


async def _usage(
    root: strawberry.Parent[Customer], info: Info, service_name: str | None = None
) -> Usage:
    return await usage_resolvers.usage_of(info, service_name, _named(root))


async def _quota_usage(root: strawberry.Parent[Customer], info: Info) -> QuotaUsage:
    return await usage_resolvers.quota_usage_of(info, _named(root))


async def _overrides(root: strawberry.Parent[Customer], info: Info) -> list[FeatureOverride] | None:
    catalog = info.context.services.catalog
    try:
        principal = await info.context.principal(catalog.overrides)
    except Forbidden:  # billing_admin's alone
        return None
    async with info.context.read() as session:
        views = await catalog.overrides(session, principal, customer_id=_uuid(root))
    return [FeatureOverride.of(view) for view in views]


@strawberry.experimental.pydantic.type(
    model=CustomerProfile,
    all_fields=True,
    description="A billing account; its team shares one tier.",
)
class Customer:
    id: strawberry.ID
    gcid: str | None = strawberry.field(
        description="The Stripe customer id; null until Stripe knows the customer."
    )
    tier: Tier
    subscription_status: SubscriptionStatus
    subscription_enabled: bool
    trial_used: bool
    created_at: datetime
    member_count: int
    seats_used: int = strawberry.field(
        description="Seats taken: the members and the pending invitations."
    )
    owner_user_id: strawberry.ID
    # Reached by billing_admin as an admin (`adminCustomer`, the admin mutations). Not
    # annotated, so neither a dataclass field nor one of the schema's.
    admin_view = False

    members: Page[Member] | None = strawberry.field(
        resolver=_members, description=f"The team's members. {ROLE_MAY_NOT}"
    )
    invitations: list[Invitation] | None = strawberry.field(
        resolver=_invitations, description=f"The team's pending invitations. {ROLE_MAY_NOT}"
    )
    audit_trail: Page[AuditRecord] | None = strawberry.field(
        resolver=_audit_trail,
        description="What happened to the account, newest first: its chain of the audit "
        "trail. Null when the caller's role may not read it (the roles that may list "
        "members may: `viewer.canManageMembers`).",
    )
    webhook_endpoints: Page[WebhookEndpoint] | None = strawberry.field(
        resolver=_webhook_endpoints,
        description="Where the team's events are sent. Null when the caller's role may not "
        "manage them (`viewer.canManageWebhooks`).",
    )
    alert_thresholds: AlertThresholds | None = strawberry.field(
        resolver=_alert_thresholds,
        description="The thresholds its usage alerts at. Null when the caller's role may not "
        "read them (the roles that may list members may: `viewer.canManageMembers`).",
    )
    alerts: Page[Alert] | None = strawberry.field(
        resolver=_alerts,
        description="Its usage alerts, newest first. Null when the caller's role may not "
        "read them (the roles that may list members may: `viewer.canManageMembers`).",
    )
    limits: list[Limit] = strawberry.field(
        resolver=_limits, description="The customer's rate limits, of one service or all."
    )
    quotas: list[Quota] = strawberry.field(
        resolver=_quotas, description="The customer's quotas, of one service or all."
    )
    usage: Usage = strawberry.field(
        resolver=_usage, description="The team's usage of its rate limits."
    )
    quota_usage: QuotaUsage = strawberry.field(
        resolver=_quota_usage, description="The team's usage of its quotas."
    )
    overrides: list[FeatureOverride] | None = strawberry.field(
        resolver=_overrides,
        description="Values billing_admin set for this customer in place of its tier's; "
        "null unless the caller is billing_admin.",
    )


def customer_of(details: CustomerDetails, *, admin_view: bool = False) -> Customer:
    row = details.customer
    owner = details.owner_user_id
    assert owner is not None, "a customer always has an owner"
    customer = Customer(  # type: ignore[call-arg]
        **fields_of(CustomerProfile.of(row)),
        id=_id(row.id),
        gcid=row.stripe_customer_id,
        tier=Tier.of(details.tier),
        subscription_status=SubscriptionStatus(row.subscription_status),
        subscription_enabled=row.subscription_enabled,
        trial_used=row.trial_used,
        created_at=row.created_at,
        member_count=details.member_count,
        seats_used=row.seats_used,
        owner_user_id=_id(owner),
    )
    customer.admin_view = admin_view
    return customer


@strawberry.type(description="The team after a transfer of ownership.")
class OwnershipTransfer:
    customer: Customer
    new_owner: Member
    previous_owner: Member = strawberry.field(description="Now an admin.")

    @classmethod
    def of(cls, result: OwnershipTransferResult) -> OwnershipTransfer:
        return cls(
            customer=customer_of(result.customer),
            new_owner=Member.of(result.new_owner),
            previous_owner=Member.of(result.previous_owner),
        )


@strawberry.type(description="A member removed, and the customer as the removal left it.")
class MemberRemoval:
    removed_user_id: strawberry.ID
    customer: Customer

    @classmethod
    def of(
        cls, user_id: object, details: CustomerDetails, *, admin_view: bool = False
    ) -> MemberRemoval:
        customer = customer_of(details, admin_view=admin_view)
        return cls(removed_user_id=_id(user_id), customer=customer)


@strawberry.type(description="An invitation revoked, and the customer as the revocation left it.")
class InvitationRevocation:
    revoked_invitation_id: strawberry.ID
    customer: Customer

    @classmethod
    def of(cls, invitation_id: object, details: CustomerDetails) -> InvitationRevocation:
        return cls(revoked_invitation_id=_id(invitation_id), customer=customer_of(details))
