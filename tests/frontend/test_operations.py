"""Every operation of the dashboard's documents, run against the app with each dashboard role
it concerns: data for the roles allowed (with its values checked), the documented error
code for the others.

One table per screen, each run in order on one `World` (a customer with a member of every
role): a step's roles run in the order written, those refused first, so that a refusal
leaves the world as the next role expects it; a check may read on through the documents.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from graphql import print_ast

from tests.frontend.documents import documents
from tests.frontend.world import HELD_INSTANCES, INVITED, ROLES, TEAM_ROLES, USED_CHATS, World
from tests.graphql.conftest import GraphQL
from tests.support.api import ADDRESS, Api, Caller
from tests.support.stripe import sync_tiers, synced_customer

Data = dict[str, Any]
Check = Callable[[World, str, Data], Awaitable[None] | None]
Variables = Callable[[World, str], Data]


@dataclass(frozen=True)
class Ok:
    """No error; `check` looks at the data (and may read on)."""

    check: Check | None = None


@dataclass(frozen=True)
class Err:
    """Every root field refused with this code (and this `extensions.status`, if given)."""

    code: str
    status: int | None = None


@dataclass(frozen=True)
class Step:
    operation: str
    variables: Variables
    outcomes: dict[str, Ok | Err]  # role -> outcome, run in this order


def no_variables(world: World, role: str) -> Data:
    return {}


def given(**variables: Any) -> Variables:
    return lambda world, role: variables


def of_customer(**variables: Any) -> Variables:
    return lambda world, role: {"customerId": world.customer_id, **variables}


def step(operation: str, variables: Variables = no_variables, /, **outcomes: Ok | Err) -> Step:
    unknown = set(outcomes) - set(ROLES)
    assert not unknown, unknown
    return Step(operation, variables, outcomes)


OK = Ok()
FORBIDDEN = Err("FORBIDDEN", 403)
NO_CUSTOMER = Err("NO_CUSTOMER", 404)
ADMIN_ROLE_REQUIRED = Err("ADMIN_ROLE_REQUIRED", 403)
# Who is refused what, as SPEC §3.2 words it: a team operation outside any team is
# NO_CUSTOMER, a role below the one needed FORBIDDEN, an admin operation for anyone but
# billing_admin ADMIN_ROLE_REQUIRED.
OUTSIDERS = {"no_customer": NO_CUSTOMER, "billing_admin": NO_CUSTOMER}
MANAGERS_ONLY = {"user": FORBIDDEN, "billing_admin_member": FORBIDDEN, **OUTSIDERS}
OWNER_ONLY = {"admin": FORBIDDEN, **MANAGERS_ONLY}
NOT_ADMINS = {role: ADMIN_ROLE_REQUIRED for role in ("owner", "admin", "user", "no_customer")}


def team_only(outcome: Ok) -> dict[str, Ok | Err]:
    return {role: outcome for role in TEAM_ROLES} | OUTSIDERS


def everyone(outcome: Ok) -> dict[str, Ok | Err]:
    return dict.fromkeys(ROLES, outcome)


def admins(outcome: Ok) -> dict[str, Ok | Err]:
    return NOT_ADMINS | {"billing_admin": outcome, "billing_admin_member": outcome}


# Reading the data.


def feature(items: list[Data], key: str) -> Data:
    return next(item for item in items if item["featureKey"] == key)


def chats_used(usage: Data) -> int:
    used: int = feature(usage["features"], "chat_completions_per_minute")["currentUsage"]
    return used


def instances_held(quota_usage: Data) -> int:
    held: int = feature(quota_usage["features"], "max_instances")["currentUsage"]
    return held


def team_ids(world: World) -> set[str]:
    return {world.id_of(role) for role in TEAM_ROLES}


# Home.


def home(world: World, role: str, data: Data) -> None:
    viewer = data["viewer"]
    assert viewer["userId"] == world.id_of(role)
    assert viewer["role"] == TEAM_ROLES.get(role)
    assert viewer["platformRoles"] == (["BILLING_ADMIN"] if "billing_admin" in role else [])
    assert viewer["canManageMembers"] is (role in ("owner", "admin"))
    assert viewer["canManageBilling"] is (role == "owner")
    assert viewer["canManageApiKeys"] is True
    assert viewer["paymentsConfigured"] is False
    customer = viewer["customer"]
    if role not in TEAM_ROLES:
        assert customer is None
        return
    assert (customer["id"], customer["name"]) == (world.customer_id, "Acme")
    assert (customer["memberCount"], customer["seatsUsed"]) == (4, 5)  # 4 members, 1 invite
    assert chats_used(customer["usage"]) == USED_CHATS  # the team shares one pool
    assert instances_held(customer["quotaUsage"]) == HELD_INSTANCES
    # A plain user may not list the team: null, no error, as `canManageMembers` said. On
    # its own team a billing_admin has its role's view; any team's in full it reads
    # through `adminCustomer`.
    if not viewer["canManageMembers"]:
        assert customer["members"] is None and customer["invitations"] is None
        return
    members = customer["members"]
    assert (members["totalCount"], members["pageSize"], members["hasNext"]) == (4, 10, False)
    assert {member["userId"] for member in members["items"]} == team_ids(world)
    assert [invitation["email"] for invitation in customer["invitations"]] == [INVITED]


def home_second_page(world: World, role: str, data: Data) -> None:
    members = data["viewer"]["customer"]["members"]
    if not data["viewer"]["canManageMembers"]:
        assert members is None
        return
    assert (members["page"], members["totalPages"], members["hasPrev"]) == (2, 2, True)
    assert len(members["items"]) == 1


HOME = [
    step("DashboardHome", **everyone(Ok(home))),
    step(
        "DashboardHome",
        given(membersPage=2, membersPageSize=3),
        **{role: Ok(home_second_page) for role in TEAM_ROLES},
    ),
]


# Account.


def account_viewer(world: World, role: str, data: Data) -> None:
    viewer = data["viewer"]
    assert (viewer["userId"], viewer["role"]) == (world.id_of(role), TEAM_ROLES.get(role))
    expected = {"id": world.customer_id, "name": "Acme"} if role in TEAM_ROLES else None
    assert viewer["customer"] == expected


def account_customer(world: World, role: str, data: Data) -> None:
    customer = data["customer"]
    assert (customer["id"], customer["name"]) == (world.customer_id, "Acme")
    assert customer["ownerUserId"] == world.id_of("owner")
    assert customer["tier"]["name"] == "enterprise"
    assert (customer["memberCount"], customer["seatsUsed"]) == (4, 5)
    assert customer["billingAddress"] == ADDRESS
    assert customer["gcid"] is None  # Stripe is not configured


async def no_customer_now(world: World, role: str) -> None:
    assert (await world.data("AccountViewer", role))["viewer"]["customer"] is None


def renamed_by_admin(world: World, role: str, data: Data) -> None:
    assert data["updateCustomer"]["name"] == "Acme Ltd"


def relocated_by_owner(world: World, role: str, data: Data) -> None:
    customer = data["updateCustomer"]
    assert customer["name"] == "Acme Ltd"  # left out: kept
    assert customer["locale"] == "fr-CA"
    assert customer["billingAddress"]["country"] == "CA"


def handed_to(new: str, previous: str) -> Check:
    async def check(world: World, role: str, data: Data) -> None:
        transfer = data["transferOwnership"]
        assert transfer["customer"]["ownerUserId"] == world.id_of(new)
        assert (transfer["newOwner"]["userId"], transfer["newOwner"]["role"]) == (
            world.id_of(new),
            "OWNER",
        )
        assert (transfer["previousOwner"]["userId"], transfer["previousOwner"]["role"]) == (
            world.id_of(previous),
            "ADMIN",
        )
        assert (await world.data("AccountViewer", previous))["viewer"]["role"] == "ADMIN"

    return check


async def left(world: World, role: str, data: Data) -> None:
    assert data["leaveCustomer"]["leftCustomerId"] == world.customer_id
    await no_customer_now(world, role)


async def deleted(world: World, role: str, data: Data) -> None:
    assert data["deleteCustomer"]["deletedCustomerId"] == world.customer_id
    await no_customer_now(world, role)
    error = await world.run("AdminCustomer", "billing_admin", {"customerId": world.customer_id})
    assert error["errors"][0]["extensions"]["code"] == "CUSTOMER_NOT_FOUND"


async def created(world: World, role: str, data: Data) -> None:
    customer = data["createCustomer"]
    assert customer["name"] == f"{role} Inc"
    assert (customer["ownerUserId"], customer["memberCount"], customer["seatsUsed"]) == (
        world.id_of(role),
        1,
        1,
    )
    assert (customer["tier"]["name"], customer["tier"]["isDefault"]) == ("free", True)
    viewer = (await world.data("AccountViewer", role))["viewer"]
    assert (viewer["role"], viewer["customer"]["id"]) == ("OWNER", customer["id"])


def new_customer(world: World, role: str) -> Data:
    return {
        "input": {"name": f"{role} Inc", "email": "billing@new.example", "billingAddress": ADDRESS}
    }


ALREADY_IN_CUSTOMER = Err("ALREADY_IN_CUSTOMER")
ACCOUNT = [
    step("AccountViewer", **everyone(Ok(account_viewer))),
    step("AccountCustomer", **team_only(Ok(account_customer))),
    step(
        "CreateCustomer",
        new_customer,
        **{role: ALREADY_IN_CUSTOMER for role in TEAM_ROLES},
    ),
    step(
        "UpdateCustomer",
        given(input={"name": "Acme Ltd"}),
        **MANAGERS_ONLY,
        admin=Ok(renamed_by_admin),
    ),
    step(
        "UpdateCustomer",
        given(input={"locale": "fr-CA", "billingAddress": {**ADDRESS, "country": "CA"}}),
        owner=Ok(relocated_by_owner),
    ),
    step(
        "TransferOwnership",
        lambda world, role: {"newOwnerUserId": world.id_of("admin")},
        **OWNER_ONLY,
        owner=Ok(handed_to("admin", "owner")),
    ),
    step(  # and back, by e-mail, from the new owner
        "TransferOwnership",
        lambda world, role: {"email": world.callers["owner"].email},
        owner=FORBIDDEN,
        admin=Ok(handed_to("owner", "admin")),
    ),
    step(
        "TransferOwnership",
        lambda world, role: {"newOwnerUserId": world.id_of("no_customer")},
        owner=Err("NOT_A_MEMBER"),
    ),
    step("DeleteCustomer", **OWNER_ONLY),
    step(
        "LeaveCustomer",
        owner=Err("OWNER_CANNOT_LEAVE"),
        **OUTSIDERS,
        user=Ok(left),
        billing_admin_member=Ok(left),
        admin=Ok(left),
    ),
    step("DeleteCustomer", owner=Ok(deleted), admin=NO_CUSTOMER),
    step("CreateCustomer", new_customer, **dict.fromkeys(ROLES, Ok(created))),
]


# Team.


def added_user(world: World, role: str) -> Data:
    """A user of the identity provider in no customer, for `role` to add."""
    newcomer = world.gql.user(email=f"added-by-{role}@acme.example")
    world.state[f"added by {role}"] = newcomer.user_id
    return {"userId": newcomer.user_id}


def added(members: int, seats: int) -> Check:
    async def check(world: World, role: str, data: Data) -> None:
        member = data["addMember"]
        assert member["__typename"] == "Member"
        assert (member["userId"], member["role"]) == (world.state[f"added by {role}"], "USER")
        page = (await world.data("TeamMembers", role))["members"]
        assert page["totalCount"] == members
        assert member["userId"] in {item["userId"] for item in page["items"]}
        assert (await world.data("AccountCustomer", role))["customer"]["seatsUsed"] == seats

    return check


def invited(seats: int) -> Check:
    async def check(world: World, role: str, data: Data) -> None:
        invitation = data["addMember"]
        assert invitation["__typename"] == "Invitation"
        assert (invitation["email"], invitation["status"]) == (f"{role}@later.example", "PENDING")
        listed = (await world.data("TeamInvitations", role))["invitations"]
        assert invitation["id"] in {item["id"] for item in listed}
        assert (await world.data("AccountCustomer", role))["customer"]["seatsUsed"] == seats

    return check


def made(new_role: str) -> Check:
    async def check(world: World, role: str, data: Data) -> None:
        member = data["changeMemberRole"]
        assert (member["userId"], member["role"]) == (world.state["added by owner"], new_role)
        items = (await world.data("TeamMembers", "owner"))["members"]["items"]
        assert {item["userId"]: item["role"] for item in items}[member["userId"]] == new_role

    return check


def revoked(invitations: list[str], seats: int) -> Check:
    def check(world: World, role: str, data: Data) -> None:
        revocation = data["revokeInvitation"]
        assert revocation["revokedInvitationId"] == world.invitation_id
        customer = revocation["customer"]
        assert sorted(item["email"] for item in customer["invitations"]) == invitations
        assert (customer["memberCount"], customer["seatsUsed"]) == (6, seats)

    return check


def removed(who: str, members: int) -> Check:
    async def check(world: World, role: str, data: Data) -> None:
        removal = data["removeMember"]
        assert removal["removedUserId"] == world.state[who]
        assert removal["customer"]["memberCount"] == members
        assert (await world.data("TeamMembers", role))["members"]["totalCount"] == members

    return check


def listed_members(world: World, role: str, data: Data) -> None:
    page = data["members"]
    assert (page["totalCount"], page["totalPages"], page["hasNext"]) == (4, 2, True)
    assert len(page["items"]) == 3


def listed_invitations(world: World, role: str, data: Data) -> None:
    assert [(i["email"], i["status"]) for i in data["invitations"]] == [(INVITED, "PENDING")]


def the_added(by: str, **variables: Any) -> Variables:
    return lambda world, role: {"userId": world.state[f"added by {by}"], **variables}


def invitation_to(world: World, role: str) -> Data:
    return {"email": f"{role}@later.example"}


TEAM = [
    step(
        "TeamMembers",
        given(pageSize=3),
        **MANAGERS_ONLY,
        owner=Ok(listed_members),
        admin=Ok(listed_members),
    ),
    step(
        "TeamInvitations",
        **MANAGERS_ONLY,
        owner=Ok(listed_invitations),
        admin=Ok(listed_invitations),
    ),
    step(
        "AddMemberByUserId",
        added_user,
        **MANAGERS_ONLY,
        owner=Ok(added(5, 6)),
        admin=Ok(added(6, 7)),
    ),
    step(
        "AddMemberByUserId",
        lambda world, role: {"userId": world.gql.user().user_id, "role": "OWNER"},
        owner=Err("ROLE_HIERARCHY_VIOLATION"),
    ),
    step(
        "AddMemberByUserId",
        lambda world, role: {"userId": world.id_of("user")},
        owner=ALREADY_IN_CUSTOMER,
    ),
    step(
        "InviteMemberByEmail",
        invitation_to,
        **MANAGERS_ONLY,
        owner=Ok(invited(8)),
        admin=Ok(invited(9)),
    ),
    step("InviteMemberByEmail", given(email=INVITED), owner=Err("ALREADY_INVITED")),
    step(
        "ChangeMemberRole",
        the_added("owner", role="ADMIN"),
        **MANAGERS_ONLY,
        admin=Ok(made("ADMIN")),
    ),
    step("ChangeMemberRole", the_added("owner", role="USER"), owner=Ok(made("USER"))),
    step(
        "ChangeMemberRole", the_added("owner", role="OWNER"), owner=Err("ROLE_HIERARCHY_VIOLATION")
    ),
    step(
        "RevokeInvitation",
        lambda world, role: {"invitationId": world.invitation_id},
        **MANAGERS_ONLY,
        admin=Ok(revoked(["admin@later.example", "owner@later.example"], 8)),
        owner=Err("INVITATION_NOT_FOUND"),
    ),
    step(
        "RemoveMember", the_added("admin"), **MANAGERS_ONLY, owner=Ok(removed("added by admin", 5))
    ),
    step("RemoveMember", the_added("owner"), admin=Ok(removed("added by owner", 4))),
    step(
        "RemoveMember",
        lambda world, role: {"userId": world.id_of("owner")},
        admin=Err("ROLE_HIERARCHY_VIOLATION"),
    ),
    step(
        "RemoveMember",
        lambda world, role: {"userId": world.id_of("no_customer")},
        owner=Err("MEMBER_NOT_FOUND"),
    ),
]


# Usage.


def usage_overview(world: World, role: str, data: Data) -> None:
    chats = feature(data["limits"], "chat_completions_per_minute")
    assert (chats["value"], chats["window"]) == (1200, "MINUTE")  # enterprise's
    assert chats_used(data["usage"]) == USED_CHATS
    assert feature(data["usage"]["features"], "chat_completions_per_minute")["remaining"] == 1197
    assert feature(data["quotas"], "max_instances")["value"] == 100
    assert instances_held(data["quotaUsage"]) == HELD_INSTANCES
    assert data["quotaUsage"]["customerId"] == world.customer_id


def plans(world: World, role: str, data: Data) -> None:
    names = [tier["name"] for tier in data["plans"]]
    assert names[0] == "free" and {"pro", "enterprise"} <= set(names)
    assert "public" not in names  # no customer can be on it
    assert [tier["name"] for tier in data["plans"] if tier["isDefault"]] == ["free"]
    assert all(tier["features"] for tier in data["plans"])


def events(count: int, **expected: Any) -> Check:
    def check(world: World, role: str, data: Data) -> None:
        page = data["usageEvents"]
        assert (page["totalCount"], len(page["items"])) == (count, count)
        for item in page["items"]:
            assert item["customerId"] == world.customer_id
            for name, value in expected.items():
                value = value(world) if callable(value) else value
                assert item[name] == value, (name, item)

    return check


def event_log(outcome: Ok) -> dict[str, Ok | Err]:
    """The team's event log: its owner and admins."""
    return {**MANAGERS_ONLY, "owner": outcome, "admin": outcome}


