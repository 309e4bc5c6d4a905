"""Reading the audit trail: `GET /customer/audit`, `GET /admin/customer/{customerID}/audit`,
`GET /admin/audit`, and `auditTrail`, `Customer.auditTrail`, `adminAuditTrail`,
`platformAuditTrail` on GraphQL. Who may read which chain, the filters, the pages, and the
actions recorded."""

from __future__ import annotations

import itertools
import json
import uuid
from typing import Any

import pytest

from tests.support.api import ANONYMOUS, Api, Caller, Team
from tests.support.clock import MovableClock, iso_z

RECORD_FIELDS = "id seq occurredAt action actorUserId customerId details hash prevHash"
TRAIL = f"""
query($action: String, $actor: ID, $from: DateTime, $to: DateTime, $page: Int! = 1,
      $pageSize: Int! = 20) {{
  auditTrail(action: $action, actorUserId: $actor, from: $from, to: $to, page: $page,
             pageSize: $pageSize) {{
    totalCount page pageSize totalPages hasNext hasPrev items {{ {RECORD_FIELDS} }}
  }}
}}
"""
NESTED = "{ customer { auditTrail { totalCount items { seq action } } } }"
ADMIN_TRAIL = f"""
query($id: ID!) {{ adminAuditTrail(customerId: $id) {{ totalCount items {{ {RECORD_FIELDS} }} }} }}
"""
PLATFORM_TRAIL = f"""
query($action: String) {{
  platformAuditTrail(action: $action) {{ totalCount items {{ {RECORD_FIELDS} }} }}
}}
"""
# What `api.team("admin", "user")` leaves on the customer's chain, oldest first.
TEAM_ACTIONS = ["customer.created", "customer.tier_changed", "member.added", "member.added"]


async def trail(api: Api, caller: Caller, path: str = "/customer/audit", /, **params: Any) -> Any:
    response = await api.call("GET", path, caller, params=params)
    assert response.status_code == 200, response.text
    return response.json()


async def refused(api: Api, caller: Caller, path: str = "/customer/audit", **params: Any) -> Any:
    response = await api.call("GET", path, caller, params=params)
    assert response.status_code >= 400, response.text
    return response.status_code, response.json()["error"]["code"]


def actions(body: Any) -> list[str]:
    rows = body["records"] if "records" in body else body["items"]
    return [row["action"] for row in rows]


@pytest.fixture
async def team(api: Api) -> Team:
    """An enterprise customer with an admin and a user."""
    return await api.team("admin", "user")


class TestWhoReads:
    async def test_the_owner_and_an_admin_read_their_customers_trail(
        self, api: Api, team: Team
    ) -> None:
        for caller in (team.owner, team.members[0]):
            body = await trail(api, caller)
            assert actions(body) == TEAM_ACTIONS[::-1]
            assert body["pagination"]["totalCount"] == body["items"] == 4
            assert {row["customerId"] for row in body["records"]} == {team.customer_id}

    async def test_a_plain_member_is_forbidden(self, api: Api, team: Team) -> None:
        assert await refused(api, team.members[1]) == (403, "FORBIDDEN")
        body = await api.graphql(TRAIL, team.members[1])
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"

    async def test_a_caller_without_a_customer_gets_no_customer(self, api: Api) -> None:
        for caller in (api.user(), api.admin()):
            assert await refused(api, caller) == (404, "NO_CUSTOMER")
            body = await api.graphql(TRAIL, caller)
            assert body["errors"][0]["extensions"]["code"] == "NO_CUSTOMER"

    async def test_an_anonymous_caller_must_sign_in(self, api: Api) -> None:
        assert (await refused(api, ANONYMOUS))[0] == 401

    async def test_on_the_customer_it_is_null_for_a_plain_member(
        self, api: Api, team: Team
    ) -> None:
        assert (await api.graphql(NESTED, team.members[1])) == {
            "data": {"customer": {"auditTrail": None}}
        }
        owners = await api.graphql(NESTED, team.owner)
        assert owners["data"]["customer"]["auditTrail"]["totalCount"] == 4

    async def test_billing_admin_reads_any_customers_trail(self, api: Api, team: Team) -> None:
        admin = api.admin()
        path = f"/admin/customer/{team.customer_id}/audit"
        by_rest = await trail(api, admin, path)
        by_graphql = await api.graphql(ADMIN_TRAIL, admin, id=team.customer_id)
        assert actions(by_rest) == TEAM_ACTIONS[::-1]
        assert by_graphql["data"]["adminAuditTrail"]["items"] == by_rest["records"]
        nested = await api.graphql(
            "query($id: ID!) { adminCustomer(customerId: $id) { auditTrail { totalCount } } }",
            admin,
            id=team.customer_id,
        )
        assert nested["data"]["adminCustomer"]["auditTrail"] == {"totalCount": 4}

    async def test_the_admin_routes_are_billing_admins_alone(self, api: Api, team: Team) -> None:
        for path in (f"/admin/customer/{team.customer_id}/audit", "/admin/audit"):
            assert await refused(api, team.owner, path) == (403, "ADMIN_ROLE_REQUIRED")
        body = await api.graphql(PLATFORM_TRAIL, team.owner)
        assert body["errors"][0]["extensions"]["code"] == "ADMIN_ROLE_REQUIRED"

    async def test_an_unknown_or_malformed_customer_id(self, api: Api) -> None:
        admin = api.admin()
        unknown = await refused(api, admin, f"/admin/customer/{uuid.uuid4()}/audit")
        assert unknown == (404, "CUSTOMER_NOT_FOUND")
        response = await api.call("GET", "/admin/customer/nope/audit", admin)
        assert response.status_code == 400
        assert response.json()["error"]["param"] == "customerID"

    async def test_a_deleted_customers_trail_stays_readable_by_billing_admin(
        self, api: Api, team: Team
    ) -> None:
        assert (await api.call("DELETE", "/customer", team.owner)).status_code == 204
        body = await trail(api, api.admin(), f"/admin/customer/{team.customer_id}/audit")
        assert actions(body) == ["customer.deleted", *TEAM_ACTIONS[::-1]]
        deleted = body["records"][0]["details"]
        everyone = [team.owner, *team.members]
        assert sorted(deleted["members"]) == sorted(m.user_id for m in everyone)


