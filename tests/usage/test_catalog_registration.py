"""Services registering their features (SPEC §3.4, §5.8): `PUT /admin/services/{name}`."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.api import Api, Caller, running_api, settings_for
from tests.support.clock import MovableClock

SERVICE = "vision-api"
DETECT = {
    "featureKey": "detections_per_minute",
    "kind": "rate",
    "window": "minute",
    "description": "Object detections per minute",
    "values": {"free": 2, "pro": 50, "enterprise_max": -1},
}
MODELS = {
    "featureKey": "custom_models",
    "kind": "quota",
    "description": "Custom models kept",
    "values": {"Pro Plus": 3, "free": 0},
}
REGISTER = """
mutation($name: String!, $features: [FeatureInput!]!) {
  registerService(serviceName: $name, features: $features) {
    serviceName
    features { featureKey kind window description values { tierName value } }
  }
}
"""


def service_caller(api: Api) -> Caller:
    return api.service()


async def register(
    api: Api, features: list[dict[str, Any]], caller: Caller | None = None, name: str = SERVICE
) -> httpx.Response:
    return await api.call(
        "PUT", f"/admin/services/{name}", caller or service_caller(api), json={"features": features}
    )


async def check(api: Api, customer_id: str, feature: str, service: str = SERVICE) -> Any:
    response = await api.call(
        "POST",
        "/limits/check",
        service_caller(api),
        json={"serviceName": service, "featureKey": feature, "customerId": customer_id},
    )
    return response


async def new_customer(api: Api, tier: str = "free") -> str:
    customer_id: str = (await api.customer(api.user()))["id"]
    if tier != "free":
        await api.set_tier(customer_id, tier)
    return customer_id


class TestRegister:
    async def test_a_new_service_gets_its_features(self, api: Api) -> None:
        response = await register(api, [DETECT, MODELS])
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["serviceName"] == SERVICE
        assert body["features"] == [
            {
                "featureKey": "custom_models",
                "kind": "quota",
                "window": None,
                "description": "Custom models kept",
                "values": {"pro_plus": 3, "free": 0},
            },
            {
                "featureKey": "detections_per_minute",
                "kind": "rate",
                "window": "minute",
                "description": "Object detections per minute",
                "values": {"free": 2, "pro": 50, "enterprise_max": -1},
            },
        ]

    async def test_a_consume_sees_a_registered_feature_at_once(self, api: Api) -> None:
        customer_id = await new_customer(api)
        assert (await check(api, customer_id, "detections_per_minute")).status_code == 404
        await register(api, [DETECT])
        decision = await check(api, customer_id, "detections_per_minute")
        assert decision.status_code == 200, decision.text
        assert decision.json()["limit"] == 2

    async def test_an_update_replaces_the_listed_feature_whole(self, api: Api) -> None:
        customer_id = await new_customer(api, "pro")
        await register(api, [DETECT, MODELS])
        changed = {**DETECT, "window": "hour", "description": "Per hour", "values": {"free": 7}}
        response = await register(api, [changed])
        assert response.status_code == 200, response.text
        features = {f["featureKey"]: f for f in response.json()["features"]}
        assert features["detections_per_minute"]["window"] == "hour"
        assert features["detections_per_minute"]["values"] == {"free": 7}
        assert features["custom_models"]["values"] == {"pro_plus": 3, "free": 0}  # untouched
        decision = await check(api, customer_id, "detections_per_minute")
        assert decision.status_code == 403  # pro is no longer named: disabled
        assert decision.json()["error"]["code"] == "FEATURE_DISABLED"

    async def test_a_shipped_feature_can_be_changed(self, api: Api) -> None:
        customer_id = await new_customer(api)
        feature = {
            "featureKey": "chat_completions_per_minute",
            "kind": "rate",
            "window": "minute",
            "values": {"free": 9},
        }
        assert (await register(api, [feature], name="ai-api")).status_code == 200
        decision = await check(api, customer_id, "chat_completions_per_minute", "ai-api")
        assert decision.json()["limit"] == 9

    async def test_billing_admin_may_register(self, api: Api) -> None:
        assert (await register(api, [DETECT], api.admin())).status_code == 200

    @pytest.mark.parametrize("roles", [(), ("owner",)])
    async def test_other_callers_may_not(self, api: Api, roles: tuple[str, ...]) -> None:
        caller = api.user()
        if roles:
            await api.customer(caller)
        response = await register(api, [DETECT], caller)
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "FORBIDDEN"

    async def test_anonymous_callers_get_401(self, api: Api) -> None:
        response = await api.call("PUT", f"/admin/services/{SERVICE}", json={"features": [DETECT]})
        assert response.status_code == 401


class TestValidation:
    @pytest.mark.parametrize(
        ("change", "param"),
        [
            ({"kind": "counter"}, "features.0.kind"),
            ({"window": "week"}, "features.0.window"),
            ({"window": None}, "features.0.window"),
            ({"featureKey": "Bad Key"}, "features.0.featureKey"),
            ({"values": {"gold": 3}}, "features.0.values.gold"),
            ({"values": {"free": -2}}, "features.0.values.free"),
            ({"values": {"free": 2**31}}, "features.0.values.free"),
            ({"values": {"free": "3"}}, "features.0.values.free"),
            ({"values": {"free": 1.5}}, "features.0.values.free"),
            ({"values": {"free": 1, "Free": 2}}, "features.0.values.Free"),
            ({"description": "x" * 513}, "features.0.description"),
        ],
    )
    async def test_a_bad_feature_names_its_field(
        self, api: Api, change: dict[str, Any], param: str
    ) -> None:
        response = await register(api, [{**DETECT, **change}])
        assert response.status_code == 400, response.text
        error = response.json()["error"]
        assert (error["code"], error["param"]) == ("INVALID_INPUT", param)

    async def test_a_quota_has_no_window(self, api: Api) -> None:
        response = await register(api, [{**MODELS, "window": "day"}])
        assert response.json()["error"]["param"] == "features.0.window"

    async def test_a_feature_listed_twice(self, api: Api) -> None:
        response = await register(api, [DETECT, DETECT])
        assert response.json()["error"]["param"] == "features.1.featureKey"

    @pytest.mark.parametrize("name", ["Vision API", "usage", "ip", "consume", "check"])
    async def test_a_bad_or_reserved_service_name(self, api: Api, name: str) -> None:
        response = await register(api, [DETECT], name=name)
        assert response.status_code == 400
        assert response.json()["error"]["param"] == "serviceName"

    async def test_no_features(self, api: Api) -> None:
        response = await register(api, [])
        assert response.json()["error"]["param"] == "features"

    async def test_a_kind_never_changes(self, api: Api) -> None:
        await register(api, [DETECT])
        response = await register(api, [{**DETECT, "kind": "quota", "window": None}])
        assert response.status_code == 400
        assert response.json()["error"]["param"] == "features.0.kind"

    async def test_nothing_is_written_when_one_feature_is_bad(self, api: Api) -> None:
        response = await register(api, [DETECT, {**MODELS, "values": {"gold": 1}}])
        assert response.status_code == 400
        customer_id = await new_customer(api)
        assert (await check(api, customer_id, "detections_per_minute")).status_code == 404


class TestGraphQL:
    async def test_register_service(self, api: Api) -> None:
        features = [
            {**DETECT, "kind": "RATE", "window": "MINUTE", "values": _pairs(DETECT["values"])},
            {**MODELS, "kind": "QUOTA", "values": _pairs(MODELS["values"])},
        ]
        body = await api.graphql(REGISTER, service_caller(api), name=SERVICE, features=features)
        assert "errors" not in body, body
        registered = body["data"]["registerService"]
        rest = (await register(api, [DETECT, MODELS])).json()
        assert [f["featureKey"] for f in registered["features"]] == [
            f["featureKey"] for f in rest["features"]
        ]
        detect = registered["features"][1]
        assert (detect["kind"], detect["window"]) == ("RATE", "MINUTE")
        assert {v["tierName"]: v["value"] for v in detect["values"]} == DETECT["values"]

    async def test_validation_names_the_same_param(self, api: Api) -> None:
        features = [{**DETECT, "kind": "RATE", "window": None, "values": []}]
        body = await api.graphql(REGISTER, service_caller(api), name=SERVICE, features=features)
        assert body["errors"][0]["extensions"]["code"] == "INVALID_INPUT"
        assert body["errors"][0]["extensions"]["param"] == "features.0.window"


class TestTierFeatures:
    async def test_admin_tiers_lists_each_tiers_values(self, api: Api) -> None:
        await register(api, [DETECT])
        tiers = (await api.call("GET", "/admin/tiers", api.admin())).json()["tiers"]
        by_name = {tier["name"]: tier["features"] for tier in tiers}
        pro = {(f["serviceName"], f["featureKey"]): f for f in by_name["pro"]}
        assert pro[("compute-api", "max_instances")] == {
            "serviceName": "compute-api",
            "featureKey": "max_instances",
            "kind": "quota",
            "window": None,
            "value": 3,
        }
        assert pro[(SERVICE, "detections_per_minute")]["value"] == 50
        assert {(SERVICE, "detections_per_minute")} <= {
            (f["serviceName"], f["featureKey"]) for f in by_name["business"]
        }
        business = {(f["serviceName"], f["featureKey"]): f["value"] for f in by_name["business"]}
        assert business[(SERVICE, "detections_per_minute")] == 0
        assert len(by_name["free"]) == 32

    async def test_graphql_tier_features(self, api: Api) -> None:
        body = await api.graphql(
            "{ tiers { name features { serviceName featureKey kind window value } } }",
            api.admin(),
        )
        tiers = {tier["name"]: tier["features"] for tier in body["data"]["tiers"]}
        rest = (await api.call("GET", "/admin/tiers", api.admin())).json()["tiers"]
        for tier in rest:
            assert [(f["featureKey"], f["value"]) for f in tier["features"]] == [
                (f["featureKey"], f["value"]) for f in tiers[tier["name"]]
            ]


async def test_another_process_sees_a_registration_within_a_second(
    api: Api, database_url: str, tmp_path: Path, clock: MovableClock
) -> None:
    """Two apps on one database stand for two processes: each has its own caches."""
    customer_id = await new_customer(api)
    async with running_api(settings_for(database_url, tmp_path / "other"), clock) as other:
        assert (await check(other, customer_id, "detections_per_minute")).status_code == 404
        await register(api, [DETECT])
        await asyncio.sleep(1.0)
        decision = await check(other, customer_id, "detections_per_minute")
        assert decision.status_code == 200, decision.text
        assert decision.json()["limit"] == 2


def _pairs(values: Any) -> list[dict[str, Any]]:
    return [{"tierName": name, "value": value} for name, value in values.items()]