USAGE = [
    step("UsageOverview", **team_only(Ok(usage_overview))),
    step("UsagePlans", **everyone(Ok(plans))),
    step("UsageEvents", **event_log(Ok(events(2)))),
    step(
        "UsageEvents",
        lambda world, role: {"type": "RATE_LIMIT", "userId": world.id_of("owner")},
        **event_log(
            Ok(
                events(
                    1,
                    amount=USED_CHATS,
                    featureKey="chat_completions_per_minute",
                    userId=lambda world: world.id_of("owner"),
                )
            )
        ),
    ),
    step("UsageEvents", given(type="QUOTA"), owner=Ok(events(1, amount=HELD_INSTANCES))),
    step("UsageEvents", given(to="2000-01-01T00:00:00Z"), admin=Ok(events(0))),
]


# API keys.


KEY_EXPIRY = "2999-01-01T00:00:00Z"


def key_created(world: World, role: str, data: Data) -> None:
    issued = data["createApiKey"]
    assert issued["apiKey"]["name"] == f"{role} key"
    assert issued["secret"] and issued["apiKey"]["key"]
    assert (issued["apiKey"]["expiresAt"], issued["apiKey"]["lastUsedAt"]) == (KEY_EXPIRY, None)
    world.state[f"key of {role}"] = issued["apiKey"]["id"]


