"""Every operation of the slice, through REST and through GraphQL, with the outcome SPEC §3.2,
§3.4 and §5.3-§5.8 give each kind of caller. The role matrix and the parity test both read
this table.

An outcome is the status (the HTTP status over REST; over GraphQL `extensions.status`, or the
operation's success status), the error code, and the data reduced to what both transports
must agree on, with the world's ids replaced by their names so that two worlds compare.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx

from tests.support.api import ADDRESS, ANONYMOUS, Api, Caller
from tests.support.stripe import sync_tiers

ROLES = ("owner", "admin", "user", "outsider", "anonymous", "billing_admin")


@dataclass
class World:
    """A customer on the enterprise tier with an owner, an admin, a user and a `victim`
    user to act upon, a pending invitation, and callers from outside: the owner of another
    customer, an anonymous caller and a billing_admin with no customer."""

    api: Api
    customer_id: str
    callers: dict[str, Caller]
    victim: Caller
    invitation_id: str
    other_customer_id: str
    tier_ids: dict[str, str]
    api_key_id: str = ""  # a key of the caller's own, for the operations on one (`own_key`)
    # The customer's webhook endpoint and a delivery to it (`with_webhook`).
    webhook_id: str = ""
    delivery_id: str = ""

    @classmethod
    async def build(cls, api: Api) -> World:
        team = await api.team("admin", "user", "user")
        other = await api.team()
        invited = await api.call(
            "POST",
            "/customer/member",
            team.owner,
            json={"email": f"{uuid.uuid4().hex}@example.com"},
        )
        admin = api.admin()
        tiers = (await api.call("GET", "/admin/tiers", admin)).json()["tiers"]
        callers = {
            "owner": team.owner,
            "admin": team.members[0],
            "user": team.members[1],
            "outsider": other.owner,
            "anonymous": ANONYMOUS,
            "billing_admin": admin,
        }
        return cls(
            api,
            team.customer_id,
            callers,
            team.members[2],
            invited.json()["id"],
            other.customer_id,
            {t["name"]: t["id"] for t in tiers},
        )

    def names(self) -> dict[str, str]:
        known = {
            self.customer_id: "customer",
            self.victim.user_id: "victim",
            self.invitation_id: "invitation",
            self.other_customer_id: "other_customer",
        }
        for name, caller in self.callers.items():
            if caller.id is not None:
                known[str(caller.id)] = name
        return known


@dataclass(frozen=True)
class Outcome:
    status: int
    code: str | None = None
    data: Any = None


Call = Callable[[World, Caller], Awaitable[Outcome]]


@dataclass(frozen=True)
class Operation:
    name: str
    rest: Call
    graphql: Call
    expected: dict[str, int]
    stripe: bool = False  # run with Stripe configured (the fake Stripe)

    @property
    def reads_only(self) -> bool:
        return self.name.startswith(READ_PREFIXES)


READ_PREFIXES = ("view ", "list ", "admin list ", "admin get ")


def symbolic(world: World, value: Any) -> Any:
    """Ids replaced by their names in the world; timestamps and fresh ids dropped."""
    names = world.names()
    if isinstance(value, dict):
        return {
            k: symbolic(world, v)
            for k, v in value.items()
            if not k.endswith("At") and k not in ("id", "key", "secret", "error_id")
        }
    if isinstance(value, list | tuple):
        return type(value)(symbolic(world, v) for v in value)
    if isinstance(value, str):
        return names.get(value, value)
    return value


def rest(
    method: str,
    path: str | Callable[[World], str],
    body: Any = None,
    view: Callable[[Any], Any] = lambda data: data,
) -> Call:
    async def call(world: World, caller: Caller) -> Outcome:
        url = path(world) if callable(path) else path
        kwargs = {"json": body(world) if callable(body) else body} if body is not None else {}
        response = await world.api.call(method, url, caller, **kwargs)
        return _rest_outcome(world, response, view)

    call.method, call.path = method, path  # type: ignore[attr-defined]  # for the coverage test
    return call


def _rest_outcome(world: World, response: httpx.Response, view: Callable[[Any], Any]) -> Outcome:
    if response.status_code >= 400:
        return Outcome(response.status_code, response.json()["error"]["code"])
    data = response.json() if response.content else None
    return Outcome(response.status_code, None, symbolic(world, view(data)))


def graphql(
    query: str,
    success: int,
    variables: Callable[[World], dict[str, Any]] | None = None,
    view: Callable[[Any], Any] = lambda data: data,
) -> Call:
    async def call(world: World, caller: Caller) -> Outcome:
        body = await world.api.graphql(query, caller, **(variables(world) if variables else {}))
        if body.get("errors"):
            extensions = body["errors"][0]["extensions"]
            return Outcome(extensions["status"], extensions["code"])
        (data,) = body["data"].values()
        return Outcome(success, None, symbolic(world, view(data)))

    call.document = query  # type: ignore[attr-defined]  # for the coverage test
    return call


def own_key(call: Call) -> Call:
    """`call`, made with a fresh API key of the caller's own in `world.api_key_id` (a
    random id for a caller who may not make one)."""

    async def with_key(world: World, caller: Caller) -> Outcome:
        key_id = str(uuid.uuid4())
        if caller.id is not None:
            created = await world.api.call("POST", "/apikeys", caller, json={"name": "k"})
            key_id = created.json()["id"]
        return await call(dataclasses.replace(world, api_key_id=key_id), caller)

    with_key.__dict__.update(call.__dict__)
    return with_key


# Allowed in the tests' settings (`settings_for`): the discard port refuses at once.
WORLD_HOOK = "http://127.0.0.1:9/billing"


def with_webhook(call: Call) -> Call:
    """`call`, once the world's customer has a webhook endpoint (`world.webhook_id`) and a
    delivered event to it (`world.delivery_id`); made once per world."""

    async def with_endpoint(world: World, caller: Caller) -> Outcome:
        if not world.webhook_id:
            world.webhook_id, world.delivery_id = await _webhook(world)
        return await call(world, caller)

    with_endpoint.__dict__.update(call.__dict__)
    return with_endpoint


async def _webhook(world: World) -> tuple[str, str]:
    from sqlalchemy import select, update
    from sqlmodel import col

    from app.events.outgoing import emit
    from app.events.types import EventType
    from app.models import WebhookDelivery

    created = await world.api.call(
        "POST",
        "/customer/webhooks",
        world.callers["owner"],
        json={"url": WORLD_HOOK, "eventTypes": [EventType.QUOTA_THRESHOLD_REACHED.value]},
    )
    endpoint_id = created.json()["id"]
    container = world.api.container
    async with container.db.transaction() as session:
        await emit(
            session,
            customer_id=uuid.UUID(world.customer_id),
            type=EventType.QUOTA_THRESHOLD_REACHED,
            data={"serviceName": "compute-api", "featureKey": "max_instances"},
            at=container.clock(),
        )
        # Delivered already, so that no attempt of it races the operations' reads.
        mine = col(WebhookDelivery.endpoint_id) == uuid.UUID(endpoint_id)
        await session.execute(
            update(WebhookDelivery).where(mine).values(status="succeeded", next_attempt_at=None)
        )
        delivery_id = await session.scalar(select(col(WebhookDelivery.id)).where(mine))
    return endpoint_id, str(delivery_id)


def priced(call: Call) -> Call:
    """`call`, once the paid tiers have their Stripe prices."""

    async def with_prices(world: World, caller: Caller) -> Outcome:
        await sync_tiers(world.api)
        return await call(world, caller)

    with_prices.__dict__.update(call.__dict__)
    return with_prices


def _fresh_user(_world: World) -> dict[str, Any]:
    return {"userID": str(uuid.uuid4()), "role": "user"}


def _members(data: Any) -> Any:
    rows = data["members"] if "members" in data else data["items"]
    return sorted([m.get("userID") or m.get("userId"), m["role"].lower()] for m in rows)


def _customer(data: Any) -> Any:
    tier = data["tier"]["name"] if "tier" in data else data["tierName"]
    return {
        "id": data["id"],
        "name": data["name"],
        "email": data["email"],
        "gcid": data["gcid"],
        "tier": tier,
        "status": data["subscriptionStatus"].lower(),
        "address": data["billingAddress"],
    }


def _admin_customer(data: Any) -> Any:
    owner = data.get("ownerUserID") or data.get("ownerUserId")
    return {**_customer(data), "memberCount": data["memberCount"], "owner": owner}


def _tier_view(data: Any) -> Any:
    if "tier" in data:
        return {
            "customerId": data["id"],
            "tierName": data["tier"]["name"],
            "description": data["tier"]["description"],
            "isActive": data["tier"]["isActive"],
            "trialUsed": data["trialUsed"],
        }
    return {
        key: data[key] for key in ("customerId", "tierName", "description", "isActive", "trialUsed")
    }


def _tiers(data: Any) -> Any:
    rows = data["tiers"] if isinstance(data, dict) else data
    return [(t["name"], t["memberLimit"], t["isDefault"]) for t in rows]


def _summaries(data: Any) -> Any:
    rows = data["customers"] if "customers" in data else data["items"]
    return sorted((c["id"], c["tierName"], c["memberCount"]) for c in rows)


def _role_of(data: Any) -> Any:
    return ((data.get("userID") or data.get("userId")), data["role"].lower())


def _transfer(data: Any) -> Any:
    return (
        data.get("ownerUserID") or data.get("ownerUserId"),
        data.get("previousOwnerUserID") or data.get("previousOwnerUserId"),
    )


def _done(_data: Any) -> Any:
    return None


def _invitation(data: Any) -> Any:
    return (data["role"].lower(), data["status"].lower())


def _invitations(data: Any) -> Any:
    rows = data["invitations"] if isinstance(data, dict) else data
    return sorted(invitation["id"] for invitation in rows)


CUSTOMER_FIELDS = (
    "id name email gcid subscriptionStatus trialUsed memberCount ownerUserId "
    "billingAddress { street city state postalCode country } "
    "tier { name description isActive }"
)
MEMBER_FIELDS = "items { userId role } totalCount"
PROFILE_CHANGE = {"name": "Renamed", "billingAddress": {"country": "DE", "city": "Berlin"}}

MEMBER = {
    "owner": 200,
    "admin": 200,
    "user": 200,
    "outsider": 200,
    "anonymous": 401,
    "billing_admin": 404,
}
MANAGER = {**MEMBER, "user": 403}
ON_VICTIM = {**MANAGER, "outsider": 404}
ADMIN_ONLY = {
    "owner": 403,
    "admin": 403,
    "user": 403,
    "outsider": 403,
    "anonymous": 401,
    "billing_admin": 200,
}
ANY_USER = {role: 200 for role in ROLES} | {"anonymous": 401}


def _statuses(base: dict[str, int], success: int) -> dict[str, int]:
    return {role: success if status == 200 else status for role, status in base.items()}


OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "view customer",
        rest("GET", "/customer", view=_customer),
        graphql(f"{{ customer {{ {CUSTOMER_FIELDS} }} }}", 200, view=_customer),
        MEMBER,
    ),
    Operation(
        "view tier",
        rest("GET", "/customer/tier", view=_tier_view),
        graphql(
            "{ customer { id trialUsed tier { name description isActive } } }", 200, view=_tier_view
        ),
        MEMBER,
    ),
    Operation(
        "create customer",
        rest(
            "POST",
            "/customer",
            {"name": "New", "email": "n@example.com", "billingAddress": ADDRESS},
            view=lambda d: d["name"],
        ),
        graphql(
            "mutation($input: CustomerInput!) { createCustomer(input: $input) { name } }",
            201,
            lambda w: {
                "input": {"name": "New", "email": "n@example.com", "billingAddress": ADDRESS}
            },
            view=lambda d: d["name"],
        ),
        {
            "owner": 400,
            "admin": 400,
            "user": 400,
            "outsider": 400,
            "anonymous": 401,
            "billing_admin": 201,
        },
    ),
    Operation(
        "update customer",
        rest("PATCH", "/customer", PROFILE_CHANGE, view=_customer),
        graphql(
            "mutation($input: UpdateCustomerInput!) { updateCustomer(input: $input) "
            f"{{ {CUSTOMER_FIELDS} }} }}",
            200,
            lambda w: {"input": PROFILE_CHANGE},
            view=_customer,
        ),
        MANAGER,
    ),
    Operation(
        "delete customer",
        rest("DELETE", "/customer", view=_done),
        graphql("mutation { deleteCustomer { deletedCustomerId } }", 204, view=_done),
        _statuses({**MEMBER, "admin": 403, "user": 403}, 204),
    ),
    Operation(
        "leave customer",
        rest("DELETE", "/customer/leave", view=_done),
        graphql("mutation { leaveCustomer { leftCustomerId } }", 204, view=_done),
        _statuses({**MEMBER, "owner": 403, "outsider": 403}, 204),
    ),
    Operation(
        "transfer ownership",
        rest(
            "POST",
            "/customer/transfer-ownership",
            lambda w: {"newOwnerUserID": w.victim.user_id},
            view=_transfer,
        ),
        graphql(
            "mutation($id: ID) { transferOwnership(newOwnerUserId: $id) "
            "{ newOwner { userId } previousOwner { userId } } }",
            200,
            lambda w: {"id": w.victim.user_id},
            view=lambda d: (d["newOwner"]["userId"], d["previousOwner"]["userId"]),
        ),
        {**MEMBER, "admin": 403, "user": 403, "outsider": 400},
    ),
    Operation(
        "list members",
        rest("GET", "/customer/members", view=_members),
        graphql(f"{{ members {{ {MEMBER_FIELDS} }} }}", 200, view=_members),
        MANAGER,
    ),
    Operation(
        "add member",
        rest("POST", "/customer/member", _fresh_user, view=lambda d: d["role"]),
        graphql(
            "mutation($id: ID) { addMember(userId: $id, role: USER) { ... on Member { role } } }",
            201,
            lambda w: {"id": str(uuid.uuid4())},
            view=lambda d: d["role"].lower(),
        ),
        _statuses(MANAGER, 201),
    ),
    Operation(
        "invite member",
        rest(
            "POST",
            "/customer/member",
            {"email": "invitee@example.com", "role": "admin"},
            view=_invitation,
        ),
        graphql(
            'mutation { addMember(email: "invitee@example.com", role: ADMIN) '
            "{ ... on Invitation { role status } } }",
            201,
            view=_invitation,
        ),
        _statuses(MANAGER, 201),
    ),
    Operation(
        "change member role",
        rest(
            "PUT",
            "/customer/member",
            lambda w: {"userID": w.victim.user_id, "role": "admin"},
            view=_role_of,
        ),
        graphql(
            "mutation($id: ID!) { changeMemberRole(userId: $id, role: ADMIN) { userId role } }",
            200,
            lambda w: {"id": w.victim.user_id},
            view=_role_of,
        ),
        ON_VICTIM,
    ),
    Operation(
        "remove member",
        rest("DELETE", lambda w: f"/customer/member/{w.victim.user_id}", view=_done),
        graphql(
            "mutation($id: ID!) { removeMember(userId: $id) { removedUserId } }",
            204,
            lambda w: {"id": w.victim.user_id},
            view=_done,
        ),
        _statuses(ON_VICTIM, 204),
    ),
    Operation(
        "list invitations",
        rest("GET", "/customer/invitations", view=_invitations),
        graphql("{ invitations { id } }", 200, view=_invitations),
        MANAGER,
    ),
    Operation(
        "revoke invitation",
        rest("DELETE", lambda w: f"/customer/invitations/{w.invitation_id}", view=_done),
        graphql(
            "mutation($id: ID!) { revokeInvitation(invitationId: $id) { revokedInvitationId } }",
            204,
            lambda w: {"id": w.invitation_id},
            view=_done,
        ),
        _statuses(ON_VICTIM, 204),
    ),
    Operation(
        "create api key",
        rest("POST", "/apikeys", {"name": "k"}, view=lambda d: d["name"]),
        graphql(
            'mutation { createApiKey(name: "k") { apiKey { name } secret } }',
            201,
            view=lambda d: d["apiKey"]["name"],
        ),
        _statuses(ANY_USER, 201),
    ),
    Operation(
        "list api keys",
        rest("GET", "/apikeys", view=lambda d: d["apiKeys"]),
        graphql("{ apiKeys { name } }", 200),
        ANY_USER,
    ),
    Operation(
        "admin list customers",
        rest("GET", "/admin/customers", view=_summaries),
        graphql("{ adminCustomers { items { id tierName memberCount } } }", 200, view=_summaries),
        ADMIN_ONLY,
    ),
    Operation(
        "admin get customer",
        rest("GET", lambda w: f"/admin/customer/{w.customer_id}", view=_admin_customer),
        graphql(
            f"query($id: ID!) {{ adminCustomer(customerId: $id) {{ {CUSTOMER_FIELDS} }} }}",
            200,
            lambda w: {"id": w.customer_id},
            view=_admin_customer,
        ),
        ADMIN_ONLY,
    ),
    Operation(
        "admin update customer",
        rest("PATCH", lambda w: f"/admin/customer/{w.customer_id}", PROFILE_CHANGE, view=_customer),
        graphql(
            "mutation($id: ID!, $input: UpdateCustomerInput!) { adminUpdateCustomer("
            f"customerId: $id, input: $input) {{ {CUSTOMER_FIELDS} }} }}",
            200,
            lambda w: {"id": w.customer_id, "input": PROFILE_CHANGE},
            view=_customer,
        ),
        ADMIN_ONLY,
    ),
    Operation(
        "admin delete customer",
        rest("DELETE", lambda w: f"/admin/customer/{w.customer_id}", view=_done),
        graphql(
            "mutation($id: ID!) { adminDeleteCustomer(customerId: $id) { deletedCustomerId } }",
            204,
            lambda w: {"id": w.customer_id},
            view=_done,
        ),
        _statuses(ADMIN_ONLY, 204),
    ),
    Operation(
        "admin list members",
        rest("GET", lambda w: f"/admin/customer/{w.customer_id}/members", view=_members),
        graphql(
            f"query($id: ID!) {{ adminCustomerMembers(customerId: $id) {{ {MEMBER_FIELDS} }} }}",
            200,
            lambda w: {"id": w.customer_id},
            view=_members,
        ),
        ADMIN_ONLY,
    ),
    Operation(
        "admin add member",
        rest(
            "POST",
            lambda w: f"/admin/customer/{w.customer_id}/member",
            _fresh_user,
            view=lambda d: d["role"],
        ),
        graphql(
            "mutation($c: ID!, $u: ID) { adminAddMember(customerId: $c, userId: $u, "
            "role: USER) { ... on Member { role } } }",
            201,
            lambda w: {"c": w.customer_id, "u": str(uuid.uuid4())},
            view=lambda d: d["role"].lower(),
        ),
        _statuses(ADMIN_ONLY, 201),
    ),
    Operation(
        "admin remove member",
        rest(
            "DELETE",
            lambda w: f"/admin/customer/{w.customer_id}/member/{w.victim.user_id}",
            view=_done,
        ),
        graphql(
            "mutation($c: ID!, $u: ID!) { adminRemoveMember(customerId: $c, userId: $u) "
            "{ removedUserId } }",
            204,
            lambda w: {"c": w.customer_id, "u": w.victim.user_id},
            view=_done,
        ),
        _statuses(ADMIN_ONLY, 204),
    ),
    Operation(
        "list plans",
        rest("GET", "/tiers", view=_tiers),
        graphql("{ plans { name memberLimit isDefault } }", 200, view=_tiers),
        ANY_USER,
    ),
    Operation(
        "admin list tiers",
        rest("GET", "/admin/tiers", view=_tiers),
        graphql("{ tiers { name memberLimit isDefault } }", 200, view=_tiers),
        ADMIN_ONLY,
    ),
    Operation(
        "admin set default tier",
        rest(
            "PUT",
            lambda w: f"/admin/tiers/{w.tier_ids['pro']}/default",
            view=lambda d: (d["name"], d["isDefault"]),
        ),
        graphql(
            "mutation($name: String!) { setDefaultTier(tierName: $name) { name isDefault } }",
            200,
            lambda w: {"name": "pro"},
            view=lambda d: (d["name"], d["isDefault"]),
        ),
        ADMIN_ONLY,
    ),
    Operation(
        "admin set customer tier",
        rest(
            "PUT",
            lambda w: f"/admin/customer/{w.customer_id}/tier",
            {"tierName": "Pro Plus"},
            view=_admin_customer,
        ),
        graphql(
            f'mutation($id: ID!) {{ setCustomerTier(customerId: $id, tierName: "Pro Plus") '
            f"{{ {CUSTOMER_FIELDS} }} }}",
            200,
            lambda w: {"id": w.customer_id},
            view=_admin_customer,
        ),
        ADMIN_ONLY,
    ),
)


# The audit trail: the caller's customer's (owner, admin), any customer's and the platform's
# (billing_admin).
AUDIT_FIELDS = "totalCount items { seq action actorUserId hash prevHash }"


def _audit(data: Any) -> Any:
    """REST's `{records, pagination}` and GraphQL's page, compared as one."""
    if "records" in data:
        rows, total = data["records"], data["pagination"]["totalCount"]
    else:
        rows, total = data["items"], data["totalCount"]
    keys = ("seq", "action", "actorUserId", "hash", "prevHash")
    return {"total": total, "records": [tuple(row[k] for k in keys) for row in rows]}


AUDIT_OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "view audit trail",
        rest("GET", "/customer/audit", view=_audit),
        graphql(f"{{ auditTrail {{ {AUDIT_FIELDS} }} }}", 200, view=_audit),
        MANAGER,
    ),
    Operation(
        "admin get customer audit trail",
        rest("GET", lambda w: f"/admin/customer/{w.customer_id}/audit", view=_audit),
        graphql(
            f"query($id: ID!) {{ adminAuditTrail(customerId: $id) {{ {AUDIT_FIELDS} }} }}",
            200,
            lambda w: {"id": w.customer_id},
            view=_audit,
        ),
        ADMIN_ONLY,
    ),
    Operation(
        "admin get platform audit trail",
        rest("GET", "/admin/audit?action=tier.", view=_audit),
        graphql(
            f'{{ platformAuditTrail(action: "tier.") {{ {AUDIT_FIELDS} }} }}', 200, view=_audit
        ),
        ADMIN_ONLY,
    ),
)
OPERATIONS += AUDIT_OPERATIONS


# §5.3 and §5.4: the reports. REST groups features by service where GraphQL lists them, so
# each view reduces both to the same rows.
ANYONE = {role: 200 for role in ROLES}
USAGE_FIELDS = (
    "identifier identifierType totalFeatures "
    "features { serviceName featureKey currentUsage limit remaining isLocked }"
)


def _limit(data: Any) -> Any:
    return (data["value"], data["window"].lower(), data["description"])


def _limit_rows(data: Any) -> Any:
    if isinstance(data, list):
        return sorted((r["serviceName"], r["featureKey"], *_limit(r)) for r in data)
    grouped = data["ipLimits"] if "ipLimits" in data else data["limits"]
    return sorted(
        (service, key, *_limit(limit))
        for service, features in grouped.items()
        for key, limit in features.items()
    )


def _service_limit_rows(data: Any) -> Any:
    if isinstance(data, list):
        return sorted((r["featureKey"], *_limit(r)) for r in data)
    return sorted((key, *_limit(limit)) for key, limit in data["limits"].items())


def _usage(data: Any) -> Any:
    if "features" in data:
        rows = data["features"]
    else:
        rows = [
            {**row, "serviceName": service}
            for service, group in data["services"].items()
            for row in group["features"]
        ]
    keys = ("serviceName", "featureKey", "currentUsage", "limit", "remaining", "isLocked")
    return {
        "identifier": data["identifier"],
        "identifierType": data["identifierType"].lower(),
        "totalFeatures": data["totalFeatures"],
        "features": sorted(tuple(row[k] for k in keys) for row in rows),
    }


def _quota_rows(data: Any) -> Any:
    if isinstance(data, list):
        return sorted((r["serviceName"], r["featureKey"], r["value"]) for r in data)
    return sorted(
        (service, key, quota["value"])
        for service, features in data["quotas"].items()
        for key, quota in features.items()
    )


def _quota_usage(data: Any) -> Any:
    if "services" in data:
        rows = [
            {**row, "serviceName": service}
            for service, group in data["services"].items()
            for row in group["features"]
        ]
    else:
        rows = data["features"]
    keys = ("serviceName", "featureKey", "currentUsage", "limit", "remaining")
    # A quota has no window: REST's `resetAt` is 0, GraphQL's null.
    return {
        "customerId": data["customerId"],
        "totalFeatures": data["totalFeatures"],
        "features": sorted((*(row[k] for k in keys), row["resetAt"] or None) for row in rows),
    }


REPORT_OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "view limits",
        rest("GET", "/limits", view=_limit_rows),
        graphql(
            "{ limits { serviceName featureKey value window description } }",
            200,
            view=_limit_rows,
        ),
        MEMBER,
    ),
    Operation(
        "view service limits",
        rest("GET", "/limits/search-api", view=_service_limit_rows),
        graphql(
            '{ limits(serviceName: "search-api") { featureKey value window description } }',
            200,
            view=_service_limit_rows,
        ),
        MEMBER,
    ),
    Operation(
        "view limit",
        rest("GET", "/limits/feeds-api/feeds_download_per_hour", view=_limit),
        graphql(
            '{ limit(serviceName: "feeds-api", featureKey: "feeds_download_per_hour") '
            "{ value window description } }",
            200,
            view=_limit,
        ),
        MEMBER,
    ),
    Operation(
        "view ip limits",
        rest("GET", "/limits/ip", view=_limit_rows),
        graphql(
            "{ ipLimits { serviceName featureKey value window description } }",
            200,
            view=_limit_rows,
        ),
        ANYONE,
    ),
    Operation(
        "view usage",
        rest("GET", "/limits/usage", view=_usage),
        graphql(f"{{ usage {{ {USAGE_FIELDS} }} }}", 200, view=_usage),
        MEMBER,
    ),
    Operation(
        "view ip usage",
        rest("GET", "/limits/usage/ip?serviceName=feeds-api", view=_usage),
        graphql(f'{{ ipUsage(serviceName: "feeds-api") {{ {USAGE_FIELDS} }} }}', 200, view=_usage),
        ANYONE,
    ),
    Operation(
        "view quotas",
        rest("GET", "/quotas", view=_quota_rows),
        graphql("{ quotas { serviceName featureKey value } }", 200, view=_quota_rows),
        MEMBER,
    ),
    Operation(
        "view quota",
        rest("GET", "/quotas/compute-api/max_instances", view=lambda d: d["value"]),
        graphql(
            '{ quota(serviceName: "compute-api", featureKey: "max_instances") { value } }',
            200,
            view=lambda d: d["value"],
        ),
        MEMBER,
    ),
    Operation(
        "view quota usage",
        rest("GET", "/quotas/usage", view=_quota_usage),
        graphql(
            "{ quotaUsage { customerId totalFeatures features { serviceName featureKey "
            "currentUsage limit remaining resetAt } } }",
            200,
            view=_quota_usage,
        ),
        MEMBER,
    ),
)
OPERATIONS += REPORT_OPERATIONS


# §5.5 granular usage, §5.8 quotas and service registration, §3.4 per-customer overrides.
METERED = {**ADMIN_ONLY, "billing_admin": 200}
EVENT_VIEWERS = {**MANAGER, "outsider": 404, "billing_admin": 200}
EVENT_FIELDS = "totalCount items { type amount allowed userId }"
QUOTA_FIELDS = "featureKey currentUsage limit remaining resetAt"
NEW_SERVICE = {
    "featureKey": "detections_per_minute",
    "kind": "rate",
    "window": "minute",
    "values": {"free": 2, "pro": 50},
}
CHAT_LIMIT = "ai-api/chat_completions_per_minute"


def _events(data: Any) -> Any:
    """REST's `{total, events}` and GraphQL's page, compared as one."""
    events = data["events"] if "events" in data else data["items"]
    rows = [(e["type"].lower(), e["amount"], e["allowed"], e["userId"]) for e in events]
    return {"total": data.get("total", data.get("totalCount")), "events": rows}


def _registered(data: Any) -> Any:
    def values(feature: Any) -> Any:
        given = feature["values"]
        pairs = given.items() if isinstance(given, dict) else [tuple(v.values()) for v in given]
        return sorted(pairs)

    return [
        (f["featureKey"], f["kind"].lower(), (f["window"] or "").lower(), values(f))
        for f in data["features"]
    ]


def _override(data: Any) -> Any:
    return (data["kind"].lower(), data["value"], data["tierName"], data["tierValue"])


def _quota_call(action: str) -> Call:
    field = "allocateQuota" if action == "allocate" else "releaseQuota"
    return graphql(
        f'mutation($id: ID) {{ {field}(serviceName: "compute-api", featureKey: "max_instances", '
        f"customerId: $id) {{ {QUOTA_FIELDS} }} }}",
        200,
        lambda w: {"id": w.customer_id},
    )


LIMITS_OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "view limit events",
        rest("GET", lambda w: f"/limits/usage/users?customerId={w.customer_id}", view=_events),
        graphql(
            f"query($id: ID) {{ usageEvents(type: RATE_LIMIT, customerId: $id) "
            f"{{ {EVENT_FIELDS} }} }}",
            200,
            lambda w: {"id": w.customer_id},
            view=_events,
        ),
        EVENT_VIEWERS,
    ),
    Operation(
        "view quota events",
        rest("GET", lambda w: f"/quotas/usage/users?customerId={w.customer_id}", view=_events),
        graphql(
            f"query($id: ID) {{ usageEvents(type: QUOTA, customerId: $id) {{ {EVENT_FIELDS} }} }}",
            200,
            lambda w: {"id": w.customer_id},
            view=_events,
        ),
        EVENT_VIEWERS,
    ),
    Operation(
        "allocate quota",
        rest(
            "POST",
            "/quotas/compute-api/max_instances/allocate",
            lambda w: {"customerId": w.customer_id},
        ),
        _quota_call("allocate"),
        METERED,
    ),
    Operation(
        "release quota",
        rest(
            "POST",
            "/quotas/compute-api/max_instances/release",
            lambda w: {"customerId": w.customer_id},
        ),
        _quota_call("release"),
        METERED,
    ),
    Operation(
        "register service",
        rest("PUT", "/admin/services/vision-api", {"features": [NEW_SERVICE]}, view=_registered),
        graphql(
            'mutation { registerService(serviceName: "vision-api", features: '
            '[{featureKey: "detections_per_minute", kind: RATE, window: MINUTE, '
            'values: [{tierName: "free", value: 2}, {tierName: "pro", value: 50}]}]) '
            "{ features { featureKey kind window values { tierName value } } } }",
            200,
            view=_registered,
        ),
        METERED,
    ),
    Operation(
        "admin set feature override",
        rest(
            "PUT",
            lambda w: f"/admin/customer/{w.customer_id}/limits/{CHAT_LIMIT}",
            {"value": 42},
            view=_override,
        ),
        graphql(
            'mutation($id: ID!) { setFeatureOverride(customerId: $id, serviceName: "ai-api", '
            'featureKey: "chat_completions_per_minute", value: 42) '
            "{ kind value tierName tierValue } }",
            200,
            lambda w: {"id": w.customer_id},
            view=_override,
        ),
        ADMIN_ONLY,
    ),
    Operation(
        "admin delete feature override",
        rest("DELETE", lambda w: f"/admin/customer/{w.customer_id}/limits/{CHAT_LIMIT}"),
        graphql(
            'mutation($id: ID!) { clearFeatureOverride(customerId: $id, serviceName: "ai-api", '
            'featureKey: "chat_completions_per_minute") { removed } }',
            204,
            lambda w: {"id": w.customer_id},
            view=_done,
        ),
        _statuses(ADMIN_ONLY, 204),
    ),
)
OPERATIONS += LIMITS_OPERATIONS


# The operations of the services' own: API keys, Stripe, billing status, metering.
CONSUME = {"serviceName": "ai-api", "featureKey": "chat_completions_per_minute"}
CONSUME_ARGUMENTS = 'serviceName: "ai-api", featureKey: "chat_completions_per_minute"'
DECISION_FIELDS = "allowed currentUsage limit remaining"
RETURN_URLS = {"successURL": "https://example.com/ok", "cancelURL": "https://example.com/no"}


def _service_quota_rows(data: Any) -> Any:
    if isinstance(data, list):
        return sorted((r["featureKey"], r["value"]) for r in data)
    return sorted((key, quota["value"]) for key, quota in data["quotas"].items())


def _billing_status(data: Any) -> Any:
    by_status = data["subscriptionsByStatus"]
    tiers = data["tiers"]
    if isinstance(by_status, list):
        by_status = {row["status"].lower(): row["customers"] for row in by_status}
        tiers = {row["tierName"]: row["customers"] for row in tiers}
    return (data["stripeConfigured"], data["customers"], by_status, tiers)


def _decision(data: Any) -> Any:
    return tuple(data[key] for key in ("allowed", "currentUsage", "limit", "remaining"))


def _decisions(data: Any) -> Any:
    rows = data["decisions"] if isinstance(data, dict) else data
    return [_decision(row) for row in rows]


def _url(data: Any) -> Any:
    return (data.get("url") or data.get("checkoutURL") or "").startswith("https://")


def _consume_call(field: str, arguments: str = "") -> Call:
    return graphql(
        f"mutation($id: ID) {{ {field}({CONSUME_ARGUMENTS}, customerId: $id{arguments}) "
        f"{{ {DECISION_FIELDS} }} }}",
        200,
        lambda w: {"id": w.customer_id},
        view=_decision,
    )


SERVICE_OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "revoke api key",
        own_key(rest("DELETE", lambda w: f"/apikeys/{w.api_key_id}", view=_done)),
        own_key(
            graphql(
                "mutation($id: ID!) { revokeApiKey(apiKeyId: $id) { revokedApiKeyId } }",
                204,
                lambda w: {"id": w.api_key_id},
                view=_done,
            )
        ),
        _statuses(ANY_USER, 204),
    ),
    Operation(
        "view ip service limits",
        rest("GET", "/limits/ip/search-api", view=_service_limit_rows),
        graphql(
            '{ ipLimits(serviceName: "search-api") { featureKey value window description } }',
            200,
            view=_service_limit_rows,
        ),
        ANYONE,
    ),
    Operation(
        "view service quotas",
        rest("GET", "/quotas/compute-api", view=_service_quota_rows),
        graphql(
            '{ quotas(serviceName: "compute-api") { featureKey value } }',
            200,
            view=_service_quota_rows,
        ),
        MEMBER,
    ),
    Operation(
        "admin get billing status",
        rest("GET", "/admin/billing/status", view=_billing_status),
        graphql(
            "{ billingStatus { stripeConfigured customers subscriptionsByStatus "
            "{ status customers } tiers { tierName customers } } }",
            200,
            view=_billing_status,
        ),
        ADMIN_ONLY,
    ),
    Operation(
        "open billing portal",
        rest("GET", "/stripe/customer", view=_url),
        graphql("mutation { createPortalSession { url } }", 200, view=_url),
        {**MEMBER, "admin": 403, "user": 403},
        stripe=True,
    ),
    Operation(
        "upgrade",
        priced(rest("POST", "/stripe/upgrade", RETURN_URLS, view=_url)),
        priced(
            graphql(
                'mutation { createCheckoutSession(successUrl: "https://example.com/ok", '
                'cancelUrl: "https://example.com/no") { url } }',
                200,
                view=_url,
            )
        ),
        {**MEMBER, "admin": 403, "user": 403},
        stripe=True,
    ),
    Operation(
        "consume",
        rest(
            "POST",
            "/limits/consume",
            lambda w: {**CONSUME, "customerId": w.customer_id},
            view=_decision,
        ),
        _consume_call("consume"),
        METERED,
    ),
    Operation(
        "check",
        rest(
            "POST",
            "/limits/check",
            lambda w: {**CONSUME, "customerId": w.customer_id},
            view=_decision,
        ),
        _consume_call("check"),
        METERED,
    ),
    Operation(
        "consume batch",
        rest(
            "POST",
            "/limits/consume/batch",
            lambda w: {"requests": [{**CONSUME, "customerId": w.customer_id}] * 2},
            view=_decisions,
        ),
        graphql(
            "mutation($r: [ConsumeInput!]!) { consumeBatch(requests: $r) "
            f"{{ ... on Decision {{ {DECISION_FIELDS} }} }} }}",
            200,
            lambda w: {"r": [{**CONSUME, "customerId": w.customer_id}] * 2},
            view=_decisions,
        ),
        METERED,
    ),
)
OPERATIONS += SERVICE_OPERATIONS


# Outgoing webhooks: the team's own (owner, admin), and any customer's for billing_admin,
# who names it (the /admin paths; `customerId` over GraphQL).
WEBHOOK_FIELDS = "url eventTypes enabled description"


def _endpoint_view(data: Any) -> Any:
    endpoint = data.get("webhookEndpoint", data)
    return (endpoint["url"], endpoint["eventTypes"], endpoint["enabled"], endpoint["description"])


def _endpoints_view(data: Any) -> Any:
    rows = data["webhooks"] if "webhooks" in data else data["items"]
    return sorted(_endpoint_view(row) for row in rows)


def _attempts(data: Any) -> Any:
    rows = data["attempts"] if "attempts" in data else data["items"]
    return sorted((row["status"].lower(), row["eventType"]) for row in rows)


def _replayed(data: Any) -> Any:
    return (data["status"].lower(), data["eventType"], data["manual"])


def _webhook_operations(admin: bool) -> tuple[Operation, ...]:
    """The webhook operations on the team's own path, or on the admin path naming it."""

    def base(world: World) -> str:
        if admin:
            return f"/admin/customer/{world.customer_id}/webhooks"
        return "/customer/webhooks"

    def one(world: World) -> str:
        return f"{base(world)}/{world.webhook_id}"

    named = "customerId: $c, " if admin else ""
    arguments = "$c: ID!, " if admin else ""
    prefix = "admin " if admin else ""
    expected = ADMIN_ONLY if admin else ON_VICTIM
    listing = ADMIN_ONLY if admin else MANAGER

    def variables(**more: Callable[[World], str]) -> Callable[[World], dict[str, Any]]:
        def made(world: World) -> dict[str, Any]:
            given = {name: value(world) for name, value in more.items()}
            return {**given, "c": world.customer_id} if admin else given

        return made

    return (
        Operation(
            f"{'admin list' if admin else 'list'} webhooks",
            with_webhook(rest("GET", base, view=_endpoints_view)),
            with_webhook(
                graphql(
                    f"query{'($c: ID!)' if admin else ''} {{ webhookEndpoints"
                    f"{'(customerId: $c)' if admin else ''} {{ items {{ {WEBHOOK_FIELDS} }} }} }}",
                    200,
                    variables(),
                    view=_endpoints_view,
                )
            ),
            listing,
        ),
        Operation(
            f"{prefix}create webhook",
            rest("POST", base, {"url": WORLD_HOOK}, view=_endpoint_view),
            graphql(
                f"mutation({arguments}$url: String!) {{ createWebhookEndpoint({named}url: $url) "
                f"{{ secret webhookEndpoint {{ {WEBHOOK_FIELDS} }} }} }}",
                201,
                variables(url=lambda w: WORLD_HOOK),
                view=_endpoint_view,
            ),
            _statuses(listing, 201),
        ),
        Operation(
            f"{'admin get' if admin else 'view'} webhook",
            with_webhook(rest("GET", one, view=_endpoint_view)),
            with_webhook(
                graphql(
                    f"query({arguments}$w: ID!) {{ webhookEndpoint({named}webhookEndpointId: $w) "
                    f"{{ {WEBHOOK_FIELDS} }} }}",
                    200,
                    variables(w=lambda w: w.webhook_id),
                    view=_endpoint_view,
                )
            ),
            expected,
        ),
        Operation(
            f"{prefix}update webhook",
            with_webhook(
                rest("PATCH", one, {"description": "CRM", "enabled": False}, view=_endpoint_view)
            ),
            with_webhook(
                graphql(
                    f"mutation({arguments}$w: ID!) {{ updateWebhookEndpoint({named}"
                    'webhookEndpointId: $w, description: "CRM", enabled: false) '
                    f"{{ {WEBHOOK_FIELDS} }} }}",
                    200,
                    variables(w=lambda w: w.webhook_id),
                    view=_endpoint_view,
                )
            ),
            expected,
        ),
        Operation(
            f"{prefix}rotate webhook secret",
            with_webhook(rest("POST", lambda w: f"{one(w)}/rotate-secret", view=_endpoint_view)),
            with_webhook(
                graphql(
                    f"mutation({arguments}$w: ID!) {{ rotateWebhookEndpointSecret({named}"
                    "webhookEndpointId: $w) { secret webhookEndpoint "
                    f"{{ {WEBHOOK_FIELDS} }} }} }}",
                    200,
                    variables(w=lambda w: w.webhook_id),
                    view=_endpoint_view,
                )
            ),
            expected,
        ),
        Operation(
            f"{prefix}delete webhook",
            with_webhook(rest("DELETE", one, view=_done)),
            with_webhook(
                graphql(
                    f"mutation({arguments}$w: ID!) {{ deleteWebhookEndpoint({named}"
                    "webhookEndpointId: $w) { deletedWebhookEndpointId } }",
                    204,
                    variables(w=lambda w: w.webhook_id),
                    view=_done,
                )
            ),
            _statuses(expected, 204),
        ),
        Operation(
            f"{'admin list' if admin else 'list'} webhook deliveries",
            with_webhook(rest("GET", lambda w: f"{one(w)}/deliveries", view=_attempts)),
            with_webhook(
                graphql(
                    f"query({arguments}$w: ID!) {{ webhookDeliveryAttempts({named}"
                    "webhookEndpointId: $w) { items { status eventType } } }",
                    200,
                    variables(w=lambda w: w.webhook_id),
                    view=_attempts,
                )
            ),
            expected,
        ),
        Operation(
            f"{prefix}replay webhook delivery",
            with_webhook(
                rest(
                    "POST",
                    lambda w: f"{one(w)}/deliveries/{w.delivery_id}/replay",
                    view=_replayed,
                )
            ),
            with_webhook(
                graphql(
                    f"mutation({arguments}$d: ID!) {{ replayWebhookDelivery({named}"
                    "webhookDeliveryId: $d) { status eventType manual } }",
                    202,
                    variables(d=lambda w: w.delivery_id),
                    view=_replayed,
                )
            ),
            _statuses(expected, 202),
        ),
    )


