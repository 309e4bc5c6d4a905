"""Handlers of granular usage (SPEC §5.5): `/limits/usage/users` and `/quotas/usage/users`."""

from __future__ import annotations

from collections.abc import Sequence

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from app.rest import catalog_views, query
from app.rest.context import RestCall
from app.usage.events import LIMIT_EVENTS, NEWEST_PAGE, QUOTA_EVENTS, EventFilter


async def limit_events(request: Request) -> Response:
    return await _events(request, LIMIT_EVENTS)


async def quota_events(request: Request) -> Response:
    return await _events(request, QUOTA_EVENTS)


async def _events(request: Request, types: Sequence[str]) -> Response:
    call = await RestCall.of(request)
    wanted = _filter(call, types)
    async with call.read() as session:
        page = await call.services.events.list(
            session, call.principal, wanted=wanted, page=NEWEST_PAGE
        )
    return JSONResponse(catalog_views.usage_events(page))


def _filter(call: RestCall, types: Sequence[str]) -> EventFilter:
    return EventFilter(
        types=types,
        customer_id=call.query(query.CUSTOMER_ID),
        user_id=call.query(query.USER_ID),
        since=call.query(query.FROM),
        until=call.query(query.TO),
    )
