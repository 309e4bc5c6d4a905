"""Granular usage events (SPEC §5.5): `/limits/usage/users`, `/quotas/usage/users`,
and the `usageEvents` query."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest

from tests.support.api import ANONYMOUS, Api, Caller, Team
from tests.support.clock import MovableClock, iso_z, unix_seconds

SEARCH = ("search-api", "simple_search_per_minute")  # enterprise: 3000 a minute
EVENTS = """
query($type: UsageEventType, $customerId: ID, $userId: ID, $from: DateTime, $to: DateTime) {
  usageEvents(type: $type, customerId: $customerId, userId: $userId, from: $from, to: $to) {
    totalCount
    items { userId customerId serviceName featureKey amount type allowed timestamp window }
  }
}
"""


async def consume(api: Api, customer_id: str, user: Caller | None = None, amount: int = 1) -> None:
    body: dict[str, Any] = {
        "serviceName": SEARCH[0],
        "featureKey": SEARCH[1],
        "customerId": customer_id,
        "amount": amount,
    }
    if user is not None:
        body["userId"] = user.user_id
    response = await api.call("POST", "/limits/consume", api.service(), json=body)
    assert response.status_code == 200, response.text


async def allocate(api: Api, customer_id: str) -> None:
    response = await api.call(
        "POST",
        "/quotas/compute-api/max_instances/allocate",
        api.service(),
        json={"customerId": customer_id},
    )
    assert response.status_code == 200, response.text


async def events(api: Api, caller: Caller, path: str = "/limits", **params: Any) -> httpx.Response:
    await api.container.ledger.flush()
    return await api.call("GET", f"{path}/usage/users", caller, params=params)


@pytest.fixture
async def team(api: Api) -> Team:
    """An enterprise customer with an admin and a user."""
    return await api.team("admin", "user")


class TestEvents:
    async def test_the_shape_of_an_event(self, api: Api, team: Team, clock: MovableClock) -> None:
        await consume(api, team.customer_id, team.members[1], amount=3)
        response = await events(api, team.owner)
        assert response.status_code == 200
        assert response.json() == {
            "total": 1,
            "events": [
                {
                    "userId": team.members[1].user_id,
                    "customerId": team.customer_id,
                    "serviceName": "search-api",
                    "featureKey": "simple_search_per_minute",
                    "amount": 3,
                    "type": "rate_limit",
                    "allowed": True,
                    "timestamp": int(clock.now.timestamp()),
                    "window": "minute",
                }
            ],
        }

    async def test_newest_first_by_arrival_in_the_same_second(self, api: Api, team: Team) -> None:
        for amount in (1, 2, 3):
            await consume(api, team.customer_id, amount=amount)
        body = (await events(api, team.owner)).json()
        assert [event["amount"] for event in body["events"]] == [3, 2, 1]

    async def test_the_100_newest_and_the_total(self, api: Api, team: Team) -> None:
        await asyncio.gather(*(consume(api, team.customer_id) for _ in range(104)))
        await consume(api, team.customer_id, amount=7)
        body = (await events(api, team.owner)).json()
        assert body["total"] == 105
        assert len(body["events"]) == 100
        assert body["events"][0]["amount"] == 7

    async def test_no_events(self, api: Api, team: Team) -> None:
        assert (await events(api, team.owner)).json() == {"total": 0, "events": []}

    async def test_limits_and_quotas_are_apart(self, api: Api, team: Team) -> None:
        await consume(api, team.customer_id)
        await allocate(api, team.customer_id)
        limits = (await events(api, team.owner)).json()["events"]
        quotas = (await events(api, team.owner, "/quotas")).json()["events"]
        assert [e["type"] for e in limits] == ["rate_limit"]
        assert [e["type"] for e in quotas] == ["quota"]

    async def test_only_the_customers_own_events(self, api: Api, team: Team) -> None:
        other = await api.team()
        await consume(api, other.customer_id)
        assert (await events(api, team.owner)).json()["total"] == 0


class TestFilters:
    async def test_by_user(self, api: Api, team: Team) -> None:
        admin, user = team.members
        await consume(api, team.customer_id, admin)
        await consume(api, team.customer_id, user)
        await consume(api, team.customer_id, user)
        body = (await events(api, team.owner, userId=user.user_id)).json()
        assert body["total"] == 2
        assert {event["userId"] for event in body["events"]} == {user.user_id}

    async def test_by_time(self, api: Api, team: Team, clock: MovableClock) -> None:
        first = int(clock.now.timestamp())
        await consume(api, team.customer_id, amount=1)
        clock.advance(hours=1)
        second = int(clock.now.timestamp())
        await consume(api, team.customer_id, amount=2)

        async def amounts(**params: Any) -> list[int]:
            body = (await events(api, team.owner, **params)).json()
            return [event["amount"] for event in body["events"]]

        assert await amounts(**{"from": second}) == [2]
        assert await amounts(to=first) == [1]
        assert await amounts(**{"from": first, "to": second}) == [2, 1]
        assert await amounts(**{"from": second + 1}) == []

    @pytest.mark.parametrize(
        ("params", "param"),
        [
            ({"userId": "nope"}, "userId"),
            ({"customerId": "nope"}, "customerId"),
            ({"from": "yesterday"}, "from"),
            ({"to": "1.5"}, "to"),
            ({"to": str(10**20)}, "to"),
        ],
    )
    async def test_malformed(
        self, api: Api, team: Team, params: dict[str, str], param: str
    ) -> None:
        response = await events(api, team.owner, **params)
        assert response.status_code == 400
        assert response.json()["error"]["param"] == param


class TestVisibility:
    async def test_owner_and_admin_see_their_team(self, api: Api, team: Team) -> None:
        await consume(api, team.customer_id)
        for caller in (team.owner, team.members[0]):
            response = await events(api, caller)
            assert response.json()["total"] == 1
            own = await events(api, caller, customerId=team.customer_id)
            assert own.json()["total"] == 1

    async def test_a_user_may_not(self, api: Api, team: Team) -> None:
        assert (await events(api, team.members[1])).status_code == 403
        assert (await events(api, team.members[1], "/quotas")).status_code == 403

    async def test_another_customer_is_invisible(self, api: Api, team: Team) -> None:
        other = await api.team()
        response = await events(api, other.owner, customerId=team.customer_id)
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "CUSTOMER_NOT_FOUND"

    async def test_no_team(self, api: Api) -> None:
        response = await events(api, api.user())
        assert (response.status_code, response.json()["error"]["code"]) == (404, "NO_CUSTOMER")
        assert (await events(api, ANONYMOUS)).status_code == 401

    async def test_billing_admin_sees_any_customer(self, api: Api, team: Team) -> None:
        await consume(api, team.customer_id)
        response = await events(api, api.admin(), customerId=team.customer_id)
        assert response.json()["total"] == 1
        unknown = await events(api, api.admin(), customerId=str(uuid.uuid4()))
        assert unknown.status_code == 404
        assert (await events(api, api.admin())).status_code == 404  # no customer of its own


class TestGraphQL:
    async def test_the_same_events_as_rest(self, api: Api, team: Team) -> None:
        await consume(api, team.customer_id, team.members[0], amount=2)
        await allocate(api, team.customer_id)
        rest = (await events(api, team.owner)).json()
        body = await api.graphql(EVENTS, team.owner, type="RATE_LIMIT")
        graphql = body["data"]["usageEvents"]
        assert graphql["totalCount"] == rest["total"] == 1
        [event] = graphql["items"]
        timestamp = unix_seconds(event["timestamp"])
        expected = {"type": "rate_limit", "window": "minute", "timestamp": timestamp}
        assert {**event, **expected} == rest["events"][0]
        everything = await api.graphql(EVENTS, team.owner)
        assert everything["data"]["usageEvents"]["totalCount"] == 2

    async def test_billing_admin_and_filters(self, api: Api, team: Team) -> None:
        await consume(api, team.customer_id, team.members[1])
        await consume(api, team.customer_id)
        await api.container.ledger.flush()
        body = await api.graphql(
            EVENTS, api.admin(), customerId=team.customer_id, userId=team.members[1].user_id
        )
        assert body["data"]["usageEvents"]["totalCount"] == 1

    async def test_by_time(self, api: Api, team: Team, clock: MovableClock) -> None:
        first = int(clock.now.timestamp())
        await consume(api, team.customer_id, amount=1)
        clock.advance(hours=1)
        second = int(clock.now.timestamp())
        await consume(api, team.customer_id, amount=2)

        async def amounts(**variables: Any) -> list[int]:
            await api.container.ledger.flush()
            body = await api.graphql(EVENTS, team.owner, **variables)
            return [event["amount"] for event in body["data"]["usageEvents"]["items"]]

        assert await amounts(**{"from": iso_z(second)}) == [2]
        assert await amounts(to=iso_z(first)) == [1]
        assert await amounts(**{"from": iso_z(first), "to": iso_z(second)}) == [2, 1]
        assert await amounts(**{"from": iso_z(second + 1)}) == []

    async def test_pages_newest_first(self, api: Api, team: Team) -> None:
        for amount in (1, 2, 3):
            await consume(api, team.customer_id, amount=amount)
        await api.container.ledger.flush()
        query = (
            "query($p: Int!) { usageEvents(page: $p, pageSize: 2) "
            "{ items { amount } totalCount hasNext } }"
        )
        first = (await api.graphql(query, team.owner, p=1))["data"]["usageEvents"]
        second = (await api.graphql(query, team.owner, p=2))["data"]["usageEvents"]
        assert ([e["amount"] for e in first["items"]], first["totalCount"], first["hasNext"]) == (
            [3, 2],
            3,
            True,
        )
        assert ([e["amount"] for e in second["items"]], second["hasNext"]) == ([1], False)

    async def test_errors_match_rest(self, api: Api, team: Team) -> None:
        body = await api.graphql(EVENTS, team.owner, userId="nope")
        assert body["errors"][0]["extensions"]["param"] == "userId"
        body = await api.graphql(EVENTS, team.members[1])
        assert body["errors"][0]["extensions"]["status"] == 403
