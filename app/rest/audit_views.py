"""JSON shapes of the audit trail."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field
from typing_extensions import TypedDict

from app.core.clock import iso_z
from app.core.pagination import Page
from app.models import AuditEvent
from app.rest.views import PaginationOut, pagination


class AuditRecordOut(TypedDict):
    id: str
    seq: Annotated[int, Field(description="Its place in its chain, from 1")]
    occurredAt: str
    action: str
    actorUserId: str | None
    customerId: str | None
    details: dict[str, Any]
    hash: Annotated[str, Field(description="SHA-256 of the record and prevHash, in hex")]
    prevHash: Annotated[
        str | None, Field(description="The hash of the record before it; null for the first")
    ]


class AuditPageOut(TypedDict):
    records: list[AuditRecordOut]
    pagination: PaginationOut
    items: int
    pages: int


def audit_record(row: AuditEvent) -> AuditRecordOut:
    return {
        "id": str(row.id),
        "seq": row.seq,
        "occurredAt": iso_z(row.occurred_at) or "",
        "action": row.action,
        "actorUserId": str(row.actor_user_id) if row.actor_user_id else None,
        "customerId": str(row.customer_id) if row.customer_id else None,
        "details": row.details,
        "hash": row.hash,
        "prevHash": row.prev_hash,
    }


def audit_page(page: Page[AuditEvent]) -> AuditPageOut:
    return {
        "records": [audit_record(row) for row in page.items],
        "pagination": pagination(page),
        "items": page.total_count,
        "pages": page.total_pages,
    }
