"""Allocating and releasing quotas (SPEC §3.4, §5.8, §7)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from tests.rest.test_errors import assert_error
from tests.support.api import Api, Caller

INSTANCES = "/quotas/compute-api/max_instances"  # free 0, pro 3, enterprise_max -1
ALLOCATE = """
mutation($customerId: ID, $userId: ID, $amount: Int! = 1, $key: String) {
  allocateQuota(serviceName: "compute-api", featureKey: "max_instances",
                customerId: $customerId, userId: $userId, amount: $amount, idempotencyKey: $key) {
    serviceName featureKey currentUsage limit remaining resetAt
  }
}
"""
RELEASE = """
mutation($customerId: ID, $amount: Int! = 1) {
  releaseQuota(serviceName: "compute-api", featureKey: "max_instances",
               customerId: $customerId, amount: $amount) {
    featureKey currentUsage limit remaining resetAt
  }
}
"""


def metered(api: Api) -> Caller:
    return api.service()


async def allocate(
    api: Api, body: dict[str, Any], path: str = INSTANCES, caller: Caller | None = None
) -> httpx.Response:
    return await api.call("POST", f"{path}/allocate", caller or metered(api), json=body)


async def release(
    api: Api, body: dict[str, Any], path: str = INSTANCES, caller: Caller | None = None
) -> httpx.Response:
    return await api.call("POST", f"{path}/release", caller or metered(api), json=body)


Send = Callable[[Api, dict[str, Any]], Awaitable[httpx.Response]]


async def customer_on(api: Api, tier: str) -> tuple[str, Caller]:
    owner = api.user()
    customer_id: str = (await api.customer(owner))["id"]
    if tier != "free":
        await api.set_tier(customer_id, tier)
    return customer_id, owner


async def quota_events(api: Api, owner: Caller) -> list[dict[str, Any]]:
    await api.container.ledger.flush()
    response = await api.call("GET", "/quotas/usage/users", owner)
    assert response.status_code == 200, response.text
    events: list[dict[str, Any]] = response.json()["events"]
    return events


async def held(api: Api, owner: Caller) -> int:
    """What the owner's customer holds of the quota, as its usage report says."""
    report = (await api.call("GET", "/quotas/usage", owner)).json()
    features = report["services"]["compute-api"]["features"]
    used: int = next(f["currentUsage"] for f in features if f["featureKey"] == "max_instances")
    return used


def graphql_usage(used: int, limit: int) -> dict[str, Any]:
    """`usage` as GraphQL answers it: a quota has no window, so no `resetAt` (null)."""
    return {**usage(used, limit), "resetAt": None}


def usage(used: int, limit: int) -> dict[str, Any]:
    remaining = -1 if limit == -1 else max(limit - used, 0)
    return {
        "featureKey": "max_instances",
        "currentUsage": used,
        "limit": limit,
        "remaining": remaining,
        "resetAt": 0,
    }


