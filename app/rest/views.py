"""The documented JSON shapes of the shim, rendered from domain results.

Each shape is a TypedDict: mypy checks the renderers and the OpenAPI document takes its
schemas from the same declarations.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, NotRequired, TypeVar

from pydantic import Field
from typing_extensions import TypedDict

from app.admin.service import CustomerSummary
from app.auth.apikeys import IssuedApiKey
from app.billing.service import BillingStatus
from app.catalog.service import TierOffer
from app.core.clock import iso_z
from app.core.pagination import Page
from app.customers.schemas import CustomerDetails, CustomerProfile, MemberView, OwnershipTransfer
from app.models import ApiKey, Invitation
from app.rest.catalog_views import TierFeatureOut, tier_feature
from app.usage.consume import MAX_BATCH, ConsumeRequest

T = TypeVar("T")
R = TypeVar("R")


class CustomerOut(CustomerProfile):
    """The profile's fields, as declared once, and what the service keeps of the account."""

    id: str
    gcid: str | None
    tier_id: str
    tier_name: str
    subscription_status: str
    subscription_enabled: bool
    trial_used: bool
    created_at: str


class CreatedCustomerOut(CustomerOut):
    message: Literal["acknowledged"] = Field(description="What the official JS SDK reads")


class AdminCustomerOut(CustomerOut):
    tier_id_: str = Field(alias="tierID")
    member_count: int
    owner_user_id: str | None = Field(alias="ownerUserID")


class CustomerTierOut(TypedDict):
    customerId: str
    tierId: str
    tierName: str
    description: str
    isActive: bool
    subscriptionStatus: str
    trialUsed: bool
    stacks: Annotated[
        int, Field(description="The quantity of the live subscription (0 without one)")
    ]


class PaginationOut(TypedDict):
    page: int
    pageSize: int
    totalCount: int
    totalPages: int
    hasNext: bool
    hasPrev: bool


class MemberOut(TypedDict):
    userID: str
    roleID: Annotated[str, Field(description="The role's id, the same on every deployment")]
    email: str | None
    role: str
    joinedAt: str


class InvitationOut(TypedDict):
    id: str
    email: str
    role: str
    status: str
    createdAt: str
    expiresAt: str


class MembersPageOut(TypedDict):
    members: list[MemberOut]
    pagination: PaginationOut
    items: int
    pages: int


class InvitationsOut(TypedDict):
    invitations: list[InvitationOut]


class OwnershipTransferOut(TypedDict):
    customerId: str
    ownerUserID: str
    previousOwnerUserID: str


class CustomerSummaryOut(TypedDict):
    id: str
    name: str
    tierName: str
    subscriptionStatus: str
    memberCount: int
    createdAt: str


class CustomersPageOut(TypedDict):
    customers: list[CustomerSummaryOut]
    pagination: PaginationOut
    items: int
    pages: int


class TierOut(TypedDict):
    id: str
    name: str
    displayName: str
    description: str
    stripePriceId: str | None
    price: int
    memberLimit: int
    unlimitedMembers: bool
    isActive: bool
    isDefault: bool
    sortOrder: int
    features: list[TierFeatureOut]


class TiersOut(TypedDict):
    tiers: list[TierOut]


class ApiKeyOut(TypedDict):
    id: str
    name: str
    key: str
    createdAt: str
    expiresAt: str | None
    lastUsedAt: str | None


class IssuedApiKeyOut(TypedDict):
    id: str
    name: str
    key: str
    secret: str
    createdAt: str
    expiresAt: str | None


class DecisionOut(TypedDict):
    allowed: bool
    currentUsage: int
    limit: int
    remaining: int
    resetAt: int


class BatchErrorOut(TypedDict):
    """A refused or invalid request of a batch: an error body without an error id; a
    refusal carries its decision's fields as a refused consume does."""

    code: str
    message: str
    status: int
    param: NotRequired[str]
    allowed: NotRequired[bool]
    currentUsage: NotRequired[int]
    limit: NotRequired[int]
    remaining: NotRequired[int]
    resetAt: NotRequired[int]


class BatchRefusalOut(TypedDict):
    error: BatchErrorOut


class BatchDecisionsOut(TypedDict):
    decisions: list[DecisionOut | BatchRefusalOut]


class BatchIn(TypedDict):
    """The documented body of a batch (each request is read on its own)."""

    requests: Annotated[list[ConsumeRequest], Field(min_length=1, max_length=MAX_BATCH)]


class ApiKeysOut(TypedDict):
    apiKeys: list[ApiKeyOut]


def pagination(page: Page[T]) -> PaginationOut:
    return {
        "page": page.page,
        "pageSize": page.page_size,
        "totalCount": page.total_count,
        "totalPages": page.total_pages,
        "hasNext": page.has_next,
        "hasPrev": page.has_prev,
    }


def _rows(page: Page[T], render: Callable[[T], R]) -> list[R]:
    return [render(item) for item in page.items]


def customer(details: CustomerDetails) -> dict[str, Any]:
    return _customer(CustomerOut, details)


def created_customer(details: CustomerDetails) -> dict[str, Any]:
    return _customer(CreatedCustomerOut, details, message="acknowledged")


def admin_customer(details: CustomerDetails) -> dict[str, Any]:
    return _customer(
        AdminCustomerOut,
        details,
        tier_id_=str(details.tier.id),
        member_count=details.member_count,
        owner_user_id=str(details.owner_user_id) if details.owner_user_id else None,
    )


