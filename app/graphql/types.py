"""Output types, each built from a domain result by its `of` constructor.

Every field is filled from what the service returned, so resolving a type never goes
back to the database.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Generic, TypeVar

import strawberry

from app.admin.service import CustomerSummary as CustomerSummaryResult
from app.auth.apikeys import IssuedApiKey as IssuedApiKeyResult
from app.catalog.model import UNLIMITED
from app.core import pagination
from app.customers.schemas import BillingAddress as BillingAddressModel
from app.customers.schemas import MemberView
from app.graphql.catalog import TierFeature, tier_features
from app.graphql.enums import InvitationStatus, Role, SubscriptionStatus
from app.models import ApiKey as ApiKeyRow
from app.models import Invitation as InvitationRow
from app.models import Tier as TierRow

T = TypeVar("T")
S = TypeVar("S")


def _id(value: object) -> strawberry.ID:
    return strawberry.ID(str(value))


@strawberry.interface(
    description="Where a page sits in its list: one shape for every list, as in REST."
)
class Paginated:
    page: int
    page_size: int
    total_count: int
    total_pages: int
    has_next: bool
    has_prev: bool


@strawberry.type(description="A page of a list, with the same pagination fields as REST.")
class Page(Paginated, Generic[T]):
    items: list[T]

    @classmethod
    def of(cls, page: pagination.Page[S], render: Callable[[S], T]) -> Page[T]:
        return cls(
            items=[render(item) for item in page.items],
            page=page.page,
            page_size=page.page_size,
            total_count=page.total_count,
            total_pages=page.total_pages,
            has_next=page.has_next,
            has_prev=page.has_prev,
        )


@strawberry.experimental.pydantic.type(model=BillingAddressModel, all_fields=True)
class BillingAddress:
    pass


@strawberry.type(description="A subscription tier.")
class Tier:
    id: strawberry.ID
    name: str
    display_name: str
    description: str
    stripe_price_id: str | None
    price: int = strawberry.field(description="Cents per month.")
    member_limit: int = strawberry.field(
        description="Seats: the owner, members and pending invitations; -1: no limit."
    )
    unlimited_members: bool = strawberry.field(description="Whether `memberLimit` is -1.")
    is_active: bool
    is_default: bool
    sort_order: int

    features: list[TierFeature] = strawberry.field(
        resolver=tier_features, description="What the tier allows of each feature of the catalog."
    )

    @classmethod
    def of(cls, row: TierRow) -> Tier:
        return cls(
            id=_id(row.id),
            name=row.name,
            display_name=row.display_name,
            description=row.description,
            stripe_price_id=row.stripe_price_id,
            price=row.price,
            member_limit=row.member_limit,
            unlimited_members=row.member_limit == UNLIMITED,
            is_active=row.is_active,
            is_default=row.is_default,
            sort_order=row.sort_order,
        )


@strawberry.type(description="A customer as billing_admin lists them.")
class CustomerSummary:
    id: strawberry.ID
    name: str
    tier_name: str
    subscription_status: SubscriptionStatus
    member_count: int
    created_at: datetime

    @classmethod
    def of(cls, summary: CustomerSummaryResult) -> CustomerSummary:
        row = summary.customer
        return cls(
            id=_id(row.id),
            name=row.name,
            tier_name=summary.tier_name,
            subscription_status=SubscriptionStatus(row.subscription_status),
            member_count=summary.member_count,
            created_at=row.created_at,
        )


@strawberry.type(description="A member of a team.")
class Member:
    user_id: strawberry.ID
    email: str | None
    role: Role
    role_id: strawberry.ID = strawberry.field(
        description="The role's stable id, the same on every deployment."
    )
    joined_at: datetime

    @classmethod
    def of(cls, view: MemberView) -> Member:
        return cls(
            user_id=_id(view.user_id),
            email=view.email,
            role=Role(view.role),
            role_id=_id(Role(view.role).id),
            joined_at=view.joined_at,
        )


@strawberry.type(description="A pending invitation, accepted when its addressee signs in.")
class Invitation:
    id: strawberry.ID
    # Nullable as on `Member`, so the union's members can be selected side by side.
    email: str | None = strawberry.field(description="Always set on an invitation.")
    role: Role
    status: InvitationStatus
    created_at: datetime
    expires_at: datetime

    @classmethod
    def of(cls, row: InvitationRow) -> Invitation:
        return cls(
            id=_id(row.id),
            email=row.email,
            role=Role(row.role),
            status=InvitationStatus(row.status),
            created_at=row.created_at,
            expires_at=row.expires_at,
        )


MemberOrInvitation = Annotated[
    Member | Invitation,
    strawberry.union(
        "MemberOrInvitation",
        description="A member added by user id, or an invitation sent to an e-mail address.",
    ),
]


def member_or_invitation(result: MemberView | InvitationRow) -> Member | Invitation:
    return Member.of(result) if isinstance(result, MemberView) else Invitation.of(result)


@strawberry.type(description="The customer the caller left; it is no longer a member.")
class CustomerLeave:
    left_customer_id: strawberry.ID


@strawberry.type(description="The customer deleted.")
class CustomerDeletion:
    deleted_customer_id: strawberry.ID


@strawberry.type(description="The API key revoked.")
class ApiKeyRevocation:
    revoked_api_key_id: strawberry.ID


@strawberry.type(description="An API key of the caller; its secret is never shown again.")
class ApiKey:
    id: strawberry.ID
    name: str
    key: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None

    @classmethod
    def of(cls, row: ApiKeyRow) -> ApiKey:
        return cls(
            id=_id(row.id),
            name=row.name,
            key=row.key,
            created_at=row.created_at,
            expires_at=row.expires_at,
            last_used_at=row.last_used_at,
        )


@strawberry.type(description="A new API key with its secret, shown only this once.")
class IssuedApiKey:
    api_key: ApiKey
    secret: str

    @classmethod
    def of(cls, issued: IssuedApiKeyResult) -> IssuedApiKey:
        return cls(api_key=ApiKey.of(issued.api_key), secret=issued.secret)