class TestAllocate:
    async def test_allocations_add_up(self, api: Api) -> None:
        customer_id, _ = await customer_on(api, "pro")
        first = await allocate(api, {"customerId": customer_id})
        assert (first.status_code, first.json()) == (200, usage(1, 3))
        second = await allocate(api, {"customerId": customer_id, "amount": 2})
        assert second.json() == usage(3, 3)

    async def test_a_full_quota_is_403_and_stays_full(self, api: Api) -> None:
        customer_id, owner = await customer_on(api, "pro")
        await allocate(api, {"customerId": customer_id, "amount": 3})
        refused = await allocate(api, {"customerId": customer_id})
        assert refused.status_code == 403
        error = refused.json()["error"]
        assert error["code"] == "QUOTA_EXCEEDED"
        assert {k: error[k] for k in ("allowed", "currentUsage", "limit", "remaining")} == {
            "allowed": False,
            "currentUsage": 3,
            "limit": 3,
            "remaining": 0,
        }
        assert error["resetAt"] == 0
        report = (await api.call("GET", "/quotas/usage", owner)).json()
        assert report["services"]["compute-api"]["features"][0]["currentUsage"] == 3

    async def test_an_amount_that_does_not_fit_takes_nothing(self, api: Api) -> None:
        customer_id, _ = await customer_on(api, "pro")
        await allocate(api, {"customerId": customer_id, "amount": 2})
        refused = await allocate(api, {"customerId": customer_id, "amount": 2})
        assert refused.status_code == 403
        assert (await allocate(api, {"customerId": customer_id})).json() == usage(3, 3)

    async def test_a_disabled_quota_is_403_feature_disabled(self, api: Api) -> None:
        customer_id, owner = await customer_on(api, "free")
        response = await allocate(api, {"customerId": customer_id})
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "FEATURE_DISABLED"
        events = await quota_events(api, owner)
        assert [(e["allowed"], e["amount"]) for e in events] == [(False, 1)]

    async def test_unlimited(self, api: Api) -> None:
        customer_id, _ = await customer_on(api, "enterprise_max")
        response = await allocate(api, {"customerId": customer_id, "amount": 1000})
        assert response.json() == usage(1000, -1)

    async def test_an_override_sets_the_limit(self, api: Api) -> None:
        customer_id, _ = await customer_on(api, "pro")
        override = await api.call(
            "PUT",
            f"/admin/customer/{customer_id}/limits/compute-api/max_instances",
            api.admin(),
            json={"value": 1},
        )
        assert override.status_code == 200
        assert (await allocate(api, {"customerId": customer_id})).json() == usage(1, 1)
        assert (await allocate(api, {"customerId": customer_id})).status_code == 403

    async def test_by_user_counts_for_their_customer(self, api: Api) -> None:
        customer_id, owner = await customer_on(api, "pro")
        member = api.user()
        await api.add(owner, member)
        await allocate(api, {"userId": member.user_id})
        assert (await allocate(api, {"customerId": customer_id})).json() == usage(2, 3)
        events = await quota_events(api, owner)
        assert [e["userId"] for e in events] == [None, member.user_id]

    async def test_a_user_with_no_customer(self, api: Api) -> None:
        response = await allocate(api, {"userId": str(uuid.uuid4())})
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "NO_CUSTOMER"

    async def test_an_unknown_customer(self, api: Api) -> None:
        response = await allocate(api, {"customerId": str(uuid.uuid4())})
        assert (response.status_code, response.json()["error"]["code"]) == (
            404,
            "CUSTOMER_NOT_FOUND",
        )

    @pytest.mark.parametrize(
        ("path", "status", "code"),
        [
            ("/quotas/compute-api/nothing", 404, "FEATURE_NOT_FOUND"),
            ("/quotas/nothing-api/max_instances", 404, "SERVICE_NOT_FOUND"),
            ("/quotas/compute-api/instance_create_per_minute", 400, "INVALID_INPUT"),
        ],
    )
    async def test_not_a_quota(self, api: Api, path: str, status: int, code: str) -> None:
        customer_id, _ = await customer_on(api, "pro")
        response = await allocate(api, {"customerId": customer_id}, path)
        assert (response.status_code, response.json()["error"]["code"]) == (status, code)

    @pytest.mark.parametrize(
        ("body", "param"),
        [
            ({}, None),
            ({"customerId": "nope"}, "customerId"),
            ({"customerId": str(uuid.uuid4()), "amount": 0}, "amount"),
            ({"customerId": str(uuid.uuid4()), "idempotencyKey": ""}, "idempotencyKey"),
        ],
    )
    async def test_bad_bodies(self, api: Api, body: dict[str, Any], param: str | None) -> None:
        response = await allocate(api, body)
        assert response.status_code == 400
        assert response.json()["error"].get("param") == param

    async def test_callers_who_are_not_metered_services(self, api: Api) -> None:
        customer_id, owner = await customer_on(api, "pro")
        assert (await allocate(api, {"customerId": customer_id}, caller=owner)).status_code == 403
        body = {"customerId": customer_id}
        anonymous = await api.call("POST", f"{INSTANCES}/allocate", json=body)
        assert anonymous.status_code == 401
        admin = await allocate(api, {"customerId": customer_id}, caller=api.admin())
        assert admin.status_code == 200


class TestRelease:
    async def test_release_gives_back(self, api: Api) -> None:
        customer_id, _ = await customer_on(api, "pro")
        await allocate(api, {"customerId": customer_id, "amount": 3})
        response = await release(api, {"customerId": customer_id, "amount": 2})
        assert (response.status_code, response.json()) == (200, usage(1, 3))
        assert (await allocate(api, {"customerId": customer_id, "amount": 2})).status_code == 200

    async def test_never_below_zero(self, api: Api) -> None:
        customer_id, _ = await customer_on(api, "pro")
        await allocate(api, {"customerId": customer_id})
        assert (await release(api, {"customerId": customer_id, "amount": 5})).json() == usage(0, 3)
        assert (await release(api, {"customerId": customer_id})).json() == usage(0, 3)

    async def test_nothing_held_yet(self, api: Api) -> None:
        customer_id, _ = await customer_on(api, "pro")
        assert (await release(api, {"customerId": customer_id})).json() == usage(0, 3)

    async def test_a_release_is_an_event_of_what_was_freed(self, api: Api) -> None:
        customer_id, owner = await customer_on(api, "pro")
        await allocate(api, {"customerId": customer_id, "amount": 2})
        await release(api, {"customerId": customer_id, "amount": 5})
        events = await quota_events(api, owner)
        assert [(e["amount"], e["allowed"], e["type"]) for e in events] == [
            (-2, True, "quota"),
            (2, True, "quota"),
        ]


