"""The table of the shim's documented paths: routing and the OpenAPI document both read it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.admin.service import CustomerTierChange
from app.auth.apikeys import ApiKeyCreate
from app.customers.schemas import AddMember, ChangeMemberRole, CustomerCreate, TransferOwnership
from app.rest import views
from app.rest.handlers import admin, apikeys, customers, team, usage
from app.usage.consume import ConsumeRequest

BASE_PATH = "/api/billing/v1"
Handler = Callable[[Request], Awaitable[Response]]

PAGINATION = ("page", "pageSize", "limit")


@dataclass(frozen=True, slots=True)
class Endpoint:
    method: str
    path: str
    handler: Handler
    summary: str
    response: object | None
    status: int = 200
    body: type[BaseModel] | None = None
    query: tuple[str, ...] = ()
    errors: tuple[int, ...] = (400, 401, 403, 404)


ENDPOINTS: tuple[Endpoint, ...] = (
    # §5.1 customer
    Endpoint(
        "POST",
        "/customer",
        customers.create_customer,
        "Create a customer; the caller becomes its owner",
        views.CustomerOut,
        201,
        CustomerCreate,
    ),
    Endpoint(
        "GET", "/customer", customers.get_customer, "The caller's customer", views.CustomerOut
    ),
    Endpoint(
        "DELETE",
        "/customer",
        customers.delete_customer,
        "Delete the caller's customer (owner)",
        None,
        204,
    ),
    Endpoint(
        "GET",
        "/customer/tier",
        customers.get_customer_tier,
        "The customer's tier",
        views.CustomerTierOut,
    ),
    Endpoint(
        "DELETE",
        "/customer/leave",
        customers.leave_customer,
        "Leave the customer (admin, user)",
        None,
        204,
    ),
    Endpoint(
        "POST",
        "/customer/transfer-ownership",
        customers.transfer_ownership,
        "Transfer ownership to another member (owner)",
        views.OwnershipTransferOut,
        body=TransferOwnership,
    ),
    # §5.2 team
    Endpoint(
        "GET",
        "/customer/members",
        team.list_members,
        "Members of the team (owner, admin)",
        views.MembersPageOut,
        query=PAGINATION,
    ),
    Endpoint(
        "POST",
        "/customer/member",
        team.add_member,
        "Add a member by userID, or invite one by email (owner, admin)",
        views.MemberOut | views.InvitationOut,
        201,
        AddMember,
        errors=(400, 401, 402, 403, 404, 409),
    ),
    Endpoint(
        "PUT",
        "/customer/member",
        team.change_member_role,
        "Change a member's role (owner, admin)",
        views.MemberOut,
        body=ChangeMemberRole,
    ),
    Endpoint(
        "DELETE",
        "/customer/member/{userID}",
        team.remove_member,
        "Remove a member (owner, admin)",
        None,
        204,
    ),
    Endpoint(
        "GET",
        "/customer/invitations",
        team.list_invitations,
        "Pending invitations (owner, admin)",
        views.InvitationsOut,
    ),
    Endpoint(
        "DELETE",
        "/customer/invitations/{invitationID}",
        team.revoke_invitation,
        "Revoke a pending invitation (owner, admin)",
        None,
        204,
    ),
    # API keys
    Endpoint(
        "POST",
        "/apikeys",
        apikeys.create_api_key,
        "Create an API key; the secret is shown only here",
        views.IssuedApiKeyOut,
        201,
        ApiKeyCreate,
    ),
    Endpoint("GET", "/apikeys", apikeys.list_api_keys, "The caller's API keys", views.ApiKeysOut),
    Endpoint("DELETE", "/apikeys/{id}", apikeys.revoke_api_key, "Revoke an API key", None, 204),
    # §5.8 service to service
    Endpoint(
        "POST",
        "/limits/consume",
        usage.consume,
        "Consume a feature for a caller (billing_service)",
        views.DecisionOut,
        body=ConsumeRequest,
        errors=(400, 401, 403, 404, 429),
    ),
    Endpoint(
        "POST",
        "/limits/check",
        usage.check,
        "Check a feature without consuming it (billing_service)",
        views.DecisionOut,
        body=ConsumeRequest,
        errors=(400, 401, 403, 404, 429),
    ),
    # §5.7 admin
    Endpoint(
        "GET",
        "/admin/customers",
        admin.list_customers,
        "Every customer (billing_admin)",
        views.CustomersPageOut,
        query=(*PAGINATION, "tierName", "status"),
    ),
    Endpoint(
        "GET",
        "/admin/customer/{customerID}",
        admin.get_customer,
        "A customer's full record (billing_admin)",
        views.AdminCustomerOut,
    ),
    Endpoint(
        "DELETE",
        "/admin/customer/{customerID}",
        admin.delete_customer,
        "Delete a customer (billing_admin)",
        None,
        204,
    ),
    Endpoint(
        "GET",
        "/admin/customer/{customerID}/members",
        admin.list_members,
        "A customer's members (billing_admin)",
        views.MembersPageOut,
        query=PAGINATION,
    ),
    Endpoint(
        "POST",
        "/admin/customer/{customerID}/member",
        admin.add_member,
        "Add a member to a customer (billing_admin)",
        views.MemberOut | views.InvitationOut,
        201,
        AddMember,
        errors=(400, 401, 402, 403, 404, 409),
    ),
    Endpoint(
        "DELETE",
        "/admin/customer/{customerID}/member/{userID}",
        admin.remove_member,
        "Remove a member from a customer (billing_admin)",
        None,
        204,
    ),
    Endpoint(
        "PUT",
        "/admin/customer/{customerID}/tier",
        admin.set_customer_tier,
        "Set a customer's tier (billing_admin)",
        views.AdminCustomerOut,
        body=CustomerTierChange,
    ),
    Endpoint(
        "GET",
        "/admin/tiers",
        admin.list_tiers,
        "Every tier (billing_admin)",
        views.TiersOut,
        query=("active",),
    ),
    Endpoint(
        "PUT",
        "/admin/tiers/{tierID}/default",
        admin.set_default_tier,
        "Make a tier the default for new customers (billing_admin)",
        views.TierOut,
    ),
)


def rest_routes() -> list[Route]:
    return [
        Route(BASE_PATH + endpoint.path, endpoint.handler, methods=[endpoint.method])
        for endpoint in ENDPOINTS
    ]