def own_keys_only(world: World, role: str, data: Data) -> None:
    keys = data["apiKeys"]
    assert [(key["id"], key["name"]) for key in keys] == [
        (world.state[f"key of {role}"], f"{role} key")
    ]


async def key_revoked(world: World, role: str, data: Data) -> None:
    assert data["revokeApiKey"]["revokedApiKeyId"] == world.state[f"key of {role}"]
    assert (await world.data("ApiKeys", role))["apiKeys"] == []


def no_keys(world: World, role: str, data: Data) -> None:
    assert data["apiKeys"] == []


KEYS = [
    step("ApiKeys", **everyone(Ok(no_keys))),
    step(
        "CreateApiKey",
        lambda world, role: {"name": f"{role} key", "expiresAt": KEY_EXPIRY},
        **everyone(Ok(key_created)),
    ),
    step("ApiKeys", **everyone(Ok(own_keys_only))),
    step(  # another's key is not found, whoever asks
        "RevokeApiKey",
        lambda world, role: {"apiKeyId": world.state["key of owner"]},
        **{role: Err("API_KEY_NOT_FOUND") for role in ROLES if role != "owner"},
    ),
    step(
        "RevokeApiKey",
        lambda world, role: {"apiKeyId": world.state[f"key of {role}"]},
        **everyone(Ok(key_revoked)),
    ),
]