OPERATIONS += _webhook_operations(admin=False) + _webhook_operations(admin=True)


# Usage alerts: the caller's customer's (owner, admin) and any customer's (billing_admin).
THRESHOLD_FIELDS = "customerId defaultPercents thresholds { serviceName featureKey percents }"
ALERT_FIELDS = "totalCount items { kind serviceName featureKey percent limit usage }"
NEW_THRESHOLDS = [
    {"percents": [50, 90]},
    {"serviceName": "ai-api", "featureKey": "chat_completions_per_month", "percents": []},
]


def _alerts(data: Any) -> Any:
    """REST's `{alerts, pagination}` and GraphQL's page, compared as one."""
    if "alerts" in data:
        rows, total = data["alerts"], data["pagination"]["totalCount"]
    else:
        rows, total = data["items"], data["totalCount"]
    keys = ("serviceName", "featureKey", "percent", "limit", "usage")
    return {"total": total, "alerts": [(r["kind"].lower(), *(r[k] for k in keys)) for r in rows]}


def _set_thresholds(customer: bool) -> Call:
    arguments = "thresholds: $t, customerId: $id" if customer else "thresholds: $t"
    return graphql(
        f"mutation($t: [AlertThresholdInput!]!{', $id: ID' if customer else ''}) "
        f"{{ setAlertThresholds({arguments}) {{ {THRESHOLD_FIELDS} }} }}",
        200,
        lambda w: {"t": NEW_THRESHOLDS, **({"id": w.customer_id} if customer else {})},
    )


