"""/graphql operations: each wired to its service, with the codes and statuses REST gives."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from app.auth.roles import MemberRole
from tests.graphql.conftest import ADD_MEMBER, CREATE_CUSTOMER, GraphQL
from tests.support.api import ADDRESS, ANONYMOUS, Caller
from tests.support.clock import MovableClock

ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
CUSTOMER = """
{ customer { id name email gcid createdAt subscriptionStatus subscriptionEnabled trialUsed
             memberCount ownerUserId billingAddress { street city state postalCode country }
             tier { id name displayName description isActive isDefault memberLimit } } }
"""
MEMBERS = """
query Members($page: Int! = 1, $pageSize: Int! = 20) {
  members(page: $page, pageSize: $pageSize) {
    items { userId email role joinedAt }
    page pageSize totalCount totalPages hasNext hasPrev
  }
}
"""
ROLE_OF = "{ members { items { userId role } } }"


def roles(data: Any) -> dict[str, str]:
    return {item["userId"]: item["role"] for item in data["members"]["items"]}


class TestCustomer:
    async def test_create_then_read_back(self, gql: GraphQL) -> None:
        owner = gql.user()
        created = await gql.data(
            CREATE_CUSTOMER,
            owner,
            input={"name": "Acme", "email": "billing@acme.example", "billingAddress": ADDRESS},
        )
        customer = (await gql.data(CUSTOMER, owner))["customer"]
        assert customer["id"] == created["createCustomer"]["id"]
        assert customer["billingAddress"] == ADDRESS
        assert (customer["tier"]["name"], customer["tier"]["isDefault"]) == ("free", True)
        assert (customer["memberCount"], customer["ownerUserId"]) == (1, owner.user_id)
        assert (customer["subscriptionStatus"], customer["gcid"]) == ("NONE", None)
        assert ISO_Z.match(customer["createdAt"]), customer["createdAt"]

    async def test_a_second_customer_is_refused(self, gql: GraphQL) -> None:
        owner = gql.user()
        await gql.customer(owner)
        error = await gql.error(
            CREATE_CUSTOMER,
            owner,
            input={"name": "Again", "email": "a@acme.example", "billingAddress": ADDRESS},
        )
        assert error["extensions"]["code"] == "ALREADY_IN_CUSTOMER"
        assert error["extensions"]["status"] == 400
        assert error["path"] == ["createCustomer"]

    async def test_input_is_validated_by_the_domain_model(self, gql: GraphQL) -> None:
        error = await gql.error(
            CREATE_CUSTOMER,
            gql.user(),
            input={
                "name": "Acme",
                "email": "a@acme.example",
                "billingAddress": {**ADDRESS, "country": "us"},
            },
        )
        assert error["extensions"]["code"] == "INVALID_INPUT"
        assert error["extensions"]["param"] == "billingAddress.country"

    async def test_someone_on_no_team_sees_no_customer(self, gql: GraphQL) -> None:
        error = await gql.error("{ customer { id } }", gql.user())
        assert (error["extensions"]["code"], error["extensions"]["status"]) == ("NO_CUSTOMER", 404)

    async def test_the_owner_deletes_it(self, gql: GraphQL) -> None:
        owner = gql.user()
        await gql.customer(owner)
        customer_id = (await gql.data("{ customer { id } }", owner))["customer"]["id"]
        deleted = await gql.data("mutation { deleteCustomer { deletedCustomerId } }", owner)
        assert deleted == {"deleteCustomer": {"deletedCustomerId": customer_id}}
        error = await gql.error("{ customer { id } }", owner)
        assert error["extensions"]["code"] == "NO_CUSTOMER"


class TestAuthentication:
    async def test_anonymous_callers_must_authenticate(self, gql: GraphQL) -> None:
        error = await gql.error("{ customer { id } }")
        assert error["extensions"]["code"] == "AUTHENTICATION_REQUIRED"
        assert error["extensions"]["status"] == 401

    async def test_an_invalid_token_is_refused_once_per_request(
        self, gql: GraphQL, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        credentials = gql.api.container.credentials
        calls: list[object] = []
        authenticate = credentials.authenticate

        async def counted(*args: Any) -> Any:
            calls.append(args)
            return await authenticate(*args)

        monkeypatch.setattr(credentials, "authenticate", counted)
        bad = Caller(None, None, headers={"Authorization": "Bearer not-a-jwt"})
        body = await gql.execute("{ customer { id } apiKeys { id } }", bad)
        # Both fields are non-null: the first refusal nulls the answer.
        assert body["data"] is None
        assert {e["extensions"]["code"] for e in body["errors"]} == {"INVALID_TOKEN"}
        assert {e["extensions"]["status"] for e in body["errors"]} == {401}
        assert len(calls) == 1

    async def test_a_document_needing_no_caller_needs_no_credentials(self, gql: GraphQL) -> None:
        bad = Caller(None, None, headers={"Authorization": "Bearer not-a-jwt"})
        assert await gql.data("{ __typename }", bad) == {"__typename": "Query"}

    async def test_an_api_key_acts_as_its_user(self, gql: GraphQL) -> None:
        owner = gql.user()
        customer_id = await gql.customer(owner)
        issued = await gql.data(
            'mutation { createApiKey(name: "ci") { apiKey { key } secret } }', owner
        )
        key, secret = issued["createApiKey"]["apiKey"], issued["createApiKey"]["secret"]
        caller = Caller(None, None, headers={"api-key": key["key"], "api-secret": secret})
        assert (await gql.data("{ customer { id } }", caller))["customer"]["id"] == customer_id
        wrong = Caller(None, None, headers={"api-key": key["key"], "api-secret": "bs_wrong"})
        error = await gql.error("{ customer { id } }", wrong)
        assert error["extensions"]["code"] == "INVALID_API_KEY"


class TestTeam:
    async def test_add_by_user_id_or_by_email(self, gql: GraphQL) -> None:
        owner, member = gql.user(), gql.user()
        await gql.customer(owner)
        added = await gql.data(ADD_MEMBER, owner, userId=member.user_id, role="ADMIN")
        assert added["addMember"]["__typename"] == "Member"
        assert (added["addMember"]["userId"], added["addMember"]["role"]) == (
            member.user_id,
            "ADMIN",
        )
        invited = (await gql.data(ADD_MEMBER, owner, email="New@Example.com"))["addMember"]
        assert invited["__typename"] == "Invitation"
        assert (invited["invitedEmail"], invited["role"], invited["status"]) == (
            "new@example.com",
            "USER",
            "PENDING",
        )
        assert ISO_Z.match(invited["expiresAt"])
        pending = await gql.data("{ invitations { id email } }", owner)
        assert pending["invitations"] == [{"id": invited["id"], "email": "new@example.com"}]

    async def test_revoke_an_invitation(self, gql: GraphQL) -> None:
        owner = gql.user()
        await gql.customer(owner)
        invited = (await gql.data(ADD_MEMBER, owner, email="x@example.com"))["addMember"]
        revoke = """mutation R($id: ID!) { revokeInvitation(invitationId: $id) {
                      revokedInvitationId customer { memberCount seatsUsed } } }"""
        seats = await gql.data("{ customer { memberCount seatsUsed } }", owner)
        assert seats == {"customer": {"memberCount": 1, "seatsUsed": 2}}
        assert await gql.data(revoke, owner, id=invited["id"]) == {
            "revokeInvitation": {
                "revokedInvitationId": invited["id"],
                "customer": {"memberCount": 1, "seatsUsed": 1},
            }
        }
        assert (await gql.data("{ invitations { id } }", owner))["invitations"] == []
        again = await gql.error(revoke, owner, id=invited["id"])
        assert again["extensions"]["code"] == "INVITATION_NOT_FOUND"

    async def test_the_member_limit_is_402(self, gql: GraphQL) -> None:
        owner = gql.user()
        await gql.customer(owner)  # free tier: 3 seats, the owner's included
        await gql.add(owner, gql.user())
        await gql.data(ADD_MEMBER, owner, email="pending@example.com")
        error = await gql.error(ADD_MEMBER, owner, userId=gql.user().user_id)
        assert error["extensions"]["code"] == "MEMBER_LIMIT_REACHED"
        assert error["extensions"]["status"] == 402
        assert re.fullmatch(r"[0-9a-f-]{36}", error["extensions"]["errorId"])

    async def test_nobody_is_made_owner_by_assignment(self, gql: GraphQL) -> None:
        owner = gql.user()
        await gql.customer(owner)
        error = await gql.error(ADD_MEMBER, owner, userId=gql.user().user_id, role="OWNER")
        assert (error["extensions"]["code"], error["extensions"]["status"]) == (
            "ROLE_HIERARCHY_VIOLATION",
            403,
        )

    async def test_malformed_ids_are_invalid_input(self, gql: GraphQL) -> None:
        owner = gql.user()
        await gql.customer(owner)
        error = await gql.error(
            'mutation { removeMember(userId: "12345") { removedUserId } }', owner
        )
        assert error["extensions"]["code"] == "INVALID_INPUT"
        assert error["extensions"]["param"] == "userId"
        by_model = await gql.error(ADD_MEMBER, owner, userId="12345")
        assert (by_model["extensions"]["code"], by_model["extensions"]["param"]) == (
            "INVALID_INPUT",
            "userId",
        )

    async def test_a_member_of_another_customer_is_named_by_the_argument(
        self, gql: GraphQL
    ) -> None:
        owner, taken = gql.user(), gql.user()
        await gql.customer(owner)
        await gql.customer(taken)
        error = await gql.error(ADD_MEMBER, owner, userId=taken.user_id)
        assert (error["extensions"]["code"], error["extensions"]["param"]) == (
            "ALREADY_IN_CUSTOMER",
            "userId",
        )

    async def test_members_are_paginated(self, gql: GraphQL, clock: MovableClock) -> None:
        owner, member = gql.user(), gql.user()
        await gql.customer(owner)
        clock.advance(seconds=1)  # members are listed in the order they joined
        await gql.add(owner, member)
        page = (await gql.data(MEMBERS, owner, page=2, pageSize=1))["members"]
        assert page["items"] == [
            {
                "userId": member.user_id,
                "email": None,
                "role": "USER",
                "joinedAt": page["items"][0]["joinedAt"],
            }
        ]
        assert {
            key: page[key]
            for key in ("page", "pageSize", "totalCount", "totalPages", "hasNext", "hasPrev")
        } == {
            "page": 2,
            "pageSize": 1,
            "totalCount": 2,
            "totalPages": 2,
            "hasNext": False,
            "hasPrev": True,
        }
        for name, value in (("pageSize", 101), ("page", 0)):
            error = await gql.error(MEMBERS, owner, **{name: value})
            assert (error["extensions"]["code"], error["extensions"]["param"]) == (
                "INVALID_INPUT",
                name,
            )
        last = (await gql.data(MEMBERS, owner, page=2**31 - 1, pageSize=100))["members"]
        assert last["items"] == []

    async def test_change_role_and_remove(self, gql: GraphQL) -> None:
        owner, member = gql.user(), gql.user()
        await gql.customer(owner)
        await gql.add(owner, member)
        change = (
            "mutation C($u: ID!, $r: Role!) { changeMemberRole(userId: $u, role: $r) { role } }"
        )
        changed = await gql.data(change, owner, u=member.user_id, r="ADMIN")
        assert changed == {"changeMemberRole": {"role": "ADMIN"}}
        assert roles(await gql.data(ROLE_OF, owner))[member.user_id] == "ADMIN"
        refused = await gql.error(change, member, u=owner.user_id, r="USER")
        assert refused["extensions"]["code"] == "ROLE_HIERARCHY_VIOLATION"
        remove = """mutation R($u: ID!) { removeMember(userId: $u) {
                     removedUserId customer { memberCount } } }"""
        assert await gql.data(remove, owner, u=member.user_id) == {
            "removeMember": {"removedUserId": member.user_id, "customer": {"memberCount": 1}}
        }
        assert member.user_id not in roles(await gql.data(ROLE_OF, owner))
        gone = await gql.error(remove, owner, u=member.user_id)
        assert (gone["extensions"]["code"], gone["extensions"]["status"]) == (
            "MEMBER_NOT_FOUND",
            404,
        )

    async def test_transfer_ownership_then_leave(self, gql: GraphQL) -> None:
        owner, heir = gql.user(), gql.user()
        customer_id = await gql.customer(owner)
        await gql.add(owner, heir, "ADMIN")
        leave = "mutation { leaveCustomer { leftCustomerId } }"
        cannot_leave = await gql.error(leave, owner)
        assert cannot_leave["extensions"]["code"] == "OWNER_CANNOT_LEAVE"
        transfer = """mutation T($u: ID) { transferOwnership(newOwnerUserId: $u) {
                        customer { id ownerUserId memberCount }
                        newOwner { userId role } previousOwner { userId role } } }"""
        outsider = await gql.error(transfer, owner, u=gql.user().user_id)
        assert (outsider["extensions"]["code"], outsider["extensions"]["param"]) == (
            "NOT_A_MEMBER",
            "newOwnerUserId",  # the argument as this schema spells it
        )
        moved = (await gql.data(transfer, owner, u=heir.user_id))["transferOwnership"]
        assert moved == {
            "customer": {"id": customer_id, "ownerUserId": heir.user_id, "memberCount": 2},
            "newOwner": {"userId": heir.user_id, "role": "OWNER"},
            "previousOwner": {"userId": owner.user_id, "role": "ADMIN"},
        }
        assert roles(await gql.data(ROLE_OF, heir)) == {
            heir.user_id: "OWNER",
            owner.user_id: "ADMIN",
        }
        assert await gql.data(leave, owner) == {"leaveCustomer": {"leftCustomerId": customer_id}}
        assert (await gql.error("{ customer { id } }", owner))["extensions"]["code"] == (
            "NO_CUSTOMER"
        )

    async def test_each_mutation_field_commits_on_its_own(self, gql: GraphQL) -> None:
        owner, first = gql.user(), gql.user()
        await gql.customer(owner)
        body = await gql.execute(
            "mutation($a: ID, $b: ID) { a: addMember(userId: $a) { __typename } "
            "b: addMember(userId: $b) { __typename } }",
            owner,
            a=first.user_id,
            b="bad",
        )
        assert body["data"] is None  # the fields are non-null: an error nulls the whole answer
        assert [e["path"] for e in body["errors"]] == [["b"]]
        assert first.user_id in roles(await gql.data(ROLE_OF, owner))


class TestApiKeys:
    async def test_create_list_revoke(self, gql: GraphQL) -> None:
        user = gql.user()
        expires = (datetime.now(UTC) + timedelta(days=30)).replace(microsecond=0)
        created = (
            await gql.data(
                'mutation C($e: DateTime) { createApiKey(name: "deploy", expiresAt: $e) '
                "{ apiKey { id name key createdAt expiresAt } secret } }",
                user,
                e=expires.isoformat(),
            )
        )["createApiKey"]
        created = {**created.pop("apiKey"), **created}
        assert created["secret"].startswith("bs_") and created["key"].startswith("bk_")
        assert created["expiresAt"] == expires.isoformat().replace("+00:00", "Z")
        listed = (await gql.data("{ apiKeys { id name key lastUsedAt } }", user))["apiKeys"]
        assert listed == [
            {"id": created["id"], "name": "deploy", "key": created["key"], "lastUsedAt": None}
        ]
        revoke = "mutation R($id: ID!) { revokeApiKey(apiKeyId: $id) { revokedApiKeyId } }"
        assert await gql.data(revoke, user, id=created["id"]) == {
            "revokeApiKey": {"revokedApiKeyId": created["id"]}
        }
        assert (await gql.data("{ apiKeys { id } }", user))["apiKeys"] == []
        again = await gql.error(revoke, user, id=created["id"])
        assert again["extensions"]["code"] == "API_KEY_NOT_FOUND"

    async def test_expiry_must_be_in_the_future_and_zoned(self, gql: GraphQL) -> None:
        create = 'mutation C($e: DateTime) { createApiKey(name: "k", expiresAt: $e) { secret } }'
        past = await gql.error(create, gql.user(), e="2001-01-01T00:00:00Z")
        assert (past["extensions"]["code"], past["extensions"]["param"]) == (
            "INVALID_INPUT",
            "expiresAt",
        )
        naive = await gql.error(create, gql.user(), e="2999-01-01T00:00:00")
        assert (naive["extensions"]["code"], naive["extensions"]["param"]) == (
            "INVALID_INPUT",
            "expiresAt",
        )


class TestAdmin:
    async def test_only_billing_admins(self, gql: GraphQL) -> None:
        error = await gql.error("{ tiers { name } }", gql.user())
        assert (error["extensions"]["code"], error["extensions"]["status"]) == (
            "ADMIN_ROLE_REQUIRED",
            403,
        )

    async def test_customers_listed_filtered_and_read(self, gql: GraphQL) -> None:
        admin, owner = gql.admin(), gql.user()
        customer_id = await gql.customer(owner, "Pro one")
        await gql.customer(gql.user(), "Free one")
        set_tier = """mutation S($c: ID!, $t: String!) { setCustomerTier(customerId: $c,
                      tierName: $t) { tier { name } } }"""
        moved = await gql.data(set_tier, admin, c=customer_id, t="Pro Plus")
        assert moved == {"setCustomerTier": {"tier": {"name": "pro_plus"}}}
        listing = """query L($t: String, $s: SubscriptionStatus, $size: Int! = 20) {
            adminCustomers(tierName: $t, status: $s, pageSize: $size) {
              items { id name tierName memberCount subscriptionStatus createdAt }
              totalCount totalPages hasNext } }"""
        pro = (await gql.data(listing, admin, t="pro_plus"))["adminCustomers"]
        assert [(c["id"], c["tierName"], c["memberCount"]) for c in pro["items"]] == [
            (customer_id, "pro_plus", 1)
        ]
        everyone = (await gql.data(listing, admin, size=1))["adminCustomers"]
        assert (everyone["totalCount"], everyone["totalPages"], everyone["hasNext"]) == (2, 2, True)
        active = (await gql.data(listing, admin, s="ACTIVE"))["adminCustomers"]
        assert active["items"] == []
        record = await gql.data(
            "query R($c: ID!) { adminCustomer(customerId: $c) { name ownerUserId memberCount } }",
            admin,
            c=customer_id,
        )
        assert record["adminCustomer"] == {
            "name": "Pro one",
            "ownerUserId": owner.user_id,
            "memberCount": 1,
        }

    async def test_unknown_and_malformed_customer_ids(self, gql: GraphQL) -> None:
        query = "query R($c: ID!) { adminCustomer(customerId: $c) { id } }"
        unknown = await gql.error(query, gql.admin(), c=str(uuid.uuid4()))
        assert (unknown["extensions"]["code"], unknown["extensions"]["status"]) == (
            "CUSTOMER_NOT_FOUND",
            404,
        )
        malformed = await gql.error(query, gql.admin(), c="nope")
        assert (malformed["extensions"]["code"], malformed["extensions"]["param"]) == (
            "INVALID_INPUT",
            "customerId",
        )

    async def test_an_unknown_customer_is_named_by_the_argument(self, gql: GraphQL) -> None:
        set_tier = """mutation S($c: ID!) { setCustomerTier(customerId: $c, tierName: "pro") {
                      tier { name } } }"""
        error = await gql.error(set_tier, gql.admin(), c=str(uuid.uuid4()))
        assert (error["extensions"]["code"], error["extensions"]["param"]) == (
            "CUSTOMER_NOT_FOUND",
            "customerId",
        )

    async def test_a_malformed_id_is_named_by_the_argument(self, gql: GraphQL) -> None:
        query = "query Q($c: ID!) { adminCustomer(customerId: $c) { id } }"
        error = await gql.error(query, gql.admin(), c="not-a-uuid")
        assert (error["extensions"]["param"], error["message"]) == (
            "customerId",
            "customerId must be a UUID.",
        )

    async def test_members_of_any_customer(self, gql: GraphQL) -> None:
        admin, owner, newcomer = gql.admin(), gql.user(), gql.user()
        customer_id = await gql.customer(owner)
        add = """mutation A($c: ID!, $u: ID) { adminAddMember(customerId: $c, userId: $u,
                 role: ADMIN) { ... on Member { userId role } } }"""
        added = await gql.data(add, admin, c=customer_id, u=newcomer.user_id)
        assert added == {"adminAddMember": {"userId": newcomer.user_id, "role": "ADMIN"}}
        members = """query M($c: ID!) { adminCustomerMembers(customerId: $c) {
                     items { userId } totalCount } }"""
        listed = (await gql.data(members, admin, c=customer_id))["adminCustomerMembers"]
        assert {m["userId"] for m in listed["items"]} == {owner.user_id, newcomer.user_id}
        remove = """mutation D($c: ID!, $u: ID!) { adminRemoveMember(customerId: $c, userId: $u) {
                    removedUserId customer { id memberCount } } }"""
        owner_removal = await gql.error(remove, admin, c=customer_id, u=owner.user_id)
        assert owner_removal["extensions"]["code"] == "ROLE_HIERARCHY_VIOLATION"
        assert await gql.data(remove, admin, c=customer_id, u=newcomer.user_id) == {
            "adminRemoveMember": {
                "removedUserId": newcomer.user_id,
                "customer": {"id": customer_id, "memberCount": 1},
            }
        }
        assert (await gql.error("{ customer { id } }", newcomer))["extensions"]["code"] == (
            "NO_CUSTOMER"
        )

    async def test_delete_any_customer(self, gql: GraphQL) -> None:
        owner = gql.user()
        customer_id = await gql.customer(owner)
        delete = "mutation D($c: ID!) { adminDeleteCustomer(customerId: $c) { deletedCustomerId } }"
        assert await gql.data(delete, gql.admin(), c=customer_id) == {
            "adminDeleteCustomer": {"deletedCustomerId": customer_id}
        }
        assert (await gql.error("{ customer { id } }", owner))["extensions"]["code"] == (
            "NO_CUSTOMER"
        )

    async def test_tiers_and_the_default(self, gql: GraphQL) -> None:
        admin = gql.admin()
        tiers = (await gql.data("{ tiers { id name isDefault } }", admin))["tiers"]
        assert [t["name"] for t in tiers][:3] == ["public", "free", "pro"]
        assert len(tiers) == 10
        make_default = "mutation S($t: String!) { setDefaultTier(tierName: $t) { name isDefault } }"
        assert await gql.data(make_default, admin, t="pro") == {
            "setDefaultTier": {"name": "pro", "isDefault": True}
        }
        await gql.customer(owner := gql.user())
        assert (await gql.data("{ customer { tier { name } } }", owner))["customer"] == {
            "tier": {"name": "pro"}
        }
        public = next(t for t in tiers if t["name"] == "public")
        refused = await gql.error(make_default, admin, t=public["name"])
        assert (refused["extensions"]["code"], refused["extensions"]["status"]) == (
            "TIER_NOT_ASSIGNABLE",
            400,
        )

    async def test_tier_assignment_rules(self, gql: GraphQL) -> None:
        customer_id = await gql.customer(gql.user())
        set_tier = (
            "mutation S($c: ID!, $t: String!) { setCustomerTier(customerId: $c, "
            "tierName: $t) { id } }"
        )
        public = await gql.error(set_tier, gql.admin(), c=customer_id, t="public")
        assert public["extensions"]["code"] == "TIER_NOT_ASSIGNABLE"
        unknown = await gql.error(set_tier, gql.admin(), c=customer_id, t="gold")
        assert (unknown["extensions"]["code"], unknown["extensions"]["status"]) == (
            "TIER_NOT_FOUND",
            404,
        )


async def test_timestamps_are_utc_with_z(gql: GraphQL) -> None:
    owner = gql.user()
    await gql.customer(owner)
    joined = (await gql.data("{ members { items { joinedAt } } }", owner))["members"]["items"]
    assert ISO_Z.match(joined[0]["joinedAt"])


class TestCallersBeforeArguments:
    """As over REST: 401, then 403, before an argument is even read."""

    @pytest.mark.parametrize(
        ("document", "as_user", "code"),
        [
            (
                'mutation { revokeApiKey(apiKeyId: "nope") { revokedApiKeyId } }',
                False,
                "AUTHENTICATION_REQUIRED",
            ),
            (
                'mutation { addMember(userId: "nope") { __typename } }',
                False,
                "AUTHENTICATION_REQUIRED",
            ),
            ('{ adminCustomer(customerId: "nope") { id } }', True, "ADMIN_ROLE_REQUIRED"),
            ("{ adminCustomers(pageSize: 500) { totalCount } }", True, "ADMIN_ROLE_REQUIRED"),
            (
                'mutation { consume(serviceName: "", featureKey: "", amount: -5) { allowed } }',
                True,
                "FORBIDDEN",
            ),
        ],
    )
    async def test_the_caller_is_checked_first(
        self, gql: GraphQL, document: str, as_user: bool, code: str
    ) -> None:
        caller = gql.user() if as_user else ANONYMOUS
        error = await gql.error(document, caller)
        assert error["extensions"]["code"] == code


class TestFlags:
    async def test_unlimited_flags_and_role_ids(self, gql: GraphQL) -> None:
        owner = gql.user()
        await gql.customer(owner)
        plans = (await gql.data("{ plans { memberLimit unlimitedMembers } }", owner))["plans"]
        assert plans and all(p["unlimitedMembers"] == (p["memberLimit"] == -1) for p in plans)
        limits = (await gql.data("{ limits { value unlimited } }", owner))["limits"]
        assert limits and all(x["unlimited"] == (x["value"] == -1) for x in limits)
        usage = (await gql.data("{ usage { features { limit unlimited } } }", owner))["usage"]
        assert all(f["unlimited"] == (f["limit"] == -1) for f in usage["features"])
        members = (await gql.data("{ members { items { role roleId } } }", owner))["members"]
        assert members["items"] == [{"role": "OWNER", "roleId": str(MemberRole.OWNER.id)}]