class TestStrictNumbers:
    """SPEC §7: an amount sent as a string, a boolean or a fraction is not read as one."""

    @pytest.mark.parametrize("amount", ["1", True, 1.5, 1.0])
    @pytest.mark.parametrize("send", [allocate, release])
    async def test_are_400_and_change_nothing(self, api: Api, send: Send, amount: Any) -> None:
        customer_id, owner = await customer_on(api, "pro")
        await allocate(api, {"customerId": customer_id, "amount": 2})
        response = await send(api, {"customerId": customer_id, "amount": amount})
        assert assert_error(response, 400, "INVALID_INPUT")["param"] == "amount"
        assert await held(api, owner) == 2
        assert [e["amount"] for e in await quota_events(api, owner)] == [2]

    @pytest.mark.parametrize("amount", ["1", True, 1.5])
    async def test_graphql_refuses_them_too(self, api: Api, amount: Any) -> None:
        customer_id, owner = await customer_on(api, "pro")
        body = await api.graphql(ALLOCATE, metered(api), customerId=customer_id, amount=amount)
        [error] = body["errors"]
        assert error["extensions"]["status"] == 400
        assert "$amount" in error["message"]
        assert body["data"] is None
        assert await held(api, owner) == 0
        assert await quota_events(api, owner) == []


class TestLedger:
    async def test_an_allocation_is_recorded_with_it(self, api: Api) -> None:
        """In the same transaction: visible with no ledger flush."""
        customer_id, owner = await customer_on(api, "pro")
        await allocate(api, {"customerId": customer_id})
        events = (await api.call("GET", "/quotas/usage/users", owner)).json()["events"]
        assert [(e["amount"], e["allowed"]) for e in events] == [(1, True)]

    async def test_a_refusal_is_recorded_too(self, api: Api) -> None:
        customer_id, owner = await customer_on(api, "pro")
        for _ in range(4):
            await allocate(api, {"customerId": customer_id})
        events = await quota_events(api, owner)
        assert [e["allowed"] for e in events] == [False, True, True, True]
        assert {e["serviceName"] for e in events} == {"compute-api"}
        assert {e["customerId"] for e in events} == {customer_id}
        assert {e["window"] for e in events} == {None}


class TestIdempotency:
    async def test_a_repeat_is_answered_once(self, api: Api) -> None:
        customer_id, owner = await customer_on(api, "pro")
        body = {"customerId": customer_id, "idempotencyKey": "create-vm-1"}
        first, again = await allocate(api, body), await allocate(api, body)
        assert first.json() == again.json() == usage(1, 3)
        assert (await allocate(api, {"customerId": customer_id})).json() == usage(2, 3)
        assert len(await quota_events(api, owner)) == 2

    async def test_a_repeated_refusal_is_the_same_refusal(self, api: Api) -> None:
        customer_id, _ = await customer_on(api, "pro")
        await allocate(api, {"customerId": customer_id, "amount": 3})
        body = {"customerId": customer_id, "idempotencyKey": "k"}
        first = await allocate(api, body)
        await release(api, {"customerId": customer_id})
        again = await allocate(api, body)
        assert first.status_code == again.status_code == 403
        assert again.json()["error"]["currentUsage"] == 3

    async def test_release_and_allocate_keys_are_apart(self, api: Api) -> None:
        customer_id, _ = await customer_on(api, "pro")
        body = {"customerId": customer_id, "idempotencyKey": "same"}
        await allocate(api, body)
        assert (await release(api, body)).json() == usage(0, 3)
        assert (await release(api, body)).json() == usage(0, 3)
        assert (await allocate(api, {"customerId": customer_id})).json() == usage(1, 3)


class TestGraphQL:
    async def test_allocate_and_release(self, api: Api) -> None:
        customer_id, _ = await customer_on(api, "pro")
        body = await api.graphql(ALLOCATE, metered(api), customerId=customer_id, amount=2)
        assert body["data"]["allocateQuota"] == {
            "serviceName": "compute-api",
            **graphql_usage(2, 3),
        }
        body = await api.graphql(RELEASE, metered(api), customerId=customer_id)
        assert body["data"]["releaseQuota"] == graphql_usage(1, 3)

    async def test_a_full_quota_carries_the_usage(self, api: Api) -> None:
        customer_id, _ = await customer_on(api, "pro")
        await allocate(api, {"customerId": customer_id, "amount": 3})
        body = await api.graphql(ALLOCATE, metered(api), customerId=customer_id)
        extensions = body["errors"][0]["extensions"]
        assert (extensions["code"], extensions["status"]) == ("QUOTA_EXCEEDED", 403)
        assert (extensions["currentUsage"], extensions["limit"]) == (3, 3)
        assert extensions["resetAt"] is None

    async def test_disabled(self, api: Api) -> None:
        customer_id, _ = await customer_on(api, "free")
        body = await api.graphql(ALLOCATE, metered(api), customerId=customer_id)
        assert body["errors"][0]["extensions"]["code"] == "FEATURE_DISABLED"

    async def test_idempotency_key(self, api: Api) -> None:
        customer_id, _ = await customer_on(api, "pro")
        for _ in range(2):
            body = await api.graphql(ALLOCATE, metered(api), customerId=customer_id, key="g")
            assert body["data"]["allocateQuota"]["currentUsage"] == 1

    async def test_no_holder(self, api: Api) -> None:
        body = await api.graphql(ALLOCATE, metered(api))
        assert body["errors"][0]["extensions"]["code"] == "INVALID_INPUT"