ALERT_OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "view alert thresholds",
        rest("GET", "/customer/alerts/thresholds"),
        graphql(f"{{ alertThresholds {{ {THRESHOLD_FIELDS} }} }}", 200),
        MANAGER,
    ),
    Operation(
        "set alert thresholds",
        rest("PUT", "/customer/alerts/thresholds", {"thresholds": NEW_THRESHOLDS}),
        _set_thresholds(customer=False),
        MANAGER,
    ),
    Operation(
        "view alerts",
        rest("GET", "/customer/alerts", view=_alerts),
        graphql(f"{{ alerts {{ {ALERT_FIELDS} }} }}", 200, view=_alerts),
        MANAGER,
    ),
    Operation(
        "admin get customer alert thresholds",
        rest("GET", lambda w: f"/admin/customer/{w.customer_id}/alerts/thresholds"),
        graphql(
            f"query($id: ID) {{ alertThresholds(customerId: $id) {{ {THRESHOLD_FIELDS} }} }}",
            200,
            lambda w: {"id": w.customer_id},
        ),
        ADMIN_ONLY,
    ),
    Operation(
        "admin set customer alert thresholds",
        rest(
            "PUT",
            lambda w: f"/admin/customer/{w.customer_id}/alerts/thresholds",
            {"thresholds": NEW_THRESHOLDS},
        ),
        _set_thresholds(customer=True),
        ADMIN_ONLY,
    ),
    Operation(
        "admin list customer alerts",
        rest("GET", lambda w: f"/admin/customer/{w.customer_id}/alerts?kind=usage", view=_alerts),
        graphql(
            f"query($id: ID) {{ alerts(customerId: $id, kind: USAGE) {{ {ALERT_FIELDS} }} }}",
            200,
            lambda w: {"id": w.customer_id},
            view=_alerts,
        ),
        ADMIN_ONLY,
    ),
)
OPERATIONS += ALERT_OPERATIONS
WITH_STRIPE = tuple(op for op in OPERATIONS if op.stripe)
WITHOUT_STRIPE = tuple(op for op in OPERATIONS if not op.stripe)
