"""/admin over REST (SPEC §5.7)."""

from __future__ import annotations

import uuid

from tests.support.api import ANONYMOUS, Api

TIER_NAMES = [
    "public",
    "free",
    "pro",
    "pro_plus",
    "business",
    "business_plus",
    "business_max",
    "enterprise",
    "enterprise_plus",
    "enterprise_max",
]


class TestAccess:
    async def test_only_billing_admins(self, api: Api) -> None:
        team = await api.team()
        for caller, status in ((team.owner, 403), (ANONYMOUS, 401)):
            for method, path in (
                ("GET", "/admin/customers"),
                ("GET", "/admin/tiers"),
                ("GET", f"/admin/customer/{team.customer_id}"),
            ):
                response = await api.call(method, path, caller)
                assert response.status_code == status, (method, path)


class TestCustomers:
    async def test_list_with_filters_and_pagination(self, api: Api) -> None:
        admin = api.admin()
        pro = await api.team("user")
        await api.set_tier(pro.customer_id, "Pro")
        await api.customer(api.user(), "Free one")
        body = (await api.call("GET", "/admin/customers", admin, params={"tierName": "pro"})).json()
        assert [c["id"] for c in body["customers"]] == [pro.customer_id]
        summary = body["customers"][0]
        assert set(summary) == {
            "id",
            "name",
            "tierName",
            "subscriptionStatus",
            "memberCount",
            "createdAt",
        }
        assert (summary["tierName"], summary["memberCount"]) == ("pro", 2)
        everything = (
            await api.call("GET", "/admin/customers", admin, params={"pageSize": 1})
        ).json()
        assert everything["pagination"]["totalCount"] == 2
        assert (everything["items"], everything["pages"]) == (2, 2)
        none = (
            await api.call("GET", "/admin/customers", admin, params={"status": "active"})
        ).json()
        assert none["customers"] == []
        bad = await api.call("GET", "/admin/customers", admin, params={"status": "sleepy"})
        assert (bad.status_code, bad.json()["error"]["param"]) == (400, "status")
        unknown = await api.call("GET", "/admin/customers", admin, params={"tierName": "gold"})
        assert unknown.status_code == 404

    async def test_get_the_full_record(self, api: Api) -> None:
        team = await api.team("user")
        body = (await api.call("GET", f"/admin/customer/{team.customer_id}", api.admin())).json()
        assert body["id"] == team.customer_id
        assert body["ownerUserID"] == team.owner.user_id
        assert body["memberCount"] == 2
        assert body["tierName"] == "enterprise"
        assert body["tierID"]
        assert body["subscriptionEnabled"] is False
        assert body["gcid"] is None

    async def test_malformed_and_unknown_ids(self, api: Api) -> None:
        admin = api.admin()
        malformed = await api.call("GET", "/admin/customer/12345", admin)
        assert (malformed.status_code, malformed.json()["error"]["param"]) == (400, "customerID")
        unknown = await api.call("GET", f"/admin/customer/{uuid.uuid4()}", admin)
        assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "CUSTOMER_NOT_FOUND")

    async def test_an_unknown_customer_is_named_by_the_path_parameter(self, api: Api) -> None:
        path = f"/admin/customer/{uuid.uuid4()}/tier"
        response = await api.call("PUT", path, api.admin(), json={"tierName": "pro"})
        error = response.json()["error"]
        assert (response.status_code, error["code"], error["param"]) == (
            404,
            "CUSTOMER_NOT_FOUND",
            "customerID",
        )

    async def test_a_malformed_id_is_named_by_the_path_parameter(self, api: Api) -> None:
        response = await api.call("GET", "/admin/customer/not-a-uuid", api.admin())
        error = response.json()["error"]
        assert (error["param"], error["message"]) == ("customerID", "customerID must be a UUID.")
        assert response.headers["x-error"] == "customerID must be a UUID."

    async def test_delete_any_customer(self, api: Api) -> None:
        team = await api.team("user")
        admin = api.admin()
        assert (
            await api.call("DELETE", f"/admin/customer/{team.customer_id}", admin)
        ).status_code == 204
        assert (await api.call("GET", "/customer", team.owner)).status_code == 404
        again = await api.call("DELETE", f"/admin/customer/{team.customer_id}", admin)
        assert again.status_code == 404

    async def test_members_of_any_customer(self, api: Api) -> None:
        team = await api.team()
        admin, newcomer = api.admin(), api.user()
        base = f"/admin/customer/{team.customer_id}"
        added = await api.call(
            "POST", f"{base}/member", admin, json={"userID": newcomer.user_id, "role": "admin"}
        )
        assert added.status_code == 201
        listed = (await api.call("GET", f"{base}/members", admin)).json()
        assert {m["userID"] for m in listed["members"]} == {team.owner.user_id, newcomer.user_id}
        owner_removal = await api.call("DELETE", f"{base}/member/{team.owner.user_id}", admin)
        assert owner_removal.status_code == 403
        assert (
            await api.call("DELETE", f"{base}/member/{newcomer.user_id}", admin)
        ).status_code == 204
        assert (await api.call("GET", "/customer", newcomer)).status_code == 404


