"""SPEC §7 on a team's operations, over both transports: who the caller is to the team comes
before the input. Whatever they send, a seat too low is 403 and no seat at all 404
`NO_CUSTOMER`; a seat that may call the operation gets the 400 its input deserves; and
nothing is written."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from sqlmodel import SQLModel

from app.alerts.service import AlertService
from app.audit.service import AuditService
from app.billing.service import BillingService
from app.customers.members import MemberService
from app.customers.service import CustomerService
from app.rest.routes import ENDPOINTS
from app.usage.events import EventService
from app.webhooks.service import WebhookService
from tests.support.api import Api, Caller

MANAGERS = ("owner", "admin")
OWNER = ("owner",)
BAD_JSON = {"content": b"{bad"}


@dataclass(frozen=True)
class Case:
    operation: Callable[..., Any]
    allowed: tuple[str, ...]  # the roles that may call it (SPEC §3.2)
    rest: tuple[str, str, dict[str, Any]]  # method, path, and input the operation refuses
    graphql: str  # a document whose arguments the operation refuses


WEBHOOK = "/customer/webhooks/not-an-id"
CASES = (
    Case(
        WebhookService.list,
        MANAGERS,
        ("GET", "/customer/webhooks", {"params": {"pageSize": 1000}}),
        "{ webhookEndpoints(pageSize: 1000) { totalCount } }",
    ),
    Case(
        WebhookService.create,
        MANAGERS,
        ("POST", "/customer/webhooks", BAD_JSON),
        'mutation { createWebhookEndpoint(url: "ftp://x") { secret } }',
    ),
    Case(
        WebhookService.get,
        MANAGERS,
        ("GET", WEBHOOK, {}),
        '{ webhookEndpoint(webhookEndpointId: "not-an-id") { id } }',
    ),
    Case(
        WebhookService.update,
        MANAGERS,
        ("PATCH", WEBHOOK, BAD_JSON),
        'mutation { updateWebhookEndpoint(webhookEndpointId: "not-an-id") { id } }',
    ),
    Case(
        WebhookService.delete,
        MANAGERS,
        ("DELETE", WEBHOOK, {}),
        'mutation { deleteWebhookEndpoint(webhookEndpointId: "x") { deletedWebhookEndpointId } }',
    ),
    Case(
        WebhookService.rotate_secret,
        MANAGERS,
        ("POST", f"{WEBHOOK}/rotate-secret", {}),
        'mutation { rotateWebhookEndpointSecret(webhookEndpointId: "x") { secret } }',
    ),
    Case(
        WebhookService.attempts,
        MANAGERS,
        ("GET", f"{WEBHOOK}/deliveries", {}),
        '{ webhookDeliveryAttempts(webhookEndpointId: "not-an-id") { totalCount } }',
    ),
    Case(
        WebhookService.replay,
        MANAGERS,
        ("POST", f"{WEBHOOK}/deliveries/not-an-id/replay", {}),
        'mutation { replayWebhookDelivery(webhookDeliveryId: "x") { id } }',
    ),
    Case(
        CustomerService.update,
        MANAGERS,
        ("PATCH", "/customer", {"json": {"email": "not-an-email"}}),
        'mutation { updateCustomer(input: {email: "not-an-email"}) { id } }',
    ),
    Case(
        CustomerService.transfer_ownership,
        OWNER,
        ("POST", "/customer/transfer-ownership", BAD_JSON),
        'mutation { transferOwnership(newOwnerUserId: "not-an-id") { customer { id } } }',
    ),
    Case(
        MemberService.list,
        MANAGERS,
        ("GET", "/customer/members", {"params": {"pageSize": 1000}}),
        "{ members(pageSize: 1000) { totalCount } }",
    ),
    Case(
        MemberService.add,
        MANAGERS,
        ("POST", "/customer/member", BAD_JSON),
        'mutation { addMember(email: "not-an-email") { __typename } }',
    ),
    Case(
        MemberService.change_role,
        MANAGERS,
        ("PUT", "/customer/member", {"json": {"userID": "not-an-id", "role": "user"}}),
        'mutation { changeMemberRole(userId: "not-an-id", role: USER) { role } }',
    ),
    Case(
        MemberService.remove,
        MANAGERS,
        ("DELETE", "/customer/member/not-an-id", {}),
        'mutation { removeMember(userId: "not-an-id") { removedUserId } }',
    ),
    Case(
        MemberService.revoke_invitation,
        MANAGERS,
        ("DELETE", "/customer/invitations/not-an-id", {}),
        'mutation { revokeInvitation(invitationId: "not-an-id") { revokedInvitationId } }',
    ),
    Case(
        EventService.list,
        MANAGERS,
        ("GET", "/limits/usage/users", {"params": {"userId": "not-an-id"}}),
        '{ usageEvents(userId: "not-an-id") { totalCount } }',
    ),
    Case(
        AuditService.trail,
        MANAGERS,
        ("GET", "/customer/audit", {"params": {"actorUserId": "not-an-id"}}),
        '{ auditTrail(actorUserId: "not-an-id") { totalCount } }',
    ),
    Case(
        AlertService.thresholds,
        MANAGERS,
        ("GET", "/admin/customer/not-an-id/alerts/thresholds", {}),
        '{ alertThresholds(customerId: "not-an-id") { id } }',
    ),
    Case(
        AlertService.set_thresholds,
        MANAGERS,
        ("PUT", "/customer/alerts/thresholds", {"json": {"thresholds": [{"percents": [0]}]}}),
        "mutation { setAlertThresholds(thresholds: [{percents: [0]}]) { id } }",
    ),
    Case(
        AlertService.list,
        MANAGERS,
        ("GET", "/customer/alerts", {"params": {"kind": "daily"}}),
        "{ alerts(pageSize: 1000) { totalCount } }",
    ),
    Case(
        BillingService.checkout_url,
        OWNER,
        ("POST", "/stripe/upgrade", {"json": {"successURL": "not a url"}}),
        'mutation { createCheckoutSession(successUrl: "not a url", cancelUrl: "x") { url } }',
    ),
)


def test_every_team_operation_with_input_is_here() -> None:
    declared = {
        endpoint.operation
        for endpoint in ENDPOINTS
        if endpoint.declaration.team is not None
        and (endpoint.body is not None or endpoint.query or "{" in endpoint.path)
    }
    assert declared == {case.operation for case in CASES}


@pytest.mark.parametrize("transport", ["rest", "graphql"])
@pytest.mark.parametrize("case", CASES, ids=lambda case: case.operation.__qualname__)
async def test_the_seat_comes_before_the_input(api: Api, case: Case, transport: str) -> None:
    team = await api.team("admin", "user")
    stranger = api.user()
    await api.call("GET", "/customer", stranger)  # signs in: their user row is written now
    callers = {"owner": team.owner, "admin": team.members[0], "user": team.members[1]}
    before = await _rows(api)
    send = _rest if transport == "rest" else _graphql
    for role, caller in callers.items():
        status, code = await send(api, case, caller)
        if role in case.allowed:
            assert status == 400, (role, code)
        else:
            assert (status, code) == (403, "FORBIDDEN"), role
    assert await send(api, case, stranger) == (404, "NO_CUSTOMER")
    assert await _rows(api) == before


async def _rest(api: Api, case: Case, caller: Caller) -> tuple[int, str]:
    method, path, garbage = case.rest
    response = await api.call(method, path, caller, **garbage)
    error = response.json()["error"]
    assert response.headers["x-error"] == error["message"]
    return response.status_code, error["code"]


async def _graphql(api: Api, case: Case, caller: Caller) -> tuple[int, str]:
    body = await api.graphql(case.graphql, caller)
    [error] = body["errors"]
    return error["extensions"]["status"], error["extensions"]["code"]


async def _rows(api: Api) -> dict[str, list[str]]:
    """Every row of every table, to tell that nothing was written."""
    async with api.container.db.transaction(write=False) as session:
        return {
            table.name: sorted(map(repr, (await session.execute(table.select())).all()))
            for table in SQLModel.metadata.sorted_tables
        }