# Billing.


def billing_overview(world: World, role: str, data: Data) -> None:
    viewer = data["viewer"]
    assert (viewer["canManageBilling"], viewer["paymentsConfigured"]) == (role == "owner", False)
    if role in TEAM_ROLES:
        customer = viewer["customer"]
        assert (customer["tier"]["name"], customer["subscriptionStatus"]) == ("enterprise", "NONE")
    else:
        assert viewer["customer"] is None
    plans(world, role, data)


def error_codes(world: World, role: str, data: Data) -> None:
    assert used_codes() <= set(data["errorCodes"])


# Without Stripe the owner is told so (501 in `extensions.status`); the others are refused
# first (SPEC §7: who the caller is, then input, then availability).
STRIPE_NOT_CONFIGURED = Err("STRIPE_NOT_CONFIGURED", 501)
CHECKOUT = {"successUrl": "https://app.example/ok", "cancelUrl": "https://app.example/no"}
BILLING = [
    step("BillingOverview", **everyone(Ok(billing_overview))),
    step("ErrorCodes", **everyone(Ok(error_codes))),
    step("CreateCheckoutSession", given(**CHECKOUT), **OWNER_ONLY, owner=STRIPE_NOT_CONFIGURED),
    step(
        "CreateCheckoutSession",
        given(**CHECKOUT, tierName="platinum"),
        owner=Err("TIER_NOT_FOUND"),
    ),
    step(
        "CreateCheckoutSession",
        given(successUrl="not a url", cancelUrl=CHECKOUT["cancelUrl"]),
        owner=Err("INVALID_INPUT"),
    ),
    # A tier that no deployment sells is the input's fault, told before availability.
    step(
        "CreateCheckoutSession",
        given(**CHECKOUT, tierName="free"),
        owner=Err("TIER_NOT_PURCHASABLE"),
    ),
    step("CreatePortalSession", **OWNER_ONLY, owner=STRIPE_NOT_CONFIGURED),
]


