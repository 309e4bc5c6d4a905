"""The tier's member limit (SPEC §3.2): a seat for the owner, each member and each pending
invitation, whoever adds them. A rule of the customers' domain, tested once here; the
transports' tests only check how its error is rendered (402 MEMBER_LIMIT_REACHED)."""

from __future__ import annotations

from tests.support.api import Api, Caller
from tests.support.clock import MovableClock


async def roles_of(api: Api, caller: Caller) -> dict[str, str]:
    response = await api.call("GET", "/customer/members", caller, params={"pageSize": 100})
    return {m["userID"]: m["role"] for m in response.json()["members"]}


class TestMemberLimit:
    async def test_the_tier_member_limit_counts_owner_and_invitations(self, api: Api) -> None:
        owner = api.user()
        await api.customer(owner)  # free: 3 members
        await api.add(owner, api.user())
        invited = await api.call(
            "POST", "/customer/member", owner, json={"email": "someone@example.com", "role": "user"}
        )
        assert invited.status_code == 201
        response = await api.call(
            "POST", "/customer/member", owner, json={"userID": api.user().user_id, "role": "user"}
        )
        assert response.status_code == 402
        assert response.json()["error"]["code"] == "MEMBER_LIMIT_REACHED"
        assert len(await roles_of(api, owner)) == 2

    async def test_the_refusal_carries_what_an_upgrade_prompt_shows(self, api: Api) -> None:
        owner = api.user()
        await api.customer(owner)  # free: 3 members
        for email in ("a@example.com", "b@example.com"):
            await api.call("POST", "/customer/member", owner, json={"email": email})
        refused = await api.call("POST", "/customer/member", owner, json={"email": "c@example.com"})
        error = refused.json()["error"]
        assert (error["limit"], error["tierName"], error["seatsUsed"]) == (3, "free", 3)
        over_graphql = await api.graphql(
            'mutation { addMember(email: "d@example.com") { __typename } }', owner
        )
        extensions = over_graphql["errors"][0]["extensions"]
        assert extensions["code"] == "MEMBER_LIMIT_REACHED"
        assert (extensions["limit"], extensions["tierName"], extensions["seatsUsed"]) == (
            3,
            "free",
            3,
        )

    async def test_invitations_expire_after_seven_days_and_free_their_seat(
        self, api: Api, clock: MovableClock
    ) -> None:
        owner = api.user()
        await api.customer(owner)  # free: 3 members
        for email in ("a@example.com", "b@example.com"):
            await api.call("POST", "/customer/member", owner, json={"email": email})
        full = await api.call("POST", "/customer/member", owner, json={"email": "c@example.com"})
        assert full.status_code == 402
        clock.advance(days=7, seconds=1)
        late = api.user(email="a@example.com")
        assert (await api.call("GET", "/customer", late)).status_code == 404
        for email in ("c@example.com", "d@example.com"):
            again = await api.call("POST", "/customer/member", owner, json={"email": email})
            assert again.status_code == 201

    async def test_admin_additions_respect_the_member_limit(self, api: Api) -> None:
        owner = api.user()
        customer = await api.customer(owner)
        base = f"/admin/customer/{customer['id']}/member"
        statuses = [
            (
                await api.call(
                    "POST", base, api.admin(), json={"userID": api.user().user_id, "role": "user"}
                )
            ).status_code
            for _ in range(3)
        ]
        assert statuses == [201, 201, 402]
