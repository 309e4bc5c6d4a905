"""/customer over REST (SPEC §5.1)."""

from __future__ import annotations

from sqlalchemy import select
from sqlmodel import col

from app.core.db import Database
from app.models import AuditEvent
from tests.support.api import ADDRESS, ANONYMOUS, Api


class TestCreate:
    async def test_the_creator_becomes_owner_on_the_default_tier(self, api: Api) -> None:
        owner = api.user()
        body = await api.customer(owner, "Acme Corp")
        assert body["name"] == "Acme Corp"
        assert body["tierName"] == "free"
        assert body["billingAddress"] == ADDRESS
        assert body["subscriptionStatus"] == "none"
        assert body["gcid"] is None
        assert body["createdAt"].endswith("Z")
        members = (await api.call("GET", "/customer/members", owner)).json()["members"]
        assert [(m["userID"], m["role"]) for m in members] == [(owner.user_id, "owner")]

    async def test_the_answer_acknowledges_as_the_official_sdk_expects(self, api: Api) -> None:
        owner = api.user()
        body = await api.customer(owner)
        assert body["message"] == "acknowledged"
        assert "message" not in (await api.call("GET", "/customer", owner)).json()

    async def test_a_member_cannot_create_another(self, api: Api) -> None:
        owner = api.user()
        await api.customer(owner)
        response = await api.call(
            "POST",
            "/customer",
            owner,
            json={"name": "Second", "email": "b@example.com", "billingAddress": ADDRESS},
        )
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "ALREADY_IN_CUSTOMER"

    async def test_anonymous_callers_must_authenticate(self, api: Api) -> None:
        response = await api.call(
            "POST",
            "/customer",
            ANONYMOUS,
            json={"name": "X", "email": "x@example.com", "billingAddress": ADDRESS},
        )
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "AUTHENTICATION_REQUIRED"

    async def test_the_country_must_be_an_iso_code(self, api: Api) -> None:
        owner = api.user()
        for country in ("us", "USA", "XX", ""):
            response = await api.call(
                "POST",
                "/customer",
                owner,
                json={
                    "name": "X",
                    "email": "x@example.com",
                    "billingAddress": {**ADDRESS, "country": country},
                },
            )
            assert response.status_code == 400, country
            assert response.json()["error"]["param"] == "billingAddress.country"
        assert (await api.call("GET", "/customer", owner)).status_code == 404

    async def test_wrong_types_are_refused_and_nothing_is_written(self, api: Api) -> None:
        owner = api.user()
        cases = [
            ({"name": 123, "email": "x@example.com", "billingAddress": ADDRESS}, "name"),
            ({"name": "X", "email": "not-an-email", "billingAddress": ADDRESS}, "email"),
            (
                {"name": "X", "email": "x@example.com", "billingAddress": "Main St"},
                "billingAddress",
            ),
            ({"name": "", "email": "x@example.com", "billingAddress": ADDRESS}, "name"),
            ({"email": "x@example.com", "billingAddress": ADDRESS}, "name"),
        ]
        for body, param in cases:
            response = await api.call("POST", "/customer", owner, json=body)
            assert response.status_code == 400, body
            error = response.json()["error"]
            assert (error["code"], error["param"]) == ("INVALID_INPUT", param)
        response = await api.call("POST", "/customer", owner, json=["not", "an", "object"])
        assert response.json()["error"]["code"] == "INVALID_INPUT"
        assert (await api.call("GET", "/customer", owner)).json()["error"]["code"] == "NO_CUSTOMER"


class TestView:
    async def test_every_member_sees_the_customer_and_its_tier(self, api: Api) -> None:
        team = await api.team("admin", "user")
        for caller in (team.owner, *team.members):
            customer = (await api.call("GET", "/customer", caller)).json()
            assert customer["id"] == team.customer_id
            tier = (await api.call("GET", "/customer/tier", caller)).json()
            assert tier == {
                "customerId": team.customer_id,
                "tierId": tier["tierId"],
                "tierName": "enterprise",
                "description": "Organizations",
                "isActive": True,
                "subscriptionStatus": "none",
                "trialUsed": False,
                "stacks": 0,
            }

    async def test_a_caller_with_no_team_gets_404(self, api: Api) -> None:
        for path in ("/customer", "/customer/tier", "/customer/members"):
            response = await api.call("GET", path, api.user())
            assert response.status_code == 404
            assert response.json()["error"]["code"] == "NO_CUSTOMER"