# Admin.


def customer_list(*names: str, total: int | None = None) -> Check:
    def check(world: World, role: str, data: Data) -> None:
        page = data["adminCustomers"]
        assert [item["name"] for item in page["items"]] == list(names)
        assert page["totalCount"] == (len(names) if total is None else total)

    return check


def acme_in_full(world: World, role: str, data: Data) -> None:
    customer = data["adminCustomer"]
    assert (customer["id"], customer["name"], customer["tier"]["name"]) == (
        world.customer_id,
        "Acme",
        "enterprise",
    )
    assert customer["members"]["totalCount"] == 4
    assert {member["userId"] for member in customer["members"]["items"]} == team_ids(world)
    assert [invitation["email"] for invitation in customer["invitations"]] == [INVITED]
    usage = customer["usage"]
    assert (usage["identifierType"], usage["identifier"]) == ("CUSTOMER", world.customer_id)
    assert chats_used(usage) == USED_CHATS
    assert feature(customer["limits"], "chat_completions_per_minute")["value"] == 1200
    assert feature(customer["quotas"], "max_instances")["value"] == 100
    assert instances_held(customer["quotaUsage"]) == HELD_INSTANCES
    assert customer["overrides"] == []


def globex_in_full(world: World, role: str, data: Data) -> None:
    customer = data["adminCustomer"]
    assert (customer["name"], customer["tier"]["name"]) == ("Globex", "free")
    assert [member["userId"] for member in customer["members"]["items"]] == [
        world.other_owner.user_id
    ]
    assert chats_used(customer["usage"]) == 0
    assert customer["invitations"] == [] and customer["overrides"] == []