class TestRecords:
    async def test_each_record_links_to_the_one_before(self, api: Api, team: Team) -> None:
        rows = (await trail(api, team.owner))["records"]
        assert [row["seq"] for row in rows] == [4, 3, 2, 1]
        assert rows[-1]["prevHash"] is None
        for newer, older in itertools.pairwise(rows):
            assert newer["prevHash"] == older["hash"]
        assert all(len(row["hash"]) == 64 for row in rows)

    async def test_what_a_record_shows(self, api: Api, team: Team) -> None:
        added = (await trail(api, team.owner, action="member.added"))["records"][-1]
        assert added["actorUserId"] == team.owner.user_id
        assert added["details"] == {"user_id": team.members[0].user_id, "role": "admin"}
        assert added["occurredAt"].endswith("Z")
        graphql = (await api.graphql(TRAIL, team.owner, action="member.added"))["data"]
        assert graphql["auditTrail"]["items"][-1] == added


class TestFilters:
    async def test_an_action_or_a_prefix(self, api: Api, team: Team) -> None:
        change = {"userID": team.members[1].user_id, "role": "admin"}
        assert (await api.call("PUT", "/customer/member", team.owner, json=change)).is_success
        assert actions(await trail(api, team.owner, action="member.added")) == ["member.added"] * 2
        assert actions(await trail(api, team.owner, action="member.")) == [
            "member.role_changed",
            "member.added",
            "member.added",
        ]
        assert actions(await trail(api, team.owner, action="member")) == []
        body = await api.graphql(TRAIL, team.owner, action="customer.")
        assert actions(body["data"]["auditTrail"]) == ["customer.tier_changed", "customer.created"]

    async def test_an_actor(self, api: Api, team: Team) -> None:
        admin = team.members[0]
        invite = {"email": "someone@example.com", "role": "user"}
        assert (await api.call("POST", "/customer/member", admin, json=invite)).is_success
        body = await trail(api, team.owner, actorUserId=admin.user_id)
        assert actions(body) == ["invitation.created"]
        by_graphql = await api.graphql(TRAIL, team.owner, actor=admin.user_id)
        assert actions(by_graphql["data"]["auditTrail"]) == ["invitation.created"]

    async def test_a_time_range_both_ends_included(
        self, api: Api, team: Team, clock: MovableClock
    ) -> None:
        since = int(clock.now.timestamp()) + 3600  # the second of the first change
        until = since + 3600  # the second of the second
        for hours in (1, 2, 3):
            clock.advance(hours=1)
            rename = {"name": f"Name {hours}"}
            assert (await api.call("PATCH", "/customer", team.owner, json=rename)).is_success
        body = await trail(api, team.owner, action="customer.updated", to=until, **{"from": since})
        assert [row["details"]["changes"]["name"]["to"] for row in body["records"]] == [
            "Name 2",
            "Name 1",
        ]
        by_graphql = await api.graphql(
            TRAIL,
            team.owner,
            action="customer.updated",
            **{"from": iso_z(since), "to": iso_z(until)},
        )
        assert by_graphql["data"]["auditTrail"]["items"] == body["records"]
        later = await trail(api, team.owner, action="customer.updated", **{"from": until + 1})
        assert [row["details"]["changes"]["name"]["to"] for row in later["records"]] == ["Name 3"]

    async def test_pages_newest_first(self, api: Api, team: Team) -> None:
        first = await trail(api, team.owner, pageSize=3)
        second = await trail(api, team.owner, pageSize=3, page=2)
        assert [row["seq"] for row in first["records"] + second["records"]] == [4, 3, 2, 1]
        assert first["pagination"] == {
            "page": 1,
            "pageSize": 3,
            "totalCount": 4,
            "totalPages": 2,
            "hasNext": True,
            "hasPrev": False,
        }
        assert first["pages"] == 2
        page = (await api.graphql(TRAIL, team.owner, page=2, pageSize=3))["data"]["auditTrail"]
        assert (page["totalPages"], page["hasNext"], page["hasPrev"]) == (2, False, True)
        assert page["items"] == second["records"]

    @pytest.mark.parametrize(
        ("params", "param"),
        [
            ({"pageSize": 101}, "pageSize"),
            ({"actorUserId": "nope"}, "actorUserId"),
            ({"action": "x" * 65}, "action"),
            ({"from": "yesterday"}, "from"),
        ],
    )
    async def test_bad_parameters(
        self, api: Api, team: Team, params: dict[str, Any], param: str
    ) -> None:
        response = await api.call("GET", "/customer/audit", team.owner, params=params)
        assert response.status_code == 400, response.text
        assert response.json()["error"]["param"] == param


