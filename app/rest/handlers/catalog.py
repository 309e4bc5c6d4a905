"""Handlers of service registration and per-customer overrides (SPEC §5.8, §3.4)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from app.catalog.service import OverrideChange, ServiceRegistration
from app.rest import catalog_views
from app.rest.context import RestCall


async def register_service(request: Request) -> Response:
    call = await RestCall.of(request)
    data = await call.body(ServiceRegistration)
    async with call.write() as session:
        catalog = await call.services.catalog.register(
            session, call.principal, service_name=request.path_params["serviceName"], data=data
        )
    return JSONResponse(catalog_views.service_catalog(catalog))


async def set_override(request: Request) -> Response:
    call = await RestCall.of(request)
    customer_id = call.path_uuid("customerID")
    data = await call.body(OverrideChange)
    async with call.write() as session:
        view = await call.services.catalog.set_override(
            session, call.principal, customer_id=customer_id, data=data, **_feature(request)
        )
    return JSONResponse(catalog_views.feature_override(view))


async def clear_override(request: Request) -> Response:
    call = await RestCall.of(request)
    customer_id = call.path_uuid("customerID")
    async with call.write() as session:
        await call.services.catalog.clear_override(
            session, call.principal, customer_id=customer_id, **_feature(request)
        )
    return Response(status_code=204)


def _feature(request: Request) -> dict[str, str]:
    params = request.path_params
    return {"service_name": params["serviceName"], "feature_key": params["featureKey"]}