def every_tier(world: World, role: str, data: Data) -> None:
    names = [tier["name"] for tier in data["tiers"]]
    assert {"public", "free", "pro", "enterprise"} <= set(names)


def inactive_tiers(world: World, role: str, data: Data) -> None:
    assert all(not tier["isActive"] for tier in data["tiers"])


def billing_status(world: World, role: str, data: Data) -> None:
    status = data["billingStatus"]
    assert (status["stripeConfigured"], status["customers"]) == (False, 2)
    by_tier = {count["tierName"]: count["customers"] for count in status["tiers"]}
    assert (by_tier["enterprise"], by_tier["free"]) == (1, 1)
    by_status = {count["status"]: count["customers"] for count in status["subscriptionsByStatus"]}
    assert by_status["NONE"] == 2


def overridden(world: World, role: str, data: Data) -> None:
    override = data["setFeatureOverride"]
    assert (override["customerId"], override["value"], override["unlimited"]) == (
        world.customer_id,
        7,
        False,
    )
    assert (override["tierName"], override["tierValue"], override["tierUnlimited"]) == (
        "enterprise",
        1200,
        False,
    )


async def owner_sees_limit(value: int, world: World) -> None:
    limits = (await world.data("UsageOverview", "owner"))["limits"]
    assert feature(limits, "chat_completions_per_minute")["value"] == value


async def override_listed(world: World, role: str, data: Data) -> None:
    overridden(world, role, data)
    read = (await world.data("AdminCustomer", role, {"customerId": world.customer_id}))[
        "adminCustomer"
    ]
    assert [o["featureKey"] for o in read["overrides"]] == ["chat_completions_per_minute"]
    assert feature(read["limits"], "chat_completions_per_minute")["value"] == 7
    await owner_sees_limit(7, world)


async def cleared(world: World, role: str, data: Data) -> None:
    """Clearing a value never set is no error: `removed` says whether there was one."""
    removal = data["clearFeatureOverride"]
    assert (removal["customerId"], removal["featureKey"]) == (
        world.customer_id,
        "chat_completions_per_minute",
    )
    assert isinstance(removal["removed"], bool)
    read = await world.data("AdminCustomer", role, {"customerId": world.customer_id})
    assert read["adminCustomer"]["overrides"] == []
    await owner_sees_limit(1200, world)


