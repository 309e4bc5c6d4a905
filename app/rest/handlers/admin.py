"""Handlers of /admin (SPEC §5.7)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from app.admin.service import CustomerTierChange
from app.customers.schemas import AddMember, CustomerUpdate
from app.rest import query, views
from app.rest.context import RestCall


async def list_customers(request: Request) -> Response:
    call = await RestCall.of(request)
    async with call.read() as session:
        customers = await call.services.admin.list_customers(
            session,
            call.principal,
            page=call.page(),
            tier_name=call.query(query.TIER_NAME),
            status=call.query(query.STATUS),
            search=call.query(query.SEARCH),
            sort=call.query(query.SORT),
        )
    return JSONResponse(views.customers_page(customers))


async def get_customer(request: Request) -> Response:
    call = await RestCall.of(request)
    customer_id = call.path_uuid("customerID")
    async with call.read() as session:
        details = await call.services.admin.get_customer(
            session, call.principal, customer_id=customer_id
        )
    return JSONResponse(views.admin_customer(details))


async def update_customer(request: Request) -> Response:
    call = await RestCall.of(request)
    customer_id = call.path_uuid("customerID")
    data = await call.body(CustomerUpdate)
    async with call.write() as session:
        details = await call.services.admin.update_customer(
            session, call.principal, customer_id=customer_id, data=data
        )
    return JSONResponse(views.admin_customer(details))


async def delete_customer(request: Request) -> Response:
    call = await RestCall.of(request)
    customer_id = call.path_uuid("customerID")
    async with call.write() as session:
        await call.services.admin.delete_customer(session, call.principal, customer_id=customer_id)
    return Response(status_code=204)


async def list_members(request: Request) -> Response:
    call = await RestCall.of(request)
    customer_id, page = call.path_uuid("customerID"), call.page()
    async with call.read() as session:
        members = await call.services.admin.list_members(
            session, call.principal, customer_id=customer_id, page=page
        )
    return JSONResponse(views.members_page(members))


async def add_member(request: Request) -> Response:
    call = await RestCall.of(request)
    customer_id = call.path_uuid("customerID")
    data = await call.body(AddMember)
    async with call.write() as session:
        result = await call.services.admin.add_member(
            session, call.principal, customer_id=customer_id, data=data
        )
    return JSONResponse(views.member_or_invitation(result), status_code=201)


async def remove_member(request: Request) -> Response:
    call = await RestCall.of(request)
    customer_id, user_id = call.path_uuid("customerID"), call.path_uuid("userID")
    async with call.write() as session:
        await call.services.admin.remove_member(
            session, call.principal, customer_id=customer_id, user_id=user_id
        )
    return Response(status_code=204)


async def list_plans(request: Request) -> Response:
    """The tiers on offer, for any signed-in user (a plan picker)."""
    call = await RestCall.of(request)
    async with call.read() as session:
        tiers = await call.services.tiers.plans(session, call.principal)
    return JSONResponse(views.tiers(await call.services.catalog.offers(tiers)))


async def list_tiers(request: Request) -> Response:
    call = await RestCall.of(request)
    active = call.query(query.ACTIVE)
    async with call.read() as session:
        tiers = await call.services.tiers.list(session, call.principal, active=active)
    return JSONResponse(views.tiers(await call.services.catalog.offers(tiers)))


async def set_default_tier(request: Request) -> Response:
    call = await RestCall.of(request)
    tier_id = call.path_uuid("tierID")
    async with call.write() as session:
        tier = await call.services.tiers.set_default(session, call.principal, tier=tier_id)
    (offer,) = await call.services.catalog.offers([tier])
    return JSONResponse(views.tier(offer))


async def set_customer_tier(request: Request) -> Response:
    call = await RestCall.of(request)
    customer_id = call.path_uuid("customerID")
    data = await call.body(CustomerTierChange)
    async with call.write() as session:
        details = await call.services.admin.set_customer_tier(
            session, call.principal, customer_id=customer_id, data=data
        )
    return JSONResponse(views.admin_customer(details))
