"""/customer/member(s) and invitations over REST (SPEC §3.2, §5.2)."""

from __future__ import annotations

import uuid

import jwt
import pytest

from tests.support.api import SECRET, Api, Caller

# The roles' ids are part of the contract: the same on every deployment, for ever.
ROLE_IDS = {
    role: str(uuid.uuid5(uuid.UUID("f853f642-ba48-4251-8466-f6e7c785c395"), role))
    for role in ("owner", "admin", "user")
}


async def roles_of(api: Api, caller: Caller) -> dict[str, str]:
    response = await api.call("GET", "/customer/members", caller, params={"pageSize": 100})
    return {m["userID"]: m["role"] for m in response.json()["members"]}


class TestListMembers:
    async def test_pages_carry_both_envelopes(self, api: Api) -> None:
        team = await api.team("user", "user", "user", "user")
        response = await api.call(
            "GET", "/customer/members", team.owner, params={"page": 2, "pageSize": 2}
        )
        body = response.json()
        assert len(body["members"]) == 2
        assert body["pagination"] == {
            "page": 2,
            "pageSize": 2,
            "totalCount": 5,
            "totalPages": 3,
            "hasNext": True,
            "hasPrev": True,
        }
        assert (body["items"], body["pages"]) == (5, 3)
        by_limit = await api.call("GET", "/customer/members", team.owner, params={"limit": 4})
        assert len(by_limit.json()["members"]) == 4
        assert body["members"][0]["joinedAt"].endswith("Z")

    async def test_every_member_carries_the_stable_id_of_its_role(self, api: Api) -> None:
        first, second = await api.team("admin", "user"), await api.team("user")
        for team in (first, second):
            response = await api.call("GET", "/customer/members", team.owner)
            members = response.json()["members"]
            assert {m["role"] for m in members} >= {"owner", "user"}
            for member in members:
                assert member["roleID"] == ROLE_IDS[member["role"]], member
        base = f"/admin/customer/{first.customer_id}/members"
        listed = (await api.call("GET", base, api.admin())).json()["members"]
        assert all(m["roleID"] == ROLE_IDS[m["role"]] for m in listed)

    async def test_page_size_is_capped_at_100(self, api: Api) -> None:
        team = await api.team()
        for params, param in (
            ({"pageSize": 101}, "pageSize"),
            ({"limit": 101}, "pageSize"),
            ({"pageSize": 9, "limit": 329679}, "limit"),
            ({"page": 0}, "page"),
            ({"page": -1}, "page"),
            ({"page": 2**31}, "page"),
            ({"page": 10**30}, "page"),
            ({"page": "\u0661"}, "page"),  # an Arabic-Indic one, which int() would take
            ({"page": "1_0"}, "page"),
            ({"pageSize": "ten"}, "pageSize"),
        ):
            response = await api.call("GET", "/customer/members", team.owner, params=params)
            assert response.status_code == 400, params
            assert response.json()["error"]["param"] == param
        last = await api.call("GET", "/customer/members", team.owner, params={"page": 2**31 - 1})
        assert last.status_code == 200
        assert last.json()["members"] == []

    async def test_users_cannot_list_members(self, api: Api) -> None:
        team = await api.team("user")
        assert (await api.call("GET", "/customer/members", team.members[0])).status_code == 403


