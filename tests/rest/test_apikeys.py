"""API keys (SPEC §2, §7): created by their user, secret shown once, revocable."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from tests.support.api import Api, Caller
from tests.support.clock import MovableClock


def key_caller(issued: dict[str, str]) -> Caller:
    return Caller(None, None, {"api-key": issued["key"], "api-secret": issued["secret"]})


async def eventually_listed(api: Api, user: Caller) -> list[dict[str, str]]:
    """The last use is recorded off the request's path: give it a moment to land."""
    for _ in range(50):
        listed: list[dict[str, str]] = (await api.call("GET", "/apikeys", user)).json()["apiKeys"]
        if all(key["lastUsedAt"] for key in listed):
            break
        await asyncio.sleep(0.02)
    return listed


class TestApiKeys:
    async def test_create_use_list_and_revoke(self, api: Api, clock: MovableClock) -> None:
        team = await api.team()
        created = await api.call("POST", "/apikeys", team.owner, json={"name": "ci"})
        assert created.status_code == 201
        issued = created.json()
        assert set(issued) == {"id", "name", "key", "secret", "createdAt", "expiresAt"}
        customer = await api.call("GET", "/customer", key_caller(issued))
        assert customer.json()["id"] == team.customer_id
        listed = await eventually_listed(api, team.owner)
        assert len(listed) == 1
        assert "secret" not in listed[0]
        assert listed[0]["lastUsedAt"] == clock.now.isoformat().replace("+00:00", "Z")
        revoked = await api.call("DELETE", f"/apikeys/{issued['id']}", team.owner)
        assert revoked.status_code == 204
        refused = await api.call("GET", "/customer", key_caller(issued))
        assert (refused.status_code, refused.json()["error"]["code"]) == (401, "INVALID_API_KEY")
        assert (await api.call("GET", "/apikeys", team.owner)).json()["apiKeys"] == []

    async def test_a_wrong_secret_is_refused(self, api: Api) -> None:
        user = api.user()
        issued = (await api.call("POST", "/apikeys", user, json={"name": "x"})).json()
        forged = await api.call("GET", "/apikeys", key_caller({**issued, "secret": "bs_guess"}))
        assert forged.status_code == 401

    async def test_keys_expire(self, api: Api, clock: MovableClock) -> None:
        user = api.user()
        expires = (clock.now + timedelta(hours=1)).isoformat()
        issued = (
            await api.call("POST", "/apikeys", user, json={"name": "short", "expiresAt": expires})
        ).json()
        assert (await api.call("GET", "/apikeys", key_caller(issued))).status_code == 200
        clock.advance(hours=1, seconds=1)
        assert (await api.call("GET", "/apikeys", key_caller(issued))).status_code == 401

    async def test_expiry_must_be_in_the_future_and_names_are_required(self, api: Api) -> None:
        user = api.user()
        past = datetime(2000, 1, 1, tzinfo=UTC).isoformat()
        for body, param in (
            ({"name": "x", "expiresAt": past}, "expiresAt"),
            ({"name": ""}, "name"),
            ({"name": "x", "expiresAt": "tomorrow"}, "expiresAt"),
        ):
            response = await api.call("POST", "/apikeys", user, json=body)
            assert (response.status_code, response.json()["error"]["param"]) == (400, param)

    async def test_only_the_owner_of_a_key_revokes_it(self, api: Api) -> None:
        alice, bob = api.user(), api.user()
        issued = (await api.call("POST", "/apikeys", alice, json={"name": "mine"})).json()
        response = await api.call("DELETE", f"/apikeys/{issued['id']}", bob)
        assert (response.status_code, response.json()["error"]["code"]) == (
            404,
            "API_KEY_NOT_FOUND",
        )
        assert len((await api.call("GET", "/apikeys", alice)).json()["apiKeys"]) == 1
