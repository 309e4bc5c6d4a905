"""billing_admin's per-customer values (SPEC §3.4):
`PUT`/`DELETE /admin/customer/{customerID}/limits/{serviceName}/{featureKey}`."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.auth.principal import PlatformRole
from tests.support.api import Api, Caller, running_api, settings_for
from tests.support.clock import MovableClock

CHAT = "ai-api/chat_completions_per_minute"  # free: 5
SET = """
mutation($id: ID!, $value: Int!) {
  setFeatureOverride(customerId: $id, serviceName: "ai-api",
                     featureKey: "chat_completions_per_minute", value: $value) {
    customerId serviceName featureKey kind window value tierName tierValue
  }
}
"""
CLEAR = """
mutation($id: ID!) {
  clearFeatureOverride(customerId: $id, serviceName: "ai-api",
                       featureKey: "chat_completions_per_minute") {
    customerId serviceName featureKey removed
  }
}
"""


async def set_value(
    api: Api, customer_id: str, value: Any, feature: str = CHAT, caller: Caller | None = None
) -> httpx.Response:
    return await api.call(
        "PUT",
        f"/admin/customer/{customer_id}/limits/{feature}",
        caller or api.admin(),
        json={"value": value},
    )


async def clear(
    api: Api, customer_id: str, feature: str = CHAT, caller: Caller | None = None
) -> httpx.Response:
    return await api.call(
        "DELETE", f"/admin/customer/{customer_id}/limits/{feature}", caller or api.admin()
    )


async def limit_of(api: Api, customer_id: str, feature: str = CHAT) -> Any:
    service_name, feature_key = feature.split("/")
    response = await api.call(
        "POST",
        "/limits/check",
        api.service(),
        json={"serviceName": service_name, "featureKey": feature_key, "customerId": customer_id},
    )
    body = response.json()
    return body["limit"] if response.status_code == 200 else body["error"]["code"]


async def new_customer(api: Api) -> str:
    customer_id: str = (await api.customer(api.user()))["id"]
    return customer_id


class TestSet:
    async def test_the_value_replaces_the_tiers_at_once(self, api: Api) -> None:
        customer_id = await new_customer(api)
        assert await limit_of(api, customer_id) == 5
        response = await set_value(api, customer_id, 40)
        assert response.status_code == 200, response.text
        assert response.json() == {
            "customerId": customer_id,
            "serviceName": "ai-api",
            "featureKey": "chat_completions_per_minute",
            "kind": "rate",
            "window": "minute",
            "value": 40,
            "tierName": "free",
            "tierValue": 5,
        }
        assert await limit_of(api, customer_id) == 40

    async def test_only_that_customer_changes(self, api: Api) -> None:
        customer_id, other = await new_customer(api), await new_customer(api)
        await limit_of(api, other)  # cached before the change
        await set_value(api, customer_id, 40)
        assert await limit_of(api, other) == 5

    async def test_a_second_value_replaces_the_first(self, api: Api) -> None:
        customer_id = await new_customer(api)
        await set_value(api, customer_id, 40)
        assert (await set_value(api, customer_id, -1)).json()["value"] == -1
        assert await limit_of(api, customer_id) == -1

    async def test_zero_disables_the_feature(self, api: Api) -> None:
        customer_id = await new_customer(api)
        await set_value(api, customer_id, 0)
        assert await limit_of(api, customer_id) == "FEATURE_DISABLED"

    async def test_a_quota_may_be_overridden(self, api: Api) -> None:
        customer_id = await new_customer(api)
        response = await set_value(api, customer_id, 10, "compute-api/max_instances")
        assert response.json()["kind"] == "quota"
        assert response.json()["window"] is None

    @pytest.mark.parametrize("value", [-2, "7", 1.5, None, 2**31])
    async def test_a_bad_value(self, api: Api, value: Any) -> None:
        response = await set_value(api, await new_customer(api), value)
        assert response.status_code == 400
        assert response.json()["error"]["param"] == "value"

    async def test_unknown_things_are_404(self, api: Api) -> None:
        customer_id = await new_customer(api)
        cases = [
            (str(uuid.uuid4()), CHAT, "CUSTOMER_NOT_FOUND"),
            (customer_id, "nothing-api/x", "SERVICE_NOT_FOUND"),
            (customer_id, "ai-api/nothing", "FEATURE_NOT_FOUND"),
        ]
        for target, feature, code in cases:
            response = await set_value(api, target, 3, feature)
            assert (response.status_code, response.json()["error"]["code"]) == (404, code)

    async def test_a_malformed_customer_id(self, api: Api) -> None:
        response = await set_value(api, "not-a-uuid", 3)
        assert response.status_code == 400
        assert response.json()["error"]["param"] == "customerID"

    @pytest.mark.parametrize("role", [None, PlatformRole.BILLING_SERVICE])
    async def test_only_billing_admin(self, api: Api, role: PlatformRole | None) -> None:
        owner = api.user()
        customer_id = (await api.customer(owner))["id"]
        caller = api.user(role) if role else owner
        response = await set_value(api, customer_id, 100, caller=caller)
        assert response.status_code == 403
        assert (await clear(api, customer_id, caller=caller)).status_code == 403
        assert await limit_of(api, customer_id) == 5


class TestClear:
    async def test_the_tiers_value_applies_again(self, api: Api) -> None:
        customer_id = await new_customer(api)
        await set_value(api, customer_id, 40)
        response = await clear(api, customer_id)
        assert response.status_code == 204
        assert await limit_of(api, customer_id) == 5

    async def test_clearing_nothing_is_no_error(self, api: Api) -> None:
        assert (await clear(api, await new_customer(api))).status_code == 204

    async def test_unknown_feature(self, api: Api) -> None:
        response = await clear(api, await new_customer(api), "ai-api/nothing")
        assert response.status_code == 404


class TestGraphQL:
    async def test_set_and_clear(self, api: Api) -> None:
        customer_id = await new_customer(api)
        body = await api.graphql(SET, api.admin(), id=customer_id, value=12)
        assert body["data"]["setFeatureOverride"] == {
            "customerId": customer_id,
            "serviceName": "ai-api",
            "featureKey": "chat_completions_per_minute",
            "kind": "RATE",
            "window": "MINUTE",
            "value": 12,
            "tierName": "free",
            "tierValue": 5,
        }
        assert await limit_of(api, customer_id) == 12
        body = await api.graphql(CLEAR, api.admin(), id=customer_id)
        removal = {
            "customerId": customer_id,
            "serviceName": "ai-api",
            "featureKey": "chat_completions_per_minute",
        }
        assert body["data"] == {"clearFeatureOverride": {**removal, "removed": True}}
        assert await limit_of(api, customer_id) == 5
        again = await api.graphql(CLEAR, api.admin(), id=customer_id)
        assert again["data"] == {"clearFeatureOverride": {**removal, "removed": False}}

    async def test_errors_match_rest(self, api: Api) -> None:
        customer_id = await new_customer(api)
        body = await api.graphql(SET, api.admin(), id=customer_id, value=-5)
        assert body["errors"][0]["extensions"]["param"] == "value"
        body = await api.graphql(SET, api.user(), id=customer_id, value=5)
        assert body["errors"][0]["extensions"]["code"] == "ADMIN_ROLE_REQUIRED"


async def test_another_process_sees_the_override_within_a_second(
    api: Api, database_url: str, tmp_path: Path, clock: MovableClock
) -> None:
    customer_id = await new_customer(api)
    async with running_api(settings_for(database_url, tmp_path / "other"), clock) as other:
        assert await limit_of(other, customer_id) == 5  # now cached there
        await set_value(api, customer_id, 33)
        await asyncio.sleep(1.0)
        assert await limit_of(other, customer_id) == 33
        await clear(api, customer_id)
        await asyncio.sleep(1.0)
        assert await limit_of(other, customer_id) == 5