def _customer(shape: type[CustomerOut], details: CustomerDetails, **more: Any) -> dict[str, Any]:
    row = details.customer
    rendered = shape.model_construct(
        **dict(CustomerProfile.of(row)),
        id=str(row.id),
        gcid=row.stripe_customer_id,
        tier_id=str(details.tier.id),
        tier_name=details.tier.name,
        subscription_status=row.subscription_status,
        subscription_enabled=row.subscription_enabled,
        trial_used=row.trial_used,
        created_at=_iso(row.created_at),
        **more,
    )
    body = rendered.model_dump(mode="json", by_alias=True)
    return {"id": body.pop("id"), **body}  # the id first, where a reader looks for it


def customer_tier(details: CustomerDetails) -> CustomerTierOut:
    return {
        "customerId": str(details.customer.id),
        "tierId": str(details.tier.id),
        "tierName": details.tier.name,
        "description": details.tier.description,
        "isActive": details.tier.is_active,
        "subscriptionStatus": details.customer.subscription_status,
        "trialUsed": details.customer.trial_used,
        "stacks": details.customer.subscription_quantity,
    }


def member(view: MemberView) -> MemberOut:
    return {
        "userID": str(view.user_id),
        "roleID": str(view.role.id),
        "email": view.email,
        "role": view.role.value,
        "joinedAt": _iso(view.joined_at),
    }


def invitation(row: Invitation) -> InvitationOut:
    return {
        "id": str(row.id),
        "email": row.email,
        "role": row.role,
        "status": row.status,
        "createdAt": _iso(row.created_at),
        "expiresAt": _iso(row.expires_at),
    }


def member_or_invitation(result: MemberView | Invitation) -> MemberOut | InvitationOut:
    return member(result) if isinstance(result, MemberView) else invitation(result)


def members_page(page: Page[MemberView]) -> MembersPageOut:
    return {
        "members": _rows(page, member),
        "pagination": pagination(page),
        "items": page.total_count,
        "pages": page.total_pages,
    }


def invitations(rows: list[Invitation]) -> InvitationsOut:
    return {"invitations": [invitation(row) for row in rows]}


def ownership_transfer(result: OwnershipTransfer) -> OwnershipTransferOut:
    return {
        "customerId": str(result.customer_id),
        "ownerUserID": str(result.owner_user_id),
        "previousOwnerUserID": str(result.previous_owner_user_id),
    }


def customer_summary(summary: CustomerSummary) -> CustomerSummaryOut:
    return {
        "id": str(summary.customer.id),
        "name": summary.customer.name,
        "tierName": summary.tier_name,
        "subscriptionStatus": summary.customer.subscription_status,
        "memberCount": summary.member_count,
        "createdAt": _iso(summary.customer.created_at),
    }


def customers_page(page: Page[CustomerSummary]) -> CustomersPageOut:
    return {
        "customers": _rows(page, customer_summary),
        "pagination": pagination(page),
        "items": page.total_count,
        "pages": page.total_pages,
    }


def tier(offer: TierOffer) -> TierOut:
    row = offer.tier
    return {
        "id": str(row.id),
        "name": row.name,
        "displayName": row.display_name,
        "description": row.description,
        "stripePriceId": row.stripe_price_id,
        "price": row.price,
        "memberLimit": row.member_limit,
        "unlimitedMembers": row.member_limit < 0,
        "isActive": row.is_active,
        "isDefault": row.is_default,
        "sortOrder": row.sort_order,
        "features": [tier_feature(item) for item in offer.features],
    }


def tiers(offers: list[TierOffer]) -> TiersOut:
    return {"tiers": [tier(offer) for offer in offers]}


def api_key(row: ApiKey) -> ApiKeyOut:
    return {
        "id": str(row.id),
        "name": row.name,
        "key": row.key,
        "createdAt": _iso(row.created_at),
        "expiresAt": iso_z(row.expires_at),
        "lastUsedAt": iso_z(row.last_used_at),
    }


def issued_api_key(issued: IssuedApiKey) -> IssuedApiKeyOut:
    row = issued.api_key
    return {
        "id": str(row.id),
        "name": row.name,
        "key": row.key,
        "secret": issued.secret,
        "createdAt": _iso(row.created_at),
        "expiresAt": iso_z(row.expires_at),
    }


def api_keys(rows: list[ApiKey]) -> ApiKeysOut:
    return {"apiKeys": [api_key(row) for row in rows]}


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


class PortalOut(TypedDict):
    url: str


class CheckoutOut(TypedDict):
    checkoutURL: str


class WebhookOut(TypedDict):
    received: bool


class BillingStatusOut(TypedDict):
    stripeConfigured: bool
    webhookLastReceivedAt: str | None
    customers: int
    subscriptionsByStatus: dict[str, int]
    tiers: dict[str, int]


def billing_status(status: BillingStatus) -> BillingStatusOut:
    last = status.webhook_last_received_at
    return {
        "stripeConfigured": status.stripe_configured,
        "webhookLastReceivedAt": iso_z(last) if last is not None else None,
        "customers": status.customers,
        "subscriptionsByStatus": status.subscriptions_by_status,
        "tiers": status.customers_by_tier,
    }