class TestTiers:
    async def test_the_ten_tiers_in_order(self, api: Api) -> None:
        tiers = (await api.call("GET", "/admin/tiers", api.admin())).json()["tiers"]
        assert [t["name"] for t in tiers] == TIER_NAMES
        free = tiers[1]
        assert free == {
            "id": free["id"],
            "name": "free",
            "displayName": "Free",
            "description": "Individual users getting started",
            "stripePriceId": None,
            "price": 0,
            "memberLimit": 3,
            "unlimitedMembers": False,
            "isActive": True,
            "isDefault": True,
            "sortOrder": 1,
            "features": free["features"],
        }
        assert len(free["features"]) == 31  # every feature of the catalog, 0 included
        assert {
            "serviceName": "ai-api",
            "featureKey": "chat_completions_per_minute",
            "kind": "rate",
            "window": "minute",
            "value": 5,
        } in free["features"]
        assert (tiers[-1]["memberLimit"], tiers[-1]["unlimitedMembers"]) == (-1, True)
        assert tiers[3]["price"] == 7900
        inactive = (
            await api.call("GET", "/admin/tiers", api.admin(), params={"active": "false"})
        ).json()
        assert inactive["tiers"] == []

    async def test_set_the_default_tier(self, api: Api) -> None:
        admin = api.admin()
        tiers = {
            t["name"]: t for t in (await api.call("GET", "/admin/tiers", admin)).json()["tiers"]
        }
        response = await api.call("PUT", f"/admin/tiers/{tiers['pro']['id']}/default", admin)
        assert response.status_code == 200
        assert response.json()["isDefault"] is True
        assert (await api.customer(api.user()))["tierName"] == "pro"
        defaults = [
            t["name"]
            for t in (await api.call("GET", "/admin/tiers", admin)).json()["tiers"]
            if t["isDefault"]
        ]
        assert defaults == ["pro"]
        public = await api.call("PUT", f"/admin/tiers/{tiers['public']['id']}/default", admin)
        assert public.status_code == 400
        unknown = await api.call("PUT", f"/admin/tiers/{uuid.uuid4()}/default", admin)
        assert unknown.status_code == 404

    async def test_set_a_customers_tier_by_name_or_display_name(self, api: Api) -> None:
        team = await api.team()
        admin = api.admin()
        path = f"/admin/customer/{team.customer_id}/tier"
        for name, expected in (("Pro Plus", "pro_plus"), ("BUSINESS_MAX", "business_max")):
            response = await api.call("PUT", path, admin, json={"tierName": name})
            assert response.status_code == 200
            assert response.json()["tierName"] == expected
        public = await api.call("PUT", path, admin, json={"tierName": "public"})
        assert (public.status_code, public.json()["error"]["code"]) == (400, "TIER_NOT_ASSIGNABLE")
        unknown = await api.call("PUT", path, admin, json={"tierName": "platinum"})
        assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "TIER_NOT_FOUND")
        assert (await api.call("GET", "/customer", team.owner)).json()["tierName"] == "business_max"