class TestAddMember:
    async def test_by_user_id_including_a_user_never_seen_before(self, api: Api) -> None:
        team = await api.team("admin")
        newcomer = api.user()
        response = await api.call(
            "POST",
            "/customer/member",
            team.members[0],
            json={"userID": newcomer.user_id, "role": "admin"},
        )
        assert response.status_code == 201
        assert response.json()["role"] == "admin"
        assert (await api.call("GET", "/customer", newcomer)).json()["id"] == team.customer_id

    async def test_legacy_integer_roles_are_accepted_and_strings_returned(self, api: Api) -> None:
        team = await api.team()
        response = await api.call(
            "POST", "/customer/member", team.owner, json={"userID": api.user().user_id, "role": 1}
        )
        assert response.json()["role"] == "admin"

    async def test_nobody_is_added_as_owner_or_above_their_role(self, api: Api) -> None:
        team = await api.team("admin")
        for caller, role in (
            (team.owner, "owner"),
            (team.members[0], "owner"),
            (team.members[0], 0),
        ):
            response = await api.call(
                "POST",
                "/customer/member",
                caller,
                json={"userID": api.user().user_id, "role": role},
            )
            assert response.status_code == 403
            assert response.json()["error"]["code"] == "ROLE_HIERARCHY_VIOLATION"

    async def test_a_member_of_another_customer_cannot_be_added(self, api: Api) -> None:
        team, other = await api.team(), await api.team("user")
        for target in (other.owner, other.members[0], team.owner):
            response = await api.call(
                "POST",
                "/customer/member",
                team.owner,
                json={"userID": target.user_id, "role": "user"},
            )
            assert response.status_code == 400
            assert response.json()["error"]["code"] == "ALREADY_IN_CUSTOMER"

    async def test_bad_bodies(self, api: Api) -> None:
        team = await api.team()
        cases = [
            ({"userID": "not-a-uuid", "role": "user"}, "userID"),
            ({"userID": api.user().user_id, "role": "boss"}, "role"),
            ({"userID": api.user().user_id, "role": 7}, "role"),
            ({"role": "user"}, None),
            ({"userID": api.user().user_id, "email": "a@example.com"}, None),
        ]
        for body, param in cases:
            response = await api.call("POST", "/customer/member", team.owner, json=body)
            assert response.status_code == 400, body
            assert response.json()["error"].get("param") == param, body
        assert len(await roles_of(api, team.owner)) == 1


class TestInvitations:
    async def test_the_invited_user_joins_when_signing_in_with_that_email(self, api: Api) -> None:
        team = await api.team()
        invited = api.user(email="Invited.Person@Example.com")
        response = await api.call(
            "POST",
            "/customer/member",
            team.owner,
            json={"email": "invited.person@example.com", "role": "admin"},
        )
        assert response.status_code == 201
        invitation = response.json()
        assert (invitation["status"], invitation["role"]) == ("pending", "admin")
        listed = (await api.call("GET", "/customer/invitations", team.owner)).json()
        assert [i["id"] for i in listed["invitations"]] == [invitation["id"]]
        assert (await api.call("GET", "/customer", invited)).json()["id"] == team.customer_id
        assert (await roles_of(api, team.owner))[invited.user_id] == "admin"
        listed = (await api.call("GET", "/customer/invitations", team.owner)).json()
        assert listed["invitations"] == []

    @pytest.mark.parametrize("signed_in_before_the_invitation", [False, True])
    async def test_an_unverified_email_does_not_accept_until_it_is_verified(
        self, api: Api, signed_in_before_the_invitation: bool
    ) -> None:
        team = await api.team()
        user_id = api.user().user_id

        def caller(verified: bool | None) -> Caller:
            claims = {"sub": user_id, "email": "late@example.com", "exp": 4102444800}
            if verified is not None:
                claims["email_verified"] = verified
            return Caller(None, None, {"Authorization": "Bearer " + jwt.encode(claims, SECRET)})

        if signed_in_before_the_invitation:
            assert (await api.call("GET", "/customer", caller(False))).status_code == 404
        invited = await api.call(
            "POST", "/customer/member", team.owner, json={"email": "late@example.com"}
        )
        assert invited.status_code == 201
        for unverified in (caller(False), caller(None)):
            refused = await api.call("GET", "/customer", unverified)
            assert refused.json()["error"]["code"] == "NO_CUSTOMER"
        accepted = await api.call("GET", "/customer", caller(True))
        assert accepted.status_code == 200
        assert accepted.json()["id"] == team.customer_id

    async def test_duplicates_are_refused_and_revoking_frees_the_seat(self, api: Api) -> None:
        owner = api.user()
        await api.customer(owner)
        first = await api.call("POST", "/customer/member", owner, json={"email": "x@example.com"})
        dup = await api.call("POST", "/customer/member", owner, json={"email": "X@example.com"})
        assert dup.status_code == 400
        assert dup.json()["error"]["code"] == "ALREADY_INVITED"
        await api.call("POST", "/customer/member", owner, json={"email": "y@example.com"})
        # The team is full now; a duplicate is still named as such, not as a seat problem.
        dup = await api.call("POST", "/customer/member", owner, json={"email": "x@example.com"})
        assert (dup.status_code, dup.json()["error"]["code"]) == (400, "ALREADY_INVITED")
        invitation_id = first.json()["id"]
        revoked = await api.call("DELETE", f"/customer/invitations/{invitation_id}", owner)
        assert revoked.status_code == 204
        again = await api.call("DELETE", f"/customer/invitations/{invitation_id}", owner)
        assert again.status_code == 404
        await api.add(owner, api.user())
        assert (
            await api.call("GET", "/customer", api.user(email="x@example.com"))
        ).status_code == 404


