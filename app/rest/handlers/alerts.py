"""Handlers of usage alerts: `/customer/alerts...` for the caller's customer, and
`/admin/customer/{customerID}/alerts...` for billing_admin."""

from __future__ import annotations

import uuid

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from app.alerts.service import AlertFilter
from app.alerts.thresholds import ThresholdsChange
from app.rest import alert_views, query
from app.rest.context import RestCall


async def get_thresholds(request: Request) -> Response:
    return await _thresholds(await RestCall.of(request), None)


async def admin_get_thresholds(request: Request) -> Response:
    call = await RestCall.of(request)
    return await _thresholds(call, call.path_uuid("customerID"))


async def set_thresholds(request: Request) -> Response:
    return await _set_thresholds(await RestCall.of(request), None)


async def admin_set_thresholds(request: Request) -> Response:
    call = await RestCall.of(request)
    return await _set_thresholds(call, call.path_uuid("customerID"))


async def list_alerts(request: Request) -> Response:
    return await _alerts(await RestCall.of(request), None)


async def admin_list_alerts(request: Request) -> Response:
    call = await RestCall.of(request)
    return await _alerts(call, call.path_uuid("customerID"))


async def _thresholds(call: RestCall, customer_id: uuid.UUID | None) -> Response:
    async with call.read() as session:
        settings = await call.services.alerts.thresholds(
            session, call.principal, customer_id=customer_id
        )
    return JSONResponse(alert_views.alert_thresholds(settings))


async def _set_thresholds(call: RestCall, customer_id: uuid.UUID | None) -> Response:
    data = await call.body(ThresholdsChange)
    async with call.write() as session:
        settings = await call.services.alerts.set_thresholds(
            session, call.principal, data=data, customer_id=customer_id
        )
    return JSONResponse(alert_views.alert_thresholds(settings))


async def _alerts(call: RestCall, customer_id: uuid.UUID | None) -> Response:
    wanted, page = _filter(call), call.page()
    async with call.read() as session:
        alerts = await call.services.alerts.list(
            session, call.principal, wanted=wanted, page=page, customer_id=customer_id
        )
    return JSONResponse(alert_views.alerts_page(alerts))


def _filter(call: RestCall) -> AlertFilter:
    return AlertFilter(
        kind=call.query(query.ALERT_KIND),
        service_name=call.query(query.SERVICE_NAME),
        feature_key=call.query(query.FEATURE_KEY),
        since=call.query(query.FROM),
        until=call.query(query.TO),
    )
