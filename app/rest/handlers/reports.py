"""Handlers of the limits, usage and quota reports (SPEC §5.3, §5.4).

Rate-limit reports need no transaction: they are answered from caches and the counter
storage. Only quota usage reads the database.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from app.rest import query
from app.rest import report_views as views
from app.rest.context import RestCall


async def get_limits(request: Request) -> Response:
    call = await RestCall.of(request)
    report = await call.services.reports.limits(call.principal)
    return JSONResponse(views.limits(report))


async def get_service_limits(request: Request) -> Response:
    call = await RestCall.of(request)
    service_name = request.path_params["serviceName"]
    report = await call.services.reports.limits(call.principal, service_name=service_name)
    return JSONResponse(views.service_limits(report, service_name))


async def get_feature_limit(request: Request) -> Response:
    call = await RestCall.of(request)
    item = await call.services.reports.limit(call.principal, **_feature(request))
    return JSONResponse(views.feature_limit(item))


async def get_ip_limits(request: Request) -> Response:
    call = await RestCall.of(request)
    report = await call.services.reports.ip_limits(call.principal)
    return JSONResponse(views.ip_limits(report))


async def get_ip_service_limits(request: Request) -> Response:
    call = await RestCall.of(request)
    service_name = request.path_params["serviceName"]
    report = await call.services.reports.ip_limits(call.principal, service_name=service_name)
    return JSONResponse(views.ip_service_limits(report))


async def get_usage(request: Request) -> Response:
    call = await RestCall.of(request)
    report = await call.services.reports.usage(
        call.principal, service_name=call.query(query.SERVICE_NAME)
    )
    return JSONResponse(views.usage(report))


async def get_ip_usage(request: Request) -> Response:
    call = await RestCall.of(request)
    report = await call.services.reports.ip_usage(
        call.principal, service_name=call.query(query.SERVICE_NAME)
    )
    return JSONResponse(views.usage(report))


async def get_quotas(request: Request) -> Response:
    call = await RestCall.of(request)
    report = await call.services.reports.quotas(call.principal)
    return JSONResponse(views.quotas(report))


async def get_service_quotas(request: Request) -> Response:
    call = await RestCall.of(request)
    service_name = request.path_params["serviceName"]
    report = await call.services.reports.quotas(call.principal, service_name=service_name)
    return JSONResponse(views.service_quotas(report, service_name))


async def get_feature_quota(request: Request) -> Response:
    call = await RestCall.of(request)
    item = await call.services.reports.quota(call.principal, **_feature(request))
    return JSONResponse(views.feature_quota(item))


async def get_quota_usage(request: Request) -> Response:
    call = await RestCall.of(request)
    async with call.read() as session:
        report = await call.services.reports.quota_usage(session, call.principal)
    return JSONResponse(views.quota_usage(report))


def _feature(request: Request) -> dict[str, str]:
    params = request.path_params
    return {"service_name": params["serviceName"], "feature_key": params["featureKey"]}