async def renamed_by_operator(world: World, role: str, data: Data) -> None:
    customer = data["adminUpdateCustomer"]
    assert (customer["name"], customer["locale"]) == ("Acme Corporation", "de")
    assert (await world.data("AccountCustomer", "owner"))["customer"]["name"] == "Acme Corporation"


async def on_tier(world: World, role: str, data: Data) -> None:
    customer = data["setCustomerTier"]
    assert customer["tier"]["name"] == "business_max"
    home = (await world.data("DashboardHome", "owner"))["viewer"]["customer"]
    assert home["tier"]["name"] == "business_max"
    assert feature(home["usage"]["features"], "chat_completions_per_minute")["limit"] == 600


def default_tier(name: str) -> Check:
    async def check(world: World, role: str, data: Data) -> None:
        assert (data["setDefaultTier"]["name"], data["setDefaultTier"]["isDefault"]) == (
            name,
            True,
        )
        listed = (await world.data("UsagePlans", "no_customer"))["plans"]
        assert [tier["name"] for tier in listed if tier["isDefault"]] == [name]

    return check


OVERRIDE = {"serviceName": "ai-api", "featureKey": "chat_completions_per_minute"}
ADMIN = [
    # `search` finds part of a name (any case), or an id.
    step("AdminCustomers", given(search="glob"), **admins(Ok(customer_list("Globex")))),
    step(
        "AdminCustomers",
        lambda world, role: {"search": world.customer_id},
        billing_admin=Ok(customer_list("Acme")),
    ),
    step(
        "AdminCustomers",
        given(sort="NAME", pageSize=1, page=2),
        billing_admin=Ok(customer_list("Globex", total=2)),
    ),
    step(
        "AdminCustomers",
        given(tierName="enterprise", status="NONE", sort="OLDEST"),
        billing_admin=Ok(customer_list("Acme")),
    ),
    step("AdminCustomer", of_customer(), **admins(Ok(acme_in_full))),
    step(
        "AdminCustomer",
        lambda world, role: {"customerId": world.other_customer_id},
        billing_admin=Ok(globex_in_full),
    ),
    # The event log of any customer for billing_admin; a team's own for its managers.
    step(
        "AdminCustomerEvents",
        of_customer(),
        user=FORBIDDEN,
        no_customer=NO_CUSTOMER,
        owner=Ok(events(2)),
        admin=Ok(events(2)),
        billing_admin=Ok(events(2)),
        billing_admin_member=Ok(events(2)),
    ),
    step(
        "AdminCustomerEvents",
        lambda world, role: {"customerId": world.other_customer_id},
        owner=Err("CUSTOMER_NOT_FOUND"),
        billing_admin=OK,
    ),
    step("AdminTiers", **admins(Ok(every_tier))),
    step("AdminTiers", given(active=False), billing_admin=Ok(inactive_tiers)),
    step("AdminBillingStatus", **admins(Ok(billing_status))),
    step(
        "AdminSetFeatureOverride",
        of_customer(**OVERRIDE, value=7),
        **admins(Ok(overridden)),
    ),
    step(
        "AdminSetFeatureOverride",
        of_customer(**OVERRIDE, value=7),
        billing_admin=Ok(override_listed),
    ),
    step(
        "AdminClearFeatureOverride",
        of_customer(**OVERRIDE),
        **NOT_ADMINS,
        billing_admin=Ok(cleared),
        billing_admin_member=Ok(cleared),
    ),
    step(
        "AdminUpdateCustomer",
        of_customer(input={"name": "Acme Corporation", "locale": "de"}),
        **admins(Ok(renamed_by_operator)),
    ),
    step("AdminSetCustomerTier", of_customer(tierName="business_max"), **admins(Ok(on_tier))),
    step(
        "AdminSetCustomerTier",
        of_customer(tierName="public"),
        billing_admin=Err("TIER_NOT_ASSIGNABLE"),
    ),
    step(
        "AdminSetCustomerTier",
        of_customer(tierName="platinum"),
        billing_admin=Err("TIER_NOT_FOUND"),
    ),
    step(
        "AdminSetDefaultTier",
        given(tierName="pro"),
        **NOT_ADMINS,
        billing_admin=Ok(default_tier("pro")),
    ),
    step(
        "AdminSetDefaultTier", given(tierName="free"), billing_admin_member=Ok(default_tier("free"))
    ),
]


SCREENS = {
    "home.graphql": HOME,
    "account.graphql": ACCOUNT,
    "team.graphql": TEAM,
    "usage.graphql": USAGE,
    "keys.graphql": KEYS,
    "billing.graphql": BILLING,
    "admin.graphql": ADMIN,
}


