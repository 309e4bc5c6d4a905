"""Handlers of the audit trail: `/customer/audit`, `/admin/customer/{customerID}/audit` and
`/admin/audit` (the platform's)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from app.audit.service import AuditFilter
from app.rest import audit_views, query
from app.rest.context import RestCall


async def customer_trail(request: Request) -> Response:
    call = await RestCall.of(request)
    wanted, page = _filter(call), call.page()
    async with call.read() as session:
        records = await call.services.audit.trail(session, call.principal, wanted=wanted, page=page)
    return JSONResponse(audit_views.audit_page(records))


async def admin_customer_trail(request: Request) -> Response:
    call = await RestCall.of(request)
    customer_id = call.path_uuid("customerID")
    wanted, page = _filter(call), call.page()
    async with call.read() as session:
        records = await call.services.audit.customer_trail(
            session, call.principal, customer_id=customer_id, wanted=wanted, page=page
        )
    return JSONResponse(audit_views.audit_page(records))


async def platform_trail(request: Request) -> Response:
    call = await RestCall.of(request)
    wanted, page = _filter(call), call.page()
    async with call.read() as session:
        records = await call.services.audit.platform_trail(
            session, call.principal, wanted=wanted, page=page
        )
    return JSONResponse(audit_views.audit_page(records))


def _filter(call: RestCall) -> AuditFilter:
    return AuditFilter(
        action=call.query(query.ACTION),
        actor_user_id=call.query(query.ACTOR_USER_ID),
        since=call.query(query.FROM),
        until=call.query(query.TO),
    )