class TestChangeRole:
    async def test_the_owner_promotes_and_demotes(self, api: Api) -> None:
        team = await api.team("user")
        member = team.members[0]
        response = await api.call(
            "PUT", "/customer/member", team.owner, json={"userID": member.user_id, "role": "admin"}
        )
        assert response.status_code == 200
        assert response.json()["role"] == "admin"
        await api.call(
            "PUT", "/customer/member", team.owner, json={"userID": member.user_id, "role": 2}
        )
        assert (await roles_of(api, team.owner))[member.user_id] == "user"

    async def test_admins_manage_only_users(self, api: Api) -> None:
        team = await api.team("admin", "admin", "user")
        admin, other_admin, user = team.members
        denied = await api.call(
            "PUT", "/customer/member", admin, json={"userID": other_admin.user_id, "role": "user"}
        )
        assert denied.status_code == 403
        promoted = await api.call(
            "PUT", "/customer/member", admin, json={"userID": user.user_id, "role": "admin"}
        )
        assert promoted.status_code == 200
        for target in (team.owner, user):
            response = await api.call(
                "PUT", "/customer/member", admin, json={"userID": target.user_id, "role": "owner"}
            )
            assert response.status_code == 403

    async def test_targets_outside_the_team_are_not_found(self, api: Api) -> None:
        team, other = await api.team(), await api.team("user")
        response = await api.call(
            "PUT",
            "/customer/member",
            team.owner,
            json={"userID": other.members[0].user_id, "role": "admin"},
        )
        assert response.status_code == 404


class TestRemoveMember:
    async def test_owner_and_admins_remove_those_below_them(self, api: Api) -> None:
        team = await api.team("admin", "admin", "user")
        admin, other_admin, user = team.members
        assert (
            await api.call("DELETE", f"/customer/member/{user.user_id}", admin)
        ).status_code == 204
        response = await api.call("DELETE", f"/customer/member/{other_admin.user_id}", admin)
        assert response.status_code == 403
        response = await api.call("DELETE", f"/customer/member/{team.owner.user_id}", admin)
        assert response.status_code == 403
        response = await api.call("DELETE", f"/customer/member/{other_admin.user_id}", team.owner)
        assert response.status_code == 204
        assert set(await roles_of(api, team.owner)) == {team.owner.user_id, admin.user_id}

    async def test_unknown_and_malformed_ids(self, api: Api) -> None:
        team = await api.team()
        response = await api.call("DELETE", f"/customer/member/{api.user().user_id}", team.owner)
        assert (response.status_code, response.json()["error"]["code"]) == (404, "MEMBER_NOT_FOUND")
        response = await api.call("DELETE", "/customer/member/nope", team.owner)
        assert (response.status_code, response.json()["error"]["param"]) == (400, "userID")