class TestDelete:
    async def test_the_owner_deletes_frees_members_and_an_audit_record_stays(
        self, api: Api, database_url: str
    ) -> None:
        team = await api.team("user")
        assert (await api.call("DELETE", "/customer", team.owner)).status_code == 204
        assert (await api.call("GET", "/customer", team.owner)).status_code == 404
        await api.customer(team.members[0], "Fresh start")
        db = Database(database_url)
        async with db.transaction(write=False) as session:
            events = list(
                await session.scalars(
                    select(AuditEvent).where(col(AuditEvent.action) == "customer.deleted")
                )
            )
        await db.dispose()
        assert len(events) == 1
        assert str(events[0].customer_id) == team.customer_id
        assert team.members[0].user_id in events[0].details["members"]

    async def test_only_the_owner_deletes(self, api: Api) -> None:
        team = await api.team("admin", "user")
        for member in team.members:
            response = await api.call("DELETE", "/customer", member)
            assert response.status_code == 403
        assert (await api.call("GET", "/customer", team.owner)).status_code == 200


class TestLeave:
    async def test_members_leave_and_their_seat_is_freed(self, api: Api) -> None:
        owner = api.user()
        customer = await api.customer(owner)
        first, second = api.user(), api.user()
        await api.add(owner, first)
        await api.add(owner, second)
        assert (await api.call("DELETE", "/customer/leave", first)).status_code == 204
        assert (await api.call("GET", "/customer", first)).status_code == 404
        await api.add(owner, api.user())  # free tier: 3 seats again available for one more
        assert customer["tierName"] == "free"

    async def test_the_owner_cannot_leave(self, api: Api) -> None:
        team = await api.team()
        response = await api.call("DELETE", "/customer/leave", team.owner)
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "OWNER_CANNOT_LEAVE"


class TestTransferOwnership:
    async def test_the_new_owner_is_promoted_and_the_old_one_becomes_admin(self, api: Api) -> None:
        team = await api.team("user")
        new_owner = team.members[0]
        response = await api.call(
            "POST",
            "/customer/transfer-ownership",
            team.owner,
            json={"newOwnerUserID": new_owner.user_id},
        )
        assert response.status_code == 200
        assert response.json() == {
            "customerId": team.customer_id,
            "ownerUserID": new_owner.user_id,
            "previousOwnerUserID": team.owner.user_id,
        }
        roles = {
            m["userID"]: m["role"]
            for m in (await api.call("GET", "/customer/members", new_owner)).json()["members"]
        }
        assert roles == {new_owner.user_id: "owner", team.owner.user_id: "admin"}

    async def test_by_email_and_by_the_legacy_field(self, api: Api) -> None:
        team = await api.team("user", "admin")
        response = await api.call(
            "POST",
            "/customer/transfer-ownership",
            team.owner,
            json={"email": team.members[0].email},
        )
        assert response.status_code == 200
        response = await api.call(
            "POST",
            "/customer/transfer-ownership",
            team.members[0],
            json={"userID": team.members[1].user_id},
        )
        assert response.json()["ownerUserID"] == team.members[1].user_id

    async def test_the_target_must_be_a_member(self, api: Api) -> None:
        team = await api.team()
        other = await api.team()
        for target in (api.user(), other.owner):
            response = await api.call(
                "POST",
                "/customer/transfer-ownership",
                team.owner,
                json={"newOwnerUserID": target.user_id},
            )
            assert response.status_code == 400
            assert response.json()["error"]["code"] == "NOT_A_MEMBER"
        response = await api.call(
            "POST", "/customer/transfer-ownership", team.owner, json={"email": other.owner.email}
        )
        assert response.json()["error"] == response.json()["error"] | {
            "code": "NOT_A_MEMBER",
            "param": "email",
        }

    async def test_an_email_two_members_share_names_nobody(self, api: Api) -> None:
        owner = api.user()
        await api.customer(owner)
        twins = [api.user(email="twin@example.com") for _ in range(2)]
        for twin in twins:
            await api.add(owner, twin)
        response = await api.call(
            "POST", "/customer/transfer-ownership", owner, json={"email": "twin@example.com"}
        )
        assert response.status_code == 400
        assert response.json()["error"]["param"] == "email"
        members = (await api.call("GET", "/customer/members", owner)).json()["members"]
        assert {m["userID"]: m["role"] for m in members}[owner.user_id] == "owner"

    async def test_only_the_owner_transfers(self, api: Api) -> None:
        team = await api.team("admin", "user")
        response = await api.call(
            "POST",
            "/customer/transfer-ownership",
            team.members[0],
            json={"newOwnerUserID": team.members[0].user_id},
        )
        assert response.status_code == 403
