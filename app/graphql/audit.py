"""The audit trail: the `AuditRecord` type and the root queries that read it (the caller's
customer's, any customer's and the platform's for billing_admin). `Customer.auditTrail`
is in `app.graphql.customer`, with the customer's other nested fields."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

import strawberry
from strawberry.scalars import JSON

from app.audit.service import AuditFilter
from app.core.inputs import parse_uuid
from app.core.pagination import DEFAULT_PAGE_SIZE, PageRequest
from app.graphql.context import Info
from app.graphql.scalars import unix_seconds
from app.graphql.types import Page
from app.models import AuditEvent

ACTION = "An action (`member.added`), or a prefix ending in `.` (`member.`)."


def _id(value: object) -> strawberry.ID:
    return strawberry.ID(str(value))


@strawberry.type(
    description="One record of the audit trail: the next link of its customer's chain, or "
    "of the platform's; `hash` covers it and `prevHash`."
)
class AuditRecord:
    id: strawberry.ID
    seq: int = strawberry.field(description="Its place in its chain, from 1.")
    occurred_at: datetime
    action: str
    actor_user_id: strawberry.ID | None = strawberry.field(description="Who did it.")
    customer_id: strawberry.ID | None = strawberry.field(
        description="The customer it concerns; null on the platform's chain."
    )
    details: JSON = strawberry.field(description="What changed, as the action records it.")
    hash: str = strawberry.field(description="SHA-256 of the record and `prevHash`, in hex.")
    prev_hash: str | None = strawberry.field(
        description="The hash of the record before it in its chain; null for the first."
    )

    @classmethod
    def of(cls, row: AuditEvent) -> AuditRecord:
        details: Any = row.details
        return cls(
            id=_id(row.id),
            seq=row.seq,
            occurred_at=row.occurred_at,
            action=row.action,
            actor_user_id=_id(row.actor_user_id) if row.actor_user_id else None,
            customer_id=_id(row.customer_id) if row.customer_id else None,
            details=details,
            hash=row.hash,
            prev_hash=row.prev_hash,
        )


def audit_filter(
    action: str | None,
    actor_user_id: strawberry.ID | None,
    since: datetime | None,
    until: datetime | None,
) -> AuditFilter:
    return AuditFilter(
        action=action,
        actor_user_id=parse_uuid(actor_user_id, "actor_user_id") if actor_user_id else None,
        since=unix_seconds(since) if since is not None else None,
        until=unix_seconds(until) if until is not None else None,
    )


Action = Annotated[str | None, strawberry.argument(description=ACTION)]
Since = Annotated[datetime | None, strawberry.argument(name="from", description="Included.")]
Until = Annotated[datetime | None, strawberry.argument(name="to", description="Included.")]


async def audit_trail(
    info: Info,
    action: Action = None,
    actor_user_id: strawberry.ID | None = None,
    since: Since = None,
    until: Until = None,
    page: int = 1,
    page_size: int = DEFAULT_PAGE_SIZE,
) -> Page[AuditRecord]:
    return await trail_of(info, None, action, actor_user_id, since, until, page, page_size)


async def trail_of(
    info: Info,
    customer_id: uuid.UUID | None,
    action: str | None,
    actor_user_id: strawberry.ID | None,
    since: datetime | None,
    until: datetime | None,
    page: int,
    page_size: int,
) -> Page[AuditRecord]:
    """The caller's customer's trail (`customer_id` None), or the one billing_admin names."""
    audit = info.context.services.audit
    principal = await info.context.principal(audit.trail)
    wanted = audit_filter(action, actor_user_id, since, until)
    request = PageRequest(page, page_size)
    async with info.context.read() as session:
        rows = await audit.trail(
            session, principal, wanted=wanted, page=request, customer_id=customer_id
        )
    return Page.of(rows, AuditRecord.of)


async def admin_audit_trail(
    info: Info,
    customer_id: strawberry.ID,
    action: Action = None,
    actor_user_id: strawberry.ID | None = None,
    since: Since = None,
    until: Until = None,
    page: int = 1,
    page_size: int = DEFAULT_PAGE_SIZE,
) -> Page[AuditRecord]:
    audit = info.context.services.audit
    principal = await info.context.principal(audit.customer_trail)
    customer = parse_uuid(customer_id, "customer_id")
    wanted = audit_filter(action, actor_user_id, since, until)
    request = PageRequest(page, page_size)
    async with info.context.read() as session:
        rows = await audit.customer_trail(
            session, principal, customer_id=customer, wanted=wanted, page=request
        )
    return Page.of(rows, AuditRecord.of)


async def platform_audit_trail(
    info: Info,
    action: Action = None,
    actor_user_id: strawberry.ID | None = None,
    since: Since = None,
    until: Until = None,
    page: int = 1,
    page_size: int = DEFAULT_PAGE_SIZE,
) -> Page[AuditRecord]:
    audit = info.context.services.audit
    principal = await info.context.principal(audit.platform_trail)
    wanted = audit_filter(action, actor_user_id, since, until)
    request = PageRequest(page, page_size)
    async with info.context.read() as session:
        rows = await audit.platform_trail(session, principal, wanted=wanted, page=request)
    return Page.of(rows, AuditRecord.of)
