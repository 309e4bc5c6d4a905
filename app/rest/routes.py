"""The table of the shim's documented paths: routing and the OpenAPI document both read it."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, cast

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp

from app.admin.service import CustomerTierChange
from app.auth.apikeys import ApiKeyCreate
from app.auth.principal import Access
from app.billing.service import UpgradeRequest
from app.catalog.service import OverrideChange, ServiceRegistration
from app.customers.schemas import AddMember, ChangeMemberRole, CustomerCreate, TransferOwnership
from app.rest import catalog_views, report_views, views
from app.rest.context import RestCall
from app.rest.handlers import (
    admin,
    apikeys,
    catalog,
    customers,
    events,
    quotas,
    reports,
    stripe,
    team,
    usage,
)
from app.usage.consume import ConsumeRequest
from app.usage.quotas import QuotaRequest

BASE_PATH = "/api/billing/v1"
RequestHandler = Callable[[Request], Awaitable[Response]]
# A request handler, or (on the hot paths) an ASGI app that renders its own errors.
Handler = RequestHandler | ASGIApp

PAGINATION = ("page", "pageSize", "limit")


@dataclass(frozen=True, slots=True)
class Endpoint:
    method: str
    path: str
    handler: Handler
    summary: str
    response: object | None
    status: int = 200
    body: object | None = None  # the request body's shape: a model, or a type
    query: tuple[str, ...] = ()
    headers: tuple[str, ...] = ()  # required request headers beyond the credentials
    errors: tuple[int, ...] = (400, 401, 403, 404)
    access: Access = Access.USER


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
        errors=(400, 401, 402, 403, 404),
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
    # §5.3 limits and usage. Routes match in table order and `/limits/{serviceName}` would
    # take any fixed path of the same depth: fixed paths go above it.
    Endpoint(
        "GET",
        "/limits/ip",
        reports.get_ip_limits,
        "Limits of the public tier, for anonymous callers (anyone)",
        report_views.IpLimitsOut,
        errors=(400, 401),
        access=Access.ANYONE,
    ),
    Endpoint(
        "GET",
        "/limits/ip/{serviceName}",
        reports.get_ip_service_limits,
        "Limits of the public tier for one service (anyone)",
        report_views.IpServiceLimitsOut,
        errors=(400, 401, 404),
        access=Access.ANYONE,
    ),
    Endpoint(
        "GET",
        "/limits/usage",
        reports.get_usage,
        "The team's usage of every rate limit",
        report_views.UsageOut,
        query=("serviceName",),
    ),
    Endpoint(
        "GET",
        "/limits/usage/ip",
        reports.get_ip_usage,
        "The caller's address's usage of every rate limit (anyone)",
        report_views.UsageOut,
        query=("serviceName",),
        errors=(400, 401, 404),
        access=Access.ANYONE,
    ),
    # §5.5 granular usage
    Endpoint(
        "GET",
        "/limits/usage/users",
        events.limit_events,
        "The 100 newest rate-limit events of the team (owner, admin; billing_admin)",
        catalog_views.UsageEventsOut,
        query=events.EVENT_QUERY,
    ),
    Endpoint(
        "GET",
        "/limits",
        reports.get_limits,
        "The customer's rate limits",
        report_views.LimitsOut,
    ),
    Endpoint(
        "GET",
        "/limits/{serviceName}",
        reports.get_service_limits,
        "The customer's rate limits of one service",
        report_views.ServiceLimitsOut,
    ),
    Endpoint(
        "GET",
        "/limits/{serviceName}/{featureKey}",
        reports.get_feature_limit,
        "The customer's rate limit of one feature",
        report_views.FeatureLimitOut,
    ),
    # §5.4 quotas; fixed paths above `/quotas/{serviceName}` as for limits
    Endpoint(
        "GET",
        "/quotas/usage",
        reports.get_quota_usage,
        "The team's usage of every quota",
        report_views.QuotaUsageOut,
    ),
    Endpoint(
        "GET",
        "/quotas/usage/users",
        events.quota_events,
        "The 100 newest quota events of the team (owner, admin; billing_admin)",
        catalog_views.UsageEventsOut,
        query=events.EVENT_QUERY,
    ),
    Endpoint("GET", "/quotas", reports.get_quotas, "The customer's quotas", report_views.QuotasOut),
    Endpoint(
        "GET",
        "/quotas/{serviceName}",
        reports.get_service_quotas,
        "The customer's quotas of one service",
        report_views.ServiceQuotasOut,
    ),
    Endpoint(
        "GET",
        "/quotas/{serviceName}/{featureKey}",
        reports.get_feature_quota,
        "The customer's quota of one feature",
        report_views.FeatureQuotaOut,
    ),
    # §5.6 Stripe
    Endpoint(
        "GET",
        "/stripe/customer",
        stripe.portal_session,
        "A short-lived Stripe Customer Portal session for the customer (owner)",
        views.PortalOut,
        errors=(401, 403, 404, 502, 503),
    ),
    Endpoint(
        "POST",
        "/stripe/upgrade",
        stripe.upgrade,
        "A Stripe Checkout session for a paid tier, with a trial if none was used (owner)",
        views.CheckoutOut,
        body=UpgradeRequest,
        errors=(400, 401, 403, 404, 502, 503),
    ),
    Endpoint(
        "POST",
        "/stripe/webhook",
        stripe.webhook,
        "Stripe's signed events (Stripe-Signature header)",
        views.WebhookOut,
        body=dict[str, Any],
        headers=("Stripe-Signature",),
        errors=(400, 502, 503),
        access=Access.ANYONE,
    ),
    # §5.8 service to service
    Endpoint(
        "POST",
        "/limits/consume",
        usage.consume,
        "Consume a feature for a caller (billing_service)",
        views.DecisionOut,
        body=ConsumeRequest,
        errors=(400, 401, 403, 404, 429),
        access=Access.METERED,
    ),
    Endpoint(
        "POST",
        "/limits/consume/batch",
        usage.consume_batch,
        "Consume up to 1000 features at once, each decided on its own (billing_service)",
        views.BatchDecisionsOut,
        body=views.BatchIn,
        errors=(400, 401, 403),
        access=Access.METERED,
    ),
    Endpoint(
        "POST",
        "/limits/check",
        usage.check,
        "Check a feature without consuming it (billing_service)",
        views.DecisionOut,
        body=ConsumeRequest,
        errors=(400, 401, 403, 404, 429),
        access=Access.METERED,
    ),
    Endpoint(
        "POST",
        "/quotas/{serviceName}/{featureKey}/allocate",
        quotas.allocate,
        "Allocate a quota to a customer (billing_service)",
        report_views.QuotaFeatureUsageOut,
        body=QuotaRequest,
        access=Access.METERED,
    ),
    Endpoint(
        "POST",
        "/quotas/{serviceName}/{featureKey}/release",
        quotas.release,
        "Release a customer's quota; never below 0 (billing_service)",
        report_views.QuotaFeatureUsageOut,
        body=QuotaRequest,
        access=Access.METERED,
    ),
    Endpoint(
        "PUT",
        "/admin/services/{serviceName}",
        catalog.register_service,
        "Register or update a service's features and per-tier values (billing_service)",
        catalog_views.ServiceCatalogOut,
        body=ServiceRegistration,
        errors=(400, 401, 403),
        access=Access.METERED,
    ),
    # §5.7 admin
    Endpoint(
        "GET",
        "/admin/customers",
        admin.list_customers,
        "Every customer (billing_admin)",
        views.CustomersPageOut,
        query=(*PAGINATION, "tierName", "status"),
        access=Access.ADMIN,
    ),
    Endpoint(
        "GET",
        "/admin/customer/{customerID}",
        admin.get_customer,
        "A customer's full record (billing_admin)",
        views.AdminCustomerOut,
        access=Access.ADMIN,
    ),
    Endpoint(
        "DELETE",
        "/admin/customer/{customerID}",
        admin.delete_customer,
        "Delete a customer (billing_admin)",
        None,
        204,
        access=Access.ADMIN,
    ),
    Endpoint(
        "GET",
        "/admin/customer/{customerID}/members",
        admin.list_members,
        "A customer's members (billing_admin)",
        views.MembersPageOut,
        query=PAGINATION,
        access=Access.ADMIN,
    ),
    Endpoint(
        "POST",
        "/admin/customer/{customerID}/member",
        admin.add_member,
        "Add a member to a customer (billing_admin)",
        views.MemberOut | views.InvitationOut,
        201,
        AddMember,
        errors=(400, 401, 402, 403, 404),
        access=Access.ADMIN,
    ),
    Endpoint(
        "DELETE",
        "/admin/customer/{customerID}/member/{userID}",
        admin.remove_member,
        "Remove a member from a customer (billing_admin)",
        None,
        204,
        access=Access.ADMIN,
    ),
    Endpoint(
        "PUT",
        "/admin/customer/{customerID}/tier",
        admin.set_customer_tier,
        "Set a customer's tier (billing_admin)",
        views.AdminCustomerOut,
        body=CustomerTierChange,
        access=Access.ADMIN,
    ),
    Endpoint(
        "PUT",
        "/admin/customer/{customerID}/limits/{serviceName}/{featureKey}",
        catalog.set_override,
        "Set a customer's own value of a feature, in place of its tier's (billing_admin)",
        catalog_views.FeatureOverrideOut,
        body=OverrideChange,
        access=Access.ADMIN,
    ),
    Endpoint(
        "DELETE",
        "/admin/customer/{customerID}/limits/{serviceName}/{featureKey}",
        catalog.clear_override,
        "Clear a customer's own value of a feature: its tier's applies (billing_admin)",
        None,
        204,
        access=Access.ADMIN,
    ),
    Endpoint(
        "GET",
        "/admin/billing/status",
        stripe.billing_status,
        "Stripe configuration, webhooks and subscriptions at a glance (billing_admin)",
        views.BillingStatusOut,
        errors=(401, 403),
        access=Access.ADMIN,
    ),
    Endpoint(
        "GET",
        "/admin/tiers",
        admin.list_tiers,
        "Every tier (billing_admin)",
        views.TiersOut,
        query=("active",),
        access=Access.ADMIN,
    ),
    Endpoint(
        "PUT",
        "/admin/tiers/{tierID}/default",
        admin.set_default_tier,
        "Make a tier the default for new customers (billing_admin)",
        views.TierOut,
        access=Access.ADMIN,
    ),
)


# Asked on other services' hot path: served ahead of the router (`DirectRoutes`).
HOT_PATHS = ("/limits/consume", "/limits/check", "/limits/consume/batch")


def direct_routes() -> dict[tuple[str, str], ASGIApp]:
    """The hot paths, as (method, full path) → their ASGI endpoint, for `DirectRoutes`."""
    return {
        (endpoint.method, BASE_PATH + endpoint.path): cast(ASGIApp, endpoint.handler)
        for endpoint in ENDPOINTS
        if endpoint.path in HOT_PATHS
    }


def rest_routes() -> list[Route]:
    """One route per path, whose methods are all its endpoints' (so a 405 names them
    all), in matching order: fixed paths before parameterised ones, which is what keeps
    `/limits/usage` from being taken for `/limits/{serviceName}`."""
    by_path: dict[str, list[Endpoint]] = {}
    for endpoint in ENDPOINTS:
        by_path.setdefault(endpoint.path, []).append(endpoint)
    ordered = sorted(by_path.items(), key=lambda item: "{" in item[0])
    return [
        Route(BASE_PATH + path, _dispatch(endpoints), methods=[e.method for e in endpoints])
        for path, endpoints in ordered
    ]


def _dispatch(endpoints: list[Endpoint]) -> Handler:
    if len(endpoints) == 1:
        return _guarded(endpoints[0])
    handlers = {endpoint.method: _guarded(endpoint) for endpoint in endpoints}
    if "GET" in handlers:
        handlers["HEAD"] = handlers["GET"]

    async def by_method(request: Request) -> Response:
        return await cast(RequestHandler, handlers[request.method])(request)

    return by_method


def _guarded(endpoint: Endpoint) -> Handler:
    """The handler, behind the check of who may call it at all: before any input is read.
    The hot paths' ASGI endpoints check their callers themselves."""
    handler = endpoint.handler
    if endpoint.access is Access.ANYONE or not inspect.iscoroutinefunction(handler):
        return handler
    access, respond = endpoint.access, cast(RequestHandler, handler)

    @functools.wraps(respond)
    async def guarded(request: Request) -> Response:
        principal = await RestCall.principal_of(request)
        access.check(principal, service_name=request.path_params.get("serviceName"))
        return await respond(request)

    return guarded