class TestRecordedActions:
    async def test_api_keys_of_a_member_go_to_the_customers_chain(
        self, api: Api, team: Team
    ) -> None:
        member = team.members[1]
        created = await api.call("POST", "/apikeys", member, json={"name": "ci"})
        key = created.json()
        assert (await api.call("DELETE", f"/apikeys/{key['id']}", member)).status_code == 204
        body = await trail(api, team.owner, action="api_key.")
        assert actions(body) == ["api_key.revoked", "api_key.created"]
        for row in body["records"]:
            assert row["actorUserId"] == member.user_id
            assert row["details"]["api_key_id"] == key["id"]
            assert row["details"]["name"] == "ci"
        text = json.dumps(body)
        assert key["secret"] not in text and "secret" not in text

    async def test_api_keys_of_a_user_without_a_customer_go_to_the_platform_chain(
        self, api: Api
    ) -> None:
        user = api.user()
        created = (await api.call("POST", "/apikeys", user, json={"name": "solo"})).json()
        body = await trail(api, api.admin(), "/admin/audit", actorUserId=user.user_id)
        assert actions(body) == ["api_key.created"]
        assert body["records"][0]["customerId"] is None
        assert body["records"][0]["details"]["api_key_id"] == created["id"]

    async def test_catalog_and_tier_changes(self, api: Api, team: Team) -> None:
        admin = api.admin()
        features = [{"featureKey": "scans_per_minute", "kind": "rate", "window": "minute"}]
        registered = await api.call(
            "PUT", "/admin/services/vision-api", api.service(), json={"features": features}
        )
        assert registered.status_code == 200, registered.text
        override = f"/admin/customer/{team.customer_id}/limits/ai-api/chat_completions_per_minute"
        assert (await api.call("PUT", override, admin, json={"value": 7})).is_success
        assert (await api.call("PUT", override, admin, json={"value": 9})).is_success
        assert (await api.call("DELETE", override, admin)).status_code == 204
        assert (await api.call("DELETE", override, admin)).status_code == 204  # nothing to clear
        tiers = (await api.call("GET", "/admin/tiers", admin)).json()["tiers"]
        pro = next(tier for tier in tiers if tier["name"] == "pro")
        assert (await api.call("PUT", f"/admin/tiers/{pro['id']}/default", admin)).is_success

        platform = await trail(api, admin, "/admin/audit")
        assert actions(platform) == ["tier.default_changed", "catalog.service_registered"]
        tier_change, registration = platform["records"]
        assert tier_change["details"]["tier_name"] == "pro"
        assert tier_change["details"]["previous_tier_name"] == "free"
        assert tier_change["actorUserId"] == admin.user_id
        assert registration["details"] == {
            "service_name": "vision-api",
            "features": ["scans_per_minute"],
        }
        by_graphql = await api.graphql(PLATFORM_TRAIL, admin, action="catalog.")
        assert by_graphql["data"]["platformAuditTrail"]["items"] == [registration]

        overrides = await trail(api, team.owner, action="catalog.")
        assert [(row["action"], row["details"]) for row in overrides["records"]] == [
            _override("catalog.override_cleared", previous_value=9),
            _override("catalog.override_set", value=9, previous_value=7),
            _override("catalog.override_set", value=7, previous_value=None),
        ]


def _override(action: str, **values: Any) -> tuple[str, dict[str, Any]]:
    feature = {"service_name": "ai-api", "feature_key": "chat_completions_per_minute"}
    return action, {**feature, **values}
