"""/graphql: wiring of every operation to its service, error shapes, and the endpoint's limits."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from app.auth.roles import MemberRole
from app.customers.schemas import SubscriptionStatus as DomainStatus
from app.customers.service import CustomerService
from app.graphql.enums import Role, SubscriptionStatus
from tests.graphql.conftest import (
    ADD_MEMBER,
    ADDRESS,
    CREATE_CUSTOMER,
    Caller,
    GraphQL,
    Records,
)

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
AppWith = Callable[..., AbstractAsyncContextManager[GraphQL]]


def roles(data: Any) -> dict[str, str]:
    return {item["userId"]: item["role"] for item in data["members"]["items"]}


class TestCustomer:
    async def test_create_then_read_back(self, gql: GraphQL) -> None:
        owner = gql.user()
        created = await gql.data(CREATE_CUSTOMER, owner, input={
            "name": "Acme", "email": "billing@acme.example", "billingAddress": ADDRESS})
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
        error = await gql.error(CREATE_CUSTOMER, owner, input={
            "name": "Again", "email": "a@acme.example", "billingAddress": ADDRESS})
        assert error["extensions"]["code"] == "ALREADY_IN_CUSTOMER"
        assert error["extensions"]["status"] == 400
        assert error["path"] == ["createCustomer"]

    async def test_input_is_validated_by_the_domain_model(self, gql: GraphQL) -> None:
        error = await gql.error(CREATE_CUSTOMER, gql.user(), input={
            "name": "Acme", "email": "a@acme.example",
            "billingAddress": {**ADDRESS, "country": "us"}})
        assert error["extensions"]["code"] == "INVALID_INPUT"
        assert error["extensions"]["param"] == "billingAddress.country"

    async def test_someone_on_no_team_sees_no_customer(self, gql: GraphQL) -> None:
        error = await gql.error("{ customer { id } }", gql.user())
        assert (error["extensions"]["code"], error["extensions"]["status"]) == ("NO_CUSTOMER", 404)

    async def test_the_owner_deletes_it(self, gql: GraphQL) -> None:
        owner = gql.user()
        await gql.customer(owner)
        assert (await gql.data("mutation { deleteCustomer }", owner)) == {"deleteCustomer": True}
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
        credentials = gql.container.credentials
        calls: list[object] = []
        authenticate = credentials.authenticate

        async def counted(*args: Any) -> Any:
            calls.append(args)
            return await authenticate(*args)

        monkeypatch.setattr(credentials, "authenticate", counted)
        bad = Caller(headers={"Authorization": "Bearer not-a-jwt"})
        body = await gql.execute("{ customer { id } apiKeys { id } }", bad)
        assert body["data"] == {"customer": None, "apiKeys": None}
        assert [e["extensions"]["code"] for e in body["errors"]] == ["INVALID_TOKEN"] * 2
        assert {e["extensions"]["status"] for e in body["errors"]} == {401}
        assert len(calls) == 1

    async def test_a_document_needing_no_caller_needs_no_credentials(self, gql: GraphQL) -> None:
        bad = Caller(headers={"Authorization": "Bearer not-a-jwt"})
        assert await gql.data("{ __typename }", bad) == {"__typename": "Query"}

    async def test_an_api_key_acts_as_its_user(self, gql: GraphQL) -> None:
        owner = gql.user()
        customer_id = await gql.customer(owner)
        issued = (await gql.data('mutation { createApiKey(name: "ci") { key secret } }', owner))
        key = issued["createApiKey"]
        caller = Caller(headers={"api-key": key["key"], "api-secret": key["secret"]})
        assert (await gql.data("{ customer { id } }", caller))["customer"]["id"] == customer_id
        wrong = Caller(headers={"api-key": key["key"], "api-secret": "bs_wrong"})
        error = await gql.error("{ customer { id } }", wrong)
        assert error["extensions"]["code"] == "INVALID_API_KEY"


class TestTeam:
    async def test_add_by_user_id_or_by_email(self, gql: GraphQL) -> None:
        owner, member = gql.user(), gql.user()
        await gql.customer(owner)
        added = (await gql.data(ADD_MEMBER, owner, userId=member.user_id, role="ADMIN"))
        assert added["addMember"]["__typename"] == "Member"
        assert (added["addMember"]["userId"], added["addMember"]["role"]) == (member.user_id,
                                                                              "ADMIN")
        invited = (await gql.data(ADD_MEMBER, owner, email="New@Example.com"))["addMember"]
        assert invited["__typename"] == "Invitation"
        assert (invited["invitedEmail"], invited["role"], invited["status"]) == (
            "new@example.com", "USER", "pending")
        assert ISO_Z.match(invited["expiresAt"])
        pending = await gql.data("{ invitations { id email } }", owner)
        assert pending["invitations"] == [{"id": invited["id"], "email": "new@example.com"}]

    async def test_revoke_an_invitation(self, gql: GraphQL) -> None:
        owner = gql.user()
        await gql.customer(owner)
        invited = (await gql.data(ADD_MEMBER, owner, email="x@example.com"))["addMember"]
        revoke = "mutation R($id: ID!) { revokeInvitation(invitationId: $id) }"
        assert await gql.data(revoke, owner, id=invited["id"]) == {"revokeInvitation": True}
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
            "ROLE_HIERARCHY_VIOLATION", 403)

    async def test_malformed_ids_are_invalid_input(self, gql: GraphQL) -> None:
        owner = gql.user()
        await gql.customer(owner)
        error = await gql.error('mutation { removeMember(userId: "12345") }', owner)
        assert error["extensions"]["code"] == "INVALID_INPUT"
        assert error["extensions"]["param"] == "userId"
        by_model = await gql.error(ADD_MEMBER, owner, userId="12345")
        assert (by_model["extensions"]["code"], by_model["extensions"]["param"]) == (
            "INVALID_INPUT", "userId")

    async def test_members_are_paginated(self, gql: GraphQL) -> None:
        owner, member = gql.user(), gql.user()
        await gql.customer(owner)
        await gql.add(owner, member)
        page = (await gql.data(MEMBERS, owner, page=2, pageSize=1))["members"]
        assert page["items"] == [{"userId": member.user_id, "email": None, "role": "USER",
                                  "joinedAt": page["items"][0]["joinedAt"]}]
        assert {key: page[key] for key in ("page", "pageSize", "totalCount", "totalPages",
                                           "hasNext", "hasPrev")} == {
            "page": 2, "pageSize": 1, "totalCount": 2, "totalPages": 2, "hasNext": False,
            "hasPrev": True}
        error = await gql.error(MEMBERS, owner, pageSize=101)
        assert (error["extensions"]["code"], error["extensions"]["param"]) == (
            "INVALID_INPUT", "pageSize")

    async def test_change_role_and_remove(self, gql: GraphQL) -> None:
        owner, member = gql.user(), gql.user()
        await gql.customer(owner)
        await gql.add(owner, member)
        change = "mutation C($u: ID!, $r: Role!) { changeMemberRole(userId: $u, role: $r) " \
                 "{ role } }"
        changed = await gql.data(change, owner, u=member.user_id, r="ADMIN")
        assert changed == {"changeMemberRole": {"role": "ADMIN"}}
        assert roles(await gql.data(ROLE_OF, owner))[member.user_id] == "ADMIN"
        refused = await gql.error(change, member, u=owner.user_id, r="USER")
        assert refused["extensions"]["code"] == "ROLE_HIERARCHY_VIOLATION"
        remove = "mutation R($u: ID!) { removeMember(userId: $u) }"
        assert await gql.data(remove, owner, u=member.user_id) == {"removeMember": True}
        assert member.user_id not in roles(await gql.data(ROLE_OF, owner))
        gone = await gql.error(remove, owner, u=member.user_id)
        assert (gone["extensions"]["code"], gone["extensions"]["status"]) == (
            "MEMBER_NOT_FOUND", 404)

    async def test_transfer_ownership_then_leave(self, gql: GraphQL) -> None:
        owner, heir = gql.user(), gql.user()
        customer_id = await gql.customer(owner)
        await gql.add(owner, heir, "ADMIN")
        cannot_leave = await gql.error("mutation { leaveCustomer }", owner)
        assert cannot_leave["extensions"]["code"] == "OWNER_CANNOT_LEAVE"
        transfer = """mutation T($u: ID) { transferOwnership(newOwnerUserId: $u) {
                        customerId ownerUserId previousOwnerUserId } }"""
        outsider = await gql.error(transfer, owner, u=gql.user().user_id)
        assert outsider["extensions"]["code"] == "NOT_A_MEMBER"
        moved = (await gql.data(transfer, owner, u=heir.user_id))["transferOwnership"]
        assert moved == {"customerId": customer_id, "ownerUserId": heir.user_id,
                         "previousOwnerUserId": owner.user_id}
        assert roles(await gql.data(ROLE_OF, heir)) == {heir.user_id: "OWNER",
                                                        owner.user_id: "ADMIN"}
        assert await gql.data("mutation { leaveCustomer }", owner) == {"leaveCustomer": True}
        assert (await gql.error("{ customer { id } }", owner))["extensions"]["code"] == (
            "NO_CUSTOMER")

    async def test_each_mutation_field_commits_on_its_own(self, gql: GraphQL) -> None:
        owner, first = gql.user(), gql.user()
        await gql.customer(owner)
        body = await gql.execute(
            'mutation($a: ID, $b: ID) { a: addMember(userId: $a) { __typename } '
            'b: addMember(userId: $b) { __typename } }', owner, a=first.user_id, b="bad")
        assert body["data"] == {"a": {"__typename": "Member"}, "b": None}
        assert [e["path"] for e in body["errors"]] == [["b"]]
        assert first.user_id in roles(await gql.data(ROLE_OF, owner))


class TestApiKeys:
    async def test_create_list_revoke(self, gql: GraphQL) -> None:
        user = gql.user()
        expires = (datetime.now(UTC) + timedelta(days=30)).replace(microsecond=0)
        created = (await gql.data(
            "mutation C($e: DateTime) { createApiKey(name: \"deploy\", expiresAt: $e) "
            "{ id name key secret createdAt expiresAt } }", user, e=expires.isoformat()
        ))["createApiKey"]
        assert created["secret"].startswith("bs_") and created["key"].startswith("bk_")
        assert created["expiresAt"] == expires.isoformat().replace("+00:00", "Z")
        listed = (await gql.data("{ apiKeys { id name key lastUsedAt } }", user))["apiKeys"]
        assert listed == [{"id": created["id"], "name": "deploy", "key": created["key"],
                           "lastUsedAt": None}]
        revoke = "mutation R($id: ID!) { revokeApiKey(id: $id) }"
        assert await gql.data(revoke, user, id=created["id"]) == {"revokeApiKey": True}
        assert (await gql.data("{ apiKeys { id } }", user))["apiKeys"] == []
        again = await gql.error(revoke, user, id=created["id"])
        assert again["extensions"]["code"] == "API_KEY_NOT_FOUND"

    async def test_expiry_must_be_in_the_future_and_zoned(self, gql: GraphQL) -> None:
        create = "mutation C($e: DateTime) { createApiKey(name: \"k\", expiresAt: $e) { id } }"
        past = await gql.error(create, gql.user(), e="2001-01-01T00:00:00Z")
        assert (past["extensions"]["code"], past["extensions"]["param"]) == (
            "INVALID_INPUT", "expiresAt")
        naive = await gql.error(create, gql.user(), e="2999-01-01T00:00:00")
        assert (naive["extensions"]["code"], naive["extensions"]["param"]) == (
            "INVALID_INPUT", "expiresAt")


class TestAdmin:
    async def test_only_billing_admins(self, gql: GraphQL) -> None:
        error = await gql.error("{ tiers { name } }", gql.user())
        assert (error["extensions"]["code"], error["extensions"]["status"]) == (
            "ADMIN_ROLE_REQUIRED", 403)

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
            (customer_id, "pro_plus", 1)]
        everyone = (await gql.data(listing, admin, size=1))["adminCustomers"]
        assert (everyone["totalCount"], everyone["totalPages"], everyone["hasNext"]) == (2, 2, True)
        active = (await gql.data(listing, admin, s="ACTIVE"))["adminCustomers"]
        assert active["items"] == []
        record = (await gql.data("query R($c: ID!) { adminCustomer(customerId: $c) { name "
                                 "ownerUserId memberCount } }", admin, c=customer_id))
        assert record["adminCustomer"] == {"name": "Pro one", "ownerUserId": owner.user_id,
                                           "memberCount": 1}

    async def test_unknown_and_malformed_customer_ids(self, gql: GraphQL) -> None:
        query = "query R($c: ID!) { adminCustomer(customerId: $c) { id } }"
        unknown = await gql.error(query, gql.admin(), c=str(uuid.uuid4()))
        assert (unknown["extensions"]["code"], unknown["extensions"]["status"]) == (
            "CUSTOMER_NOT_FOUND", 404)
        malformed = await gql.error(query, gql.admin(), c="nope")
        assert (malformed["extensions"]["code"], malformed["extensions"]["param"]) == (
            "INVALID_INPUT", "customerId")

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
        remove = "mutation D($c: ID!, $u: ID!) { adminRemoveMember(customerId: $c, userId: $u) }"
        owner_removal = await gql.error(remove, admin, c=customer_id, u=owner.user_id)
        assert owner_removal["extensions"]["code"] == "ROLE_HIERARCHY_VIOLATION"
        assert await gql.data(remove, admin, c=customer_id, u=newcomer.user_id) == {
            "adminRemoveMember": True}
        assert (await gql.error("{ customer { id } }", newcomer))["extensions"]["code"] == (
            "NO_CUSTOMER")

    async def test_delete_any_customer(self, gql: GraphQL) -> None:
        owner = gql.user()
        customer_id = await gql.customer(owner)
        delete = "mutation D($c: ID!) { adminDeleteCustomer(customerId: $c) }"
        assert await gql.data(delete, gql.admin(), c=customer_id) == {"adminDeleteCustomer": True}
        assert (await gql.error("{ customer { id } }", owner))["extensions"]["code"] == (
            "NO_CUSTOMER")

    async def test_tiers_and_the_default(self, gql: GraphQL) -> None:
        admin = gql.admin()
        tiers = (await gql.data("{ tiers { id name isDefault } }", admin))["tiers"]
        assert [t["name"] for t in tiers][:3] == ["public", "free", "pro"]
        assert len(tiers) == 10
        pro = next(t for t in tiers if t["name"] == "pro")
        make_default = "mutation S($t: ID!) { setDefaultTier(tierId: $t) { name isDefault } }"
        assert await gql.data(make_default, admin, t=pro["id"]) == {
            "setDefaultTier": {"name": "pro", "isDefault": True}}
        await gql.customer(owner := gql.user())
        assert (await gql.data("{ customer { tier { name } } }", owner))["customer"] == {
            "tier": {"name": "pro"}}
        public = next(t for t in tiers if t["name"] == "public")
        refused = await gql.error(make_default, admin, t=public["id"])
        assert (refused["extensions"]["code"], refused["extensions"]["status"]) == (
            "TIER_NOT_ASSIGNABLE", 400)

    async def test_tier_assignment_rules(self, gql: GraphQL) -> None:
        customer_id = await gql.customer(gql.user())
        set_tier = "mutation S($c: ID!, $t: String!) { setCustomerTier(customerId: $c, " \
                   "tierName: $t) { id } }"
        public = await gql.error(set_tier, gql.admin(), c=customer_id, t="public")
        assert public["extensions"]["code"] == "TIER_NOT_ASSIGNABLE"
        unknown = await gql.error(set_tier, gql.admin(), c=customer_id, t="gold")
        assert (unknown["extensions"]["code"], unknown["extensions"]["status"]) == (
            "TIER_NOT_FOUND", 404)


class TestEnums:
    def test_they_mirror_the_domain(self) -> None:
        assert [r.value for r in Role] == [r.value for r in MemberRole]
        assert [s.value for s in SubscriptionStatus] == [s.value for s in DomainStatus]


class TestErrors:
    async def test_an_unexpected_exception_is_masked_and_logged(
        self, gql: GraphQL, monkeypatch: pytest.MonkeyPatch, error_log: Records
    ) -> None:
        owner = gql.user()
        await gql.customer(owner)

        async def broken(*_args: object, **_kwargs: object) -> None:
            raise RuntimeError("secret internals")

        monkeypatch.setattr(CustomerService, "get", broken)
        error = await gql.error("{ customer { id } }", owner)
        assert error["message"] == "An internal error occurred."
        assert (error["extensions"]["code"], error["extensions"]["status"]) == (
            "INTERNAL_ERROR", 500)
        records = [r for r in error_log.records
                   if getattr(r, "error_id", None) == error["extensions"]["errorId"]]
        assert len(records) == 1
        assert records[0].exc_info and isinstance(records[0].exc_info[1], RuntimeError)

    async def test_client_errors_are_not_logged(
        self, gql: GraphQL, error_log: Records
    ) -> None:
        await gql.error("{ customer { id } }", gql.user())
        assert error_log.records == []

    async def test_syntax_and_validation_errors(self, gql: GraphQL) -> None:
        syntax = await gql.error("{ customer { id }", gql.user())
        assert (syntax["extensions"]["code"], syntax["extensions"]["status"]) == (
            "GRAPHQL_PARSE_FAILED", 400)
        unknown = await gql.error("{ customer { shoeSize } }", gql.user())
        assert unknown["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
        assert "shoeSize" in unknown["message"]
        role = await gql.error('mutation($r: Role!) { changeMemberRole(userId: "x", role: $r) '
                               "{ role } }", gql.user(), r="KING")
        assert role["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
        moment = await gql.error('mutation($e: DateTime) { createApiKey(name: "k", expiresAt: $e) '
                                 "{ id } }", gql.user(), e="yesterday")
        assert (moment["extensions"]["code"], moment["extensions"]["status"]) == (
            "GRAPHQL_VALIDATION_FAILED", 400)

    async def test_every_occurrence_has_its_own_error_id(self, gql: GraphQL) -> None:
        first = await gql.error("{ customer { shoeSize } }")
        second = await gql.error("{ customer { shoeSize } }")
        assert first["message"] == second["message"]
        assert first["extensions"]["errorId"] != second["extensions"]["errorId"]


class TestLimits:
    async def test_depth(self, graphql_app: AppWith) -> None:
        async with graphql_app(graphql_max_depth=1) as gql:
            owner = gql.user()
            assert (await gql.execute("{ customer { id } }", owner))["errors"][0]["extensions"][
                "code"] == "NO_CUSTOMER"
            error = await gql.error("{ customer { tier { name } } }", owner)
            assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
            assert "exceeds maximum operation depth of 1" in error["message"]

    async def test_aliases(self, graphql_app: AppWith) -> None:
        async with graphql_app(graphql_max_aliases=2) as gql:
            assert await gql.data("{ a: __typename b: __typename }") == {"a": "Query",
                                                                       "b": "Query"}
            error = await gql.error("{ a: __typename b: __typename c: __typename }")
            assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
            assert "3 aliases found. Allowed: 2" in error["message"]

    async def test_tokens(self, graphql_app: AppWith) -> None:
        async with graphql_app(graphql_max_tokens=10) as gql:
            assert await gql.data("{ __typename }") == {"__typename": "Query"}
            error = await gql.error("{ " + "__typename " * 20 + "}")
            assert error["extensions"]["code"] == "GRAPHQL_PARSE_FAILED"


class TestHttp:
    async def test_queries_over_get(self, gql: GraphQL) -> None:
        response = await gql.http.get("/graphql", params={"query": "{ __typename }"})
        assert (response.status_code, response.json()) == (200, {"data": {"__typename": "Query"}})

    async def test_mutations_over_get_are_refused(self, gql: GraphQL) -> None:
        owner = gql.user()
        response = await gql.http.get("/graphql", headers=owner.headers, params={
            "query": 'mutation { createCustomer(input: {name: "A", email: "a@a.example", '
                     'billingAddress: {country: "US"}}) { id } }'})
        assert response.status_code == 405
        assert response.headers["allow"] == "POST"
        assert response.json()["errors"][0]["extensions"]["code"] == "METHOD_NOT_ALLOWED"
        assert (await gql.error("{ customer { id } }", owner))["extensions"]["code"] == (
            "NO_CUSTOMER")

    async def test_graphiql_for_browsers(self, gql: GraphQL) -> None:
        response = await gql.http.get("/graphql", headers={"Accept": "text/html"})
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/html")
        assert "graphiql" in response.text.lower()

    @pytest.mark.parametrize(("content", "content_type", "code"), [
        (b"{not json", "application/json", "MALFORMED_JSON"),
        (b"\xff\xfe\xfa", "application/json", "MALFORMED_JSON"),
        (b'"a string"', "application/json", "INVALID_INPUT"),
        (b"{}", "application/json", "INVALID_INPUT"),
        (b'{"query": 42}', "application/json", "INVALID_INPUT"),
        (b"query=%7B__typename%7D", "application/x-www-form-urlencoded", "INVALID_INPUT"),
    ])
    async def test_bodies_that_are_not_graphql_requests(
        self, gql: GraphQL, content: bytes, content_type: str, code: str
    ) -> None:
        response = await gql.http.post("/graphql", content=content,
                                       headers={"content-type": content_type})
        assert response.status_code == 400, response.text
        error = response.json()["errors"][0]
        assert (error["extensions"]["code"], error["extensions"]["status"]) == (code, 400)
        assert error["extensions"]["errorId"]

    async def test_other_methods(self, gql: GraphQL) -> None:
        response = await gql.http.put("/graphql", json={"query": "{ __typename }"})
        assert response.status_code == 405


async def test_timestamps_are_utc_with_z(gql: GraphQL) -> None:
    owner = gql.user()
    await gql.customer(owner)
    joined = (await gql.data("{ members { items { joinedAt } } }", owner))["members"]["items"]
    assert ISO_Z.match(joined[0]["joinedAt"])

