"""Handlers of /customer/member(s) and /customer/invitations (SPEC §5.2)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from app.customers.schemas import AddMember, ChangeMemberRole
from app.rest import views
from app.rest.context import RestCall


async def list_members(request: Request) -> Response:
    call = await RestCall.of(request)
    page = call.page()
    async with call.read() as session:
        members = await call.services.members.list(session, call.principal, page=page)
    return JSONResponse(views.members_page(members))


async def add_member(request: Request) -> Response:
    call = await RestCall.of(request)
    data = await call.body(AddMember)
    async with call.write() as session:
        result = await call.services.members.add(session, call.principal, data=data)
    return JSONResponse(views.member_or_invitation(result), status_code=201)


async def change_member_role(request: Request) -> Response:
    call = await RestCall.of(request)
    data = await call.body(ChangeMemberRole)
    async with call.write() as session:
        member = await call.services.members.change_role(session, call.principal, data=data)
    return JSONResponse(views.member(member))


async def remove_member(request: Request) -> Response:
    call = await RestCall.of(request)
    user_id = call.path_uuid("userID")
    async with call.write() as session:
        await call.services.members.remove(session, call.principal, user_id=user_id)
    return Response(status_code=204)


async def list_invitations(request: Request) -> Response:
    call = await RestCall.of(request)
    async with call.read() as session:
        rows = await call.services.members.invitations(session, call.principal)
    return JSONResponse(views.invitations(rows))


async def revoke_invitation(request: Request) -> Response:
    call = await RestCall.of(request)
    invitation_id = call.path_uuid("invitationID")
    async with call.write() as session:
        await call.services.members.revoke_invitation(
            session, call.principal, invitation_id=invitation_id
        )
    return Response(status_code=204)
