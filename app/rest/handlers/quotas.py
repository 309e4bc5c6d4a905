"""Handlers of quota allocation and release (SPEC §5.8); the service runs its transaction."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from app.rest import report_views
from app.rest.context import RestCall
from app.usage.quotas import QuotaRequest


async def allocate(request: Request) -> Response:
    call = await RestCall.of(request)
    data = await call.body(QuotaRequest)
    usage = await call.services.quotas.allocate(
        call.principal,
        service_name=request.path_params["serviceName"],
        feature_key=request.path_params["featureKey"],
        data=data,
    )
    return JSONResponse(report_views.quota_feature_usage(usage))


async def release(request: Request) -> Response:
    call = await RestCall.of(request)
    data = await call.body(QuotaRequest)
    usage = await call.services.quotas.release(
        call.principal,
        service_name=request.path_params["serviceName"],
        feature_key=request.path_params["featureKey"],
        data=data,
    )
    return JSONResponse(report_views.quota_feature_usage(usage))