def used_codes() -> set[str]:
    return {
        outcome.code
        for steps in SCREENS.values()
        for each in steps
        for outcome in each.outcomes.values()
        if isinstance(outcome, Err)
    }


async def judge(world: World, role: str, body: Data, expected: Ok | Err) -> str | None:
    """What is wrong with the answer, or None."""
    if isinstance(expected, Err):
        codes = [error.get("extensions", {}).get("code") for error in body.get("errors", [])]
        if not codes or set(codes) != {expected.code}:
            return f"expected {expected.code}, got {codes or 'no error'}: {body}"
        if any((body.get("data") or {}).values()):
            return f"expected no data with {expected.code}: {body}"
        statuses = {error["extensions"]["status"] for error in body["errors"]}
        if expected.status is not None and statuses != {expected.status}:
            return f"expected status {expected.status}, got {statuses}: {body}"
        return None
    if "errors" in body:
        return f"expected data, got {body['errors']}"
    if expected.check is not None:
        try:
            result = expected.check(world, role, body["data"])
            if inspect.isawaitable(result):
                await result
        except AssertionError as error:
            return f"check failed: {error!r}"
    return None


@pytest.mark.parametrize("screen", sorted(SCREENS))
async def test_every_operation_of_the_screen_with_every_role(gql: GraphQL, screen: str) -> None:
    world = await World.build(gql)
    failures, run = [], set()
    for each in SCREENS[screen]:
        for role, expected in each.outcomes.items():
            body = await world.run(each.operation, role, each.variables(world, role))
            run.add(each.operation)
            problem = await judge(world, role, body, expected)
            if problem is not None:
                failures.append(f"{each.operation} as {role}: {problem}")
    assert not failures, "\n".join(failures)
    assert run == {name for name, file in documents().screen_of.items() if file == screen}, (
        "every operation of the screen is run, and only those"
    )


def test_every_operation_of_the_documents_is_run() -> None:
    operations = documents().operations
    tables = {each.operation for steps in SCREENS.values() for each in steps}
    assert tables == set(operations)
    assert set(SCREENS) == set(documents().screens())


async def test_the_home_over_get(gql: GraphQL) -> None:
    """A client that sends its queries over GET (cacheable) gets the same home."""
    world = await World.build(gql)
    for role in ROLES:
        params = {"query": documents().request("DashboardHome"), "operationName": "DashboardHome"}
        response = await gql.api.client.get(
            "/graphql", params=params, headers=world.callers[role].headers
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert await judge(world, role, body, Ok(home)) is None, (role, body)


async def test_a_screen_sent_whole_runs_the_operation_it_names(gql: GraphQL) -> None:
    """Some clients send a screen's whole document and name the operation: the server
    runs (and measures) only that one."""
    world = await World.build(gql)
    whole = print_ast(documents().bundle("admin.graphql"))
    body = await gql.api.client.post(
        "/graphql",
        json={
            "query": whole,
            "operationName": "AdminCustomer",
            "variables": {"customerId": world.customer_id},
        },
        headers=world.callers["billing_admin"].headers,
    )
    assert await judge(world, "billing_admin", body.json(), Ok(acme_in_full)) is None


async def test_the_billing_screen_with_stripe(stripe_api: Api) -> None:
    """With Stripe configured the owner is sent to Stripe; the others are still refused."""
    await sync_tiers(stripe_api)
    customer = await synced_customer(stripe_api)
    gql = GraphQL(stripe_api)
    admin = gql.user()
    await gql.add(customer.owner, admin, "ADMIN")

    async def run(operation: str, caller: Caller, **variables: Any) -> Data:
        body: Data = await gql.execute(documents().request(operation), caller, **variables)
        return body

    overview = (await run("BillingOverview", customer.owner))["data"]["viewer"]
    assert (overview["paymentsConfigured"], overview["canManageBilling"]) == (True, True)
    assert overview["customer"]["gcid"] == customer.stripe_id
    checkout = await run("CreateCheckoutSession", customer.owner, **CHECKOUT, tierName="pro")
    assert checkout["data"]["createCheckoutSession"]["url"].startswith("http"), checkout
    portal = await run("CreatePortalSession", customer.owner)
    assert portal["data"]["createPortalSession"]["url"].startswith("http"), portal
    for operation, variables in [("CreateCheckoutSession", CHECKOUT), ("CreatePortalSession", {})]:
        refused = await run(operation, admin, **variables)
        assert [e["extensions"]["code"] for e in refused["errors"]] == ["FORBIDDEN"], refused
